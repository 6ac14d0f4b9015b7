import { randomBytes } from 'node:crypto';
import { assert } from '../assert.js';
import { CorruptionError, UnsupportedFormatError } from '../errors.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/**
 * The fixed 64-byte header at the start of every segment file. Layout in
 * docs/FORMAT.md, "Segment header".
 *
 * @module
 */

/** Bytes of the segment header. */
export const SEGMENT_HEADER_BYTES = 64;
/** The first eight bytes of every segment file. */
export const SEGMENT_MAGIC = Buffer.from('AOFSEGMT', 'latin1');
/**
 * The on-disk format version this build writes: version 3, records with their
 * own CRC and sealed segments with a position table (docs/FORMAT.md). It also
 * reads versions 2 and 1 (version 1 headers carry no log identity).
 */
export const FORMAT_VERSION = 3;
/** Version 2: log identity in the header, records with a 4-byte length only, no position table. Still read and extended; never started by a writer. */
export const FORMAT_VERSION_V2 = 2;
/** Version 1: the same layout with no log identity (bytes 48..60 zero). Still read; never written by a writer. */
export const FORMAT_VERSION_V1 = 1;
/** Bytes of a log's identity, carried by every version-2 header at {@link LOG_ID_OFFSET}. */
export const LOG_ID_BYTES = 12;
/** Where a version-2 header holds the log identity (bytes that version 1 reserved as zero). */
export const LOG_ID_OFFSET = 48;

/** The decoded header. */
export interface SegmentHeader {
  /** Format version. */
  version: number;
  /** Sequence number of the segment's first record. */
  baseSeq: number;
  /** Creation time in ms since the epoch. */
  createdMs: number;
  /** Random bytes chosen at creation; the footer repeats them, so record payloads can never forge a footer. */
  salt: Buffer;
  /** The identity of the log the segment belongs to (version 2); undefined in a version-1 header, which has none. */
  logId: Buffer | undefined;
}

/**
 * Encodes a header for a new segment (a fresh random salt unless given).
 * With `logId` it is a header of `version` (default {@link FORMAT_VERSION})
 * carrying the log's identity; without, a version-1 header (repair rewriting
 * a version-1 segment, the v1 fixtures).
 */
export function encodeSegmentHeader(baseSeq: number, createdMs: number, salt: Buffer = randomBytes(8), logId?: Buffer, version: number = FORMAT_VERSION): Buffer {
  assert(salt.length === 8, 'segment salt is 8 bytes');
  assert(logId === undefined || (logId.length === LOG_ID_BYTES && !isAllZero(logId)), 'a log identity is 12 bytes, not all zero');
  const out = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(out, 0);
  assert(logId === undefined || version === FORMAT_VERSION || version === FORMAT_VERSION_V2, `a header with an identity is version 2 or 3, not ${version}`);
  out.writeUInt16LE(logId === undefined ? FORMAT_VERSION_V1 : version, 8);
  out.writeUInt16LE(SEGMENT_HEADER_BYTES, 10);
  out.writeUInt32LE(0, 12);
  writeU64(out, 16, baseSeq);
  writeU64(out, 24, createdMs);
  salt.copy(out, 32);
  // A second copy: frames are checksummed with the salt, so one damaged copy must not make them unverifiable.
  salt.copy(out, 40);
  logId?.copy(out, LOG_ID_OFFSET);
  out.writeUInt32LE(crc32(out.subarray(0, 60)), 60);
  return out;
}

/** True when `buf` is all zero bytes: a header that a crash left unwritten. */
export function isAllZero(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Decodes and checks a header read from `file`. Throws {@link CorruptionError}
 * for damage and {@link UnsupportedFormatError} for a version from the future.
 */
export function decodeSegmentHeader(buf: Buffer, file: string): SegmentHeader {
  if (buf.length < SEGMENT_HEADER_BYTES) throw new CorruptionError(`segment header is cut short: ${buf.length} of ${SEGMENT_HEADER_BYTES} bytes`, { file, offset: 0 });
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) throw new CorruptionError('not a segment file: bad magic', { file, offset: 0 });
  const crc = buf.readUInt32LE(60);
  if (crc32(buf.subarray(0, 60)) !== crc) throw new CorruptionError('segment header checksum mismatch', { file, offset: 0 });
  const version = buf.readUInt16LE(8);
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_V2 && version !== FORMAT_VERSION_V1) throw new UnsupportedFormatError(version, { file, offset: 8 });
  const headerBytes = buf.readUInt16LE(10);
  if (headerBytes !== SEGMENT_HEADER_BYTES) throw new CorruptionError(`segment header length ${headerBytes} is not ${SEGMENT_HEADER_BYTES}`, { file, offset: 10 });
  const baseSeq = readU64(buf, 16);
  const createdMs = readU64(buf, 24);
  if (baseSeq < 0 || createdMs < 0) throw new CorruptionError('segment header field out of range', { file, offset: 16 });
  // Version 1 reserved these bytes (zero, ignored); versions 2 and 3 require an identity there: zero bytes are no identity.
  const id = buf.subarray(LOG_ID_OFFSET, LOG_ID_OFFSET + LOG_ID_BYTES);
  if (version !== FORMAT_VERSION_V1 && isAllZero(id)) throw new CorruptionError(`version-${version} segment header carries no log identity`, { file, offset: LOG_ID_OFFSET });
  const logId = version !== FORMAT_VERSION_V1 ? Buffer.from(id) : undefined;
  return { version, baseSeq, createdMs, salt: Buffer.from(buf.subarray(32, 40)), logId };
}
