import fc from 'fast-check';
import { AofError, GapError } from '../errors.js';
import { Log } from '../log.js';
import type { LogRecord } from '../read/record.js';
import type { Payload } from '../record/payload.js';
import { batchArb, faultScheduleArb, oversizedPayloadArb, payloadArb, TEST_LIMITS, type ArbitraryLimits, type FaultArbOptions } from './arbitraries.js';
import type { FaultRule, FsOperation } from './fault-fs.js';
import type { LogUnderTest, RestartOutcome } from './harness.js';
import { ModelViolation, sameBytes, type ExpectedRead, type InputVerdict, type LogModel, type ModelGap, type ModelRecord, type RestartKind } from './model.js';

/**
 * `fc.commands`-ready commands that drive a real log ({@link LogUnderTest})
 * and the model ({@link LogModel}) side by side, checking the one against
 * the other after every step.
 *
 * @module
 */

/** A command of a model-based run: fast-check's `AsyncCommand` over the model and the log under test. */
export type LogCommand = fc.AsyncCommand<LogModel, LogUnderTest>;

/** One append as commands describe it: `append(payloads[0])`, or `appendBatch(payloads)`. */
export interface AppendSpec {
  /** True for `appendBatch(payloads)`, false for `append(payloads[0])`. */
  batch: boolean;
  /** The payloads. */
  payloads: Payload[];
}

/** An operation that a fault can be injected into (see {@link FaultCommand}). */
export type FaultableAction =
  /** One append (or batch). */
  | { kind: 'append'; spec: AppendSpec }
  /** Appends issued together. */
  | { kind: 'concurrent'; specs: AppendSpec[] }
  /** `roll()`. */
  | { kind: 'roll' }
  /** `flush()`. */
  | { kind: 'flush' }
  /** `get(seq)`, `seq` picked by `pick` (modulo the records held, plus a few past the end). */
  | { kind: 'get'; pick: number }
  /** `read({ from, to })`, picked by `fromPick` and `toPick` (undefined: the default `to`). */
  | { kind: 'read'; fromPick: number; toPick: number | undefined }
  /** `close()`, then `Log.open` with the faults armed. */
  | { kind: 'reopen' }
  /** `Log.verify` beside the writer. */
  | { kind: 'verify' };

/** Inputs the log must refuse without changing anything. */
export type InvalidInputKind = 'oversized' | 'oversized-in-batch' | 'too-many-records' | 'too-many-bytes' | 'empty-batch' | 'not-a-payload' | 'bad-seq';

