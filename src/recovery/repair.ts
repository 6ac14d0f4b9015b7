import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { acquireWriterLock } from '../lock/writer-lock.js';
import { DEFAULTS } from '../options.js';
import { segmentPath } from '../segment/names.js';
import { analyzeSegment, type SegmentAnalysis } from './analyze.js';
import { listSegmentBases, loadSegments } from './load-segments.js';
import { isRangeZero } from '../segment/load.js';
import { openReconciledCatalog } from '../catalog/reconcile.js';
import { SegmentCatalog } from '../catalog/catalog.js';
import { moveToRecovery, preserveRange, type RecoveryTarget } from './preserve.js';
import { planSkipRebuild, type RepairStep } from './repair-plan.js';
import { rebuildSegment } from './rebuild.js';
import { verifyLog, type VerifyReport } from './verify.js';
import { readIdentity } from '../log/identity-file.js';
import { IdentityGuard } from '../log/identity-guard.js';
import { recordedCommitPoints } from '../log/recorded-commit-points.js';
import { highestCommitPoint, watermarkCommitPoint, type CommitPoint } from '../log/commit-points.js';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../segment/header.js';
import { readAt } from '../fs/io.js';

/** Options of `Log.repair`. */
export interface RepairOptions {
  /**
   * `truncate` (default): cut the log at the first damaged frame; everything
   * after it moves, untouched, to `recovery/`; sequence numbers the log had
   * acknowledged (its recorded commit points) are kept as a gap, never reused. `skip`: keep the valid frames
   * after damage and record each lost range as a gap that readers are told
   * about (`AOF_GAP`); the original files are copied to `recovery/` first.
   */
  mode?: 'truncate' | 'skip';
  /** Report what would be done, change nothing. */
  dryRun?: boolean;
  fs?: FileSystem;
  fileMode?: number;
  dirMode?: number;
  readAheadBytes?: number;
}

/** One change made (or, in a dry run, planned) by repair. */
export type RepairAction =
  /** Bytes from `offset` to the end of `file` were kept under `recovery/` and cut off. */
  | { kind: 'cut'; file: string; offset: number; bytes: number; reason: string; preservedAt: string | undefined }
  /** A whole segment file moved to `recovery/`. */
  | { kind: 'move'; file: string; preservedAt: string | undefined }
  /** The segment was rewritten (original kept under `recovery/`): gaps for lost ranges, a new header or footer. */
  | { kind: 'rewrite'; file: string; reason: string; preservedAt: string | undefined }
  /** A segment holding only a gap was created for a missing range. */
  | { kind: 'fill'; file: string };
  /* A segment of another log (AOF_FOREIGN_SEGMENT) is moved to recovery/ with action `move`. */

/** What `Log.repair` did. */
export interface RepairReport {
  dir: string;
  mode: 'truncate' | 'skip';
  dryRun: boolean;
  /** Changes, in the order made. Empty when the log was healthy. */
  actions: RepairAction[];
  /** Sequence ranges no longer readable: moved to `recovery/` (`to` absent: to the end) or recorded as gaps. */
  lostRanges: Array<{ from: number; to: number | undefined }>;
  /** A verification after the repair (absent in a dry run). */
  after: VerifyReport | undefined;
}

/**
 * Repairs the log in `dir` under its writer lock (`AOF_LOCKED` if a writer
 * has it open). Never deletes a byte: whatever is cut or replaced is kept
 * under `recovery/`, durably, before the log is changed. In either mode,
 * segments of another log move to `recovery/`, and a log whose data ends
 * before its recorded commit point (`AOF_DATA_LOST`) gets the missing range
 * as a gap: the operator's explicit acceptance of the loss.
 */
