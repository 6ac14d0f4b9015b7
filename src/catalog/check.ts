import * as path from 'node:path';
import type { VerifyProblem } from '../recovery/verify.js';
import { SegmentCatalog } from './catalog.js';
import { catalogDamage } from './probe.js';
import type { CatalogEntry } from './entry.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FileHandle } from '../fs/types.js';
import { segmentPath } from '../segment/names.js';
import { readSegmentEnvelope } from '../segment/load.js';
import { sealedFileDiffers } from '../log/deferred-segment.js';
import { IdentityGuard } from '../log/identity-guard.js';

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
  const damage = (await catalogDamageOf(dir, false)) ?? (await catalogDisagreement(dir));
  if (damage === undefined) return [];
  return [{
    code: 'AOF_CORRUPT', severity: 'error', file: catalogDataFile(dir), offset: 0,
    message: `the LMDB catalog is damaged (${damage}); nothing of the log is lost: \`aof repair\` or the next writer open rebuilds it from the segment files, keeping this one under recovery/`,
  }];
}

/**
 * How the catalog of log `dir` disagrees with the sealed segment files it
 * describes, or undefined when every sealed entry whose file is present and
 * intact says what the file's checksummed header and footer say. Call only
 * after the probe found the catalog healthy. A file whose header or footer is
 * itself damaged is the segment's problem (verify reports it), not the
 * catalog's; a missing file is retention's or the archive's business.
 */
export async function catalogDisagreement(dir: string): Promise<string | undefined> {
  let catalog: SegmentCatalog | undefined;
  try {
    catalog = await SegmentCatalog.open(dir, true);
    if (catalog === undefined) return undefined;
    let entries: CatalogEntry[];
    try {
      entries = catalog.all();
    } catch (err) {
      return `its records cannot be read (${err instanceof Error ? err.message : String(err)})`;
    }
    const wrong: string[] = [];
    // A file of another log is that segment's problem (AOF_FOREIGN_SEGMENT), not the catalog's: checked against the recorded identity, it is skipped here.
    const recorded = catalog.recordedLogId;
    const guard = recorded === undefined ? undefined : new IdentityGuard(recorded);
    for (const e of entries) {
      const sealedLocally = e.status === 'sealed' || e.status === 'archiving' || e.status === 'archived';
      if (!sealedLocally) continue;
      const differs = await sealedFileDisagrees(dir, e, guard);
      if (differs !== undefined && differs.length > 0) wrong.push(`segment ${e.baseSeq}: ${differs.join(', ')}`);
    }
    return wrong.length === 0 ? undefined : `its entries disagree with the intact segment files they describe (${wrong.slice(0, 5).join('; ')}${wrong.length > 5 ? `; ${wrong.length - 5} more` : ''})`;
  } catch (err) {
    return `it cannot be opened (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    await catalog?.close().catch(() => undefined);
  }
}

async function sealedFileDisagrees(dir: string, e: CatalogEntry, guard: IdentityGuard | undefined): Promise<string[] | undefined> {
  let handle: FileHandle;
  try {
    handle = await nodeFs.open(segmentPath(dir, e.baseSeq), 'read');
  } catch {
    return undefined;
  }
  try {
    const envelope = await readSegmentEnvelope(handle, e.baseSeq, guard);
    return envelope.kind === 'sealed' ? sealedFileDiffers(e, envelope) : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * The log identity the catalog of `dir` recorded, or undefined when there is
 * none or the catalog is damaged (probed first, in a child process): a
 * damaged catalog is no witness.
 */
export async function catalogLogId(dir: string): Promise<{ logId: Buffer; since: number } | undefined> {
  if ((await catalogDamageOf(dir, false)) !== undefined) return undefined;
  let catalog: SegmentCatalog | undefined;
  try {
    catalog = await SegmentCatalog.open(dir, true);
    return catalog?.recordedLogId;
  } catch {
    return undefined;
  } finally {
    await catalog?.close().catch(() => undefined);
  }
}
