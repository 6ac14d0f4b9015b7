import { CorruptionError } from '../errors.js';
import { frameCrcSeed } from '../record/frame.js';
import { FrameCursor, type CursorStep } from '../segment/frame-cursor.js';
import type { HandlePool, Lease } from '../segment/handle-pool.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import type { LogRecord } from './record.js';

/** What a {@link SegmentScan} needs from its reader. */
export interface ScanContext {
  readonly files: HandlePool;
  readonly readAheadBytes: number;
  /** Reads of at most this many bytes run on the calling thread (see the `syncIoMaxBytes` option). */
  readonly syncReadMaxBytes: number;
  /** Makes `seg` readable (loads a deferred one, fetches an evicted one). */
  ready(seg: LoadedSegment): Promise<void>;
  /** Leases `seg`'s file for a read; a segment removed meanwhile rejects with `AOF_BEHIND_RETENTION` (reading on at `seq`). */
  lease(seg: LoadedSegment, seq: number): Promise<Lease>;
  /** Where a scan of `seg` from `seq` starts: the sparse index's entry at or before it. */
  startOffset(seg: LoadedSegment, seq: number): number;
  /** The records of a checksummed frame in `[from, to)` (possibly none). */
  frameRecords(step: Extract<CursorStep, { kind: 'frame' }>, from: number, to: number, seg: LoadedSegment): LogRecord[];
}

/**
 * The records of one segment in `[from, to)`, a frame at a time, up to its
 * published data end (which grows while the segment is active). Steps run on
 * this thread while the frame is in the read-ahead window or readable there
 * through a handle the pool has open; otherwise {@link fill} leases the file,
 * reads the window and gives the handle back, so a scan whose consumer is
 * paused holds no descriptor and any number of them fit `maxOpenFiles`.
 */
export class SegmentScan {
  private seq: number;
  private offset: number;
  private cursor: FrameCursor | undefined;
  private prepared: boolean;

  constructor(
    private readonly ctx: ScanContext,
    readonly seg: LoadedSegment,
    from: number,
    private readonly to: number,
  ) {
    this.seq = from;
    // A local segment whose header and footer are known needs no preparing: its scan can start on this thread
    // (a tail reader's wake-up then reaches its consumer in a few microtask steps). Others are prepared by fill().
    this.prepared = seg.location === 'local' && seg.deferred !== true && !seg.needsFetch;
    // Known once the segment is prepared (a deferred segment's index is loaded then).
    this.offset = this.prepared ? ctx.startOffset(seg, from) : -1;
  }

  /** The next non-empty batch; null once the segment has nothing more in range; undefined when {@link fill} must run first. */
  nextSync(): LogRecord[] | null | undefined {
    if (!this.prepared) return undefined;
    const seg = this.seg;
    for (;;) {
      if (this.seq >= this.to) return null;
      let cursor = this.cursor;
      if (cursor === undefined) {
        // The active segment may grow while we read it: a new cursor reaches its new published end.
        if (this.offset >= seg.dataEnd) return null;
        cursor = this.cursor = new FrameCursor(undefined, this.offset, seg.dataEnd, this.ctx.readAheadBytes, frameCrcSeed(seg.salt), this.ctx.syncReadMaxBytes);
      }
      // A handle the pool has open serves a read that completes in this turn (nothing can close it meanwhile): no lease.
      cursor.rebind(this.ctx.files.peek(seg.file));
      const step = cursor.nextSync();
      cursor.rebind(undefined);
      if (step === undefined) return undefined;
      const records = this.take(step);
      if (records !== undefined) return records;
    }
  }

  /** True when what is left to read is the active segment's last read-ahead window at most (a tail keeping up). */
  nearPublishedEnd(): boolean {
    return this.prepared && !this.seg.sealed && this.seg.dataEnd - this.offset <= this.ctx.readAheadBytes;
  }

  /** Prepares the segment, or reads the window the next step needs through a leased handle, given back before it resolves. */
  async fill(): Promise<void> {
    if (!this.prepared) {
      await this.ctx.ready(this.seg);
      this.offset = this.ctx.startOffset(this.seg, this.seq);
      this.prepared = true;
      return;
    }
    const cursor = this.cursor;
    if (cursor === undefined) return;
    const lease = await this.ctx.lease(this.seg, this.seq);
    try {
      cursor.rebind(lease.handle);
      await cursor.prefetch();
    } finally {
      cursor.rebind(undefined);
      lease.release();
    }
  }

  /** Books a step; the records it yields (undefined: none, step on). */
  private take(step: CursorStep): LogRecord[] | undefined {
    if (step.kind === 'end') {
      this.cursor = undefined;
      return undefined;
    }
    if (step.kind === 'bad') throw new CorruptionError(step.reason, { file: this.seg.file, offset: step.offset });
    const h = step.header;
    this.offset = step.offset + h.frameBytes;
    if (h.firstSeq + h.count <= this.seq) return undefined;
    const records = this.ctx.frameRecords(step, this.seq, this.to, this.seg);
    this.seq = h.firstSeq + h.count;
    return records.length > 0 ? records : undefined;
  }
}
