import { CorruptionError } from '../errors.js';
import { frameCrcSeed } from '../record/frame.js';
import type { FileHandle } from '../fs/types.js';
import { FORMAT_VERSION, SEGMENT_HEADER_BYTES, type SegmentHeader } from '../segment/header.js';
import { Positions } from '../segment/positions.js';
import { isRangeZero } from '../segment/load.js';
import type { SegmentState } from '../segment/loaded-segment.js';
import { findFrameAfter } from '../segment/resync.js';
import { scanSegment, type ScanResult } from '../segment/scan.js';
import { preserveRange, type RecoveryTarget } from './preserve.js';

/** What recovery did to the active segment at open. */
export interface TailRecovery {
  /** The active segment's file. */
  file: string;
  /** True when the log was closed cleanly last time (its close marker was found and removed). */
  cleanClose: boolean;
  /** A torn tail that was cut off: where, how many bytes, and where they were kept under `recovery/`. */
  tornTail: { offset: number; bytes: number; reason: string; preservedAt: string } | undefined;
  /** Zero bytes after the last frame (preallocated or never written) that were cut off: they hold nothing, so no copy is kept. */
  zeroTailBytes: number;
}

/** Scan settings. */
export interface ScanSettings {
  indexIntervalBytes: number;
  readAheadBytes: number;
  /**
   * Called with the end of the valid frames (and the file) before recovery
   * changes anything: throws when the data ends before a recorded commit
   * point, so that an open refused for lost data leaves the file as it was.
   */
  checkEnd?: (nextSeq: number, file: string) => void;
}

/**
 * Recovers the unsealed last segment of a log opened for writing: scans its
 * frames, tells a torn tail (nothing valid after the damage) from corruption
 * in the middle (valid frames follow), keeps a torn tail under `recovery/` and
 * cuts it off, and removes a clean-close marker so appends continue after the
 * last record. Corruption throws: the writer never appends past damage.
 */
export async function recoverActiveSegment(handle: FileHandle, header: SegmentHeader, size: number, target: RecoveryTarget, settings: ScanSettings): Promise<{ segment: SegmentState; recovery: TailRecovery }> {
  const crcSeed = frameCrcSeed(header.salt);
  const scan = await scanSegment(handle, header.baseSeq, crcSeed, size, settings.indexIntervalBytes, settings.readAheadBytes, undefined, header.version);
  const recovery: TailRecovery = { file: handle.path, cleanClose: false, tornTail: undefined, zeroTailBytes: 0 };
  if (scan.stop !== undefined) {
    const stop = scan.stop;
    const hit = await findFrameAfter(handle, stop.offset + 1, size, scan.nextSeq, crcSeed);
    if (hit !== undefined) {
      throw new CorruptionError(`damaged frame (${stop.reason}) followed by valid frames from offset ${hit.offset} (sequence ${hit.firstSeq}); run Log.repair`, { file: handle.path, offset: stop.offset });
    }
  }
  settings.checkEnd?.(scan.nextSeq, handle.path);
  if (scan.stop !== undefined) {
    const stop = scan.stop;
    const zeros = stop.zeros && (await isRangeZero(handle, stop.offset, size));
    if (zeros) recovery.zeroTailBytes = size - stop.offset;
    else recovery.tornTail = { offset: stop.offset, bytes: size - stop.offset, reason: stop.reason, preservedAt: await preserveRange(target, handle, stop.offset, size, 'torn-tail') };
    await handle.truncate(stop.offset);
    await handle.datasync();
  }
  if (scan.closeMarkerAt !== undefined && (scan.stop === undefined || recovery.zeroTailBytes > 0)) {
    // The marker is the last frame: the log was closed cleanly. Remove it so appends continue after the last record.
    await handle.truncate(scan.closeMarkerAt);
    await handle.datasync();
    scan.dataEnd = scan.closeMarkerAt;
    scan.positions?.truncate(scan.nextSeq, scan.closeMarkerAt);
    recovery.cleanClose = true;
  }
  return { segment: toSegmentState(handle.path, header, scan, false), recovery };
}

/**
 * The unsealed last segment as a read-only handle first sees it: no frames
 * yet. The handle's follower then accepts frames up to the writer's published
 * watermark, never past it, so in-flight writes are never mistaken for
 * damage and unacknowledged records are never read.
 */
export function unscannedActiveSegment(file: string, header: SegmentHeader): SegmentState {
  return {
    baseSeq: header.baseSeq, version: header.version, positionsBytes: 0, file, salt: header.salt, createdMs: header.createdMs, sealed: false,
    // Version 3: the follower adds each frame's records as it accepts them.
    positions: header.version >= FORMAT_VERSION ? new Positions(header.baseSeq, SEGMENT_HEADER_BYTES) : undefined,
    nextSeq: header.baseSeq, recordCount: 0, dataEnd: SEGMENT_HEADER_BYTES, firstTimestamp: 0, lastTimestamp: 0,
    index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
  };
}

/** The in-memory state of a segment from a scan of its frames. */
export function toSegmentState(file: string, header: SegmentHeader, scan: ScanResult, sealed: boolean): SegmentState {
  return {
    baseSeq: header.baseSeq, version: header.version, positionsBytes: 0, positions: sealed ? undefined : scan.positions, file, salt: header.salt, createdMs: header.createdMs, sealed,
    nextSeq: scan.nextSeq, recordCount: scan.recordCount, dataEnd: scan.dataEnd,
    firstTimestamp: scan.firstTimestamp, lastTimestamp: scan.lastTimestamp,
    index: scan.index, gaps: scan.gaps, damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
  };
}
