/**
 * What the open scan produces for an active (unsealed) segment, in one place.
 *
 * It runs in two situations, and both go through {@link scanActiveFrames}
 * and {@link scannedFrames}: at open, by recovery, when the log was not
 * closed cleanly (or its close marker and recorded commit points do not
 * agree); and lazily, on first use, for the active segment of a cleanly
 * closed log, which its open took from the verified close marker without
 * reading its frames (`Segment.checkFrames`). Anything a later format needs
 * from the active segment's frames (a per-record position table, say) is
 * built here, so that both paths produce it.
 *
 * @module
 */
import type { FileHandle } from '../fs/types.js';
import type { SegmentState } from './loaded-segment.js';
import { scanSegment, type ScanResult } from './scan.js';

/** The open scan reads at least this much per read: it reads the whole segment, and fewer, larger reads cost less. */
export const ACTIVE_SCAN_WINDOW_BYTES = 1024 * 1024;

/** What the open scan of an active segment found (today exactly a segment scan). */
export type ActiveScan = ScanResult;

/** How the active segment's frames are scanned. */
export interface ActiveScanSettings {
  indexIntervalBytes: number;
  readAheadBytes: number;
}

/**
 * Reads and checks every frame of an active segment in `[64, end)`:
 * checksums, record layout, sequence continuity, timestamp order. Stops at
 * the first bad frame (`stop`). Version 3: also where each record lies
 * (`positions`).
 */
export function scanActiveFrames(file: FileHandle, baseSeq: number, crcSeed: number, end: number, version: number, settings: ActiveScanSettings): Promise<ActiveScan> {
  return scanSegment(file, baseSeq, crcSeed, end, settings.indexIntervalBytes, Math.max(settings.readAheadBytes, ACTIVE_SCAN_WINDOW_BYTES), undefined, version);
}

/** The fields of a segment that its frames determine, from a scan of them. */
export type ScannedFrames = Pick<SegmentState, 'nextSeq' | 'recordCount' | 'dataEnd' | 'firstTimestamp' | 'lastTimestamp' | 'index' | 'gaps'>;

/** A scan's result in the fields of a segment. */
export function scannedFrames(scan: ActiveScan): ScannedFrames {
  return {
    nextSeq: scan.nextSeq, recordCount: scan.recordCount, dataEnd: scan.dataEnd,
    firstTimestamp: scan.firstTimestamp, lastTimestamp: scan.lastTimestamp, index: scan.index, gaps: scan.gaps,
  };
}
