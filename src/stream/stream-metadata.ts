/**
 * Stream metadata: kept as events of type {@link METADATA_EVENT_TYPE} in the
 * stream's metadata stream `$$<stream>` (EventStoreDB's convention), the
 * last one being the metadata in force. Being events, it has a version of
 * its own and survives restarts and stream-index rebuilds with the log.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { StreamMetadata } from './types.js';

/** Prefix of metadata stream names: `$$cart-1` holds the metadata of `cart-1`. */
export const METADATA_STREAM_PREFIX = '$$';
/** Type of the events of a metadata stream. */
export const METADATA_EVENT_TYPE = '$metadata';

/** The metadata stream of `stream`. */
export function metadataStreamOf(stream: string): string {
  return METADATA_STREAM_PREFIX + stream;
}

/** True when `stream` is a metadata stream. */
export function isMetadataStream(stream: string): boolean {
  return stream.startsWith(METADATA_STREAM_PREFIX);
}

/** True when a stream name, as UTF-8 bytes within `payload`, names a metadata stream (no decoding). */
export function isMetadataStreamBytes(payload: Buffer, streamStart: number, streamEnd: number): boolean {
  return streamEnd - streamStart >= 2 && payload[streamStart] === 0x24 && payload[streamStart + 1] === 0x24;
}

/** A `truncateBefore` value: a stream version, an integer >= 0. */
export function truncateBeforeArg(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${what} must be a stream version (an integer >= 0), got ${String(value)}`);
  return value;
}

/** Checks metadata given by a caller (or read back: the same rules), keeping only the known fields. */
export function parseStreamMetadata(value: unknown, what: string): StreamMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`${what} must be an object like { truncateBefore, custom }`);
  const { truncateBefore, custom, ...rest } = value as StreamMetadata & Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidArgumentError(`${what} has unknown field ${JSON.stringify(unknown[0])}: a stream's metadata has truncateBefore and custom (put the application's own fields in custom)`);
  const out: StreamMetadata = {};
  if (truncateBefore !== undefined) out.truncateBefore = truncateBeforeArg(truncateBefore, `${what}: truncateBefore`);
  if (custom !== undefined) {
    if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) throw new InvalidArgumentError(`${what}: custom must be an object`);
    out.custom = custom;
  }
  return out;
}