export async function repairLog(dir: string, options: RepairOptions = {}): Promise<RepairReport> {
  const mode = options.mode ?? 'truncate';
  if (mode !== 'truncate' && mode !== 'skip') throw new InvalidArgumentError(`option mode must be 'truncate' or 'skip', got ${String(mode)}`);
  const fs = options.fs ?? nodeFs;
  const dryRun = options.dryRun ?? false;
  // A dry run changes nothing, so it needs no lock and works beside a live writer.
  const lock = dryRun ? undefined : await acquireWriterLock(dir, () => undefined, options.dirMode ?? DEFAULTS.dirMode);
  try {
    const target: RecoveryTarget = { fs, dir, fileMode: options.fileMode ?? DEFAULTS.fileMode, dirMode: options.dirMode ?? DEFAULTS.dirMode };
    const report: RepairReport = { dir, mode, dryRun, actions: [], lostRanges: [], after: undefined };
    const ctx: RepairContext = { fs, dir, target, dryRun, report, readAheadBytes: options.readAheadBytes ?? DEFAULTS.readAheadBytes, logId: undefined };
    // Read before anything changes: the commit points say how far the log had acknowledged (what must never be reused).
    const committed = await commitPointBeforeRepair(ctx);
    // Before any file changes: a crash before the catalog is synced must not leave it vouching for old footers.
    if (!dryRun) await SegmentCatalog.forgetCleanClose(dir);
    await moveForeignSegments(ctx);
    if (mode === 'truncate') await repairByTruncation(ctx);
    else await repairBySkipping(ctx);
    await recordLostTail(ctx, committed);
    if (!dryRun && report.actions.length > 0) await syncCatalog(ctx);
    if (!dryRun) report.after = await verifyLog(dir, { fs });
    return report;
  } finally {
    await lock?.release();
  }
}

interface RepairContext {
  fs: FileSystem;
  dir: string;
  target: RecoveryTarget;
  dryRun: boolean;
  report: RepairReport;
  readAheadBytes: number;
  /** The log's identity, stamped into segments repair creates (undefined for a version-1 log that has none yet). */
  logId: Buffer | undefined;
}

/**
 * The highest commit point the log recorded: catalog, identity file, and the
 * published watermark. Repair counts the watermark whatever the flush
 * strategy was: a record below it was acknowledged, and even when a power
 * loss under `none` took it back, its number must not go to another record.
 */
async function commitPointBeforeRepair(ctx: RepairContext): Promise<CommitPoint | undefined> {
  const identity = await readIdentity(ctx.fs, ctx.dir);
  const record = identity.state === 'ok' ? identity.record : undefined;
  ctx.logId = record?.logId;
  const recorded = await recordedCommitPoints(ctx.dir, record);
  return highestCommitPoint([recorded.point, await watermarkCommitPoint(ctx.fs, ctx.dir)]);
}

/**
 * Segments of another log (their header carries another identity) are not
 * this log's data: each moves whole to `recovery/`, and what it stood in for
 * is then lost like a deleted segment (a hole, or a lost tail).
 */
async function moveForeignSegments(ctx: RepairContext): Promise<void> {
  const identity = await readIdentity(ctx.fs, ctx.dir);
  const guard = new IdentityGuard(identity.state === 'ok' ? identity.record : undefined);
  for (const base of await listSegmentBases(ctx.fs, ctx.dir)) {
    const file = segmentPath(ctx.dir, base);
    const handle = await ctx.fs.open(file, 'read');
    let foreign = false;
    try {
      if ((await handle.size()) < SEGMENT_HEADER_BYTES) continue;
      const header = decodeSegmentHeader(await readAt(handle, 0, SEGMENT_HEADER_BYTES), file);
      guard.check(header, file);
    } catch (err) {
      // Damaged headers and unknown versions are the modes' business; only a foreign identity is handled here.
      foreign = (err as { code?: string }).code === 'AOF_FOREIGN_SEGMENT';
    } finally {
      await handle.close();
    }
    if (foreign) {
      const preservedAt = ctx.dryRun ? undefined : await moveToRecovery(ctx.target, file, 'foreign');
      ctx.report.actions.push({ kind: 'move', file, preservedAt });
    }
  }
  ctx.logId ??= guard.logId;
}

/**
 * The operator's explicit acceptance of loss at the end of the log (issue
 * 18, breaks 8 and 10): when the data ends before the recorded commit point,
 * the missing numbers become a gap (readers get `AOF_GAP`), appended to the
 * last segment if it is unsealed or as a sealed segment of its own, so that
 * no number once acknowledged is given to another record.
 */
