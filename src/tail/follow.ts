import * as path from 'node:path';
import { CorruptionError, errnoOf, WatermarkUnavailableError } from '../errors.js';
import { LOCK_NAME } from '../lock/writer-lock.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { FLAG_CLOSE_MARKER, forEachRecord, frameCrcSeed, recordHeaderBytesOf, type FrameHeader } from '../record/frame.js';
import { FORMAT_VERSION, SEGMENT_HEADER_BYTES } from '../segment/header.js';
import { Positions } from '../segment/positions.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { readSegmentEnvelope, sealedFigures, type HeaderCheck } from '../segment/load.js';
import { Segment } from '../segment/segment.js';
import type { SegmentList } from '../segment/segment-list.js';
import { segmentPath } from '../segment/names.js';
import { readWatermarkState } from './watermark.js';
import { findFrameAfter } from '../segment/resync.js';
import type { HandlePool, Lease } from '../segment/handle-pool.js';

/** Most steps (segments crossed) one catch-up takes; the next wake-up continues. */
const CATCH_UP_SEGMENTS_MAX = 1024;

/** What vouches for frames past a reader's view: the published watermark, or without one a clean-close marker, or no writer at all. */
type Vouch = { kind: 'watermark'; bound: number } | { kind: 'closeMarker' } | { kind: 'noWriter' };

/**
 * True while the writer's lock is there: a writer may be appending, so bytes
 * past the watermark may be unacknowledged. (A crashed writer's stale lock
 * counts too, until the next writer's open recovers the log.)
 */