// --- helpers -----------------------------------------------------------------

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs `fn`, capturing a synchronous throw or a rejection. */
export async function settle<T>(fn: () => Promise<T> | T): Promise<Settled<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Rejects with a {@link ModelViolation} if `work` has not settled after `ms` (a hang is a bug too). */
export async function withWatchdog<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelViolation(`${what} did not finish within ${ms} ms: the log hangs`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

export function violation(message: string): ModelViolation {
  return new ModelViolation(message);
}

/** A short description of an error for failure messages. */
export function describeError(err: unknown): string {
  if (err instanceof AofError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Checks that `err` is an `AofError` with one of `codes`; returns its code. */
export function expectCode(err: unknown, codes: readonly string[], what: string): string {
  if (!(err instanceof AofError)) throw violation(`${what} failed with an untyped error (expected ${codes.join(' or ')}): ${describeError(err)}`);
  if (!codes.includes(err.code)) throw violation(`${what} failed with ${err.code}, expected ${codes.join(' or ')}: ${err.message}`);
  return err.code;
}

function describePayload(p: Payload): string {
  if (typeof p === 'string') return p.length <= 12 ? JSON.stringify(p) : `string(${Buffer.byteLength(p, 'utf8')} B)`;
  return `bytes(${p.byteLength})`;
}

export function describeSpec(spec: AppendSpec): string {
  if (!spec.batch) return `append(${describePayload(spec.payloads[0]!)})`;
  const bytes = spec.payloads.reduce((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.byteLength), 0);
  return `appendBatch(${spec.payloads.length} records, ${bytes} B)`;
}

/** Throws unless `actual` is exactly the record the model expects (or both are absent). */
export function expectRecord(actual: LogRecord | undefined, expected: ModelRecord | undefined, what: string): void {
  if (expected === undefined) {
    if (actual !== undefined) throw violation(`${what}: the log returned record ${actual.seq}, which it must not hold`);
    return;
  }
  if (actual === undefined) throw violation(`${what}: record ${expected.seq} is missing`);
  if (actual.seq !== expected.seq) throw violation(`${what}: got record ${actual.seq}, expected ${expected.seq}`);
  if (!sameBytes(actual.payload, expected.payload)) throw violation(`${what}: record ${expected.seq} holds ${actual.payload.byteLength} bytes that differ from the ${expected.payload.byteLength} appended`);
  if (actual.timestamp !== expected.timestamp) throw violation(`${what}: record ${expected.seq} has timestamp ${actual.timestamp}, expected ${expected.timestamp}`);
}

/** Reads `log.read(options)` to the end. */
export async function collect(log: Log, options: { from?: number; to?: number } = {}, into: LogRecord[] = []): Promise<LogRecord[]> {
  for await (const r of log.read(options)) into.push(r);
  return into;
}

/** Throws unless `records` are exactly `expected`, in order. */
export function expectRecords(records: readonly LogRecord[], expected: readonly (ModelRecord | undefined)[], what: string): void {
  if (records.length !== expected.length) {
    const got = records.length === 0 ? 'none' : `${records[0]!.seq}..${records[records.length - 1]!.seq}`;
    const want = expected.length === 0 ? 'none' : `${expected[0]?.seq}..${expected[expected.length - 1]?.seq}`;
    throw violation(`${what}: read ${records.length} records (${got}), expected ${expected.length} (${want})`);
  }
  records.forEach((r, i) => expectRecord(r, expected[i], what));
}

/** Throws unless `err` is the `AOF_GAP` of exactly `gap` (a gap is reported whole, never a part of it). */
export function expectGapError(err: unknown, gap: ModelGap, what: string): void {
  const range = `${gap.from}..${gap.to - 1}`;
  if (!(err instanceof GapError)) throw violation(`${what} should reject with AOF_GAP for the gap ${range}, but failed with ${describeError(err)}`);
  if (err.from !== gap.from || err.to !== gap.to) throw violation(`${what} rejected with AOF_GAP for ${err.from}..${err.to - 1}, but the gap is ${range}`);
}

/**
 * True when `err` is the `AOF_GAP` that a read which has got to `position`
 * meets next in the model: the gap holding `position`, with its exact bounds.
 */
export function isExpectedGap(m: LogModel, position: number, err: unknown): err is GapError {
  const gap = m.gapAt(position);
  return gap !== undefined && err instanceof GapError && err.from === gap.from && err.to === gap.to;
}

/**
 * Judges `log.get(seq)`'s outcome against the model: the record, or
 * undefined where the log must not hold one; `AOF_GAP` naming the gap where
 * the model has one (and nowhere else); `AOF_IO` only when `faulty`.
 */
export function expectGetOutcome(m: LogModel, seq: number, res: Settled<LogRecord | undefined>, faulty: boolean, what: string): void {
  const gap = m.gapAt(seq);
  if (res.ok) {
    if (gap !== undefined) throw violation(`${what} resolved with ${res.value === undefined ? 'undefined' : `record ${res.value.seq}`}, but ${seq} is in the gap ${gap.from}..${gap.to - 1} (AOF_GAP expected)`);
    expectRecord(res.value, m.get(seq), what);
    return;
  }
  if (gap !== undefined && res.error instanceof GapError) return expectGapError(res.error, gap, what);
  if (!faulty) throw violation(`${what} rejected with no fault injected: ${describeError(res.error)}`);
  expectCode(res.error, ['AOF_IO'], what);
}

/**
 * Judges a read's outcome against `expected`: it yielded exactly the
 * expected records, then ended, or rejected with `AOF_GAP` naming the
 * expected gap (and only where one is expected). With `faulty`, it may
 * instead reject with `AOF_IO` after a correct prefix.
 */
export function expectReadOutcome(records: readonly LogRecord[], res: Settled<unknown>, expected: ExpectedRead, faulty: boolean, what: string): void {
  const gap = expected.gap;
  if (res.ok) {
    if (gap !== undefined) throw violation(`${what} ended without AOF_GAP after ${records.length} records, but it reaches the gap ${gap.from}..${gap.to - 1}`);
    expectRecords(records, expected.records, what);
    return;
  }
  if (gap !== undefined && res.error instanceof GapError) {
    expectRecords(records, expected.records, `${what}, before the gap`);
    expectGapError(res.error, gap, what);
    return;
  }
  if (!faulty) throw violation(`${what} rejected with no fault injected: ${describeError(res.error)}`);
  expectCode(res.error, ['AOF_IO'], what);
  // What was yielded before the failure must be a correct prefix.
  expectRecords(records, expected.records.slice(0, records.length), what);
}

/**
 * Reads `log` from its start, and again after each gap (from the gap's
 * `to`, as an application skipping it would), judging each read by
 * `expectFrom(from)` (from undefined: the log's own start) without faults.
 */
export async function auditReads(log: Log, expectFrom: (from: number | undefined) => ExpectedRead, what: string): Promise<void> {
  let from: number | undefined;
  for (;;) {
    const records: LogRecord[] = [];
    const res = await settle(() => collect(log, from === undefined ? {} : { from }, records));
    const expected = expectFrom(from);
    expectReadOutcome(records, res, expected, false, from === undefined ? what : `${what} resumed at ${from}`);
    if (expected.gap === undefined) return;
    from = expected.gap.to;
  }
}

/**
 * Reads the whole log and compares it with the model: the records are
 * exactly the acknowledged ones, in order, sequence numbers strictly
 * increasing, with the right payloads and timestamps; a read reaching a
 * gap rejects there with `AOF_GAP` naming it, and one resumed after it goes on.
 */
export async function auditContents(m: LogModel, r: LogUnderTest, what: string): Promise<void> {
  await auditReads(r.log, (from) => m.expectedRead(from), `${what}, full read`);
}

/**
 * Cheap checks after every command: the harness's invariants (segments,
 * statuses, append events), the watermark and the failed state agree with
 * the model.
 */
export function checkConsistent(m: LogModel, r: LogUnderTest): void {
  m.sealedUpTo(r.sealedUpTo);
  r.checkInvariants(m.gaps);
  if (r.log.nextSeq !== m.nextSeq) throw violation(`log.nextSeq is ${r.log.nextSeq}, the model says ${m.nextSeq}`);
  if (r.log.firstSeq !== m.firstSeq) throw violation(`log.firstSeq is ${r.log.firstSeq}, the model says ${m.firstSeq}`);
  const failed = r.log.metrics().failed;
  if (failed !== m.failed) throw violation(`the log is ${failed ? '' : 'not '}in the failed state, the model says it is${m.failed ? '' : ' not'}`);
}

/**
 * Brings the log down by `kind`, reopens it (through `reopen`), checks the
 * reopened watermark against what must and may survive, adopts it, and
 * compares every record.
 */
async function restartAndCheck(m: LogModel, r: LogUnderTest, kind: RestartKind, reopen: () => Promise<RestartOutcome | void>): Promise<void> {
  m.sealedUpTo(r.sealedUpTo);
  const before = m.nextSeq;
  const opened = await settle(reopen);
  if (!opened.ok) throw violation(`reopening after ${kind} (acknowledged up to ${before}, durable up to ${m.durableSeq}) failed: ${describeError(opened.error)}`);
  m.restarted(kind, r.log.nextSeq);
  await auditContents(m, r, `after ${kind}`);
  checkConsistent(m, r);
}

// --- actions ------------------------------------------------------------------

/** Applies one append's outcome to the model, checking it. `concurrent`: issued before an earlier failure could be seen. */
function applyAppendOutcome(m: LogModel, spec: AppendSpec, verdict: InputVerdict, res: Settled<number>, faulty: boolean, concurrent: boolean): void {
  const what = describeSpec(spec);
  if (m.failed && !concurrent) {
    if (res.ok) throw violation(`${what} was acknowledged (seq ${res.value}) while the log is in the failed state`);
    expectCode(res.error, verdict.ok ? ['AOF_LOG_FAILED'] : ['AOF_LOG_FAILED', verdict.code], what);
    return;
  }
  if (!verdict.ok) {
    if (res.ok) throw violation(`${what} should have been rejected with ${verdict.code}, got sequence ${res.value}`);
    expectCode(res.error, [verdict.code], what);
    return;
  }
  if (res.ok) {
    const expected = m.acknowledge(verdict.payloads);
    if (res.value !== expected) throw violation(`${what} got sequence ${res.value}, expected ${expected}`);
    return;
  }
  if (!faulty) throw violation(`${what} was rejected with no fault injected: ${describeError(res.error)}`);
  const code = expectCode(res.error, ['AOF_IO', 'AOF_LOG_FAILED'], what);
  if (code === 'AOF_LOG_FAILED') {
    // Written (perhaps) but its fsync failed or the process died: it may come back at the next open.
    m.inDoubtAppend(verdict.payloads);
    m.enterFailedState();
  }
}

export async function runAppend(m: LogModel, r: LogUnderTest, spec: AppendSpec, faulty: boolean): Promise<void> {
  const verdict = m.judgeInput(spec.payloads, spec.batch);
  const res = await settle(() => (spec.batch ? r.log.appendBatch(spec.payloads) : r.log.append(spec.payloads[0]!)));
  applyAppendOutcome(m, spec, verdict, res, faulty, false);
  // A failed write whose cut-back failed too leaves the log failed (and rejects with AOF_IO).
  if (!res.ok && !m.failed && r.log.metrics().failed) m.enterFailedState();
}

/** A process crash or power loss that strikes in the middle of a burst of appends. */
export interface BurstCrash {
  /** Calls the process makes before it dies. */
  afterCalls: number;
  /** `crash`: the process dies; `power-loss`: the machine loses power at that moment. */
  kind: 'crash' | 'power-loss';
  /** Seed of the next machine (power loss). */
  seed: number;
}

async function runConcurrent(m: LogModel, r: LogUnderTest, specs: AppendSpec[], faulty: boolean, crash: BurstCrash | undefined): Promise<void> {
  let powerLoss: Promise<import('./fault-fs.js').PowerLossReport> | undefined;
  if (crash !== undefined) {
    const machine = r.machine;
    r.process.crashAfter(crash.afterCalls, crash.kind === 'power-loss' ? () => void (powerLoss = machine.powerLoss()) : undefined);
  }
  const verdicts = specs.map((s) => m.judgeInput(s.payloads, s.batch));
  const failedBefore = m.failed;
  const results = await Promise.all(specs.map((s) => settle(() => (s.batch ? r.log.appendBatch(s.payloads) : r.log.append(s.payloads[0]!)))));
  r.process.disarm();
  const crashed = r.process.crashed;
  specs.forEach((s, i) => applyAppendOutcome(m, s, verdicts[i]!, results[i]!, faulty || crashed, !failedBefore));
  if (crashed) {
    const kind = crash!.kind;
    await restartAndCheck(m, r, kind, () => (kind === 'crash' ? r.crash() : r.powerLoss(crash!.seed, undefined, powerLoss)));
    return;
  }
  if (!m.failed && r.log.metrics().failed) m.enterFailedState();
}

function pickSeq(m: LogModel, pick: number, slack = 3): number {
  return m.firstSeq + (pick % (m.nextSeq - m.firstSeq + slack));
}

export async function runGet(m: LogModel, r: LogUnderTest, pick: number, faulty: boolean): Promise<void> {
  const seq = pickSeq(m, pick);
  const res = await settle(() => r.log.get(seq));
  expectGetOutcome(m, seq, res, faulty, `get(${seq})`);
}

export async function runRead(m: LogModel, r: LogUnderTest, fromPick: number, toPick: number | undefined, faulty: boolean): Promise<void> {
  const from = pickSeq(m, fromPick, 2);
  let to = toPick === undefined ? undefined : pickSeq(m, toPick);
  const segs = r.log.segments();
  if (to !== undefined && r.knownIssues.has('read-past-sealed-end') && segs[segs.length - 1]?.status !== 'active') to = Math.min(to, r.log.nextSeq);
  const what = `read({ from: ${from}${to === undefined ? '' : `, to: ${to}`} })`;
  const records: LogRecord[] = [];
  const res = await settle(() => collect(r.log, to === undefined ? { from } : { from, to }, records));
  expectReadOutcome(records, res, m.expectedRead(from, to), faulty, what);
}

export async function runRoll(m: LogModel, r: LogUnderTest, faulty: boolean): Promise<void> {
  const res = await settle(() => r.log.roll());
  if (m.failed) {
    if (res.ok) throw violation('roll() succeeded while the log is in the failed state');
    expectCode(res.error, ['AOF_LOG_FAILED'], 'roll()');
    return;
  }
  if (res.ok) {
    const segs = r.log.segments();
    const active = segs[segs.length - 1]!;
    if (active.baseSeq !== m.nextSeq || active.recordCount !== 0) throw violation(`after roll() the active segment starts at ${active.baseSeq} with ${active.recordCount} records; expected an empty one at ${m.nextSeq}`);
    m.sealedUpTo(m.nextSeq);
    return;
  }
  if (!faulty) throw violation(`roll() rejected with no fault injected: ${describeError(res.error)}`);
  expectCode(res.error, ['AOF_IO', 'AOF_LOG_FAILED'], 'roll()');
  if (r.log.metrics().failed) m.enterFailedState();
}

async function runFlush(m: LogModel, r: LogUnderTest, faulty: boolean): Promise<void> {
  const res = await settle(() => r.log.flush());
  if (m.failed) {
    if (res.ok) throw violation('flush() succeeded while the log is in the failed state');
    expectCode(res.error, ['AOF_LOG_FAILED'], 'flush()');
    return;
  }
  if (res.ok) {
    m.flushed();
    return;
  }
  if (!faulty) throw violation(`flush() rejected with no fault injected: ${describeError(res.error)}`);
  expectCode(res.error, ['AOF_LOG_FAILED'], 'flush()');
  m.enterFailedState();
}

async function runVerify(m: LogModel, r: LogUnderTest, faulty: boolean): Promise<void> {
  const res = await settle(() => Log.verify(r.dir, { fs: r.machine }));
  if (!res.ok) {
    if (!faulty) throw violation(`Log.verify rejected with no fault injected: ${describeError(res.error)}`);
    expectCode(res.error, ['AOF_IO', 'AOF_CORRUPT'], 'Log.verify');
    return;
  }
  const report = res.value;
  const lastFile = report.segments[report.segments.length - 1]?.file;
  const unbornExcused = (p: { file: string; message: string }): boolean => r.knownIssues.has('unborn-verify') && p.file === lastFile && p.message.includes('holds no header');
  const errors = report.problems.filter((p) => p.severity === 'error' && !unbornExcused(p));
  if (errors.length > 0) {
    // A read fault can make verify see a short file; without a fault, the live log must verify clean.
    if (faulty) return;
    throw violation(`Log.verify of the live log found problems: ${errors.map((p) => `${p.file}@${p.offset}: ${p.message}`).join('; ')}`);
  }
  const max = m.nextSeq + m.inDoubtRecords;
  if (report.nextSeq < m.nextSeq || report.nextSeq > max) throw violation(`Log.verify counts up to ${report.nextSeq}; acknowledged up to ${m.nextSeq}, written at most up to ${max}`);
}

async function runReopen(m: LogModel, r: LogUnderTest, rules: readonly FaultRule[] | undefined): Promise<void> {
  const wasFailed = m.failed;
  m.sealedUpTo(r.sealedUpTo);
  const closed = await settle(() => r.close());
  if (!closed.ok) throw violation(`close() failed: ${describeError(closed.error)}`);
  m.closed();
  if (rules !== undefined) for (const rule of rules) r.machine.failNext(rule.op, rule.errno, rule);
  let opened = await settle(() => r.reopen());
  r.machine.clearFaults();
  await r.afterFaults();
  if (!opened.ok) {
    if (rules === undefined) throw violation(`reopening after close() failed: ${describeError(opened.error)}`);
    expectCode(opened.error, ['AOF_IO', 'AOF_CORRUPT', 'AOF_LOG_FAILED'], 'Log.open with a fault injected');
    opened = await settle(() => r.reopen());
    if (!opened.ok) throw violation(`reopening once the fault was gone failed: ${describeError(opened.error)}`);
  }
  m.restarted('close', r.log.nextSeq);
  const recovery = r.log.openReport.recovery;
  if (rules === undefined && !wasFailed && recovery !== undefined) {
    if (!recovery.cleanClose) throw violation('a log closed cleanly was not recognised as cleanly closed at the next open');
    if (recovery.tornTail !== undefined) throw violation(`a log closed cleanly had a torn tail at the next open: ${recovery.tornTail.reason}`);
  }
  await auditContents(m, r, 'after close and reopen');
}

async function runAction(m: LogModel, r: LogUnderTest, action: FaultableAction, rules: readonly FaultRule[] | undefined): Promise<void> {
  const faulty = rules !== undefined;
  switch (action.kind) {
    case 'append':
      return runAppend(m, r, action.spec, faulty);
    case 'concurrent':
      return runConcurrent(m, r, action.specs, faulty, undefined);
    case 'roll':
      return runRoll(m, r, faulty);
    case 'flush':
      return runFlush(m, r, faulty);
    case 'get':
      return runGet(m, r, action.pick, faulty);
    case 'read':
      return runRead(m, r, action.fromPick, action.toPick, faulty);
    case 'verify':
      return runVerify(m, r, faulty);
    case 'reopen':
      return runReopen(m, r, rules);
  }
}

function describeAction(action: FaultableAction): string {
  switch (action.kind) {
    case 'append':
      return describeSpec(action.spec);
    case 'concurrent':
      return `concurrently[${action.specs.map(describeSpec).join(', ')}]`;
    case 'get':
      return `get(#${action.pick})`;
    case 'read':
      return `read(#${action.fromPick}${action.toPick === undefined ? '' : `, #${action.toPick}`})`;
    default:
      return `${action.kind}()`;
  }
}

// --- commands -----------------------------------------------------------------

/** Base of the commands: each runs on the model and the log, then checks consistency. */
export abstract class BaseLogCommand implements LogCommand {
  /** Commands run in any state; a command whose precondition fails is skipped by fast-check. */
  check(_m: Readonly<LogModel>): boolean {
    return true;
  }

  async run(m: LogModel, r: LogUnderTest): Promise<void> {
    r.trace?.(this.toString());
    await withWatchdog(this.apply(m, r), r.commandTimeoutMs, this.toString());
    checkConsistent(m, r);
  }

  /** Runs the command on both sides, throwing {@link ModelViolation} on disagreement. */
  protected abstract apply(m: LogModel, r: LogUnderTest): Promise<void>;

  abstract toString(): string;
}

/** `append(payload)` (or `appendBatch`), expected to succeed unless its input is invalid or the log is failed. */
export class AppendCommand extends BaseLogCommand {
  constructor(
    /** The append. */
    readonly spec: AppendSpec,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runAppend(m, r, this.spec, false);
  }
  toString(): string {
    return describeSpec(this.spec);
  }
}

/**
 * Several appends issued at once without awaiting each other (group
 * commit), optionally with the process crashing or the power going out
 * after a given number of file-system calls, in the middle of them.
 */
export class ConcurrentAppendsCommand extends BaseLogCommand {
  constructor(
    /** The appends, issued together. */
    readonly specs: AppendSpec[],
    /** A crash or power loss in the middle of them. */
    readonly crash?: BurstCrash,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runConcurrent(m, r, this.specs, false, this.crash);
  }
  toString(): string {
    const crash = this.crash === undefined ? '' : ` with ${this.crash.kind} after ${this.crash.afterCalls} calls${this.crash.kind === 'power-loss' ? ` (seed ${this.crash.seed})` : ''}`;
    return `concurrently[${this.specs.map(describeSpec).join(', ')}]${crash}`;
  }
}

/** `get(seq)` for a sequence number picked among the held ones and a few past the end. */
export class GetCommand extends BaseLogCommand {
  constructor(
    /** Picks the sequence number: modulo the records held plus three past the end. */
    readonly pick: number,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runGet(m, r, this.pick, false);
  }
  toString(): string {
    return `get(#${this.pick})`;
  }
}

/** `read({ from, to })` over a picked range (empty, reversed and past-the-end ranges included). */
export class ReadCommand extends BaseLogCommand {
  constructor(
    /** Picks `from`. */
    readonly fromPick: number,
    /** Picks `to` (undefined: the default, the watermark). */
    readonly toPick: number | undefined,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runRead(m, r, this.fromPick, this.toPick, false);
  }
  toString(): string {
    return `read(#${this.fromPick}${this.toPick === undefined ? '' : `, #${this.toPick}`})`;
  }
}

/** `roll()`: seals the active segment (its records become durable) and starts a new one. */
export class RollCommand extends BaseLogCommand {
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runRoll(m, r, false);
  }
  toString(): string {
    return 'roll()';
  }
}

/** `flush()`: everything acknowledged becomes durable, whatever the strategy. */
export class FlushCommand extends BaseLogCommand {
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runFlush(m, r, false);
  }
  toString(): string {
    return 'flush()';
  }
}

/** Moves the test clock forward (timestamps, `segment.maxAgeMs`). */
export class TickCommand extends BaseLogCommand {
  constructor(
    /** How far the clock moves, in ms. */
    readonly ms: number,
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    m.advanceClock(this.ms);
    r.clock.advance(this.ms);
  }
  toString(): string {
    return `tick(${this.ms} ms)`;
  }
}

/** `close()` and `Log.open` again: nothing acknowledged is lost, the clean close is recognised. */
export class ReopenCommand extends BaseLogCommand {
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runReopen(m, r, undefined);
  }
  toString(): string {
    return 'close+reopen';
  }
}

