import { readClock } from '../write/clock.js';
import { SegmentCatalog } from '../catalog/catalog.js';
import * as path from 'node:path';
import type { CatalogEntry } from '../catalog/entry.js';
import { unlinkIfExists } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { SEGMENTS_DIR, segmentPath } from '../segment/names.js';
import { listSegmentBases } from '../recovery/load-segments.js';
import { moveToRecovery, type RecoveryTarget } from '../recovery/preserve.js';
import { CorruptionError } from '../errors.js';
import { pathExists } from '../fs/io.js';
import { finishInterruptedRepair } from '../recovery/repair.js';
import { repairIntentPath } from '../recovery/repair-intent.js';
import type { NormalizedOptions } from '../options.js';
import { createSegment } from '../segment/create.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { Segment } from '../segment/segment.js';
import type { SegmentList } from '../segment/segment-list.js';

/** A read-only handle reads the catalog when there is one; a damaged one is ignored (the files are the truth). */
export async function openCatalogForReading(dir: string): Promise<SegmentCatalog | undefined> {
  try {
    const catalog = await SegmentCatalog.open(dir, true);
    catalog?.all();
    return catalog;
  } catch {
    return undefined;
  }
}

/**
 * Finishes removals that retention began: it records a segment `evicted`
 * (its verified copy is in the archive) or `deleted` in the catalog first and
 * removes the file second, so a crash or a failed unlink in between leaves a
 * file the catalog calls gone. Loading it would put a local segment among
 * evicted ones (the segments would not join, and the log would not open), so
 * a writer removes it before loading. Resolves the files removed.
 */
export async function finishRetentionRemovals(fs: FileSystem, dir: string, entries: readonly CatalogEntry[]): Promise<string[]> {
  const removed: string[] = [];
  const gone = entries.filter((e) => e.status === 'evicted' || e.status === 'deleted');
  if (gone.length === 0) return removed;
  // One directory listing rather than an unlink per evicted segment: a tiered log may have evicted thousands.
  const present = new Set(await listSegmentBases(fs, dir));
  for (const e of gone) {
    if (!present.has(e.baseSeq)) continue;
    const file = segmentPath(dir, e.baseSeq);
    if (await unlinkIfExists(fs, file)) removed.push(file);
  }
  if (removed.length > 0) await fs.syncDir(path.join(dir, SEGMENTS_DIR));
  return removed;
}

/**
 * Makes durable what a writer found on disk before it acknowledges anything
 * on top of it: a crash may have left the last footer, the active segment's
 * frames or a new segment's directory entry only in the page cache, and a
 * later power loss must not take back what the reopened log showed or built
 * on. Two fdatasyncs and a directory fsync, once per open.
 */
export async function syncAdoptedState(fs: FileSystem, dir: string, segments: readonly LoadedSegment[], active: FileHandle | undefined): Promise<void> {
  const lastSealed = [...segments].reverse().find((s) => s.sealed && s.location === 'local');
  if (lastSealed !== undefined) {
    const handle = await fs.open(lastSealed.file, 'readWrite');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
  await active?.datasync();
  await fs.syncDir(path.join(dir, SEGMENTS_DIR));
}

/**
 * Creates the first segment of a new log, or the next one after a sealed last
 * segment. A sealed last segment without records (left by repair) holds
 * nothing and would share its name with the new one: it moves to `recovery/`.
 */
export async function startFirstSegment(opts: NormalizedOptions, dir: string, segments: SegmentList, logId: Buffer): Promise<FileHandle> {
  // Checked before anything moves or is created: a bad clock fails the open and leaves the directory as it was.
  const now = readClock(opts.clock);
  const empty = segments.last;
  if (empty !== undefined && empty.sealed && empty.nextSeq === empty.baseSeq) {
    await moveToRecovery({ fs: opts.fs, dir, fileMode: opts.fileMode, dirMode: opts.dirMode }, empty.file, 'empty');
    segments.dropEmptyLast();
  }
  const last = segments.last;
  const base = last?.nextSeq ?? 0;
  const created = await createSegment(opts.fs, dir, base, Math.max(now, last?.lastTimestamp ?? 0), opts.fileMode, logId);
  segments.append(new Segment(created.segment));
  return created.handle;
}


/**
 * A repair killed part way left its intent record: a writer (which holds the
 * lock repair needs) finishes the repair before it reads the files; a
 * read-only handle, which may change nothing, refuses rather than read a
 * half-repaired log.
 */
export async function settleInterruptedRepair(target: RecoveryTarget, readOnly: boolean, readAheadBytes: number): Promise<void> {
  if (!readOnly) {
    await finishInterruptedRepair(target, readAheadBytes);
    return;
  }
  const intent = repairIntentPath(target.dir);
  if (await pathExists(target.fs, intent)) throw new CorruptionError('a repair of this log was interrupted (or is under way): open it for writing, or run aof repair, to finish it', { file: intent });
}
