import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CorruptionError } from '../errors.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { RECOVERY_DIR, segmentPath } from '../segment/names.js';
import { SegmentCatalog } from './catalog.js';
import { activeEntryCurrent, entryFromSegment, fileFactsDiffer, impossibleEntry, type CatalogEntry } from './entry.js';
import { fileMayBeAbsent } from './status.js';

/** What opening the catalog found and fixed. */
export interface CatalogReport {
  /** True when the catalog was (re)built from the segment files: it was missing or damaged. */
  rebuilt: boolean;
  /** Where a damaged LMDB environment was moved, under `recovery/`. */
  damagedMovedTo: string | undefined;
  /** Segments added from their files (no entry: a crash between file and catalog, or a rebuild). */
  added: number[];
  /** Entries corrected from the files, with what was wrong. */
  corrected: Array<{ baseSeq: number; reason: string }>;
  /** Entries dropped because repair moved their files to `recovery/`. */
  dropped: number[];
}

/** How strictly files and entries must match. */
export interface ReconcileMode {
  /** Drop entries whose file is missing (after repair) instead of failing with `AOF_CORRUPT`. */
  dropMissing: boolean;
}

/**
 * Opens the writer's catalog and makes it agree with the segment files, which
 * are the truth: a damaged environment is moved to `recovery/` and rebuilt; a
 * file with no entry is added; an entry that disagrees with its file is
 * corrected (keeping its status and archive location where the file still
 * supports them); an entry whose file is missing is `AOF_CORRUPT` unless its
 * status says the file is legitimately gone.
 */
export async function openReconciledCatalog(dir: string, segments: readonly LoadedSegment[], mode: ReconcileMode & { fileMode?: number; dirMode?: number }): Promise<{ catalog: SegmentCatalog; report: CatalogReport }> {
  const opened = await openWritableCatalog(dir, mode);
  return reconcileCatalog(dir, opened, segments, mode);
}

/** A writer's catalog, opened before the files are loaded; its entries as found. */
export interface OpenedCatalog {
  catalog: SegmentCatalog;
  /** The entries as opened (empty when the environment was damaged and set aside). */
  entries: CatalogEntry[];
  /** Where a damaged environment was moved, under `recovery/`. */
  damagedMovedTo: string | undefined;
}

/** Opens the writer's catalog; a damaged environment is moved to `recovery/` and a new one started. */
export async function openWritableCatalog(dir: string, modes: { fileMode?: number; dirMode?: number }): Promise<OpenedCatalog> {
  const m = { fileMode: modes.fileMode ?? 0o600, dirMode: modes.dirMode ?? 0o700 };
  let catalog: SegmentCatalog | undefined;
  try {
    catalog = (await SegmentCatalog.open(dir, false, m))!;
    return { catalog, entries: catalog.all(), damagedMovedTo: undefined };
  } catch {
    await catalog?.close().catch(() => undefined);
    const damagedMovedTo = moveCatalogAside(dir);
    return { catalog: (await SegmentCatalog.open(dir, false, m))!, entries: [], damagedMovedTo };
  }
}

/** Makes an opened catalog agree with the loaded segments (see {@link openReconciledCatalog}); closes it on failure. */
export async function reconcileCatalog(dir: string, opened: OpenedCatalog, segments: readonly LoadedSegment[], mode: ReconcileMode): Promise<{ catalog: SegmentCatalog; report: CatalogReport }> {
  const { catalog, entries } = opened;
  const report: CatalogReport = { rebuilt: entries.length === 0 && segments.length > 0, damagedMovedTo: opened.damagedMovedTo, added: [], corrected: [], dropped: [] };
  try {
    await reconcile(dir, catalog, entries, segments, mode, report);
  } catch (err) {
    await catalog.close();
    throw err;
  }
  return { catalog, report };
}

async function reconcile(dir: string, catalog: SegmentCatalog, entries: CatalogEntry[], segments: readonly LoadedSegment[], mode: ReconcileMode, report: CatalogReport): Promise<void> {
  const files = new Map(segments.map((s) => [s.baseSeq, s]));
  for (const e of entries) {
    if (files.has(e.baseSeq) || fileMayBeAbsent(e.status)) continue;
    if (!mode.dropMissing) throw new CorruptionError(`the catalog lists segment ${e.baseSeq} (${e.status}) but its file is missing`, { file: segmentPath(dir, e.baseSeq) });
    await catalog.remove(e.baseSeq);
    report.dropped.push(e.baseSeq);
  }
  const byBase = new Map(entries.map((e) => [e.baseSeq, e]));
  for (const seg of segments) {
    const fromFile = entryFromSegment(seg, seg.dataEnd + seg.footerBytes);
    const e = byBase.get(seg.baseSeq);
    if (e === undefined) {
      await catalog.add(fromFile);
      report.added.push(seg.baseSeq);
    } else if (seg.sealed && e.status === 'active') {
      await catalog.transition(seg.baseSeq, 'sealed', fromFile);
      report.corrected.push({ baseSeq: seg.baseSeq, reason: 'sealed on disk, active in the catalog (a crash between the two)' });
    } else if (!seg.sealed) {
      // The active tail: its counts are not written per append, so refresh them quietly unless the status was ahead.
      if (e.status !== 'active') report.corrected.push({ baseSeq: seg.baseSeq, reason: `the file is unsealed but the catalog says ${e.status}` });
      // Skipping an unchanged entry spares the open an LMDB commit (an fsync).
      if (!activeEntryCurrent(e, fromFile)) await catalog.replace(fromFile);
    } else {
      const wrong = impossibleEntry(e) ?? fileFactsDiffer(e, fromFile);
      if (wrong === undefined) continue;
      await catalog.replace({ ...fromFile, status: e.status, archive: e.archive });
      report.corrected.push({ baseSeq: seg.baseSeq, reason: wrong });
    }
  }
}

/** Moves the LMDB environment of `dir` under `recovery/` (durably), so it can be rebuilt. */
function moveCatalogAside(dir: string): string {
  // Loaded here, for the rare damaged catalog, not by every process that imports the package (issue 19: start-up time).
  const fse = createRequire(import.meta.url)('fs-extra') as typeof import('fs-extra');
  const recovery = path.join(dir, RECOVERY_DIR);
  fse.ensureDirSync(recovery, 0o700);
  const dest = path.join(recovery, `index.damaged.${Date.now()}-${randomBytes(3).toString('hex')}`);
  // fs-extra's move falls back to copy-then-remove when recovery/ is on another device (a mount point).
  fse.moveSync(SegmentCatalog.pathOf(dir), dest, { overwrite: false });
  for (const d of [recovery, dir]) {
    const fd = fs.openSync(d, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  return dest;
}
