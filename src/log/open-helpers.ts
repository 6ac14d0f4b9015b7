import { SegmentCatalog } from '../catalog/catalog.js';
import * as path from 'node:path';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { SEGMENTS_DIR } from '../segment/names.js';
import { moveToRecovery } from '../recovery/preserve.js';
import type { NormalizedOptions } from '../options.js';
import { createSegment } from '../segment/create.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';

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
export async function startFirstSegment(opts: NormalizedOptions, dir: string, segments: LoadedSegment[], logId: Buffer): Promise<FileHandle> {
  const empty = segments[segments.length - 1];
  if (empty !== undefined && empty.sealed && empty.nextSeq === empty.baseSeq) {
    await moveToRecovery({ fs: opts.fs, dir, fileMode: opts.fileMode, dirMode: opts.dirMode }, empty.file, 'empty');
    segments.pop();
  }
  const last = segments[segments.length - 1];
  const base = last?.nextSeq ?? 0;
  const created = await createSegment(opts.fs, dir, base, Math.max(opts.clock(), last?.lastTimestamp ?? 0), opts.fileMode, logId);
  segments.push(created.segment);
  return created.handle;
}

