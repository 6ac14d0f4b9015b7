/**
 * How one event is stored as one log record (docs/EVENT_SOURCING.md,
 * "Record encoding"). Integers are little-endian.
 *
 * ```
 * offset  size  field
 *      0     1  magic 0xFF (never the first byte of UTF-8 text)
 *      1     1  magic 0x45 ('E')
 *      2     1  encoding version (1)
 *      3     1  flags: bit 0 data is raw bytes (else UTF-8 JSON); bit 1 metadata present
 *      4     8  stream version, u64 (below 2^53)
 *     12     2  stream name length S, in bytes
 *     14     2  type length T
 *     16     2  id length I
 *     18     4  metadata length M (0 when absent)
 *     22     S  stream name, UTF-8
 *            T  type, UTF-8
 *            I  id, UTF-8
 *            M  metadata, UTF-8 JSON
 *          rest data: UTF-8 JSON, or the bytes as given
 * ```
 *
 * The record's sequence number is the event's position; its timestamp is the
 * event's. All events of one append are one `appendBatch`, so one frame.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import type { RecordedEvent } from './types.js';

/** Bounds on what an event may carry, in UTF-8 bytes. */
export const EVENT_LIMITS = {
  /** Longest stream name. */
  maxStreamNameBytes: 512,
  /** Longest event type. */
  maxEventTypeBytes: 256,
  /** Longest event id. */
  maxEventIdBytes: 128,
} as const;

const MAGIC_0 = 0xff;
const MAGIC_1 = 0x45;
/** Version of the record encoding above. */
export const EVENT_ENCODING_VERSION = 1;
/** Bytes before the variable-length fields. */
export const EVENT_HEADER_BYTES = 22;
const FLAG_BYTES = 1;
const FLAG_METADATA = 2;
const VERSION_OFFSET = 4;

/** The events of one append, validated and encoded, their versions still to be set. */
export interface PreparedAppend {
  /** One record per event, in order. */
  payloads: Buffer[];
  /** Each event's id (the caller's or a generated one). */
  ids: string[];
  /** True when the caller supplied every id: only then is the append idempotent. */
  callerIds: boolean;
}

