import { errnoOf } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { FLAG_CLOSE_MARKER, frameCrcSeed } from '../record/frame.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { readSegmentEnvelope, sealedFigures, type HeaderCheck } from '../segment/load.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { segmentPath } from '../segment/names.js';
import { SparseIndexBuilder } from '../segment/sparse-index.js';
import { readWatermark } from './watermark.js';
import { findFrameAfter } from '../segment/resync.js';

/** Most steps (segments crossed) one catch-up takes; the next wake-up continues. */
const CATCH_UP_SEGMENTS_MAX = 1024;

/** Scan settings of a follower. */
export interface FollowSettings {
  indexIntervalBytes: number;
  readAheadBytes: number;
  /** Refuses segments of another log as the writer rolls new ones in. */
  guard?: HeaderCheck;
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
    private readonly segments: LoadedSegment[],
    private readonly settings: FollowSettings,
  ) {}

  /** Brings the segment list up to the published watermark (or, with no writer ever seen, to what the files hold). */
  catchUp(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const bound = (await readWatermark(this.fs, this.dir)) ?? Number.MAX_SAFE_INTEGER;
    for (let step = 0; step < CATCH_UP_SEGMENTS_MAX; step++) {
      const last = this.segments[this.segments.length - 1];
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
  private async extend(seg: LoadedSegment, bound: number): Promise<void> {
    const handle = await this.fs.open(seg.file, 'read');
    try {
      const cursor = new FrameCursor(handle, seg.dataEnd, await handle.size(), this.settings.readAheadBytes, frameCrcSeed(seg.salt));
      const index = new SparseIndexBuilder(this.settings.indexIntervalBytes, seg.index);
      let step = await cursor.next();
      for (; step.kind === 'frame'; step = await cursor.next()) {
        const h = step.header;
        // A close marker is removed by the next writer and written over: never step past it.
        if (h.firstSeq !== seg.nextSeq || h.firstSeq + h.count > bound || (h.flags & FLAG_CLOSE_MARKER) !== 0) break;
        if (h.count > 0) index.add(h.firstSeq, step.offset, h.timestamp);
        if (h.flags === 0) {
          if (seg.recordCount === 0) seg.firstTimestamp = h.timestamp;
          seg.recordCount += h.count;
          seg.lastTimestamp = h.timestamp;
        }
        seg.nextSeq = h.firstSeq + h.count;
        seg.dataEnd = step.offset + h.frameBytes;
      }
      seg.index = index.entries;
      // Bytes that are not a frame before the watermark: damage if valid frames follow them (a torn tail otherwise).
      if (step.kind === 'bad' && seg.nextSeq < bound && seg.damage === undefined) await this.checkDamage(handle, seg, step.offset, step.reason);
    } finally {
      await handle.close();
    }
  }

  private async checkDamage(handle: FileHandle, seg: LoadedSegment, offset: number, reason: string): Promise<void> {
    if ((await findFrameAfter(handle, offset + 1, await handle.size(), seg.nextSeq, frameCrcSeed(seg.salt))) !== undefined) seg.damage = { offset, reason };
  }

  /** True (and the segment updated from its footer) when the writer has sealed it. */
  private async sealedNow(seg: LoadedSegment): Promise<boolean> {
    const handle = await this.fs.open(seg.file, 'read');
    try {
      const envelope = await readSegmentEnvelope(handle, seg.baseSeq, this.settings.guard);
      if (envelope.kind !== 'sealed') return false;
      Object.assign(seg, sealedFigures(envelope));
      return true;
    } finally {
      await handle.close();
    }
  }

  /** Adds the segment starting at `baseSeq` once its file exists with a header; false when it does not yet. */
  private async loadSegment(baseSeq: number): Promise<boolean> {
    const file = segmentPath(this.dir, baseSeq);
    let handle: FileHandle;
    try {
      handle = await this.fs.open(file, 'read');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
    try {
      const envelope = await readSegmentEnvelope(handle, baseSeq, this.settings.guard);
      if (envelope.kind === 'unborn') return false;
      const h = envelope.header;
      const seg: LoadedSegment = {
        baseSeq, file, salt: h.salt, createdMs: h.createdMs, sealed: false, nextSeq: baseSeq, recordCount: 0, dataEnd: 64,
        firstTimestamp: 0, lastTimestamp: 0, index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
      };
      this.segments.push(seg);
      if (envelope.kind === 'sealed') await this.sealedNow(seg);
      return true;
    } finally {
      await handle.close();
    }
  }
}
