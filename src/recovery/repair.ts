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
import { recoveryName, type RecoveryTarget } from './preserve.js';
import { catalogDamageOf, catalogDataFile, catalogDisagreement, catalogLogId } from '../catalog/check.js';
import { planSkipRebuild, type RepairStep } from './repair-plan.js';
import { applyAction, recoveryPath, type ApplySettings } from './repair-apply.js';
import { readRepairIntent, removeRepairIntent, writeRepairIntent, type PlannedAction, type RepairPlan } from './repair-intent.js';
import { refuseSymlinkedSegment, watermarkBeforeScan, watermarkTail } from './repair-guards.js';
import { verifyLog, type VerifyReport } from './verify.js';
import { readIdentity, writeIdentity, type IdentityRecord } from '../log/identity-file.js';
import { IdentityGuard } from '../log/identity-guard.js';
import { recordedCommitPoints } from '../log/recorded-commit-points.js';
import { highestCommitPoint, identityCommitPoint, watermarkCommitPoint, type CommitPoint } from '../log/commit-points.js';
import { decodeSegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_BYTES } from '../segment/header.js';
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
  /**
   * Report what would be done, change nothing. Needs no lock, so it works
   * beside a live writer: zeros past the watermark that writer published
   * are its preallocated space, not a torn tail.
   */
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
  | { kind: 'fill'; file: string }
  /** The damaged LMDB catalog (`file`, its data.mdb) was moved whole to `recovery/` and rebuilt from the segment files. */
  | { kind: 'rebuild-catalog'; file: string; reason: string; preservedAt: string | undefined };

