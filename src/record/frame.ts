import { assert } from '../assert.js';
import { crc32 } from './crc.js';
import { recordCrc, recordCrcOfView, viewOf } from './record-crc.js';
import { readU64, writeU64 } from './u64.js';

/**
 * A frame is the unit of atomicity on disk: one or more whole append calls
 * (an `appendBatch` is never split), covered by a single CRC-32. Byte layout
 * in docs/FORMAT.md, "Frame".
 *
 * @module
 */

const crcSeeds = new WeakMap<Uint8Array, number>();

/** The CRC-32 seed of a segment's frames: the CRC of its header's salt (remembered per salt buffer). */
export function frameCrcSeed(salt: Uint8Array): number {
  let seed = crcSeeds.get(salt);
  if (seed === undefined) {
    seed = crc32(salt);
    crcSeeds.set(salt, seed);
  }
  return seed;
}

/** Bytes of the frame header. */
export const FRAME_HEADER_BYTES = 32;
/** Bytes of each record's header in format versions 1 and 2: its length. */
export const RECORD_HEADER_BYTES = 4;
/** Bytes of each record's header in format version 3: its length, then its record CRC (see `recordCrc`). */
export const RECORD_HEADER_BYTES_V3 = 8;
/** The record header size of segments of format `version`. */
export function recordHeaderBytesOf(version: number): number {
  return version >= 3 ? RECORD_HEADER_BYTES_V3 : RECORD_HEADER_BYTES;
}
/** Upper bound of any frame, whatever the options: lengths above it are damage. */
export const FRAME_BYTES_MAX = 0x4000_0000; // 1 GiB

/** Frame flag: a clean-close marker (no records) written by `close()`. */
export const FLAG_CLOSE_MARKER = 0x1;
/** Frame flag: a gap left by repair; `count` sequence numbers were lost, no record bodies follow. */
export const FLAG_GAP = 0x2;
const KNOWN_FLAGS = FLAG_CLOSE_MARKER | FLAG_GAP;

/** The fixed fields of a frame. */
export interface FrameHeader {
  /** Total bytes of the frame, header included. */
  frameBytes: number;
  /** CRC-32 of bytes [8, frameBytes). */
  crc: number;
  /** Sequence number of the first record. */
  firstSeq: number;
  /** Number of records (or, for a gap, of lost sequence numbers). */
  count: number;
  /** Append time in ms since the epoch, shared by the frame's records. */
  timestamp: number;
  /** Bit set of `FLAG_*`. */
  flags: number;
}

/** Bytes a frame needs for payloads of these sizes (records with `recordHeaderBytes`-byte headers). */
export function frameBytesFor(payloadBytesTotal: number, recordCount: number, recordHeaderBytes = RECORD_HEADER_BYTES): number {
  return FRAME_HEADER_BYTES + recordCount * recordHeaderBytes + payloadBytesTotal;
}

/**
 * Encodes one frame into `out` at `offset` and returns its length. The caller
 * sized `out` with {@link frameBytesFor}.
 */
export function encodeFrame(out: Buffer, offset: number, crcSeed: number, firstSeq: number, timestamp: number, payloads: readonly Uint8Array[], flags = 0, recordHeaderBytes = RECORD_HEADER_BYTES): number {
  return encodeGroupedFrame(out, offset, crcSeed, firstSeq, timestamp, [{ payloads }], flags, recordHeaderBytes);
}

/** Where {@link encodeGroupedFrame} notes each record's start: `offsets[i]` = `base` + its offset in `out` (modulo 2^32). */
export interface RecordOffsetsOut {
  offsets: Uint32Array;
  base: number;
}

/**
 * As {@link encodeFrame}, for the payloads of several append calls in order
 * (the writer's group commit), without first gathering them into one array.
 * With `recordStarts` (version-3 records only), notes where each record
 * starts, for the writer's position table: a second walk over the payloads
 * to find them cost more than the store.
 */
