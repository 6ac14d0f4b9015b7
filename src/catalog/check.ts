import * as path from 'node:path';
import type { VerifyProblem } from '../recovery/verify.js';
import { SegmentCatalog } from './catalog.js';
import { catalogDamage } from './probe.js';

/**
 * What is wrong with the LMDB catalog of log `dir`, or undefined when it is
 * healthy or absent. Probed in a child process (see {@link catalogDamage}):
 * a damaged catalog never kills the caller. `writeTest` for repair, which
 * will write to it.
 */
export async function catalogDamageOf(dir: string, writeTest: boolean): Promise<string | undefined> {
  if (!SegmentCatalog.exists(dir)) return undefined;
  return catalogDamage(SegmentCatalog.pathOf(dir), { writeTest });
}

/** The data file of the catalog of log `dir`. */
export function catalogDataFile(dir: string): string {
  return path.join(SegmentCatalog.pathOf(dir), 'data.mdb');
}

/**
 * `Log.verify`'s view of the catalog: a damaged one is an error (nothing of
 * the log is lost, but it is damage on disk that `aof repair`, or the next
 * writer open, rebuilds from the segment files).
 */
export async function catalogProblems(dir: string): Promise<VerifyProblem[]> {
  const damage = await catalogDamageOf(dir, false);
  if (damage === undefined) return [];
  return [{
    code: 'AOF_CORRUPT', severity: 'error', file: catalogDataFile(dir), offset: 0,
    message: `the LMDB catalog is damaged (${damage}); nothing of the log is lost: \`aof repair\` or the next writer open rebuilds it from the segment files, keeping this one under recovery/`,
  }];
}
