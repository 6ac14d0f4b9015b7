import type { FileSystem } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { DEFAULTS } from '../options.js';
import { segmentPath } from '../segment/names.js';
import { analyzeSegment, type SegmentAnalysis } from './analyze.js';
import { listSegmentBases } from './load-segments.js';
import { pathExists } from '../fs/io.js';
import { repairIntentPath } from './repair-intent.js';
import { catalogLogId, catalogProblems } from '../catalog/check.js';
import { AofError } from '../errors.js';
import { IdentityGuard } from '../log/identity-guard.js';
import { readIdentity } from '../log/identity-file.js';
import { recordedCommitPoints } from '../log/recorded-commit-points.js';
import { liveWriterTail, watermarkBeforeScan } from './repair-guards.js';

/** One problem found by `Log.verify`. */
export interface VerifyProblem {
  /**
   * `AOF_CORRUPT` (damage), `AOF_UNSUPPORTED_FORMAT`, `AOF_TORN_TAIL` (a
   * crash's cut-short last frames, which the next open or repair cuts off),
   * `AOF_FOREIGN_SEGMENT` (a segment of another log), or `AOF_DATA_LOST`
   * (the data ends before a commit point the log recorded: `seqFrom`..`seqTo`
   * were acknowledged and are missing).
   */
  code: 'AOF_CORRUPT' | 'AOF_UNSUPPORTED_FORMAT' | 'AOF_TORN_TAIL' | 'AOF_FOREIGN_SEGMENT' | 'AOF_DATA_LOST';
  /** `error` for damage; `warning` for a torn tail, which loses nothing acknowledged. */
  severity: 'error' | 'warning';
  /** The file concerned. */
  file: string;
  /** Byte offset in `file`. */
  offset: number;
  /** What is wrong. */
  message: string;
  /** Sequence numbers that cannot be read because of it, `[from, to)`; `to` absent when unknown (to the end). */
  seqFrom?: number;
  seqTo?: number;
}

/** The result of `Log.verify`. */
export interface VerifyReport {
  /** True when no problem of severity `error` was found. */
  ok: boolean;
  /** The log directory. */
  dir: string;
  /** Per segment: what its frames hold. */
  segments: Array<{ file: string; baseSeq: number; nextSeq: number; recordCount: number; sealed: boolean; bytes: number }>;
  /** Records readable in total. */
  records: number;
  /** Sequence number after the last valid record. */
  nextSeq: number;
  /** True when the last frame is the clean-close marker (the log was closed, not crashed). */
  cleanClose: boolean;
  /** Every problem, in log order. */
  problems: VerifyProblem[];
  /** Gaps left by an earlier `repair({ mode: 'skip' })`. */
  gaps: Array<{ file: string; from: number; to: number }>;
}