/** What `Log.repair` did. */
export interface RepairReport {
  dir: string;
  mode: 'truncate' | 'skip';
  dryRun: boolean;
  /**
   * True when an interrupted repair (its intent record, `repair-intent`) was
   * found: its plan was finished first (in a dry run: is what the repair
   * would finish), and its actions lead `actions`.
   */
  resumed: boolean;
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
 * under `recovery/`, durably, before the log is changed. Crash-safe: the
 * whole plan is written first, durably, as an intent record, and the next
 * repair or writer open finishes a plan a kill interrupted (repair-intent.ts).
 * In either mode, segments of another log move to `recovery/`, and a log
 * whose data ends before its recorded commit point (`AOF_DATA_LOST`) gets the
 * missing range as a gap: the operator's explicit acceptance of the loss.
 */
export async function repairLog(dir: string, options: RepairOptions = {}): Promise<RepairReport> {
  const mode = options.mode ?? 'truncate';
  if (mode !== 'truncate' && mode !== 'skip') throw new InvalidArgumentError(`option mode must be 'truncate' or 'skip', got ${String(mode)}`);
  const fs = options.fs ?? nodeFs;
  const dryRun = options.dryRun ?? false;
  // A dry run changes nothing, so it needs no lock and works beside a live writer.
  const lock = dryRun ? undefined : await acquireWriterLock(dir, () => undefined, options.dirMode ?? DEFAULTS.dirMode, options.fileMode ?? DEFAULTS.fileMode);
  try {
    const target: RecoveryTarget = { fs, dir, fileMode: options.fileMode ?? DEFAULTS.fileMode, dirMode: options.dirMode ?? DEFAULTS.dirMode };
    const settings: ApplySettings = { target, indexIntervalBytes: DEFAULTS.indexIntervalBytes, readAheadBytes: options.readAheadBytes ?? DEFAULTS.readAheadBytes };
    const report: RepairReport = { dir, mode, dryRun, resumed: false, actions: [], lostRanges: [], after: undefined };
    // Probed in a child process: a damaged catalog must not kill repair, and is rebuilt by it.
    // A dry run beside a live writer: the watermark it had published before anything is scanned (repair-guards.ts).
    const watermark = dryRun ? await watermarkBeforeScan(fs, dir) : undefined;
    // An entry that disagrees with the intact file it describes is damage too: the catalog is rebuilt from the files.
    const catalogDamage = (await catalogDamageOf(dir, !dryRun)) ?? (await catalogDisagreement(dir));
    const catalog: CatalogState = { damaged: catalogDamage !== undefined };
    // Read before anything changes: how far the log had acknowledged (numbers never to be reused).
    const known = await knownIdentity(fs, dir);
    const committed = await commitPointBeforeRepair(fs, dir, known, catalog.damaged);
    // Kept where a repair killed between its passes finds it again (the catalog is rebuilt by the first pass).
    if (!dryRun) await recordCommitPoint(target, known, committed);
    const interrupted = await readRepairIntent(fs, dir, !dryRun);
    if (interrupted !== undefined) {
      report.resumed = true;
      describePlan(dir, interrupted, dryRun, report);
      // What is left to do depends on how far the interrupted repair got: a dry run reports its plan as it stands.
      if (dryRun) return report;
      const tail = await carryOut(settings, interrupted, false, catalog, committed);
      if (tail !== undefined) describePlan(dir, tail, false, report);
    }
    // Without the identity file, a healthy catalog's recorded identity says whose segments are the log's (a damaged one is no witness).
    const guard = new IdentityGuard(known ?? (catalog.damaged ? undefined : await catalogLogId(dir)));
    const foreign = await foreignSegments(fs, dir, guard);
    const logId = guard.logId?.toString('hex');
    const plan = await planRepair(settings, mode, dryRun, foreign, logId, watermark);
    describePlan(dir, plan, dryRun, report);
    const rebuild = catalogDamage === undefined ? undefined : { kind: 'rebuild-catalog' as const, file: catalogDataFile(dir), reason: `damaged catalog: ${catalogDamage}`, preservedAt: undefined as string | undefined };
    if (rebuild !== undefined) report.actions.push(rebuild);
    // The missing end becomes a gap: planned on the files the first plan leaves (a dry run: as it would leave them).
    let tail: RepairPlan | undefined;
    if (dryRun) tail = await planLostTail(settings, mode, true, committed, plan, logId, watermark);
    else if (plan.actions.length > 0) tail = await carryOut(settings, plan, true, catalog, committed);
    else {
      tail = await planLostTail(settings, mode, false, committed, plan, logId);
      if (tail !== undefined) await carryOut(settings, tail, true, catalog, committed);
      else if (catalog.damaged) catalog.movedTo = await syncCatalog(settings);
    }
    if (tail !== undefined) describePlan(dir, tail, dryRun, report);
    if (rebuild !== undefined) rebuild.preservedAt = catalog.movedTo;
    if (!dryRun) report.after = await verifyLog(dir, { fs });
    return report;
  } finally {
    await lock?.release();
  }
}

/**
 * For a writer's open, under its lock: finishes the plan of a repair that was
 * killed part way, so the log opens as that repair would have left it.
 * Resolves whether there was one.
 */
export async function finishInterruptedRepair(target: RecoveryTarget, readAheadBytes: number): Promise<boolean> {
  // A leftover repair-intent.tmp (a plan never put in place) is left for the next repair to remove: an open only reads.
  const interrupted = await readRepairIntent(target.fs, target.dir, false);
  if (interrupted === undefined) return false;
  const catalog: CatalogState = { damaged: (await catalogDamageOf(target.dir, true)) !== undefined };
  const settings: ApplySettings = { target, indexIntervalBytes: DEFAULTS.indexIntervalBytes, readAheadBytes };
  // The interrupted repair had accepted a lost end as a gap (its commit point is in the identity file): that pass is finished too.
  const committed = await commitPointBeforeRepair(target.fs, target.dir, await knownIdentity(target.fs, target.dir), catalog.damaged);
  await carryOut(settings, interrupted, false, catalog, committed);
  return true;
}

/**
 * The steps of a repair, each safe to do again: the catalog stops vouching
 * for footers (a kill before it is synced must not leave it trusted), the
 * intent record is written (a new plan), each action is done, the catalog
 * follows the files, and the intent record goes. A kill anywhere leaves a
 * state from which the same steps, done again, lead to the same end.
 */
async function carryOut(s: ApplySettings, plan: RepairPlan, fresh: boolean, catalog: CatalogState, committed: CommitPoint | undefined): Promise<RepairPlan | undefined> {
  // A damaged catalog is not opened here (its pages could kill the process): it vouches for nothing and is rebuilt below.
  if (!catalog.damaged) await SegmentCatalog.forgetCleanClose(s.target.dir);
  if (fresh) await writeRepairIntent(s.target.fs, s.target.dir, plan, s.target.fileMode);
  await applyPlan(s, plan, catalog);
  // The lost end is planned on the files this plan left, and its intent replaces this one in one rename: a kill between the two still leaves an intent.
  const tail = await planLostTail(s, plan.mode, false, committed, plan, await logIdOf(s.target.fs, s.target.dir));
  if (tail !== undefined) {
    await writeRepairIntent(s.target.fs, s.target.dir, tail, s.target.fileMode);
    await applyPlan(s, tail, catalog);
  }
  await removeRepairIntent(s.target.fs, s.target.dir);
  return tail;
}

/** Does a plan's actions and brings the catalog up to date with the files. */
async function applyPlan(s: ApplySettings, plan: RepairPlan, catalog: CatalogState): Promise<void> {
  for (const action of plan.actions) await applyAction(s, action);
  const movedTo = await syncCatalog(s);
  if (movedTo !== undefined) {
    catalog.movedTo = movedTo;
    catalog.damaged = false;
  }
}

/** The log's identity in hex: the identity file's, else the first stamped segment header's; undefined for a version-1 log. */
async function logIdOf(fs: FileSystem, dir: string): Promise<string | undefined> {
  const known = await knownIdentity(fs, dir);
  if (known !== undefined) return known.logId.toString('hex');
  const guard = new IdentityGuard(undefined);
  await foreignSegments(fs, dir, guard);
  return guard.logId?.toString('hex');
}

/** Whether the catalog was found damaged before the repair, and where the damaged one was moved. */
interface CatalogState {
  damaged: boolean;
  movedTo?: string;
}

/** The catalog follows the files repair changed: entries of moved segments dropped, changed ones rebuilt. Resolves where a damaged catalog was moved. */
async function syncCatalog(s: ApplySettings): Promise<string | undefined> {
  const loaded = await loadSegments(s.target.fs, s.target.dir, true, s.target, { indexIntervalBytes: s.indexIntervalBytes, readAheadBytes: s.readAheadBytes });
  const { catalog, report } = await openReconciledCatalog(s.target.dir, loaded.segments, { dropMissing: true, fileMode: s.target.fileMode, dirMode: s.target.dirMode });
  await catalog.close();
  return report.damagedMovedTo;
}

/** Adds a plan's actions and lost ranges to the report. */
function describePlan(dir: string, plan: RepairPlan, dryRun: boolean, report: RepairReport): void {
  const kept = (name: string | null): string | undefined => (dryRun || name === null ? undefined : recoveryPath(dir, name));
  for (const a of plan.actions) {
    const file = segmentPath(dir, a.base);
    if (a.kind === 'cut') report.actions.push({ kind: 'cut', file, offset: a.offset, bytes: a.size - a.offset, reason: a.reason, preservedAt: kept(a.keep) });
    else if (a.kind === 'move') report.actions.push({ kind: 'move', file, preservedAt: kept(a.to) });
    else if (a.kind === 'rewrite') report.actions.push({ kind: 'rewrite', file, reason: a.reason, preservedAt: kept(a.keep) });
    else report.actions.push({ kind: 'fill', file });
  }
  for (const r of plan.lostRanges) report.lostRanges.push({ from: r.from, to: r.to ?? undefined });
}

/** Reads the whole log and decides every change; changes nothing. */
async function planRepair(s: ApplySettings, mode: 'truncate' | 'skip', dryRun: boolean, foreign: ReadonlySet<number>, logId: string | undefined, watermark?: number): Promise<RepairPlan> {
  const ctx: PlanContext = { s, dryRun, plan: { mode, actions: [], lostRanges: [] }, foreign, logId, watermark };
  // Another log's segments are not this log's data: each moves whole, and the modes see the hole it leaves.
  for (const base of foreign) ctx.plan.actions.push({ kind: 'move', base, to: keepName({ file: segmentPath(s.target.dir, base) }, 0, 'foreign') });
  if (mode === 'truncate') await planTruncation(ctx);
  else await planSkipping(ctx);
  return ctx.plan;
}

interface PlanContext {
  s: ApplySettings;
  dryRun: boolean;
  plan: RepairPlan;
  /** Bases of segments of another log, moved aside: not this log's. */
  foreign: ReadonlySet<number>;
  /** The log's identity (hex), stamped into segments repair creates; undefined for a version-1 log without one. */
  logId: string | undefined;
  /** A dry run's watermark, read before any scan: zeros at or past it in the last segment are a live writer's preallocation. */
  watermark?: number | undefined;
}

/** The log's segment bases, without those of another log. */
async function ownBases(ctx: PlanContext): Promise<number[]> {
  return (await listSegmentBases(ctx.s.target.fs, ctx.s.target.dir)).filter((b) => !ctx.foreign.has(b));
}

async function analyze(ctx: PlanContext, base: number, isLast: boolean): Promise<SegmentAnalysis> {
  const { fs, dir } = ctx.s.target;
  const file = segmentPath(dir, base);
  await refuseSymlinkedSegment(fs, file);
  const handle = await fs.open(file, 'read');
  let a: SegmentAnalysis;
  try {
    a = await analyzeSegment(handle, base, { readAheadBytes: ctx.s.readAheadBytes, indexIntervalBytes: ctx.s.indexIntervalBytes });
  } finally {
    await handle.close();
  }
  // A file from a newer format is not damaged: repair must not touch it.
  if (a.headerError?.code === 'AOF_UNSUPPORTED_FORMAT') throw a.headerError;
  // Without the lock a live writer may own the last segment: its preallocated zeros are not damage.
  return ctx.dryRun && isLast ? watermarkTail(a, ctx.watermark) : a;
}

async function planTruncation(ctx: PlanContext): Promise<void> {
  const bases = await ownBases(ctx);
  let expected: number | undefined;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    if (expected !== undefined && base !== expected) return planMoves(ctx, bases, i, expected);
    const isLast = i === bases.length - 1;
    const a = await analyze(ctx, base, isLast);
    const plan = planSkipRebuild(a, isLast, bases[i + 1]);
    const span = a.damage[0];
    if (span !== undefined && !plan.onlyFooterDamaged) {
      await planCut(ctx, a, span.offset, span.reason);
      const tornTail = isLast && a.footer === undefined && a.footerError === undefined && span.resumeAt === undefined;
      if (!tornTail) ctx.plan.lostRanges.push({ from: span.lostFrom, to: null });
      return planMoves(ctx, bases, i + 1, undefined);
    }
    if (plan.needsRewrite) planRewrite(ctx, a, plan.steps, plan.reason, plan.seal);
    expected = a.footer?.nextSeq ?? a.nextSeq;
  }
}