/**
 * The process crashes (the log is abandoned without `close()`; every byte
 * written stays on the machine) and a new process opens the log: everything
 * acknowledged is there. With `recoveryCrashAfter`, the new process crashes
 * too during its recovery, and a third one opens the log.
 */
export class CrashCommand extends BaseLogCommand {
  constructor(
    /** When set, the recovering process crashes too, after this many calls. */
    readonly recoveryCrashAfter?: number,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return restartAndCheck(m, r, 'crash', () => r.crash(this.recoveryCrashAfter));
  }
  toString(): string {
    return this.recoveryCrashAfter === undefined ? 'crash' : `crash (and again after ${this.recoveryCrashAfter} calls of recovery)`;
  }
}

/**
 * The machine loses power: unsynced writes vanish or survive in part
 * (seeded); the log is reopened on a new machine. Under `always`, `batch`
 * and `adaptive` every acknowledged record is there; under `interval` and
 * `none`, at least what was flushed, sealed or cleanly closed.
 */
export class PowerLossCommand extends BaseLogCommand {
  constructor(
    /** Seed of what survives and of the next machine. */
    readonly seed: number,
    /** When set, the recovering process crashes too, after this many calls. */
    readonly recoveryCrashAfter?: number,
  ) {
    super();
  }
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return restartAndCheck(m, r, 'power-loss', () => r.powerLoss(this.seed, this.recoveryCrashAfter));
  }
  toString(): string {
    return `powerLoss(seed ${this.seed}${this.recoveryCrashAfter === undefined ? '' : `, crash after ${this.recoveryCrashAfter} calls of recovery`})`;
  }
}

