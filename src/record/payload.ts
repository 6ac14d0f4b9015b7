import { InvalidArgumentError, RecordTooLargeError } from '../errors.js';

/** What `append` accepts: bytes, or a string stored as UTF-8. */
export type Payload = Uint8Array | string;

/**
 * Turns a caller's payload into bytes, rejecting wrong types and records over
 * the bound before anything is queued.
 */
export function toPayloadBytes(payload: unknown, maxRecordBytes: number, index?: number): Uint8Array {
  let bytes: Uint8Array;
  if (typeof payload === 'string') bytes = Buffer.from(payload, 'utf8');
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
