import type { PendingAppend } from './append-queue.js';

/** A frame written to the active segment and not yet acknowledged. */
export interface WrittenFrame {
  group: PendingAppend[];
  firstSeq: number;
  count: number;
  offset: number;
  frameBytes: number;
  timestamp: number;
  /** Where each record starts in the file (version-3 segments, for the position table). */
  recordStarts: Uint32Array | undefined;
}