/**
 * Arms faults on the machine (`FaultFs.failNext`), runs one operation, and
 * removes whatever did not fire. The operation may succeed (the fault did
 * not reach it) or reject with a typed error: a failed write rejects with
 * `AOF_IO` and keeps nothing; a failed fsync fails the log (`AOF_LOG_FAILED`)
 * until the next restart, and the appends it covered are in doubt.
 */
export class FaultCommand extends BaseLogCommand {
  constructor(
    /** The faults armed. */
    readonly rules: FaultRule[],
    /** The operation run while they are. */
    readonly action: FaultableAction,
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    r.stats.faultsInjected += this.rules.length;
    if (this.action.kind !== 'reopen') for (const rule of this.rules) r.machine.failNext(rule.op, rule.errno, rule);
    try {
      await runAction(m, r, this.action, this.rules);
      if (!r.machine.faultsPending) r.stats.faultsFired++;
    } finally {
      r.machine.clearFaults();
    }
    // A background fsync (interval strategy) may have hit the fault: its rejection is handled within a
    // turn of the event loop. The log is then failed; the appends it acknowledged stand.
    await new Promise((resolve) => setImmediate(resolve));
    if (!m.failed && r.isOpen && r.log.metrics().failed) m.enterFailedState();
    await r.afterFaults();
  }
  toString(): string {
    const rules = this.rules.map((f) => `${f.op}${typeof f.path === 'string' ? `[${f.path}]` : ''}:${f.errno}${f.skip ? ` after ${f.skip}` : ''}`).join(' + ');
    return `fault(${rules} → ${describeAction(this.action)})`;
  }
}