async function recordLostTail(ctx: RepairContext, committed: CommitPoint | undefined): Promise<void> {
  if (committed === undefined) return;
  const bases = await listSegmentBases(ctx.fs, ctx.dir);
  const lastBase = bases[bases.length - 1];
  const last = lastBase === undefined ? undefined : await analyze(ctx, lastBase);
  let end = last === undefined ? 0 : (last.footer?.nextSeq ?? last.nextSeq);
  // A dry run has not made its cuts: the end is where they would leave it.
  for (const r of ctx.report.lostRanges) if (r.to === undefined) end = Math.min(end, r.from);
  if (end >= committed.seq) return;
  if (last !== undefined && !last.unborn && last.footer === undefined && last.headerError === undefined && last.damage.length === 0) {
    const framesEnd = last.closeMarkerAt ?? last.dataEnd;
    const steps: RepairStep[] = framesEnd > SEGMENT_HEADER_BYTES ? [{ kind: 'frames', from: SEGMENT_HEADER_BYTES, to: framesEnd }] : [];
    steps.push({ kind: 'gap', fromSeq: end, toSeq: committed.seq });
    ctx.report.lostRanges.push({ from: end, to: committed.seq });
    await rewrite(ctx, last, steps, `acknowledged records ${end}..${committed.seq - 1} are missing (the ${committed.witness} recorded ${committed.seq}): recorded as a gap`, false);
    return;
  }
  await fillHole(ctx, end, committed.seq);
}

async function analyze(ctx: RepairContext, base: number): Promise<SegmentAnalysis> {
  const handle = await ctx.fs.open(segmentPath(ctx.dir, base), 'read');
  try {
    return await analyzeSegment(handle, base, { readAheadBytes: ctx.readAheadBytes, indexIntervalBytes: DEFAULTS.indexIntervalBytes });
  } finally {
    await handle.close();
  }
}

async function repairByTruncation(ctx: RepairContext): Promise<void> {
  const bases = await listSegmentBases(ctx.fs, ctx.dir);
  let expected: number | undefined;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    if (expected !== undefined && base !== expected) return moveFrom(ctx, bases, i, expected);
    const a = await analyze(ctx, base);
    refuseUnknownFormat(a);
    const isLast = i === bases.length - 1;
    const plan = planSkipRebuild(a, isLast, bases[i + 1]);
    const span = a.damage[0];
    if (span !== undefined && !(plan.onlyFooterDamaged)) {
      await cut(ctx, a, span.offset, span.reason);
      const tornTail = isLast && a.footer === undefined && a.footerError === undefined && span.resumeAt === undefined;
      if (!tornTail) ctx.report.lostRanges.push({ from: span.lostFrom, to: undefined });
      return moveFrom(ctx, bases, i + 1, undefined);
    }
    if (plan.needsRewrite) await rewrite(ctx, a, plan.steps, plan.reason, plan.seal);
    expected = a.footer?.nextSeq ?? a.nextSeq;
  }
}

async function repairBySkipping(ctx: RepairContext): Promise<void> {
  const bases = await listSegmentBases(ctx.fs, ctx.dir);
  let expected: number | undefined;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    if (expected !== undefined && base > expected) await fillHole(ctx, expected, base);
    if (expected !== undefined && base < expected) return moveFrom(ctx, bases, i, expected);
    const a = await analyze(ctx, base);
    refuseUnknownFormat(a);
    const plan = planSkipRebuild(a, i === bases.length - 1, bases[i + 1]);
    for (const step of plan.steps) if (step.kind === 'gap') ctx.report.lostRanges.push({ from: step.fromSeq, to: step.toSeq });
    if (plan.needsRewrite) await rewrite(ctx, a, plan.steps, plan.reason, plan.seal);
    expected = plan.nextSeq;
  }
}

