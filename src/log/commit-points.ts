import * as path from 'node:path';
import type { CatalogEntry } from '../catalog/entry.js';
import { DataLostError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import type { NormalizedFlush } from '../flush/strategy.js';
import { segmentPath, SEGMENTS_DIR } from '../segment/names.js';
import { readWatermark } from '../tail/watermark.js';
import type { IdentityRecord } from './identity-file.js';

/**
 * The commit points a log recorded outside the data itself, and the check
 * that the data reaches them (docs/FORMAT.md, "Where the data must end").
 * Each witness is only ever written after what it vouches for was durable,
 * so data ending before one is loss (a segment rolled back, deleted or cut),
 * never a crash's torn tail:
 *
 * - the catalog: an entry's `nextSeq` is written at roll, seal and close,
 *   each after the fdatasync of what it describes;
 * - the identity file's `committedSeq`: written at clean close, after the
 *   close marker's fdatasync, and by repair;
 * - the published watermark: written after acknowledgement; it vouches for
 *   durable data only when the writer that published it fdatasynced before
 *   acknowledging (`always`, `batch`, `adaptive`), which that writer records
 *   in the identity file (`WATERMARK_DURABLE`) before its first
 *   acknowledgement. Under `interval` and `none` a power loss may take back
 *   acknowledged records while the watermark's page survives, so such a
 *   writer's watermark is never taken as a commit point (whatever strategy
 *   the next opener uses).
 *
 * @module
 */

/** One recorded commit point: the log held every record below `seq`. */
export interface CommitPoint {
  seq: number;
  /** Who recorded it, for the error message. */
  witness: string;
}

/** The highest `nextSeq` the catalog recorded. */
export function catalogCommitPoint(entries: readonly CatalogEntry[]): CommitPoint | undefined {
  let seq = -1;
  for (const e of entries) if (e.nextSeq > seq) seq = e.nextSeq;
  return seq < 0 ? undefined : { seq, witness: 'catalog' };
}

/** The commit point of the last clean close (or repair) in the identity file. */
export function identityCommitPoint(record: IdentityRecord | undefined): CommitPoint | undefined {
  return record === undefined ? undefined : { seq: record.committedSeq, witness: 'identity file (last clean close)' };
}

/** True when a writer under `flush` acknowledges only what an fdatasync covered: its watermark never runs ahead of durable data. */
export function syncsBeforeAcknowledging(flush: NormalizedFlush): boolean {
  return flush.strategy === 'always' || flush.strategy === 'batch' || flush.strategy === 'adaptive';
}

/** The published watermark as a commit point; a missing or unreadable one is no witness. */
export async function watermarkCommitPoint(fs: FileSystem, dir: string): Promise<CommitPoint | undefined> {
  try {
    const seq = await readWatermark(fs, dir);
    return seq === undefined ? undefined : { seq, witness: 'published watermark' };
  } catch {
    return undefined;
  }
}

/** The highest of the commit points. */
export function highestCommitPoint(points: ReadonlyArray<CommitPoint | undefined>): CommitPoint | undefined {
  let best: CommitPoint | undefined;
  for (const p of points) if (p !== undefined && (best === undefined || p.seq > best.seq)) best = p;
  return best;
}

/** The file that held sequence number `seq`: the catalog's entry for it, else the last segment found, else `segments/`. */
export function fileHolding(dir: string, seq: number, entries: readonly CatalogEntry[], lastFile: string | undefined): string {
  const entry = entries.find((e) => e.baseSeq <= seq && seq < e.nextSeq);
  if (entry !== undefined) return segmentPath(dir, entry.baseSeq);
  return lastFile ?? path.join(dir, SEGMENTS_DIR);
}

/** Throws {@link DataLostError} for `[end, point)` when the data ends before the highest recorded commit point. */
export function checkDataReaches(end: number, point: CommitPoint | undefined, file: string): void {
  if (point !== undefined && end < point.seq) throw new DataLostError(end, point.seq, point.witness, { file });
}