/** `Log.verify` beside the live writer: no error, and it counts what was acknowledged (plus what is in doubt). */
export class VerifyCommand extends BaseLogCommand {
  protected apply(m: LogModel, r: LogUnderTest): Promise<void> {
    return runVerify(m, r, false);
  }
  toString(): string {
    return 'verify';
  }
}

/**
 * What a reader beside the writer must read from `from` up to `to`: the
 * acknowledged records and then the appends in doubt ({@link LogModel.candidate}),
 * up to the first gap, where it must reject with `AOF_GAP`.
 */
function candidateRead(m: LogModel, from: number, to: number): ExpectedRead {
  const gap = m.expectedRead(from, to).gap;
  const end = gap === undefined ? to : Math.max(from, gap.from);
  const records: ModelRecord[] = [];
  for (let seq = Math.max(from, m.firstSeq); seq < end; seq++) {
    const record = m.candidate(seq);
    // Past what was ever written: the caller bounded `to`, and a short list fails the comparison anyway.
    if (record === undefined) break;
    records.push(record);
  }
  return { records, gap };
}

/** A read-only handle opened beside the writer sees the acknowledged records (plus what is in doubt, whole). */
export class ReadOnlyViewCommand extends BaseLogCommand {
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    const opened = await settle(() => Log.open(r.dir, { ...r.openOptions(), readOnly: true }));
    if (!opened.ok) throw violation(`a read-only open beside the writer failed: ${describeError(opened.error)}`);
    const ro = opened.value;
    try {
      const max = m.nextSeq + m.inDoubtRecords;
      const lagExcused = r.knownIssues.has('watermark-lag');
      if ((ro.nextSeq < m.nextSeq && !lagExcused) || ro.nextSeq > max) throw violation(`a read-only handle sees up to ${ro.nextSeq}; acknowledged up to ${m.nextSeq}, written at most up to ${max}`);
      await auditReads(ro, (from) => candidateRead(m, from ?? m.firstSeq, ro.nextSeq), 'read-only handle, full read');
    } finally {
      await ro.close();
    }
  }
  toString(): string {
    return 'readOnlyView';
  }
}