export function encodeGroupedFrame(out: Buffer, offset: number, crcSeed: number, firstSeq: number, timestamp: number, groups: ReadonlyArray<{ readonly payloads: Uint8Array | readonly Uint8Array[] }>, flags = 0, recordHeaderBytes = RECORD_HEADER_BYTES, recordStarts?: RecordOffsetsOut): number {
  const v3 = recordHeaderBytes === RECORD_HEADER_BYTES_V3;
  assert(v3 || recordHeaderBytes === RECORD_HEADER_BYTES, `record header of ${recordHeaderBytes} bytes is 4 or 8`);
  assert(recordStarts === undefined || v3, 'record starts are noted for version-3 records');
  // One view for every record of the frame: record CRCs read it a word at a time.
  const view = v3 ? viewOf(out) : undefined;
  // Without a place to note starts, a scratch one: the loop below stays one shape.
  const starts = recordStarts?.offsets ?? NO_STARTS;
  const base = recordStarts?.base ?? 0;
  const noting = recordStarts !== undefined;
  let at = offset + FRAME_HEADER_BYTES;
  let count = 0;
  for (let g = 0; g < groups.length; g++) {
    const payloads = groups[g]!.payloads;
    if (payloads instanceof Uint8Array) {
      if (noting) starts[count] = base + at;
      at = view !== undefined ? encodeRecordV3(out, view, at, payloads, crcSeed, firstSeq + count) : encodeRecord(out, at, payloads);
      count++;
      continue;
    }
    if (view === undefined) for (let p = 0; p < payloads.length; p++) at = encodeRecord(out, at, payloads[p]!);
    else if (noting) {
      for (let p = 0; p < payloads.length; p++) {
        starts[count + p] = base + at;
        at = encodeRecordV3(out, view, at, payloads[p]!, crcSeed, firstSeq + count + p);
      }
    } else for (let p = 0; p < payloads.length; p++) at = encodeRecordV3(out, view, at, payloads[p]!, crcSeed, firstSeq + count + p);
    count += payloads.length;
  }
  assert(!noting || count <= starts.length, `record starts of ${count} records fit their array of ${starts.length}`);
  const frameBytes = at - offset;
  writeHeaderFields(out, offset, crcSeed, frameBytes, firstSeq, count, timestamp, flags);
  return frameBytes;
}

const NO_STARTS = new Uint32Array(0);

/** Writes one record (length prefix, bytes) at `at`; returns where the next one goes. */
function encodeRecord(out: Buffer, at: number, payload: Uint8Array): number {
  const length = payload.byteLength;
  out[at] = length;
  out[at + 1] = length >>> 8;
  out[at + 2] = length >>> 16;
  out[at + 3] = length >>> 24;
  copySmall(out, payload, at + RECORD_HEADER_BYTES);
  return at + RECORD_HEADER_BYTES + length;
}

/**
 * Writes one version-3 record (length, record CRC, bytes) at `at`, through
 * `view` (over `out`), whose setters skip `writeUInt32LE`'s argument checks;
 * returns where the next one goes.
 */
function encodeRecordV3(out: Buffer, view: DataView, at: number, payload: Uint8Array, crcSeed: number, seq: number): number {
  const length = payload.byteLength;
  view.setUint32(at, length, true);
  copySmall(out, payload, at + RECORD_HEADER_BYTES_V3);
  view.setUint32(at + 4, recordCrcOfView(crcSeed, seq, view, at + RECORD_HEADER_BYTES_V3, length), true);
  return at + RECORD_HEADER_BYTES_V3 + length;
}

/** Below this a byte loop copies faster than `TypedArray.prototype.set`, whose call costs more than the copy. */
const SMALL_COPY_BYTES = 64;

function copySmall(out: Buffer, payload: Uint8Array, at: number): void {
  const length = payload.byteLength;
  if (length > SMALL_COPY_BYTES) {
    out.set(payload, at);
    return;
  }
  for (let i = 0; i < length; i++) out[at + i] = payload[i]!;
}

/** The record count of an encoded frame's header at `offset`. */
export function frameRecordCount(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset + 16);
}

/** Encodes a frame without records: a clean-close marker or a gap. */
export function encodeEmptyFrame(crcSeed: number, firstSeq: number, count: number, timestamp: number, flags: number): Buffer {
  assert(flags === FLAG_CLOSE_MARKER ? count === 0 : flags === FLAG_GAP && count > 0, 'empty frames are close markers or non-empty gaps');
  const out = Buffer.alloc(FRAME_HEADER_BYTES);
  writeHeaderFields(out, 0, crcSeed, FRAME_HEADER_BYTES, firstSeq, count, timestamp, flags);
  return out;
}

function writeHeaderFields(out: Buffer, offset: number, crcSeed: number, frameBytes: number, firstSeq: number, count: number, timestamp: number, flags: number): void {
  assert(Number.isSafeInteger(firstSeq) && firstSeq >= 0, `frame firstSeq ${firstSeq} is a non-negative integer`);
  assert(frameBytes <= FRAME_BYTES_MAX, `frame of ${frameBytes} bytes is within FRAME_BYTES_MAX`);
  out.writeUInt32LE(frameBytes, offset);
  writeU64(out, offset + 8, firstSeq);
  out.writeUInt32LE(count, offset + 16);
  writeU64(out, offset + 20, timestamp);
  out.writeUInt16LE(flags, offset + 28);
  out.writeUInt16LE(0, offset + 30);
  out.writeUInt32LE(crc32(out.subarray(offset + 8, offset + frameBytes), crcSeed), offset + 4);
}

/** Reads the fixed fields at `offset`; `buf` holds at least FRAME_HEADER_BYTES there. */
export function decodeFrameHeader(buf: Buffer, offset: number): FrameHeader {
  return {
    frameBytes: buf.readUInt32LE(offset),
    crc: buf.readUInt32LE(offset + 4),
    firstSeq: readU64(buf, offset + 8),
    count: buf.readUInt32LE(offset + 16),
    timestamp: readU64(buf, offset + 20),
    flags: buf.readUInt16LE(offset + 28),
  };
}

