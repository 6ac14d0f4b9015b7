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
 * A dry run takes no lock, so a live writer may own the last segment: the
 * zeros past its last frame are the space it preallocated, not a torn tail,
 * when the frames before them hold every record the writer published as
 * acknowledged (its watermark). Then the analysis loses that trailing span.
 * Zeros that start before the watermark are damage: acknowledged records
 * are missing. The watermark is read through its own module, so any check
 * it makes of the file applies here; an unreadable one counts as absent.
 */
export async function watermarkTail(fs: FileSystem, dir: string, a: SegmentAnalysis): Promise<SegmentAnalysis> {
  const last = a.damage[a.damage.length - 1];
  if (a.footer !== undefined || last === undefined || last.resumeAt !== undefined || !a.trailingZeros) return a;
  const watermark = await readWatermark(fs, dir).catch(() => undefined);
  if (watermark === undefined || last.lostFrom < watermark) return a;
  return { ...a, damage: a.damage.slice(0, -1), trailingZeros: false };
}