/**
 * `log.tail({ from })` while appends go on: the follower yields exactly the
 * acknowledged records from `from` on, in order, without skipping any, and
 * each new one once its append has resolved; aborting ends it with an
 * `AbortError`. A follower that reaches a gap a repair left rejects there
 * with `AOF_GAP` naming it.
 */
export class TailCommand extends BaseLogCommand {
  constructor(
    /** Picks `from` among the records held and the watermark. */
    readonly fromPick: number,
    /** Appends made while the tail follows. */
    readonly specs: AppendSpec[],
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    const from = m.firstSeq + (this.fromPick % (m.nextSeq - m.firstSeq + 1));
    const ac = new AbortController();
    const got: LogRecord[] = [];
    let target = Number.POSITIVE_INFINITY;
    const reached = (): boolean => (got.length === 0 ? from : got[got.length - 1]!.seq + 1) >= target;
    let wake: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (wake = resolve));
    const reader = (async (): Promise<void> => {
      try {
        for await (const rec of r.log.tail({ from, signal: ac.signal })) {
          got.push(rec);
          if (reached()) break;
        }
      } catch (err) {
        if ((err as Error | undefined)?.name !== 'AbortError') throw err;
      } finally {
        wake();
      }
    })();
    const failure = reader.then(
      () => undefined,
      (err: unknown) => err,
    );
    for (const spec of this.specs) await runAppend(m, r, spec, false);
    target = m.nextSeq;
    // Either the follower already has everything (and waits for an append that is not coming), or it
    // stops by itself once a record reaches the target (the watchdog catches a follower that stalls).
    if (!reached()) await Promise.race([arrived, failure]);
    ac.abort();
    const err = await failure;
    const what = `tail({ from: ${from} })`;
    const expected = m.expectedRead(from, target);
    if (expected.gap !== undefined) {
      // A follower that reaches a gap rejects there, after exactly the records before it.
      expectReadOutcome(got, err === undefined ? { ok: true, value: undefined } : { ok: false, error: err }, expected, false, what);
      return;
    }
    if (err !== undefined) throw violation(`${what} failed: ${describeError(err)}`);
    expectRecords(got.slice(0, expected.records.length), expected.records, what);
    if (got.length > expected.records.length) throw violation(`${what} yielded records past the watermark ${target}`);
  }
  toString(): string {
    return `tail(#${this.fromPick}) while [${this.specs.map(describeSpec).join(', ')}]`;
  }
}

