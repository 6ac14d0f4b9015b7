import { InvalidArgumentError, RecordTooLargeError } from '../errors.js';

/** What `append` accepts: bytes, or a string stored as UTF-8. */
export type Payload = Uint8Array | string;

/**
 * Turns a caller's payload into bytes, rejecting wrong types and records over
 * the bound before anything is queued.
 */
export function toPayloadBytes(payload: unknown, maxRecordBytes: number, index?: number): Uint8Array {
  let bytes: Uint8Array;
  if (typeof payload === 'string') {
    // UTF-8 cannot carry a lone surrogate: Buffer.from would store U+FFFD in its place and read back another string.
    const bad = loneSurrogateAt(payload);
    if (bad >= 0) {
      const where = index === undefined ? 'payload' : `payload ${index} of the batch`;
      throw new InvalidArgumentError(`${where} is a string with a lone surrogate (U+${payload.charCodeAt(bad).toString(16).toUpperCase()} at index ${bad}), which UTF-8 cannot store: pass a well-formed string, or the bytes as a Uint8Array`);
    }
    bytes = Buffer.from(payload, 'utf8');
  }
  else if (payload instanceof Uint8Array) bytes = payload;
  else {
    const where = index === undefined ? 'payload' : `payload ${index} of the batch`;
    throw new InvalidArgumentError(`${where} must be a Uint8Array or a string, got ${describe(payload)}`);
  }
  if (bytes.byteLength > maxRecordBytes) throw new RecordTooLargeError(bytes.byteLength, maxRecordBytes, index);
  return bytes;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no constructor'})`;
  return typeof value;
}

/** In a /u pattern a surrogate pair is one code point, so \p{Cs} matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** Index of the first lone surrogate in `text`, or -1 (the native check where Node has it: most strings pass at its speed). */
function loneSurrogateAt(text: string): number {
  if (isWellFormed !== undefined && isWellFormed.call(text)) return -1;
  return text.search(LONE_SURROGATE);
}