/** Options of `Log.verify`. */
export interface VerifyOptions {
  fs?: FileSystem;
  readAheadBytes?: number;
  /** Called after each segment with bytes checked so far and in total (for progress bars). */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/**
 * Reads every byte of every segment of the log in `dir` and reports each
 * problem with file, offset and the sequence numbers it affects. Takes no
 * lock and changes nothing, so it can run beside a live writer (whose
 * in-flight last frame may then show as a torn tail).
 */
export async function verifyLog(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const fs = options.fs ?? nodeFs;
  // A path that is not there is not a clean log: the stat throws ENOENT, reported as AOF_IO.
  if (!(await fs.stat(dir)).isDirectory) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR', path: dir });
  const settings = { readAheadBytes: options.readAheadBytes ?? DEFAULTS.readAheadBytes, indexIntervalBytes: DEFAULTS.indexIntervalBytes };
  // The commit points first, then the segments: the points only grow, and what they vouch for is on disk
  // before they are written, so data scanned afterwards reaches them even while a writer appends and rolls.
  const identity = await readIdentity(fs, dir);
  const recorded = await recordedCommitPoints(dir, identity.state === 'ok' ? identity.record : undefined, fs);
  const watermark = await watermarkBeforeScan(fs, dir);
  const bases = await listSegmentBases(fs, dir);
  const report: VerifyReport = { ok: true, dir, segments: [], records: 0, nextSeq: bases[0] ?? 0, cleanClose: false, problems: [], gaps: [] };
  // A half-done repair: the files are between two consistent states until it is finished.
  const intent = repairIntentPath(dir);
  if (await pathExists(fs, intent)) report.problems.push({ code: 'AOF_CORRUPT', severity: 'error', file: intent, offset: 0, message: 'a repair was interrupted (or is under way): the next aof repair, or writer open, finishes it' });
  // Only regular files are read: opening a FIFO named like a segment would block forever.
  for (const b of [...bases]) {
    const file = segmentPath(dir, b);
    if ((await fs.stat(file)).isFile) continue;
    report.problems.push({ code: 'AOF_CORRUPT', severity: 'error', file, offset: 0, message: 'named like a segment but not a regular file (a directory, FIFO or socket): not read' });
    bases.splice(bases.indexOf(b), 1);
  }
  const sizes = await Promise.all(bases.map(async (b) => (await fs.stat(segmentPath(dir, b))).size));
  const bytesTotal = sizes.reduce((x, y) => x + y, 0);
  let bytesDone = 0;
  // Without the identity file, a healthy catalog's recorded identity is the witness (a damaged one is none).
  const guard = new IdentityGuard(identity.state === 'ok' ? identity.record : await catalogLogId(dir));
  let lastEnd = 0;
  for (let i = 0; i < bases.length; i++) {
    const handle = await fs.open(segmentPath(dir, bases[i]!), 'read');
    try {
      const isLast = i === bases.length - 1;
      // Beside a live writer: zeros at or past the watermark it had published are its preallocated space.
      const a = isLast ? liveWriterTail(await analyzeSegment(handle, bases[i]!, settings), watermark) : await analyzeSegment(handle, bases[i]!, settings);
      if (!foreignSegment(report, a, guard, bases[i + 1])) addSegment(report, a, isLast, bases[i + 1]);
      lastEnd = a.dataEnd;
    } finally {
      await handle.close();
    }
    bytesDone += sizes[i]!;
    options.onProgress?.(bytesDone, bytesTotal);
  }
  // The catalog is derived data, but damage in it is damage on disk: reported, never crashed on.
  report.problems.push(...(await catalogProblems(dir)));
  // The data must reach what the log recorded (catalog, identity file, a durable watermark): acknowledged records cut, rolled back or deleted are loss, not a short log.
  if (recorded.point !== undefined && report.nextSeq < recorded.point.seq) {
    const file = recorded.fileHolding(report.nextSeq, bases.length === 0 ? undefined : segmentPath(dir, bases[bases.length - 1]!));
    const offset = bases.length > 0 && file === segmentPath(dir, bases[bases.length - 1]!) ? lastEnd : 0;
    report.problems.push({
      code: 'AOF_DATA_LOST', severity: 'error', file, offset, seqFrom: report.nextSeq, seqTo: recorded.point.seq,
      message: `acknowledged records ${report.nextSeq}..${recorded.point.seq - 1} are missing: the data ends at ${report.nextSeq} but the ${recorded.point.witness} recorded ${recorded.point.seq} (a segment rolled back, deleted or cut); \`aof repair\` records them as a gap`,
    });
  }
  report.ok = report.problems.every((p) => p.severity !== 'error');
  return report;
}

/** True (and the problem reported) when the segment belongs to another log: none of its records counts as this log's. */
function foreignSegment(report: VerifyReport, a: SegmentAnalysis, guard: IdentityGuard, nextBase: number | undefined): boolean {
  if (a.header === undefined) return false;
  try {
    guard.check(a.header, a.file);
    return false;
  } catch (err) {
    if (!(err instanceof AofError)) throw err;
    report.problems.push({ code: 'AOF_FOREIGN_SEGMENT', severity: 'error', file: a.file, offset: err.offset ?? 0, message: err.message, seqFrom: a.baseSeq, ...(nextBase === undefined ? {} : { seqTo: nextBase }) });
    report.nextSeq = report.segments.length === 0 ? a.baseSeq : Math.min(report.nextSeq, a.baseSeq);
    report.segments.push({ file: a.file, baseSeq: a.baseSeq, nextSeq: a.baseSeq, recordCount: 0, sealed: false, bytes: a.size });
    return true;
  }
}

function addSegment(report: VerifyReport, a: SegmentAnalysis, isLast: boolean, nextBase: number | undefined): void {
  const problems = report.problems;
  const corrupt = (offset: number, message: string, seqFrom?: number, seqTo?: number): void => {
    problems.push({ code: 'AOF_CORRUPT', severity: 'error', file: a.file, offset, message, ...(seqFrom === undefined ? {} : { seqFrom }), ...(seqTo === undefined ? {} : { seqTo }) });
  };
  if (report.segments.length > 0 && report.nextSeq !== a.baseSeq) corrupt(0, `segments do not join: previous ends before ${report.nextSeq}, this starts at ${a.baseSeq}`, Math.min(report.nextSeq, a.baseSeq), Math.max(report.nextSeq, a.baseSeq));
  if (a.unborn && isLast) {
    // The next open moves it to recovery/ and starts the segment afresh: nothing acknowledged was in it.
    problems.push({ code: 'AOF_TORN_TAIL', severity: 'warning', file: a.file, offset: 0, message: 'the last segment holds no header (created just before a crash); the next open moves it to recovery/' });
    report.segments.push({ file: a.file, baseSeq: a.baseSeq, nextSeq: a.baseSeq, recordCount: 0, sealed: false, bytes: a.size });
    return;
  }
  if (a.headerError !== undefined) {
    problems.push({ code: a.headerError.code === 'AOF_UNSUPPORTED_FORMAT' ? 'AOF_UNSUPPORTED_FORMAT' : 'AOF_CORRUPT', severity: 'error', file: a.file, offset: a.headerError.offset ?? 0, message: a.headerError.message });
    if (a.headerError.code === 'AOF_UNSUPPORTED_FORMAT') {
      // A newer format is not damage: its bytes mean nothing as v1 frames, so report nothing more about them.
      report.nextSeq = nextBase ?? a.baseSeq;
      report.segments.push({ file: a.file, baseSeq: a.baseSeq, nextSeq: report.nextSeq, recordCount: 0, sealed: false, bytes: a.size });
      return;
    }
  }
  if (a.footerError !== undefined) corrupt(a.footerError.offset ?? a.dataEnd, a.footerError.message);
  if (a.footer === undefined && a.footerError === undefined && a.headerError === undefined && !isLast) corrupt(a.size, 'segment has no footer but later segments exist');
  if (a.footerMismatch !== undefined) corrupt(a.footer?.dataEnd ?? a.dataEnd, `footer disagrees with the frames: ${a.footerMismatch}`);
  const segmentEnd = a.footer?.nextSeq ?? nextBase;
  for (const span of a.damage) {
    // The bytes of an unreadable footer show up as a damaged span after the last frame: already reported above.
    if (span.resumeAt === undefined && (a.footerError !== undefined || a.headerError !== undefined) && segmentEnd !== undefined && span.lostFrom >= segmentEnd) continue;
    const tornTail = span.resumeAt === undefined && isLast && a.footer === undefined && a.footerError === undefined;
    if (tornTail && a.trailingZeros) continue;
    if (tornTail) {
      problems.push({ code: 'AOF_TORN_TAIL', severity: 'warning', file: a.file, offset: span.offset, message: `torn tail after a crash (${span.reason}); ${a.size - span.offset} bytes will be kept under recovery/ and cut off at the next open or repair` });
    } else {
      corrupt(span.offset, `damaged frame: ${span.reason}`, span.lostFrom, span.resumeAt?.seq ?? segmentEnd);
    }
  }
  for (const g of a.gaps) report.gaps.push({ file: a.file, from: g.from, to: g.to });
  const last = a.damage[a.damage.length - 1];
  report.nextSeq = last !== undefined && last.resumeAt === undefined && segmentEnd !== undefined ? Math.max(a.nextSeq, segmentEnd) : a.nextSeq;
  report.records += a.recordCount;
  report.cleanClose = isLast && a.closeMarkerAt !== undefined && a.damage.length === 0;
  report.segments.push({ file: a.file, baseSeq: a.baseSeq, nextSeq: a.nextSeq, recordCount: a.recordCount, sealed: a.footer !== undefined, bytes: a.size });
}
