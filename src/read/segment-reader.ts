import { assert } from '../assert.js';
import { BehindRetentionError, CorruptionError, errnoOf, GapError } from '../errors.js';
import { FLAG_GAP, FRAME_HEADER_BYTES, frameCrcSeed, recordAt, recordHeaderBytesOf, type FrameHeader } from '../record/frame.js';
import { FrameCursor, type CursorStep } from '../segment/frame-cursor.js';
import type { FileHandle } from '../fs/types.js';
import { LoopYield } from '../fs/loop-yield.js';
import { SEGMENT_HEADER_BYTES } from '../segment/header.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { floorBySeq } from '../segment/sparse-index.js';
import { lastWhere } from '../segment/bisect.js';
import type { HandlePool, Lease } from '../segment/handle-pool.js';
import type { LogRecord } from './record.js';
import { NEEDS_ASYNC, NO_POSITIONS, PointGetter } from './point-get.js';
import { PositionCache } from './position-cache.js';
import { nextBatch } from './batch-source.js';
import { RecordScan, type RecordScanContext } from './record-scan.js';

/** Read window of a single-record lookup (frames larger than it are read whole). */
export const GET_WINDOW_BYTES = 8 * 1024;

/** The segments a reader sees: a function, because the writer adds segments as it rolls. */
export type SegmentsView = () => readonly LoadedSegment[];

/**
 * Reads records by sequence number from segment files: bisects segments by
 * base, then the sparse index, then scans at most one index interval of
 * checksummed frames. Only bytes up to each segment's published data end are
 * read, so nothing unacknowledged is ever returned.
 */
export class SegmentReader {
  /** The window of lookups that run entirely on this thread (never shared across an await). */
  private readonly scratch = Buffer.allocUnsafe(GET_WINDOW_BYTES);
  private readonly loopYield = new LoopYield();
  /** Version-3 point gets: one read of the record through its segment's position table. */
  private readonly points: PointGetter;
  /** Sealed segments' position tables, within `positionCacheBytes`. */
  readonly positionCache: PositionCache;
  /** What every sequential scan of this reader shares (made once: a scan is made per read and per tail wake-up). */
  private readonly scanContext: RecordScanContext;

  constructor(
    private readonly segments: SegmentsView,
    private readonly files: HandlePool,
    private readonly readAheadBytes: number,
    /** Makes a segment readable first (fetches an evicted one back from the archive). */
    private readonly prepare: (seg: LoadedSegment) => Promise<void> = async () => undefined,
    /** Reads of at most this many bytes run on the calling thread (see the `syncIoMaxBytes` option). */
    private readonly syncReadMaxBytes = 0,
    positionCacheBytes?: number,
  ) {
    this.positionCache = new PositionCache(positionCacheBytes);
    this.points = new PointGetter(files, this.positionCache, syncReadMaxBytes);
    this.scanContext = {
      files,
      readAheadBytes,
      syncReadMaxBytes,
      loopYield: this.loopYield,
      segments,
      findSegment: (seq) => this.findSegment(seq),
      throwIfDamaged,
      ready: (seg) => this.ready(seg),
      lease: (seg, seq) => this.leaseAfterPause(seg, seq),
      startOffset,
      frameRecords: (step, from, to, seg) => frameRecords(step.buf, step.at, step.header, from, to, seg.file, step.offset, recordHeaderBytesOf(seg.version)),
    };
  }

  /** The segment whose range starts at or before `seq` (the one that holds it, if any does). */
  findSegment(seq: number): LoadedSegment | undefined {
    return lastWhere(this.segments(), (s) => s.baseSeq <= seq);
  }

  /** The record `seq`, or undefined when the log does not hold it. */
  get(seq: number): Promise<LogRecord | undefined> {
    // A lookup on this thread resolves in the same turn: a loop of awaited gets must still let timers and I/O run.
    if (this.loopYield.due()) return this.loopYield.wait().then(() => this.get(seq));
    return this.lookup(seq);
  }