/** Input the log must refuse with a typed error, changing nothing. */
export class InvalidInputCommand extends BaseLogCommand {
  constructor(
    /** Which invalid input. */
    readonly kind: InvalidInputKind,
    /** An oversized payload, for the kinds that need one. */
    readonly payload: Payload,
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    const { maxBatchRecords, maxBatchBytes, maxRecordBytes } = m.limits;
    const small = new Uint8Array(1);
    const full = new Uint8Array(maxRecordBytes);
    switch (this.kind) {
      case 'oversized':
        return runAppend(m, r, { batch: false, payloads: [this.payload] }, false);
      case 'oversized-in-batch':
        return runAppend(m, r, { batch: true, payloads: [small, this.payload] }, false);
      case 'too-many-records':
        return runAppend(m, r, { batch: true, payloads: Array.from({ length: maxBatchRecords + 1 }, () => small) }, false);
      case 'too-many-bytes': {
        const count = Math.floor(maxBatchBytes / Math.max(1, maxRecordBytes)) + 1;
        if (count > maxBatchRecords || maxRecordBytes === 0) return;
        return runAppend(m, r, { batch: true, payloads: Array.from({ length: count }, () => full) }, false);
      }
      case 'empty-batch':
        return runAppend(m, r, { batch: true, payloads: [] }, false);
      case 'not-a-payload':
        return runAppend(m, r, { batch: false, payloads: [42 as unknown as Payload] }, false);
      case 'bad-seq': {
        const got = await settle(() => r.log.get(-1));
        if (got.ok) throw violation('get(-1) resolved');
        expectCode(got.error, ['AOF_INVALID_ARGUMENT'], 'get(-1)');
        const read = await settle(() => collect(r.log, { from: 1.5 }));
        if (read.ok) throw violation('read({ from: 1.5 }) succeeded');
        expectCode(read.error, ['AOF_INVALID_ARGUMENT'], 'read({ from: 1.5 })');
        return;
      }
    }
  }
  toString(): string {
    return `invalid(${this.kind})`;
  }
}

// --- arbitraries of commands ----------------------------------------------------

/** Relative weights of the commands {@link logCommands} generates (0 disables one). */
export interface CommandWeights {
  /** {@link AppendCommand} of one payload. */
  append: number;
  /** {@link AppendCommand} of a batch. */
  appendBatch: number;
  /** {@link ConcurrentAppendsCommand} without a crash. */
  concurrent: number;
  /** {@link GetCommand}. */
  get: number;
  /** {@link ReadCommand}. */
  read: number;
  /** {@link RollCommand}. */
  roll: number;
  /** {@link FlushCommand}. */
  flush: number;
  /** {@link TickCommand}. */
  tick: number;
  /** {@link ReopenCommand}. */
  reopen: number;
  /** {@link CrashCommand}. */
  crash: number;
  /** {@link PowerLossCommand}. */
  powerLoss: number;
  /** {@link ConcurrentAppendsCommand} with a crash or power loss in the middle. */
  burstCrash: number;
  /** {@link FaultCommand}. */
  fault: number;
  /** {@link VerifyCommand}. */
  verify: number;
  /** {@link ReadOnlyViewCommand}. */
  readOnlyView: number;
  /** {@link InvalidInputCommand}. */
  invalid: number;
  /** {@link TailCommand}. */
  tail: number;
}

/** The default mix: mostly appends and reads, with a crash, power loss or fault every few commands. */
export const DEFAULT_COMMAND_WEIGHTS: CommandWeights = {
  append: 10, appendBatch: 5, concurrent: 3, get: 4, read: 4, roll: 2, flush: 2, tick: 2,
  reopen: 1, crash: 2, powerLoss: 2, burstCrash: 2, fault: 4, verify: 1, readOnlyView: 1, invalid: 1, tail: 2,
};

/** Options of {@link logCommands}. */
export interface LogCommandsOptions {
  /** Record and batch bounds: must match the options the log is opened with (default {@link TEST_LIMITS}). */
  limits?: ArbitraryLimits;
  /** Weights by command (merged over {@link DEFAULT_COMMAND_WEIGHTS}); set one to 0 to leave it out. */
  weights?: Partial<CommandWeights>;
  /** Which faults `fault` commands inject. */
  faults?: FaultArbOptions;
  /**
   * More commands (for example over an application's own model, or tail and
   * retention commands once the engine has them), each with its weight.
   */
  extra?: Array<{
    /** Relative weight, as in {@link CommandWeights}. */
    weight: number;
    /** The command arbitrary. */
    arbitrary: fc.Arbitrary<LogCommand>;
  }>;
}

function appendSpecArb(limits: ArbitraryLimits): fc.Arbitrary<AppendSpec> {
  return fc.oneof(
    { weight: 2, arbitrary: payloadArb(limits).map((p): AppendSpec => ({ batch: false, payloads: [p] })) },
    { weight: 1, arbitrary: batchArb(limits, 6).map((payloads): AppendSpec => ({ batch: true, payloads })) },
  );
}