async function planSkipping(ctx: PlanContext): Promise<void> {
  const bases = await ownBases(ctx);
  let expected: number | undefined;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    if (expected !== undefined && base > expected) planFill(ctx, expected, base);
    if (expected !== undefined && base < expected) return planMoves(ctx, bases, i, expected);
    const isLast = i === bases.length - 1;
    const a = await analyze(ctx, base, isLast);
    const plan = planSkipRebuild(a, isLast, bases[i + 1]);
    for (const step of plan.steps) if (step.kind === 'gap') ctx.plan.lostRanges.push({ from: step.fromSeq, to: step.toSeq });
    if (plan.needsRewrite) planRewrite(ctx, a, plan.steps, plan.reason, plan.seal);
    expected = plan.nextSeq;
  }
}

/** Names under `recovery/` are fixed now, in the plan, so that a repair finishing it after a kill finds what was already kept. */
function keepName(a: { file: string }, offset: number, label: string): string {
  return recoveryName(path.basename(a.file), offset, label);
}

async function planCut(ctx: PlanContext, a: SegmentAnalysis, offset: number, reason: string): Promise<void> {
  const { fs } = ctx.s.target;
  const handle = await fs.open(a.file, 'read');
  let zeros: boolean;
  try {
    // Zeros (unwritten or preallocated space) hold nothing: cut without a copy, as open does.
    zeros = await isRangeZero(handle, offset, a.size);
  } finally {
    await handle.close();
  }
  ctx.plan.actions.push({ kind: 'cut', base: a.baseSeq, offset, size: a.size, reason, keep: zeros ? null : keepName(a, offset, 'cut') });
}

