import { SegmentCatalog } from '../catalog/catalog.js';
import type { FileHandle } from '../fs/types.js';
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

/** Creates the first segment of a new log, or the next one after a sealed last segment. */
export async function startFirstSegment(opts: NormalizedOptions, dir: string, segments: LoadedSegment[]): Promise<FileHandle> {
  const last = segments[segments.length - 1];
  const base = last?.nextSeq ?? 0;
  const created = await createSegment(opts.fs, dir, base, Math.max(opts.clock(), last?.lastTimestamp ?? 0), opts.fileMode);
  segments.push(created.segment);
  return created.handle;
}

