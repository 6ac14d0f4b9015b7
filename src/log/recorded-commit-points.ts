import type { CatalogEntry } from '../catalog/entry.js';
import { openCatalogForReading } from './open-helpers.js';
import { catalogCommitPoint, fileHolding, highestCommitPoint, identityCommitPoint, watermarkCommitPoint, type CommitPoint } from './commit-points.js';
import { WATERMARK_DURABLE, type IdentityRecord } from './identity-file.js';
import type { FileSystem } from '../fs/types.js';

/**
 * The durable commit points of the log in `dir` as a tool that holds no
 * lock sees them (`Log.verify`, `Log.repair`): the catalog's (read-only; a
 * damaged or missing catalog is no witness), the identity file's, and (given
 * `fs`) the published watermark under the writer's rule: only when the
 * identity file says its writer synced before acknowledging
 * (`WATERMARK_DURABLE`). Each is written only after what it vouches for was
 * durable, so read before the segments are listed and scanned, they never
 * raise a false alarm beside a live writer or after a crash.
 */
export async function recordedCommitPoints(dir: string, identity: IdentityRecord | undefined, fs?: FileSystem): Promise<{ point: CommitPoint | undefined; entries: CatalogEntry[]; fileHolding(seq: number, lastFile: string | undefined): string }> {
  const catalog = await openCatalogForReading(dir);
  let entries: CatalogEntry[] = [];
  try {
    entries = catalog?.all() ?? [];
  } catch {
    entries = [];
  } finally {
    await catalog?.close().catch(() => undefined);
  }
  const watermark = fs !== undefined ? await durableWatermark(fs, dir, identity) : undefined;
  return {
    point: highestCommitPoint([catalogCommitPoint(entries), identityCommitPoint(identity), watermark]),
    entries,
    fileHolding: (seq, lastFile) => fileHolding(dir, seq, entries, lastFile),
  };
}

/** The published watermark as a commit point when the identity file says its writer synced before acknowledging (the writer's rule, open-identity.ts). */
export async function durableWatermark(fs: FileSystem, dir: string, identity: IdentityRecord | undefined): Promise<CommitPoint | undefined> {
  return identity !== undefined && (identity.flags & WATERMARK_DURABLE) !== 0 ? watermarkCommitPoint(fs, dir) : undefined;
}
