import type { CatalogEntry } from '../catalog/entry.js';
import { impossibleEntry } from '../catalog/entry.js';
import { CorruptionError } from '../errors.js';
import { readAt } from '../fs/io.js';
import { decodeFrameHeader, FLAG_CLOSE_MARKER, FRAME_HEADER_BYTES, frameChecksumMatches, frameCrcSeed } from '../record/frame.js';
import type { FileHandle } from '../fs/types.js';
import { scanActiveFrames, scannedFrames, type ActiveScan } from '../segment/active-scan.js';
import { FORMAT_VERSION, SEGMENT_HEADER_BYTES, type SegmentHeader } from '../segment/header.js';
import { Positions } from '../segment/positions.js';
import { isRangeZero } from '../segment/load.js';
import type { SegmentState } from '../segment/loaded-segment.js';
import { findFrameAfter } from '../segment/resync.js';
import { preserveRange, type RecoveryTarget } from './preserve.js';

/** What recovery did to the active segment at open. */
export interface TailRecovery {
  /** The active segment's file. */
  file: string;
  /** True when the log was closed cleanly last time (its close marker was found; appends continue at its offset). */
  cleanClose: boolean;
  /** A torn tail that was cut off: where, how many bytes, and where they were kept under `recovery/`. */
  tornTail: { offset: number; bytes: number; reason: string; preservedAt: string } | undefined;
  /** Zero bytes after the last frame (preallocated or never written) that were cut off: they hold nothing, so no copy is kept. */
  zeroTailBytes: number;
  /**
   * False when the open took the segment from its clean-close marker and the
   * figures the close recorded, without reading its frames: they are read
   * and checked on first use (see docs/FORMAT.md, "Recovery at open"). The
   * marker then stays until the first append writes over it.
   */
  scanned: boolean;
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
  /** What the last clean close recorded, when the catalog says the log was closed cleanly (writers): see {@link openFromCloseMarker}. */
  cleanClose?: CleanCloseRecord;
}

/** What a clean close recorded outside the active segment. */
export interface CleanCloseRecord {
  /** The catalog's entry of the active segment, written by the close the catalog's clean-close mark vouches for. */
  entry: CatalogEntry;
  /** The highest commit point the log recorded (catalog, identity file, durable watermark), if any. */
  committedSeq: number | undefined;
}

/**
 * Opens the active segment of a cleanly closed log without reading its
 * frames, when everything the close wrote agrees: the file ends with a close
 * marker (checksummed with the segment's salt) at the offset and sequence
 * number the catalog's entry of the segment recorded at that close, and no
 * recorded commit point lies beyond it. Appends continue at the marker's
 * offset, the first one writing over it; the frames before it are read,
 * checked and indexed on first use (`Segment.checkFrames`), where damage is
 * `AOF_CORRUPT`, never a shorter log. Resolves undefined when
 * anything disagrees: the caller then scans the segment as after a crash.
 */
export async function openFromCloseMarker(handle: FileHandle, header: SegmentHeader, size: number, settings: ScanSettings): Promise<{ segment: SegmentState; recovery: TailRecovery } | undefined> {
  const record = settings.cleanClose;
  if (record === undefined) return undefined;
  const e = record.entry;
  const markerAt = size - FRAME_HEADER_BYTES;
  const agrees = e.baseSeq === header.baseSeq && e.status === 'active' && impossibleEntry(e) === undefined && e.createdMs === header.createdMs && e.bytes === markerAt && markerAt >= SEGMENT_HEADER_BYTES;
  if (!agrees || record.committedSeq !== e.nextSeq) return undefined;
  const bytes = await readAt(handle, markerAt, FRAME_HEADER_BYTES);
  const marker = decodeFrameHeader(bytes, 0);
  const isMarker = marker.flags === FLAG_CLOSE_MARKER && marker.count === 0 && marker.frameBytes === FRAME_HEADER_BYTES && frameChecksumMatches(bytes, 0, marker, frameCrcSeed(header.salt));
  if (!isMarker || marker.firstSeq !== e.nextSeq || marker.timestamp < e.lastTimestamp) return undefined;
  settings.checkEnd?.(e.nextSeq, handle.path);
  // The marker stays until the first append (or seal) writes over it: a frame or a footer is longer than a marker, so it
  // covers it whole. Until then the file is exactly as the clean close left it, and an open that fails or a crash
  // before any append leaves a cleanly closed log, whose damage the next scan still tells from a torn tail (the marker
  // is a valid frame after it). So the open writes nothing, and costs no truncate and no fdatasync.
  const unchecked = markerAt > SEGMENT_HEADER_BYTES;
  const segment: SegmentState = {
    baseSeq: header.baseSeq, version: header.version, positionsBytes: 0, file: handle.path, salt: header.salt, createdMs: header.createdMs, sealed: false,
    // Version 3: the table of what is appended from here on; the frames' own join it once checked (`Segment.checkFrames`).
    positions: header.version >= 3 ? new Positions(e.nextSeq, markerAt) : undefined,
    nextSeq: e.nextSeq, recordCount: e.recordCount, dataEnd: markerAt, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp,
    index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
    deferred: unchecked,
    uncheckedFrames: unchecked
      ? { end: markerAt, nextSeq: e.nextSeq, recordCount: e.recordCount, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp, indexIntervalBytes: settings.indexIntervalBytes, readAheadBytes: settings.readAheadBytes }
      : undefined,
  };
  return { segment, recovery: { file: handle.path, cleanClose: true, tornTail: undefined, zeroTailBytes: 0, scanned: false } };
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
  const scan = await scanActiveFrames(handle, header.baseSeq, crcSeed, size, header.version, settings);
  const recovery: TailRecovery = { file: handle.path, cleanClose: false, tornTail: undefined, zeroTailBytes: 0, scanned: true };
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
export function toSegmentState(file: string, header: SegmentHeader, scan: ActiveScan, sealed: boolean): SegmentState {
  return {
    baseSeq: header.baseSeq, version: header.version, positionsBytes: 0, file, salt: header.salt, createdMs: header.createdMs, sealed,
    ...scannedFrames(scan), positions: sealed ? undefined : scan.positions, damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
  };
}