/** Moves segments `bases[from..]` to `recovery/`; `lostFrom` is the first sequence number they held. */
function planMoves(ctx: PlanContext, bases: number[], from: number, lostFrom: number | undefined): void {
  if (from < bases.length && lostFrom !== undefined) ctx.plan.lostRanges.push({ from: lostFrom, to: null });
  for (let j = from; j < bases.length; j++) {
    const base = bases[j]!;
    ctx.plan.actions.push({ kind: 'move', base, to: keepName({ file: segmentPath(ctx.s.target.dir, base) }, 0, 'moved') });
  }
}

function planRewrite(ctx: PlanContext, a: SegmentAnalysis, steps: RepairStep[], reason: string, seal: boolean): void {
  const action: PlannedAction = {
    kind: 'rewrite', base: a.baseSeq, size: a.size, reason, keep: keepName(a, 0, 'before-repair'),
    pieces: steps, seal, salt: Buffer.from(a.salt).toString('hex'), createdMs: a.header?.createdMs ?? Date.now(),
    // The header keeps the identity it had (a version-1 segment stays one); a damaged header takes the log's.
    logId: a.header !== undefined ? a.header.logId?.toString('hex') : ctx.logId,
    // The record layout stays what the frames have (version 3 records carry their own CRC).
    version: a.version,
  };
  ctx.plan.actions.push(action);
}

