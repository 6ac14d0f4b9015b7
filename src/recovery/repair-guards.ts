/**
 * Checks repair makes before it plans a change to a segment: what it must
 * refuse to touch, and what is not damage although it looks like it.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { readWatermark } from '../tail/watermark.js';
import type { SegmentAnalysis } from './analyze.js';

/**
 * Repair replaces a segment by renaming a new file over its name, which
 * would turn a symbolic link into a file and leave the file it points to
 * as it was (and another log's file may be the target): so a segment that
 * is a link is refused, before anything is changed.
 */
export async function refuseSymlinkedSegment(fs: FileSystem, file: string): Promise<void> {
  const stat = await fs.lstat(file);
  if (stat.isSymbolicLink) {
    throw new InvalidArgumentError(`segment ${file} is a symbolic link: repair changes only regular files in the log directory; replace the link by the file it points to (or repair the log that file belongs to) and run repair again. Nothing was changed`);
  }
  // A FIFO would block the open forever; a directory or socket cannot be a segment either.
  if (!stat.isFile) throw new InvalidArgumentError(`segment ${file} is not a regular file: move it out of segments/ and run repair again. Nothing was changed`);
}

/**
 * A tool that takes no lock (verify, a dry-run repair) may find a live
 * writer owning the last segment. Zeros past its last frame are the space
 * it preallocated, not damage, when they start at or after the watermark it
 * had published before the tool began to scan (`watermark`, read first: the
 * frames below it were on disk before it was written, so the scan reaches
 * them). A writer writing meanwhile may even leave valid frames after such
 * zeros (the scan saw the zeros before the frames landed). Zeros that start
 * before the watermark are damage: acknowledged records are missing.
 * Returns the analysis without those spans.
 */
export function liveWriterTail(a: SegmentAnalysis, watermark: number | undefined): SegmentAnalysis {
  if (a.footer !== undefined || a.footerError !== undefined || watermark === undefined) return a;
  const k = a.damage.findIndex((d) => d.zeros && d.lostFrom >= watermark);
  if (k < 0) return a;
  const tail = a.damage.slice(k);
  // Only zeros (and frames after them) are the writer's: a bad non-zero frame there is the verdict of a full scan, kept.
  if (tail.some((d, j) => j > 0 && !d.zeros)) return a;
  return { ...a, damage: a.damage.slice(0, k), trailingZeros: false };
}

/** The published watermark, read before a scan; an unreadable one counts as absent. */
export async function watermarkBeforeScan(fs: FileSystem, dir: string): Promise<number | undefined> {
  return readWatermark(fs, dir).catch(() => undefined);
}

/**
 * A dry run takes no lock, so a live writer may own the last segment: the
 * zeros past its last frame are the space it preallocated, not a torn tail,
 * when the frames before them hold every record the writer published as
 * acknowledged (its watermark). Then the analysis loses that trailing span.
 * Zeros that start before the watermark are damage: acknowledged records
 * are missing. The watermark is read through its own module, so any check
 * it makes of the file applies here; an unreadable one counts as absent.
 */
export function watermarkTail(a: SegmentAnalysis, watermark: number | undefined): SegmentAnalysis {
  return liveWriterTail(a, watermark);
}