/** Checks a stream name; returns its UTF-8 bytes. */
export function streamNameBytes(stream: unknown, what = 'stream name'): Buffer {
  if (typeof stream !== 'string' || stream.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(stream)}`);
  return boundedText(stream, what, EVENT_LIMITS.maxStreamNameBytes);
}

/**
 * Validates and encodes the events of one append. Throws
 * `AOF_INVALID_ARGUMENT` naming the first bad event; nothing is written.
 */
export function prepareAppend(streamBytes: Buffer, events: unknown): PreparedAppend {
  if (!Array.isArray(events) || events.length === 0) throw new InvalidArgumentError(`events must be a non-empty array, got ${describe(events)}`);
  const payloads: Buffer[] = [];
  const ids: string[] = [];
  let callerIds = true;
  const seen = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const e: unknown = events[i];
    if (typeof e !== 'object' || e === null) throw new InvalidArgumentError(`event ${i} must be an object like { type, data }, got ${describe(e)}`);
    const { type, data, metadata, id } = e as { type?: unknown; data?: unknown; metadata?: unknown; id?: unknown };
    if (typeof type !== 'string' || type.length === 0) throw new InvalidArgumentError(`event ${i}: type must be a non-empty string, got ${describe(type)}`);
    const typeBytes = boundedText(type, `event ${i}: type`, EVENT_LIMITS.maxEventTypeBytes);
    let idText: string;
    if (id === undefined) {
      idText = randomUUID();
      callerIds = false;
    } else {
      if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError(`event ${i}: id must be a non-empty string when given, got ${describe(id)}`);
      idText = id;
    }
    const idBytes = boundedText(idText, `event ${i}: id`, EVENT_LIMITS.maxEventIdBytes);
    if (seen.has(idText)) throw new InvalidArgumentError(`event ${i}: id ${JSON.stringify(idText)} appears twice in one append`);
    seen.add(idText);
    const metaBytes = metadata === undefined ? undefined : jsonBytes(metadata, `event ${i}: metadata`);
    const raw = data instanceof Uint8Array;
    const dataBytes = raw ? data : jsonBytes(data, `event ${i}: data`);
    const size = EVENT_HEADER_BYTES + streamBytes.length + typeBytes.length + idBytes.length + (metaBytes?.length ?? 0) + dataBytes.length;
    const out = Buffer.allocUnsafe(size);
    out[0] = MAGIC_0;
    out[1] = MAGIC_1;
    out[2] = EVENT_ENCODING_VERSION;
    out[3] = (raw ? FLAG_BYTES : 0) | (metaBytes === undefined ? 0 : FLAG_METADATA);
    out.writeUInt32LE(0, VERSION_OFFSET);
    out.writeUInt32LE(0, VERSION_OFFSET + 4);
    out.writeUInt16LE(streamBytes.length, 12);
    out.writeUInt16LE(typeBytes.length, 14);
    out.writeUInt16LE(idBytes.length, 16);
    out.writeUInt32LE(metaBytes?.length ?? 0, 18);
    let at = EVENT_HEADER_BYTES;
    at += streamBytes.copy(out, at);
    at += typeBytes.copy(out, at);
    at += idBytes.copy(out, at);
    if (metaBytes !== undefined) at += metaBytes.copy(out, at);
    out.set(dataBytes, at);
    payloads.push(out);
    ids.push(idText);
  }
  return { payloads, ids, callerIds };
}

/** Writes versions `first, first + 1, ...` into prepared records. */
export function setVersions(payloads: readonly Buffer[], first: number): void {
  for (let i = 0; i < payloads.length; i++) writeVersion(payloads[i]!, first + i);
}

function writeVersion(out: Buffer, version: number): void {
  out.writeUInt32LE(version % 0x1_0000_0000, VERSION_OFFSET);
  out.writeUInt32LE(Math.floor(version / 0x1_0000_0000), VERSION_OFFSET + 4);
}

/** True when a log record carries an event (begins with the event magic); records written to `es.log` directly do not. */
export function isEventRecord(payload: Uint8Array): boolean {
  return payload.length >= 2 && payload[0] === MAGIC_0 && payload[1] === MAGIC_1;
}

/** The fixed header and where each field lies: enough to index or filter without parsing JSON. */
export interface EventHead {
  version: number;
  flags: number;
  streamStart: number;
  streamEnd: number;
  typeEnd: number;
  idEnd: number;
  metaEnd: number;
}

/**
 * Reads the header of an event record, checking every length against the
 * record's size. Throws `AOF_CORRUPT` for a record that carries the event
 * magic but does not decode (the frame's CRC matched, so this is a bug or a
 * foreign writer, never silent damage).
 */
export function decodeHead(payload: Buffer, position: number): EventHead {
  const bad = (why: string): never => {
    throw new CorruptionError(`log record ${position} is not a valid event: ${why}`, {});
  };
  if (payload.length < EVENT_HEADER_BYTES) bad(`${payload.length} bytes, fewer than the ${EVENT_HEADER_BYTES}-byte header`);
  if (payload[2] !== EVENT_ENCODING_VERSION) bad(`unknown event encoding version ${payload[2]}`);
  const flags = payload[3]!;
  if ((flags & ~(FLAG_BYTES | FLAG_METADATA)) !== 0) bad(`unknown flags 0x${flags.toString(16)}`);
  const hi = payload.readUInt32LE(VERSION_OFFSET + 4);
  if (hi >= 0x20_0000) bad('version beyond 2^53');
  const version = hi * 0x1_0000_0000 + payload.readUInt32LE(VERSION_OFFSET);
  const streamEnd = EVENT_HEADER_BYTES + payload.readUInt16LE(12);
  const typeEnd = streamEnd + payload.readUInt16LE(14);
  const idEnd = typeEnd + payload.readUInt16LE(16);
  const metaEnd = idEnd + payload.readUInt32LE(18);
  if (streamEnd === EVENT_HEADER_BYTES || typeEnd === streamEnd || idEnd === typeEnd) bad('empty stream name, type or id');
  if (metaEnd > payload.length) bad('field lengths run past the end of the record');
  if ((flags & FLAG_METADATA) === 0 && metaEnd !== idEnd) bad('metadata bytes without the metadata flag');
  return { version, flags, streamStart: EVENT_HEADER_BYTES, streamEnd, typeEnd, idEnd, metaEnd };
}

/** The stream name of an event record whose head was decoded. */
export function streamOf(payload: Buffer, head: EventHead): string {
  return payload.toString('utf8', head.streamStart, head.streamEnd);
}

/** The id of an event record whose head was decoded. */
export function idOf(payload: Buffer, head: EventHead): string {
  return payload.toString('utf8', head.typeEnd, head.idEnd);
}

/** True when the record's stream name is exactly these bytes (no string decoding). */
export function streamIs(payload: Buffer, head: EventHead, streamBytes: Buffer): boolean {
  return head.streamEnd - head.streamStart === streamBytes.length && payload.compare(streamBytes, 0, streamBytes.length, head.streamStart, head.streamEnd) === 0;
}

/** Decodes a whole event. */
export function decodeEvent(payload: Buffer, head: EventHead, position: number, timestamp: number): RecordedEvent {
  let metadata: unknown;
  let data: unknown;
  try {
    metadata = (head.flags & FLAG_METADATA) === 0 ? undefined : JSON.parse(payload.toString('utf8', head.idEnd, head.metaEnd));
    data = (head.flags & FLAG_BYTES) !== 0 ? new Uint8Array(payload.buffer, payload.byteOffset + head.metaEnd, payload.length - head.metaEnd) : JSON.parse(payload.toString('utf8', head.metaEnd));
  } catch (err) {
    throw new CorruptionError(`log record ${position} is not a valid event: ${(err as Error).message}`, {});
  }
  return {
    stream: streamOf(payload, head),
    version: head.version,
    position,
    type: payload.toString('utf8', head.streamEnd, head.typeEnd),
    data,
    metadata,
    id: idOf(payload, head),
    timestamp,
  };
}

const LONE_SURROGATE = /\p{Cs}/u;

function boundedText(text: string, what: string, maxBytes: number): Buffer {
  // In a /u pattern a surrogate pair is one code point, so \p{Cs} matches only a lone surrogate, which UTF-8 cannot carry.
  if (LONE_SURROGATE.test(text)) throw new InvalidArgumentError(`${what} contains a lone surrogate (not valid Unicode)`);
  // Every UTF-16 unit is at least one UTF-8 byte: refuse huge strings before encoding them.
  if (text.length > maxBytes) throw new InvalidArgumentError(`${what} is over ${maxBytes} UTF-8 bytes`);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > maxBytes) throw new InvalidArgumentError(`${what} is ${bytes.length} UTF-8 bytes, over ${maxBytes}`);
  return bytes;
}

function jsonBytes(value: unknown, what: string): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new InvalidArgumentError(`${what} cannot be serialised as JSON: ${(err as Error).message}`);
  }
  if (typeof text !== 'string') throw new InvalidArgumentError(`${what} cannot be serialised as JSON (got ${describe(value)})`);
  return Buffer.from(text, 'utf8');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  return typeof value;
}