function planFill(ctx: PlanContext, fromSeq: number, toSeq: number): void {
  ctx.plan.lostRanges.push({ from: fromSeq, to: toSeq });
  ctx.plan.actions.push({ kind: 'fill', base: fromSeq, toSeq, salt: randomBytes(8).toString('hex'), createdMs: Date.now(), logId: ctx.logId, version: FORMAT_VERSION });
}

/** The identity file's record, if it is there and whole. */
async function knownIdentity(fs: FileSystem, dir: string): Promise<IdentityRecord | undefined> {
  const identity = await readIdentity(fs, dir);
  return identity.state === 'ok' ? identity.record : undefined;
}

/**
 * The highest commit point the log recorded: catalog (unless damaged: it is
 * not opened then), identity file, and the published watermark. Repair
 * counts the watermark whatever the flush strategy was: a record below it
 * was acknowledged, and even when a power loss under `none` took it back,
 * its number must not go to another record.
 */
async function commitPointBeforeRepair(fs: FileSystem, dir: string, known: IdentityRecord | undefined, catalogDamaged: boolean): Promise<CommitPoint | undefined> {
  const recorded = catalogDamaged ? identityCommitPoint(known) : (await recordedCommitPoints(dir, known)).point;
  return highestCommitPoint([recorded, await watermarkCommitPoint(fs, dir)]);
}

/**
 * Raises the identity file's commit point to what repair found, before its
 * first change: the first pass rebuilds the catalog from the files, so a kill
 * between the passes must still find how far the log had acknowledged (the
 * next repair finishes the gap; a writer's open refuses until then).
 */