/** The catalog follows the files repair changed: entries of moved segments dropped, changed ones rebuilt. */
async function syncCatalog(ctx: RepairContext): Promise<void> {
  const settings = { indexIntervalBytes: DEFAULTS.indexIntervalBytes, readAheadBytes: ctx.readAheadBytes };
  const loaded = await loadSegments(ctx.fs, ctx.dir, true, ctx.target, settings);
  const { catalog } = await openReconciledCatalog(ctx.dir, loaded.segments, { dropMissing: true, fileMode: ctx.target.fileMode, dirMode: ctx.target.dirMode });
  await catalog.close();
}

/** A file from a newer format is not damaged: repair must not touch it. */
function refuseUnknownFormat(a: SegmentAnalysis): void {
  if (a.headerError?.code === 'AOF_UNSUPPORTED_FORMAT') throw a.headerError;
}

async function cut(ctx: RepairContext, a: SegmentAnalysis, offset: number, reason: string): Promise<void> {
  let preservedAt: string | undefined;
  if (!ctx.dryRun) {
    const handle = await ctx.fs.open(a.file, 'readWrite');
    try {
      // Zeros (unwritten or preallocated space) hold nothing: cut without a copy, as open does.
      preservedAt = (await isRangeZero(handle, offset, a.size)) ? undefined : await preserveRange(ctx.target, handle, offset, a.size, 'cut');
      await handle.truncate(offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  ctx.report.actions.push({ kind: 'cut', file: a.file, offset, bytes: a.size - offset, reason, preservedAt });
}

/** Moves segments `bases[from..]` to `recovery/`; `lostFrom` is the first sequence number they held. */
async function moveFrom(ctx: RepairContext, bases: number[], from: number, lostFrom: number | undefined): Promise<void> {
  if (from < bases.length && lostFrom !== undefined) ctx.report.lostRanges.push({ from: lostFrom, to: undefined });
  for (let j = from; j < bases.length; j++) {
    const file = segmentPath(ctx.dir, bases[j]!);
    const preservedAt = ctx.dryRun ? undefined : await moveToRecovery(ctx.target, file, 'moved');
    ctx.report.actions.push({ kind: 'move', file, preservedAt });
  }
}

async function rewrite(ctx: RepairContext, a: SegmentAnalysis, steps: RepairStep[], reason: string, seal: boolean): Promise<void> {
  let preservedAt: string | undefined;
  if (!ctx.dryRun) {
    const source = await ctx.fs.open(a.file, 'read');
    try {
      const tmp = await rebuildSegment(ctx.fs, source, a.file, {
        baseSeq: a.baseSeq, salt: a.salt, createdMs: a.header?.createdMs ?? Date.now(), logId: a.header?.logId ?? (a.header === undefined ? ctx.logId : undefined), pieces: steps, seal,
        indexIntervalBytes: DEFAULTS.indexIntervalBytes, readAheadBytes: ctx.readAheadBytes,
      }, ctx.target.fileMode);
      preservedAt = await preserveRange(ctx.target, source, 0, a.size, 'before-repair');
      await ctx.fs.rename(tmp, a.file);
      await ctx.fs.syncDir(path.dirname(a.file));
    } finally {
      await source.close();
    }
  }
  ctx.report.actions.push({ kind: 'rewrite', file: a.file, reason, preservedAt });
}

async function fillHole(ctx: RepairContext, fromSeq: number, toSeq: number): Promise<void> {
  const file = segmentPath(ctx.dir, fromSeq);
  ctx.report.lostRanges.push({ from: fromSeq, to: toSeq });
  if (!ctx.dryRun) {
    const tmp = await rebuildSegment(ctx.fs, undefined, file, {
      baseSeq: fromSeq, salt: randomBytes(8), createdMs: Date.now(), logId: ctx.logId, pieces: [{ kind: 'gap', fromSeq, toSeq }], seal: true,
      indexIntervalBytes: DEFAULTS.indexIntervalBytes, readAheadBytes: ctx.readAheadBytes,
    }, ctx.target.fileMode);
    await ctx.fs.rename(tmp, file);
    await ctx.fs.syncDir(path.dirname(file));
  }
  ctx.report.actions.push({ kind: 'fill', file });
}
