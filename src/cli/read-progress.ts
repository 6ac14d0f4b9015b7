import type { FileSystem } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { listSegmentBases } from '../recovery/load-segments.js';
import { segmentPath } from '../segment/names.js';
import { CountingFs } from '../testing/counting-fs.js';
import type { Progress } from './io.js';

/** How often a scan's bar is redrawn from the bytes read so far, in ms. */
const POLL_MS = 100;

/** Total bytes of the segment files of the log in `dir` (what a full scan reads). */
export async function segmentBytes(dir: string): Promise<number> {
  let total = 0;
  for (const base of await listSegmentBases(nodeFs, dir)) {
    try {
      total += (await nodeFs.stat(segmentPath(dir, base))).size;
    } catch {
      // Gone since the listing (an evicted segment): nothing to read.
    }
  }
  return total;
}

/**
 * A file-system adapter for a library call that reads a log (verify, repair):
 * it counts the bytes read and feeds the count to `progress` every
 * {@link POLL_MS}. The real file system, untouched, when the bar is silent.
 */
export function readProgress(progress: Progress): { fs: FileSystem; stop(): void } {
  if (!progress.active) return { fs: nodeFs, stop: () => progress.stop() };
  const counting = new CountingFs(nodeFs);
  const timer = setInterval(() => progress.update(counting.totalBytesRead), POLL_MS);
  timer.unref();
  return {
    fs: counting,
    stop() {
      clearInterval(timer);
      progress.stop();
    },
  };
}