  /**
   * The records `seqs` (undefined where the log holds none), in the order
   * asked; the reads are issued in file order, one at a time.
   */
  async getMany(seqs: readonly number[]): Promise<Array<LogRecord | undefined>> {
    const out = new Array<LogRecord | undefined>(seqs.length);
    if (this.loopYield.due()) await this.loopYield.wait();
    // In file order; a lookup that can run on this thread is taken as it is, with no promise (and no microtask) per record.
    let sorted = true;
    for (let i = 1; i < seqs.length && sorted; i++) sorted = seqs[i - 1]! <= seqs[i]!;
    if (sorted) {
      for (let i = 0; i < seqs.length; i++) {
        const found = this.lookupNow(seqs[i]!);
        out[i] = found instanceof Promise ? await found : found;
      }
      return out;
    }
    const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]! - seqs[b]!);
    for (const i of order) {
      const found = this.lookupNow(seqs[i]!);
      out[i] = found instanceof Promise ? await found : found;
    }
    return out;
  }

  private lookup(seq: number): Promise<LogRecord | undefined> {
    try {
      const found = this.lookupNow(seq);
      return found instanceof Promise ? found : Promise.resolve(found);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The record `seq` found on this thread when it can be (throwing what the read finds), else a promise of it. */
  private lookupNow(seq: number): LogRecord | undefined | Promise<LogRecord | undefined> {
    const seg = this.findSegment(seq);
    if (seg === undefined) return undefined;
    if (seq >= seg.nextSeq) {
      throwIfDamaged(seg);
      return undefined;
    }
    // A segment ready to read in a handle already open: the whole lookup can run now, with no thread-pool round trip.
    // (Never an evicted segment: its fetched copy may have left the bounded cache, and `ready` fetches it again.)
    const handle = seg.location !== 'local' || seg.deferred === true ? undefined : this.files.peek(seg.file);
    if (seg.version >= 3 && handle !== undefined) {
      // Version 3: one read of the record itself, through the position table.
      const found = this.points.getSync(seg, seq, handle);
      if (found === NEEDS_ASYNC) return this.getAsync(seg, seq);
      if (found !== NO_POSITIONS) return found;
    }
    if (handle?.readSync !== undefined) {
      // All on this thread: one scratch window serves every lookup; the record gets its own bytes.
      const found = pickRecord(this.lookupCursor(handle, seg, seq, this.scratch), seq, seg);
      if (found !== undefined) return { ...found, payload: Buffer.from(found.payload) };
    }
    return this.getAsync(seg, seq);
  }

  private async getAsync(seg: LoadedSegment, seq: number): Promise<LogRecord | undefined> {
    await this.ready(seg);
    if (seg.version >= 3) {
      const found = await this.points.get(seg, seq);
      if (found !== NO_POSITIONS) return found;
    }
    return this.files.withHandle(seg.file, async (handle) => {
      const cursor = this.lookupCursor(handle, seg, seq);
      for (;;) {
        const found = lookupStep(await cursor.next(), seq, seg);
        if (found !== undefined) return found;
      }
    });
  }

  /** A lookup scans at most one index interval: a small window, not the sequential read-ahead. */
  private lookupCursor(handle: FileHandle, seg: LoadedSegment, seq: number, scratch?: Buffer): FrameCursor {
    return new FrameCursor(handle, startOffset(seg, seq), seg.dataEnd, Math.min(this.readAheadBytes, GET_WINDOW_BYTES), frameCrcSeed(seg.salt), this.syncReadMaxBytes, scratch);
  }

  /** Records with `from <= seq < to`, in order; stops early at the end of the published data. */
  async *read(from: number, to: number): AsyncGenerator<LogRecord> {
    for await (const records of this.readBatches(from, to)) yield* records;
  }

  /** As {@link read}, a frame's records at a time (never an empty batch). */
  async *readBatches(from: number, to: number): AsyncGenerator<readonly LogRecord[]> {
    const scan = this.scan(from, to);
    try {
      for (let batch = await nextBatch(scan); batch !== null; batch = await nextBatch(scan)) yield batch;
    } finally {
      await scan.close();
    }
  }

  /**
   * As {@link readBatches}, as a source the read loop steps through on this
   * thread while frames are in memory or readable there (see
   * {@link BatchSource}); it holds no handle between steps. With `follow`
   * (a tail), the end of the published data is not the end of the scan.
   */
  scan(from: number, to: number, follow = false): RecordScan {
    return new RecordScan(this.scanContext, from, to, follow);
  }

  /**
   * Leases `seg`'s file for a read of a scan at `seq`. Between reads retention
   * may have evicted it (read on from a copy fetched back: the same bytes) or
   * deleted it (the reader fell behind the start of the log).
   */
  private async leaseAfterPause(seg: LoadedSegment, seq: number): Promise<Lease> {
    try {
      return await this.files.lease(seg.file);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      if (this.findSegment(seg.baseSeq) !== seg) throw new BehindRetentionError(seq, this.segments()[0]?.baseSeq ?? seg.nextSeq);
      await this.ready(seg);
      return this.files.lease(seg.file);
    }
  }

  /** Prepares `seg` (loads a deferred one, fetches an evicted one): its salt and index are known after. */
  private async ready(seg: LoadedSegment): Promise<void> {
    await this.prepare(seg);
    assert(seg.deferred !== true && !seg.needsFetch, `segment ${seg.baseSeq} is read only once its header and footer are known`);
  }
}

function startOffset(seg: LoadedSegment, seq: number): number {
  return floorBySeq(seg.index, seq)?.offset ?? SEGMENT_HEADER_BYTES;
}

function throwIfDamaged(seg: LoadedSegment): void {
  if (seg.damage !== undefined) throw new CorruptionError(seg.damage.reason, { file: seg.file, offset: seg.damage.offset });
}

function frameRecords(buf: Buffer, at: number, h: FrameHeader, from: number, to: number, file: string, offset: number, recordHeaderBytes: number): LogRecord[] {
  if ((h.flags & FLAG_GAP) !== 0) throw new GapError(h.firstSeq, h.firstSeq + h.count, { file, offset });
  if (h.flags !== 0) return [];
  // One loop without a callback: this runs once per record of every sequential read.
  const out: LogRecord[] = [];
  const end = at + h.frameBytes;
  // The whole frame is walked, whatever the range, so every read judges a frame's layout alike.
  const last = h.firstSeq + h.count;
  let pos = at + FRAME_HEADER_BYTES;
  for (let seq = h.firstSeq; seq < last; seq++) {
    if (pos + recordHeaderBytes > end) throw new CorruptionError(`record ${seq - h.firstSeq} header runs past the frame`, { file, offset });
    const length = buf.readUInt32LE(pos);
    pos += recordHeaderBytes;
    if (pos + length > end) throw new CorruptionError(`record ${seq - h.firstSeq} of ${length} bytes runs past the frame`, { file, offset });
    if (seq >= from && seq < to) out.push({ seq, timestamp: h.timestamp, payload: buf.subarray(pos, pos + length) });
    pos += length;
  }
  if (pos !== end) throw new CorruptionError(`frame has ${end - pos} bytes after its last record`, { file, offset });
  return out;
}

/**
 * Steps `cursor` on this thread to the record `seq`; undefined when a step
 * needs a read that may not run here (the caller then takes the async path).
 */
function pickRecord(cursor: FrameCursor, seq: number, seg: LoadedSegment): LogRecord | undefined {
  for (;;) {
    const step = cursor.nextSync();
    if (step === undefined) return undefined;
    const found = lookupStep(step, seq, seg);
    if (found !== undefined) return found;
  }
}

/** The record `seq` if this step holds it; undefined to step on; throws where the segment cannot hold it. */
function lookupStep(step: CursorStep, seq: number, seg: LoadedSegment): LogRecord | undefined {
  if (step.kind === 'end') throw new CorruptionError(`record ${seq} is missing from its segment`, { file: seg.file, offset: step.offset });
  if (step.kind === 'bad') throw new CorruptionError(step.reason, { file: seg.file, offset: step.offset });
  const h = step.header;
  if (seq >= h.firstSeq + h.count) return undefined;
  if (seq < h.firstSeq) throw new CorruptionError(`frame at sequence ${h.firstSeq} skips record ${seq}`, { file: seg.file, offset: step.offset });
  if ((h.flags & FLAG_GAP) !== 0) throw new GapError(h.firstSeq, h.firstSeq + h.count, { file: seg.file, offset: step.offset });
  const payload = recordAt(step.buf, step.at, h, seq - h.firstSeq, recordHeaderBytesOf(seg.version));
  if (typeof payload === 'string') throw new CorruptionError(payload, { file: seg.file, offset: step.offset });
  return { seq, timestamp: h.timestamp, payload };
}