/**
 * Why a header cannot start a valid frame, or undefined if it is plausible.
 * Checked before anything is allocated, so a hostile length costs nothing.
 */
export function implausibleHeader(h: FrameHeader, bytesAvailable: number): string | undefined {
  if (h.frameBytes < FRAME_HEADER_BYTES) return `frame length ${h.frameBytes} is below the header size`;
  if (h.frameBytes > FRAME_BYTES_MAX) return `frame length ${h.frameBytes} exceeds FRAME_BYTES_MAX`;
  if (h.frameBytes > bytesAvailable) return `frame length ${h.frameBytes} runs past the end of the data (${bytesAvailable} bytes left)`;
  if (h.firstSeq < 0 || h.timestamp < 0) return 'sequence number or timestamp out of range';
  if ((h.flags & ~KNOWN_FLAGS) !== 0) return `unknown frame flags 0x${h.flags.toString(16)}`;
  const recordBytesMin = h.flags === 0 ? h.count * RECORD_HEADER_BYTES : 0;
  if (FRAME_HEADER_BYTES + recordBytesMin > h.frameBytes) return `record count ${h.count} does not fit in ${h.frameBytes} bytes`;
  if (h.flags === 0 && h.count === 0) return 'data frame with no records';
  return undefined;
}

/**
 * True when the CRC over the frame body matches. `buf[offset..]` holds the
 * whole frame. The CRC is seeded with the segment's salt (see
 * `frameCrcSeed`), so bytes that merely look like a frame (a frame copied
 * into a payload, a frame of another segment) never pass.
 */
export function frameChecksumMatches(buf: Buffer, offset: number, h: FrameHeader, crcSeed: number): boolean {
  return crc32(buf.subarray(offset + 8, offset + h.frameBytes), crcSeed) === h.crc;
}

/**
 * Walks the records of a checksummed data frame at `offset` in `buf` by
 * their lengths, calling `each(at, length, index)` with where each payload
 * lies in `buf` (no slice made: a scan reads every record of a segment and
 * uses none). Returns why the record layout is inconsistent, or undefined.
 */
export function walkRecords(buf: Buffer, offset: number, h: FrameHeader, recordHeaderBytes: number, each?: (at: number, length: number, index: number) => void): string | undefined {
  if (h.flags !== 0) return undefined;
  const end = offset + h.frameBytes;
  let at = offset + FRAME_HEADER_BYTES;
  for (let i = 0; i < h.count; i++) {
    if (at + recordHeaderBytes > end) return `record ${i} header runs past the frame`;
    const length = buf.readUInt32LE(at);
    at += recordHeaderBytes;
    if (at + length > end) return `record ${i} of ${length} bytes runs past the frame`;
    each?.(at, length, i);
    at += length;
  }
  return at === end ? undefined : `frame has ${end - at} bytes after its last record`;
}

/**
 * Calls `each(payload, index, recordOffset)` for every record of a
 * checksummed frame (`recordOffset`: where its record header starts, from
 * the frame's start). Returns why the record layout is inconsistent, or undefined.
 */
export function forEachRecord(buf: Buffer, offset: number, h: FrameHeader, recordHeaderBytes: number, each: (payload: Buffer, index: number, recordOffset: number) => void): string | undefined {
  return walkRecords(buf, offset, h, recordHeaderBytes, (at, length, i) => each(buf.subarray(at, at + length), i, at - recordHeaderBytes - offset));
}

/**
 * The payload of record `index` of a checksummed data frame, or a string
 * saying why the layout is inconsistent.
 */
export function recordAt(buf: Buffer, offset: number, h: FrameHeader, index: number, recordHeaderBytes: number): Buffer | string {
  assert(h.flags === 0 && index >= 0 && index < h.count, `record ${index} is within a data frame of ${h.count}`);
  const end = offset + h.frameBytes;
  let at = offset + FRAME_HEADER_BYTES;
  for (let i = 0; ; i++) {
    if (at + recordHeaderBytes > end) return `record ${i} header runs past the frame`;
    const length = buf.readUInt32LE(at);
    at += recordHeaderBytes;
    if (at + length > end) return `record ${i} of ${length} bytes runs past the frame`;
    if (i === index) return buf.subarray(at, at + length);
    at += length;
  }
}

/**
 * Why the version-3 record CRC of each record of a checksummed data frame
 * fails, or undefined when all match (what `Log.verify` checks on top of the
 * frame CRC; sequential reads rely on the frame CRC alone).
 */
export function recordCrcProblem(buf: Buffer, offset: number, h: FrameHeader, crcSeed: number): string | undefined {
  let problem: string | undefined;
  const layout = forEachRecord(buf, offset, h, RECORD_HEADER_BYTES_V3, (payload, i, recordOffset) => {
    const at = offset + recordOffset;
    if (problem === undefined && recordCrc(crcSeed, h.firstSeq + i, buf, at + RECORD_HEADER_BYTES_V3, payload.length) !== buf.readUInt32LE(at + 4)) problem = `record ${h.firstSeq + i} checksum mismatch (frame offset +${recordOffset})`;
  });
  return layout ?? problem;
}