async function recordCommitPoint(target: RecoveryTarget, known: IdentityRecord | undefined, committed: CommitPoint | undefined): Promise<void> {
  if (known === undefined || committed === undefined || committed.seq <= known.committedSeq) return;
  await writeIdentity(target.fs, target.dir, { ...known, committedSeq: committed.seq }, target.fileMode);
}

/** Bases of segments whose header carries another log's identity (damaged headers and unknown versions are the modes' business). */
async function foreignSegments(fs: FileSystem, dir: string, guard: IdentityGuard): Promise<Set<number>> {
  const foreign = new Set<number>();
  for (const base of await listSegmentBases(fs, dir)) {
    const file = segmentPath(dir, base);
    await refuseSymlinkedSegment(fs, file);
    const handle = await fs.open(file, 'read');
    try {
      if ((await handle.size()) < SEGMENT_HEADER_BYTES) continue;
      guard.check(decodeSegmentHeader(await readAt(handle, 0, SEGMENT_HEADER_BYTES), file), file);
    } catch (err) {
      if ((err as { code?: string }).code === 'AOF_FOREIGN_SEGMENT') foreign.add(base);
    } finally {
      await handle.close();
    }
  }
  return foreign;
}

/**
 * The operator's explicit acceptance of loss at the end of the log (issue
 * 18, breaks 8 and 10): when the data ends before the recorded commit point,
 * the missing numbers become a gap (readers get `AOF_GAP`), appended to the
 * last segment if it is unsealed and whole, or as a sealed segment of its
 * own, so that no number once acknowledged is given to another record.
 * Planned on the files the first pass left (a dry run: as it would leave them).
 */
async function planLostTail(s: ApplySettings, mode: 'truncate' | 'skip', dryRun: boolean, committed: CommitPoint | undefined, first: RepairPlan, logId: string | undefined, watermark?: number): Promise<RepairPlan | undefined> {
  if (committed === undefined) return undefined;
  const ctx: PlanContext = { s, dryRun, plan: { mode, actions: [], lostRanges: [] }, foreign: new Set(first.actions.filter((a) => a.kind === 'move').map((a) => a.base)), logId, watermark };
  const bases = await ownBases(ctx);
  const lastBase = bases[bases.length - 1];
  const last = lastBase === undefined ? undefined : await analyze(ctx, lastBase, true);
  let end = last === undefined ? 0 : (last.footer?.nextSeq ?? last.nextSeq);
  // A dry run has not made its cuts: the end is where they would leave it.
  for (const r of first.lostRanges) if (r.to === null) end = Math.min(end, r.from);
  if (end >= committed.seq) return undefined;
  const untouched = !dryRun || !first.actions.some((a) => a.base === lastBase);
  if (last !== undefined && untouched && !last.unborn && last.footer === undefined && last.headerError === undefined && last.damage.length === 0) {
    const framesEnd = last.closeMarkerAt ?? last.dataEnd;
    const steps: RepairStep[] = framesEnd > SEGMENT_HEADER_BYTES ? [{ kind: 'frames', from: SEGMENT_HEADER_BYTES, to: framesEnd }] : [];
    steps.push({ kind: 'gap', fromSeq: end, toSeq: committed.seq });
    ctx.plan.lostRanges.push({ from: end, to: committed.seq });
    const reason = `acknowledged records ${end}..${committed.seq - 1} are missing (the ${committed.witness} recorded ${committed.seq}): recorded as a gap`;
    ctx.plan.actions.push({
      kind: 'rewrite', base: last.baseSeq, size: last.size, reason, keep: keepName(last, 0, 'before-gap'), pieces: steps, seal: false,
      salt: Buffer.from(last.salt).toString('hex'), createdMs: last.header?.createdMs ?? Date.now(), logId: last.header?.logId?.toString('hex') ?? logId, version: last.version,
    });
  } else {
    planFill(ctx, end, committed.seq);
  }
  return ctx.plan;
}
