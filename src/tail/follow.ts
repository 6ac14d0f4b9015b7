import { errnoOf } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { FLAG_CLOSE_MARKER, frameCrcSeed } from '../record/frame.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { readSegmentEnvelope, sealedFigures } from '../segment/load.js';
import { Segment } from '../segment/segment.js';
import type { SegmentList } from '../segment/segment-list.js';
import { segmentPath } from '../segment/names.js';
import { readWatermark } from './watermark.js';
import { findFrameAfter } from '../segment/resync.js';
import type { HandlePool, Lease } from '../segment/handle-pool.js';

/** Most steps (segments crossed) one catch-up takes; the next wake-up continues. */
const CATCH_UP_SEGMENTS_MAX = 1024;

/** Scan settings of a follower. */
export interface FollowSettings {
  indexIntervalBytes: number;
  readAheadBytes: number;
}

/**
 * Keeps a read-only handle's view of the segments up to the writer's
 * published commit watermark: extends the active segment frame by frame,
 * notices when it was sealed, and picks up the segments that follow. Never
 * accepts a frame past the watermark, so a reader in another process never
 * sees a record whose append has not resolved. Concurrent callers share one
 * catch-up.
 */
export class Follower {
  private running: Promise<void> | undefined;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly segments: SegmentList,
    private readonly settings: FollowSettings,
  ) {}

  /** The log's descriptor budget: every segment read here leases its handle from it. */
  private get files(): HandlePool {
    return this.segments.files;
  }

  /** Brings the segment list up to the published watermark (or, with no writer ever seen, to what the files hold). */
  catchUp(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const bound = (await readWatermark(this.fs, this.dir)) ?? Number.MAX_SAFE_INTEGER;
    for (let step = 0; step < CATCH_UP_SEGMENTS_MAX; step++) {
      const last = this.segments.last;
      if (last === undefined) {
        if (!(await this.loadSegment(0))) return;
        continue;
      }
      if (last.nextSeq >= bound) return;
      if (!last.sealed) {
        await this.extend(last, bound);
        if (last.nextSeq >= bound) return;
        if (!(await this.sealedNow(last))) return; // nothing more is visible yet
      }
      if (!(await this.loadSegment(last.nextSeq))) return;
    }
  }

  /** Accepts the whole frames written after `seg.dataEnd`, up to the watermark. */
  private async extend(seg: Segment, bound: number): Promise<void> {
    await this.files.withHandle(seg.file, async (handle) => {
      const cursor = new FrameCursor(handle, seg.dataEnd, await handle.size(), this.settings.readAheadBytes, frameCrcSeed(seg.salt));
      let step = await cursor.next();
      for (; step.kind === 'frame'; step = await cursor.next()) {
        const h = step.header;
        // A close marker is removed by the next writer and written over: never step past it.
        if (h.firstSeq !== seg.nextSeq || h.firstSeq + h.count > bound || (h.flags & FLAG_CLOSE_MARKER) !== 0) break;
        seg.publishFrame(h, step.offset, this.settings.indexIntervalBytes);
      }
      // Bytes that are not a frame before the watermark: damage if valid frames follow them (a torn tail otherwise).
      if (step.kind === 'bad' && seg.nextSeq < bound && seg.damage === undefined) await this.checkDamage(handle, seg, step.offset, step.reason);
    });
  }

  private async checkDamage(handle: FileHandle, seg: Segment, offset: number, reason: string): Promise<void> {
    if ((await findFrameAfter(handle, offset + 1, await handle.size(), seg.nextSeq, frameCrcSeed(seg.salt))) !== undefined) seg.markDamaged(offset, reason);
  }

  /** True (and the segment updated from its footer) when the writer has sealed it. */
  private sealedNow(seg: Segment): Promise<boolean> {
    return this.files.withHandle(seg.file, (handle) => this.sealedFrom(handle, seg));
  }

  private async sealedFrom(handle: FileHandle, seg: Segment): Promise<boolean> {
    const envelope = await readSegmentEnvelope(handle, seg.baseSeq);
    if (envelope.kind !== 'sealed') return false;
    seg.adoptSealed(sealedFigures(envelope));
    return true;
  }

  /** Adds the segment starting at `baseSeq` once its file exists with a header; false when it does not yet. */
  private async loadSegment(baseSeq: number): Promise<boolean> {
    const file = segmentPath(this.dir, baseSeq);
    let lease: Lease;
    try {
      lease = await this.files.lease(file);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
    const handle = lease.handle;
    try {
      const envelope = await readSegmentEnvelope(handle, baseSeq);
      if (envelope.kind === 'unborn') return false;
      const h = envelope.header;
      const seg = new Segment({
        baseSeq, file, salt: h.salt, createdMs: h.createdMs, sealed: false, nextSeq: baseSeq, recordCount: 0, dataEnd: 64,
        firstTimestamp: 0, lastTimestamp: 0, index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
      });
      this.segments.append(seg);
      if (envelope.kind === 'sealed') await this.sealedFrom(handle, seg);
      return true;
    } finally {
      lease.release();
    }
  }
}
