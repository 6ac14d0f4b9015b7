/**
 * The filters of `readAll` and `subscribe`, applied to an event record's
 * header (stream name and type bytes) so that what a filter drops is never
 * decoded: no string built, no JSON parsed.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { streamNameBytes, type EventHead, EVENT_LIMITS } from './codec.js';
import { isMetadataStreamBytes } from './stream-metadata.js';
import type { EventFilter } from './types.js';

/** Whether an event record (header decoded) passes. */
export type RecordFilter = (payload: Buffer, head: EventHead) => boolean;

/** Most event types one filter may name. */
export const MAX_FILTER_EVENT_TYPES = 1000;

/** Validates the filter options of `readAll`/`subscribe` and builds the test. */
export function eventFilter(options: EventFilter, what: string): RecordFilter {
  const { streamPrefix, eventTypes, includeMetadataStreams } = options;
  if (includeMetadataStreams !== undefined && typeof includeMetadataStreams !== 'boolean') throw new InvalidArgumentError(`${what} option includeMetadataStreams must be a boolean, got ${typeof includeMetadataStreams}`);
  const prefix = streamPrefix === undefined ? undefined : streamNameBytes(streamPrefix, `${what} option streamPrefix`);
  let types: Buffer[] | undefined;
  if (eventTypes !== undefined) {
    if (!Array.isArray(eventTypes) || eventTypes.length === 0) throw new InvalidArgumentError(`${what} option eventTypes must be a non-empty array of event types`);
    if (eventTypes.length > MAX_FILTER_EVENT_TYPES) throw new InvalidArgumentError(`${what} option eventTypes names ${eventTypes.length} types, over ${MAX_FILTER_EVENT_TYPES}`);
    types = eventTypes.map((t: unknown, i) => {
      if (typeof t !== 'string' || t.length === 0) throw new InvalidArgumentError(`${what} option eventTypes[${i}] must be a non-empty string`);
      const b = Buffer.from(t, 'utf8');
      if (b.length > EVENT_LIMITS.maxEventTypeBytes) throw new InvalidArgumentError(`${what} option eventTypes[${i}] is ${b.length} UTF-8 bytes, over ${EVENT_LIMITS.maxEventTypeBytes}`);
      return b;
    });
  }
  const withMetadata = includeMetadataStreams === true;
  return (payload, head) => {
    if (!withMetadata && isMetadataStreamBytes(payload, head.streamStart, head.streamEnd)) return false;
    if (prefix !== undefined && (head.streamEnd - head.streamStart < prefix.length || payload.compare(prefix, 0, prefix.length, head.streamStart, head.streamStart + prefix.length) !== 0)) return false;
    if (types !== undefined) {
      const length = head.typeEnd - head.streamEnd;
      if (!types.some((t) => t.length === length && payload.compare(t, 0, length, head.streamEnd, head.typeEnd) === 0)) return false;
    }
    return true;
  };
}
