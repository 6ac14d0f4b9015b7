import type { CatalogEntry } from '../catalog/entry.js';
import { openCatalogForReading } from './open-helpers.js';
import { catalogCommitPoint, fileHolding, highestCommitPoint, identityCommitPoint, type CommitPoint } from './commit-points.js';
import type { IdentityRecord } from './identity-file.js';

/**
 * The durable commit points of the log in `dir` as a tool that holds no
 * lock sees them (`Log.verify`, `Log.repair`): the catalog's (read-only; a
 * damaged or missing catalog is no witness) and the identity file's. Both are
 * written only after what they vouch for was durable, so they never raise a
 * false alarm beside a live writer or after a crash.
 */
export async function recordedCommitPoints(dir: string, identity: IdentityRecord | undefined): Promise<{ point: CommitPoint | undefined; entries: CatalogEntry[]; fileHolding(seq: number, lastFile: string | undefined): string }> {
  const catalog = await openCatalogForReading(dir);
  let entries: CatalogEntry[] = [];
  try {
    entries = catalog?.all() ?? [];
  } catch {
    entries = [];
  } finally {
    await catalog?.close().catch(() => undefined);
  }
  return {
    point: highestCommitPoint([catalogCommitPoint(entries), identityCommitPoint(identity)]),
    entries,
    fileHolding: (seq, lastFile) => fileHolding(dir, seq, entries, lastFile),
  };
}
