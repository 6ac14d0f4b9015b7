import { BehindRetentionError, CorruptionError } from '../errors.js';
import { LoopYield } from '../fs/loop-yield.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import type { BatchSource } from './batch-source.js';
import type { LogRecord } from './record.js';
import { SegmentScan, type ScanContext } from './segment-scan.js';

/** What a {@link RecordScan} needs beyond one segment's scan. */
export interface RecordScanContext extends ScanContext {
  /** The segments now, oldest first (the writer adds segments as it rolls). */
  segments(): readonly LoadedSegment[];
  /** The segment whose range starts at or before `seq`. */
  findSegment(seq: number): LoadedSegment | undefined;
  /** Throws where a segment's data stops at damage. */
  throwIfDamaged(seg: LoadedSegment): void;
  /** Shared by the reads of one log handle: a long read on this thread lets timers and I/O run now and then. */
  readonly loopYield: LoopYield;
}

/**
 * Records with `from <= seq < to` across segments, in order, a stored
 * frame's worth at a time; stops early at the end of the published data. Only
 * bytes up to each segment's published data end are read, so nothing
 * unacknowledged is ever returned.
 */
export class RecordScan implements BatchSource {
  private seq: number;
  private started = false;
  private done = false;
  private scan: SegmentScan | undefined;
  /** Where the current segment's scan began, and the segment's end then: a scan that found nothing below that end found a hole. */
  private scanFrom = 0;
  private publishedAtStart = 0;
  private yieldDue = false;

  constructor(
    private readonly ctx: RecordScanContext,
    from: number,
    private readonly to: number,
    /**
     * A tail's scan: at the end of the published data it returns null without
     * ending, and a later call reads on from there as the log grows.
     */
    private readonly follow = false,
  ) {
    this.seq = from;
  }

  nextSync(): readonly LogRecord[] | null | undefined {
    if (this.done) return null;
    // A read on this thread resolves in the same turn: now and then give timers and I/O a turn of the event loop.
    // A following scan within a read-ahead window of the end of the active segment is not what holds the turn: a
    // tail reader woken per append reads a record or two each time, and parking it would only make it wait for the
    // producer's own yield (up to 4 ms more: the tail latency). A reader further behind yields as any read does.
    // (Bytes, not time: a clock says nothing about who held the turn when the process was descheduled.)
    if (this.ctx.loopYield.due() && !(this.follow && this.scan?.nearPublishedEnd() === true)) {
      this.yieldDue = true;
      return undefined;
    }
    try {
      return this.step();
    } catch (err) {
      this.done = true;
      throw err;
    }
  }

  async fill(): Promise<void> {
    if (this.yieldDue) {
      this.yieldDue = false;
      await this.ctx.loopYield.wait();
      return;
    }
    try {
      await this.scan?.fill();
    } catch (err) {
      this.done = true;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.done = true;
    this.scan = undefined;
  }

  private step(): readonly LogRecord[] | null | undefined {
    const first = this.ctx.segments()[0];
    if (first !== undefined && this.seq < first.baseSeq) {
      // Where a read starts, the start of the log; once it runs, retention deleted what it was about to read (even if its window still holds it).
      // A tail never skips: one that starts behind the start of the log is told so.
      if (this.started || this.follow) throw new BehindRetentionError(this.seq, first.baseSeq);
      this.seq = first.baseSeq;
    }
    this.started = true;
    for (;;) {
      let scan = this.scan;
      if (scan === undefined) {
        const seg = this.seq < this.to ? this.ctx.findSegment(this.seq) : undefined;
        if (seg === undefined) return this.finish();
        scan = this.scan = new SegmentScan(this.ctx, seg, this.seq, this.to);
        this.scanFrom = this.seq;
        this.publishedAtStart = seg.nextSeq;
      }
      const records = scan.nextSync();
      if (records === undefined) return undefined;
      if (records !== null) {
        this.seq = records[records.length - 1]!.seq + 1;
        return records;
      }
      this.scan = undefined;
      const seg = scan.seg;
      if (this.seq >= this.to) return this.finish();
      if (this.seq < seg.nextSeq) {
        // The active segment grew while we read it: read on from where we are.
        if (this.seq === this.scanFrom && this.scanFrom < this.publishedAtStart) throw new CorruptionError(`record ${this.seq} is missing from its segment`, { file: seg.file });
        continue;
      }
      this.ctx.throwIfDamaged(seg);
      // The end of the log: the active segment, or a sealed last one with nothing after it yet.
      if (!seg.sealed || this.ctx.findSegment(this.seq) === seg) {
        if (!this.follow) return this.finish();
        // Following: the next call reads on from this offset once more is published (no index lookup, no re-read).
        this.scan = scan;
        return null;
      }
    }
  }

  private finish(): null {
    this.done = true;
    this.scan = undefined;
    return null;
  }
}