/** The file-system calls an action makes, so that most injected faults hit something (an explicit `faults.ops` wins). */
export function faultOpsFor(action: FaultableAction): FsOperation[] {
  switch (action.kind) {
    case 'append':
    case 'concurrent':
    case 'roll':
      return ['write', 'datasync', 'truncate', 'open', 'syncDir'];
    case 'flush':
      return ['datasync'];
    case 'get':
    case 'read':
      return ['read', 'open'];
    case 'verify':
      return ['read', 'open', 'readdir', 'stat', 'size'];
    case 'reopen':
      return ['open', 'read', 'write', 'truncate', 'datasync', 'sync', 'size', 'readdir', 'stat', 'mkdir', 'rename', 'syncDir'];
  }
}

/**
 * The command arbitraries, as one weighted arbitrary, ready for
 * `fc.commands([...])`. Every command checks the log against the model.
 */
export function logCommands(options: LogCommandsOptions = {}): fc.Arbitrary<LogCommand>[] {
  const limits = options.limits ?? TEST_LIMITS;
  const w = { ...DEFAULT_COMMAND_WEIGHTS, ...options.weights };
  const spec = appendSpecArb(limits);
  const specs = fc.array(spec, { minLength: 2, maxLength: 8 });
  const pick = fc.nat({ max: 1_000_000 });
  const recoveryCrash = fc.option(fc.integer({ min: 0, max: 12 }), { freq: 3, nil: undefined });
  const action: fc.Arbitrary<FaultableAction> = fc.oneof(
    { weight: 4, arbitrary: spec.map((s): FaultableAction => ({ kind: 'append', spec: s })) },
    { weight: 2, arbitrary: specs.map((s): FaultableAction => ({ kind: 'concurrent', specs: s })) },
    { weight: 1, arbitrary: fc.constant<FaultableAction>({ kind: 'roll' }) },
    { weight: 1, arbitrary: fc.constant<FaultableAction>({ kind: 'flush' }) },
    { weight: 1, arbitrary: pick.map((p): FaultableAction => ({ kind: 'get', pick: p })) },
    { weight: 1, arbitrary: fc.tuple(pick, fc.option(pick, { nil: undefined })).map(([f, t]): FaultableAction => ({ kind: 'read', fromPick: f, toPick: t })) },
    { weight: 1, arbitrary: fc.constant<FaultableAction>({ kind: 'reopen' }) },
    { weight: 1, arbitrary: fc.constant<FaultableAction>({ kind: 'verify' }) },
  );
  const invalidKinds: InvalidInputKind[] = ['oversized', 'oversized-in-batch', 'too-many-records', 'too-many-bytes', 'empty-batch', 'not-a-payload', 'bad-seq'];
  const all: Array<{ weight: number; arbitrary: fc.Arbitrary<LogCommand> }> = [
    { weight: w.append, arbitrary: payloadArb(limits).map((p) => new AppendCommand({ batch: false, payloads: [p] })) },
    { weight: w.appendBatch, arbitrary: batchArb(limits).map((ps) => new AppendCommand({ batch: true, payloads: ps })) },
    { weight: w.concurrent, arbitrary: specs.map((s) => new ConcurrentAppendsCommand(s)) },
    { weight: w.get, arbitrary: pick.map((p) => new GetCommand(p)) },
    { weight: w.read, arbitrary: fc.tuple(pick, fc.option(pick, { nil: undefined })).map(([f, t]) => new ReadCommand(f, t)) },
    { weight: w.roll, arbitrary: fc.constant(null).map(() => new RollCommand()) },
    { weight: w.flush, arbitrary: fc.constant(null).map(() => new FlushCommand()) },
    { weight: w.tick, arbitrary: fc.integer({ min: 0, max: 300 }).map((ms) => new TickCommand(ms)) },
    { weight: w.reopen, arbitrary: fc.constant(null).map(() => new ReopenCommand()) },
    { weight: w.crash, arbitrary: recoveryCrash.map((n) => new CrashCommand(n)) },
    { weight: w.powerLoss, arbitrary: fc.tuple(fc.integer(), recoveryCrash).map(([seed, n]) => new PowerLossCommand(seed, n)) },
    {
      weight: w.burstCrash,
      arbitrary: fc
        .tuple(specs, fc.integer({ min: 0, max: 40 }), fc.constantFrom<'crash' | 'power-loss'>('crash', 'power-loss'), fc.integer())
        .map(([s, afterCalls, kind, seed]) => new ConcurrentAppendsCommand(s, { afterCalls, kind, seed })),
    },
    { weight: w.fault, arbitrary: action.chain((a) => faultScheduleArb({ ops: faultOpsFor(a), ...options.faults }).map((rules) => new FaultCommand(rules, a))) },
    { weight: w.verify, arbitrary: fc.constant(null).map(() => new VerifyCommand()) },
    { weight: w.readOnlyView, arbitrary: fc.constant(null).map(() => new ReadOnlyViewCommand()) },
    { weight: w.tail, arbitrary: fc.tuple(pick, fc.array(spec, { maxLength: 4 })).map(([p, s]) => new TailCommand(p, s)) },
    { weight: w.invalid, arbitrary: fc.tuple(fc.constantFrom(...invalidKinds), oversizedPayloadArb(limits)).map(([k, p]) => new InvalidInputCommand(k, p)) },
    ...(options.extra ?? []),
  ];
  const enabled = all.filter((c) => c.weight > 0);
  return [fc.oneof(...enabled)];
}
