import { CorruptionError, GapError } from '../errors.js';
import { readFully } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import { frameCrcSeed, RECORD_HEADER_BYTES_V3 } from '../record/frame.js';
import { recordCrc } from '../record/record-crc.js';
import type { HandlePool } from '../segment/handle-pool.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { decodePositions, type Positions, type RecordPosition } from '../segment/positions.js';
import type { PositionCache } from './position-cache.js';
import type { LogRecord } from './record.js';

/**
 * Point gets of format-version-3 segments: the position table says where a
 * record lies, one positioned read fetches exactly its bytes, and its record
 * CRC (seeded with the segment's salt and its sequence number) vouches for
 * them. No frame is read or checksummed.
 *
 * @module
 */

/** What a get returns when it cannot use a position table here: the caller scans frames instead. */
export const NO_POSITIONS = Symbol('no positions');
/** What a synchronous attempt returns when it would need a read that may not run on this thread. */
export const NEEDS_ASYNC = Symbol('needs async');

/** Reads single records of version-3 segments through their position tables. */
export class PointGetter {
  constructor(
    private readonly files: HandlePool,
    private readonly cache: PositionCache,
    /** Reads of at most this many bytes run on the calling thread (see the `syncIoMaxBytes` option). */
    private readonly syncReadMaxBytes: number,
  ) {}

  /** The record `seq` of `seg` (which holds it: `seq < seg.nextSeq`) read on this thread, or why that cannot be. */
  getSync(seg: LoadedSegment, seq: number, handle: FileHandle): LogRecord | typeof NO_POSITIONS | typeof NEEDS_ASYNC {
    const readSync = handle.readSync;
    if (readSync === undefined) return NEEDS_ASYNC;
    let positions = this.known(seg);
    if (positions === undefined) {
      if (!this.hasTable(seg)) return NO_POSITIONS;
      if (seg.positionsBytes > this.syncReadMaxBytes) return NEEDS_ASYNC;
      const buf = Buffer.allocUnsafe(seg.positionsBytes);
      const n = readLoopSync(handle, buf, seg.dataEnd);
      positions = this.adopt(seg, buf.subarray(0, n));
    }
    const pos = locate(positions, seg, seq);
    if (pos === undefined) return NO_POSITIONS;
    const length = pos.end - pos.offset;
    if (length > this.syncReadMaxBytes) return NEEDS_ASYNC;
    const buf = Buffer.allocUnsafe(length);
    return decodeRecord(buf, readLoopSync(handle, buf, pos.offset), seg, seq, pos);
  }

  /** As {@link getSync}, reading through the thread pool; `seg` is ready (loaded, fetched). */
  async get(seg: LoadedSegment, seq: number): Promise<LogRecord | typeof NO_POSITIONS> {
    if (this.known(seg) === undefined && !this.hasTable(seg)) return NO_POSITIONS;
    return this.files.withHandle(seg.file, async (handle) => {
      let positions = this.known(seg);
      if (positions === undefined) {
        const buf = Buffer.allocUnsafe(seg.positionsBytes);
        const n = await readFully(handle, buf, 0, buf.length, seg.dataEnd);
        positions = this.known(seg) ?? this.adopt(seg, buf.subarray(0, n));
      }
      const pos = locate(positions, seg, seq);
      if (pos === undefined) return NO_POSITIONS;
      const buf = Buffer.allocUnsafe(pos.end - pos.offset);
      return decodeRecord(buf, await readFully(handle, buf, 0, buf.length, pos.offset), seg, seq, pos);
    });
  }

  /** The table in memory: the active segment's own, or a sealed one's from the cache. */
  private known(seg: LoadedSegment): Positions | undefined {
    if (!seg.sealed) return seg.positions as Positions | undefined;
    return this.cache.get(seg);
  }

  /** A sealed version-3 segment carries its table on disk. */
  private hasTable(seg: LoadedSegment): boolean {
    return seg.sealed && seg.version >= 3 && seg.positionsBytes > 0 && seg.deferred !== true && !seg.needsFetch;
  }

  /** Checks a table read from `seg` and keeps it in the cache. */
  private adopt(seg: LoadedSegment, bytes: Buffer): Positions {
    const table = decodePositions(bytes, frameCrcSeed(seg.salt), { baseSeq: seg.baseSeq, nextSeq: seg.nextSeq, recordCount: seg.recordCount, dataEnd: seg.dataEnd }, seg.file);
    this.cache.put(seg, table);
    return table;
  }
}

/** Where `seq` lies; throws for a gap; undefined when the table does not cover it (absent, or behind a follower). */
function locate(positions: Positions, seg: LoadedSegment, seq: number): RecordPosition | undefined {
  const pos = positions.locate(seq);
  if (pos === undefined) return undefined;
  if (!('offset' in pos)) throw new GapError(pos.from, pos.to, { file: seg.file });
  // Never past what is published: the active segment's table may run ahead of `dataEnd` for a moment.
  return pos.end > seg.dataEnd ? { ...pos, end: seg.dataEnd } : pos;
}

function readLoopSync(handle: FileHandle, buf: Buffer, position: number): number {
  let n = 0;
  while (n < buf.length) {
    const got = handle.readSync!(buf, n, buf.length - n, position + n);
    if (got === 0) break;
    n += got;
  }
  return n;
}

/** The record in `buf[0, n)` (read at `pos.offset`), checked against its record CRC. */
function decodeRecord(buf: Buffer, n: number, seg: LoadedSegment, seq: number, pos: RecordPosition): LogRecord {
  const where = { file: seg.file, offset: pos.offset };
  if (n < RECORD_HEADER_BYTES_V3) throw new CorruptionError(`record ${seq}: only ${n} bytes where its header should be`, where);
  const length = buf.readUInt32LE(0);
  if (RECORD_HEADER_BYTES_V3 + length > n) throw new CorruptionError(`record ${seq} of ${length} bytes runs past its position range (${n} bytes)`, where);
  if (recordCrc(frameCrcSeed(seg.salt), seq, buf, RECORD_HEADER_BYTES_V3, length) !== buf.readUInt32LE(4)) throw new CorruptionError(`record ${seq} checksum mismatch`, where);
  return { seq, timestamp: pos.timestamp, payload: buf.subarray(RECORD_HEADER_BYTES_V3, RECORD_HEADER_BYTES_V3 + length) };
}
