/**
 * The event codec, public: how one event is one log record (the layout is in
 * `codec.ts` and docs/EVENT_SOURCING.md, "Record encoding"). For tools that
 * read an event store's log directly (`Log.open(dir, { readOnly: true })`,
 * `aof dump`, an archive) and for tests that build records.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { LogRecord } from '../read/record.js';
import { decodeEvent as decodeWithHead, decodeHead, isEventRecord, prepareAppend, setVersions, streamNameBytes } from './codec.js';
import type { EventInput, RecordedEvent } from './types.js';

export { isEventRecord };

/**
 * The log record payload of `event` as version `version` of `stream`, as
 * `appendToStream` writes it (an event without an id gets a generated one).
 * Throws `AOF_INVALID_ARGUMENT` for what `appendToStream` refuses.
 */
export function encodeEvent(stream: string, version: number, event: EventInput): Buffer {
  if (!Number.isSafeInteger(version) || version < 0) throw new InvalidArgumentError(`version must be an integer >= 0, got ${String(version)}`);
  const [payload] = prepareAppend(streamNameBytes(stream), [event]).payloads;
  setVersions([payload!], version);
  return payload!;
}

/**
 * The event a log record holds, or undefined when the record is not an event
 * (written to the log directly). Throws `AOF_CORRUPT` for a record that
 * carries the event marker but does not decode.
 */
export function decodeEvent(record: Pick<LogRecord, 'seq' | 'timestamp' | 'payload'>): RecordedEvent | undefined {
  if (!isEventRecord(record.payload)) return undefined;
  return decodeWithHead(record.payload, decodeHead(record.payload, record.seq), record.seq, record.timestamp);
}