async function writerMayBeLive(fs: FileSystem, dir: string): Promise<boolean> {
  try {
    await fs.stat(path.join(dir, LOCK_NAME));
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

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
 * catch-up. Without a valid watermark (missing, damaged) it never guesses
 * from the bytes: only a footer (a sealed segment holds acknowledged frames
 * alone) or a clean-close marker ending the file vouches for frames, and
 * frames nothing vouches for are left unseen and reported by
 * {@link Follower.unavailable}.
 */
export class Follower {
  private running: Promise<void> | undefined;
  private refused: WatermarkUnavailableError | undefined;

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

  /** Brings the segment list up to the published watermark (without one, to what a footer or clean-close marker vouches for). */
  catchUp(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * After a catch-up: why frames past this view were left unseen (no valid
   * watermark and nothing else vouching for them), or undefined when the
   * view is all that is known to be acknowledged.
   */
  unavailable(): WatermarkUnavailableError | undefined {
    return this.refused;
  }

  private async run(): Promise<void> {
    // A writer that appeared while frames were scanned without a watermark: scan again with the one it published.
    for (let attempt = 0; attempt < 2; attempt++) if (await this.runOnce()) return;
  }

  /** One catch-up; false when a writer appeared under a scan that relied on there being none. */
  private async runOnce(): Promise<boolean> {
    const watermark = await readWatermarkState(this.fs, this.dir);
    const vouch: Vouch = watermark.kind === 'valid' ? { kind: 'watermark', bound: watermark.nextSeq } : (await writerMayBeLive(this.fs, this.dir)) ? { kind: 'closeMarker' } : { kind: 'noWriter' };
    const bound = vouch.kind === 'watermark' ? vouch.bound : Number.MAX_SAFE_INTEGER;
    this.refused = undefined;
    for (let step = 0; step < CATCH_UP_SEGMENTS_MAX; step++) {
      const last = this.segments.last;
      if (last === undefined) {
        if (!(await this.loadSegment(0))) return true;
        continue;
      }
      if (last.nextSeq >= bound) return true;
      if (!last.sealed) {
        const outcome = await this.extend(last, vouch);
        if (outcome === 'writer appeared') return false;
        if (last.nextSeq >= bound) return true;
        if (!(await this.sealedNow(last))) {
          // The view stops at an invalid frame (valid ones follow it) below what the writer published: no silently shorter log.
          // (Without a watermark nothing recorded says records lie beyond it: the view is the valid prefix, and reads past it reject.)
          if (vouch.kind === 'watermark' && last.damage !== undefined && last.nextSeq < vouch.bound) {
            throw new CorruptionError(`${last.damage.reason}: records ${last.nextSeq}..${vouch.bound - 1}, below the published watermark, lie beyond this invalid frame`, { file: last.file, offset: last.damage.offset });
          }
          if (outcome === 'unvouched' && watermark.kind !== 'valid') {
            this.refused = new WatermarkUnavailableError(watermark.kind, watermark.kind === 'damaged' ? watermark.reason : '', watermark.file);
          }
          return true; // nothing more is visible yet
        }
      }
      if (!(await this.loadSegment(last.nextSeq))) return true;
    }
    return true;
  }

  /**
   * Accepts the whole frames written after `seg.dataEnd` that `vouch` vouches
   * for: up to the watermark; without one, only those a clean-close marker
   * ending the file follows (the writer that closed acknowledged each), or,
   * with no writer at all, every whole frame (what the next writer's recovery
   * keeps) once a second look shows that no writer came meanwhile.
   */
  private async extend(seg: Segment, vouch: Vouch): Promise<'accepted' | 'unvouched' | 'writer appeared'> {
    const bound = vouch.kind === 'watermark' ? vouch.bound : Number.MAX_SAFE_INTEGER;
    return this.files.withHandle(seg.file, async (handle) => {
      const size = await handle.size();
      const cursor = new FrameCursor(handle, seg.dataEnd, size, this.settings.readAheadBytes, frameCrcSeed(seg.salt));
      const frames: Array<{ offset: number; header: FrameHeader; records: number[] | undefined }> = [];
      const recordHeaderBytes = recordHeaderBytesOf(seg.version);
      let nextSeq = seg.nextSeq;
      let markerEnd: number | undefined;
      let step = await cursor.next();
      for (; step.kind === 'frame'; step = await cursor.next()) {
        const h = step.header;
        // A close marker is removed by the next writer and written over: never step past it.
        if ((h.flags & FLAG_CLOSE_MARKER) !== 0) {
          if (h.firstSeq === nextSeq) markerEnd = step.offset + h.frameBytes;
          break;
        }
        if (h.firstSeq !== nextSeq || h.firstSeq + h.count > bound) break;
        // Version 3: where each record starts, for the segment's position table (gets then read one record, not a group-commit frame).
        let records: number[] | undefined;
        if (seg.positions !== undefined && h.flags === 0) {
          const offsets: number[] = [];
          const frameAt = step.offset;
          records = forEachRecord(step.buf, step.at, h, recordHeaderBytes, (_p, _i, recordOffset) => offsets.push(frameAt + recordOffset)) === undefined ? offsets : undefined;
        }
        frames.push({ offset: step.offset, header: h, records });
        nextSeq = h.firstSeq + h.count;
      }
      if (vouch.kind === 'closeMarker' && markerEnd !== size) return frames.length > 0 || step.kind === 'frame' ? 'unvouched' : 'accepted';
      // A writer publishes its watermark before its first append: none now means none of these frames is its unacknowledged one.
      if (vouch.kind === 'noWriter' && ((await readWatermarkState(this.fs, this.dir)).kind === 'valid' || (await writerMayBeLive(this.fs, this.dir)))) return 'writer appeared';
      this.accept(seg, frames);
      // Bytes that are not a frame before the watermark: damage if valid frames follow them (a torn tail otherwise).
      if (vouch.kind !== 'closeMarker' && step.kind === 'bad' && seg.nextSeq < bound && seg.damage === undefined) await this.checkDamage(handle, seg, step.offset, step.reason);
      return 'accepted';
    });
  }

  /** Adds frames known to be acknowledged to the segment (its one bookkeeping path, shared with the writer). */
  private accept(seg: Segment, frames: ReadonlyArray<{ offset: number; header: FrameHeader; records: number[] | undefined }>): void {
    for (const { offset, header, records } of frames) {
      const positions = seg.positions;
      // A frame whose records do not add up gets no positions: publishFrame then drops the table, and gets scan frames (and report the damage).
      if (positions !== undefined && header.flags !== 0) positions.addEmptyFrame(header.firstSeq, header.count, offset + header.frameBytes);
      else if (positions !== undefined && records !== undefined) {
        positions.beginFrame(header.firstSeq, header.timestamp);
        for (const at of records) positions.addRecord(at);
        positions.endFrame(offset + header.frameBytes);
      }
      seg.publishFrame(header, offset, this.settings.indexIntervalBytes);
    }
  }

  private async checkDamage(handle: FileHandle, seg: Segment, offset: number, reason: string): Promise<void> {
    if ((await findFrameAfter(handle, offset + 1, await handle.size(), seg.nextSeq, frameCrcSeed(seg.salt))) !== undefined) seg.markDamaged(offset, reason);
  }

  /** True (and the segment updated from its footer) when the writer has sealed it. */
  private sealedNow(seg: Segment): Promise<boolean> {
    return this.files.withHandle(seg.file, (handle) => this.sealedFrom(handle, seg));
  }

  private async sealedFrom(handle: FileHandle, seg: Segment): Promise<boolean> {
    const envelope = await readSegmentEnvelope(handle, seg.baseSeq, this.settings.guard);
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
      const envelope = await readSegmentEnvelope(handle, baseSeq, this.settings.guard);
      if (envelope.kind === 'unborn') return false;
      const h = envelope.header;
      const seg = new Segment({
        baseSeq, version: h.version, positionsBytes: 0, positions: h.version >= FORMAT_VERSION ? new Positions(baseSeq, SEGMENT_HEADER_BYTES) : undefined, file, salt: h.salt, createdMs: h.createdMs, sealed: false, nextSeq: baseSeq, recordCount: 0, dataEnd: 64,
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
