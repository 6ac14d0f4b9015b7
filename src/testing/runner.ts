import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { LogOptions } from '../options.js';
import { logOptionsArb, TEST_LIMITS, type ArbitraryLimits } from './arbitraries.js';
import { auditContents, checkConsistent, expectGetOutcome, logCommands, settle, type LogCommand, type LogCommandsOptions } from './commands.js';
import { emptyStats, LogUnderTest, type HarnessStats, type KnownIssue } from './harness.js';
import { LogModel, ModelViolation } from './model.js';

/**
 * The one-call runner: model-based runs of a real log in temporary
 * directories, with crashes, power losses and injected faults, and the
 * replay recipe printed when one fails.
 *
 * @module
 */

/** Options of {@link runModelTest}. */
export interface ModelTestOptions {
  /**
   * Options of the log under test (`fs` and `clock` are the harness's), or an
   * arbitrary of them. Default: {@link logOptionsArb} over every strategy.
   * Record and batch bounds are taken from `limits`.
   */
  log?: LogOptions | fc.Arbitrary<LogOptions>;
  /** Record and batch bounds of the log and of generated input (default {@link TEST_LIMITS}). */
  limits?: ArbitraryLimits;
  /** Which commands to generate, and how often. */
  commands?: Omit<LogCommandsOptions, 'limits'>;
  /** fast-check seed: the same seed replays the same runs. Default: random (printed on failure). */
  seed?: number;
  /** fast-check path of a failing run to replay (with its `seed`), as printed on failure. */
  path?: string;
  /** The commands' replay path, as printed in the counterexample (`/*replayPath="..."*\/`). */
  replayPath?: string;
  /** Runs (default 20). */
  numRuns?: number;
  /** Most commands per run (default 40). */
  maxCommands?: number;
  /** Shrink a failure to a minimal command sequence (default true; each step replays a run). */
  shrink?: boolean;
  /** Parent of the runs' temporary directories (default `os.tmpdir()`). */
  tmpDir?: string;
  /** Keep the directory of a failing run for inspection (default false); its path is printed. */
  keepFailedDirs?: boolean;
  /** Where progress lines go (default: nowhere). */
  logLine?: (line: string) => void;
  /** Called with each run's options and each command before it runs: for finding a hang. */
  trace?: (line: string) => void;
  /** Known engine bugs to work around while their fixes are pending (default none: strict). */
  knownIssues?: readonly KnownIssue[];
}

/** What {@link runModelTest} did. */
export interface ModelTestReport {
  /** The seed used (pass it back to replay). */
  seed: number;
  /** Runs executed. */
  runs: number;
  /** Commands executed over all runs. */
  commands: number;
  /** What the harness did, summed over all runs. */
  stats: HarnessStats;
  /** Commands executed, by name. */
  commandCounts: Record<string, number>;
}

/** A model-based run failed: the message carries the counterexample and how to replay it. */
export class ModelTestFailure extends Error {
  constructor(
    message: string,
    /** fast-check seed of the failing property. */
    readonly seed: number,
    /** fast-check path of the (shrunk) counterexample. */
    readonly path: string | undefined,
    /** Directory of the failing run, when kept. */
    readonly dir: string | undefined,
  ) {
    super(message);
    this.name = 'ModelTestFailure';
  }
}

/** Reads a whole log and calls `get` on every sequence number (up to `maxGets`, gaps included), comparing with the model; then verifies, closes, reopens and compares again. */
export async function auditLog(m: LogModel, r: LogUnderTest, maxGets = 2000): Promise<void> {
  checkConsistent(m, r);
  await auditContents(m, r, 'final audit');
  const end = Math.min(m.nextSeq, m.firstSeq + maxGets);
  // Every number: its record, or AOF_GAP where a repair left a gap; past the end, nothing.
  for (let seq = m.firstSeq; seq < end; seq++) expectGetOutcome(m, seq, await settle(() => r.log.get(seq)), false, `final audit, get(${seq})`);
  expectGetOutcome(m, m.nextSeq, await settle(() => r.log.get(m.nextSeq)), false, `final audit, get(${m.nextSeq})`);
  const wasFailed = m.failed;
  m.sealedUpTo(r.sealedUpTo);
  await r.close();
  m.closed();
  await r.reopen();
  m.restarted('close', r.log.nextSeq);
  if (!wasFailed && r.log.openReport.recovery !== undefined && !r.log.openReport.recovery.cleanClose) throw new ModelViolation('final audit: a clean close was not recognised at the next open');
  await auditContents(m, r, 'final audit, after close and reopen');
  checkConsistent(m, r);
}

function commandName(c: LogCommand): string {
  const s = c.toString();
  const m = /^[a-zA-Z+]+/.exec(s);
  return m?.[0] ?? s;
}

/**
 * Runs model-based tests of a real log: for each run, a fresh temporary
 * directory, a {@link LogUnderTest} and a {@link LogModel}, a generated
 * sequence of {@link logCommands} (appends, batches, reads, rolls, flushes,
 * clean restarts, process crashes, power losses, injected I/O faults), each
 * checked against the model, then a full audit. Throws
 * {@link ModelTestFailure} with the shrunk counterexample and the
 * `{ seed, path, replayPath }` that replay it.
 *
 * ```ts
 * await runModelTest({ log: { flush: { strategy: 'always' }, segment: { maxBytes: 4096 } }, seed: 42, numRuns: 50 });
 * ```
 */
export async function runModelTest(options: ModelTestOptions = {}): Promise<ModelTestReport> {
  const limits = options.limits ?? TEST_LIMITS;
  const optionsArb = options.log === undefined ? logOptionsArb({ limits }) : options.log instanceof fc.Arbitrary ? options.log : fc.constant(options.log as LogOptions);
  const cmds = fc.commands(logCommands({ ...options.commands, limits }), {
    maxCommands: options.maxCommands ?? 40,
    size: 'max',
    ...(options.replayPath === undefined ? {} : { replayPath: options.replayPath }),
  });
  const root = options.tmpDir ?? os.tmpdir();
  const stats = emptyStats();
  const commandCounts: Record<string, number> = {};
  let runs = 0;
  let commands = 0;
  let lastFailedDir: string | undefined;
  const property = fc.asyncProperty(optionsArb.map((o) => ({ ...o, ...limits })), fc.integer(), cmds, async (logOptions, machineSeed, commandList) => {
    runs++;
    const tmp = fs.mkdtempSync(path.join(root, 'aof-model-'));
    const dir = path.join(tmp, 'log');
    let failed = true;
    let r: LogUnderTest | undefined;
    try {
      options.trace?.(`run ${runs}: ${JSON.stringify(logOptions)}`);
      r = await LogUnderTest.open({ dir, log: logOptions, seed: machineSeed, knownIssues: options.knownIssues });
      r.trace = options.trace;
      const model = new LogModel({ flush: logOptions.flush, limits, now: r.clock.nowMs });
      const real = r;
      const counted: LogCommand[] = [];
      for (const c of commandList) counted.push(c);
      await fc.asyncModelRun(() => ({ model, real }), counted);
      await auditLog(model, real);
      for (const c of counted) {
        commands++;
        const name = commandName(c);
        commandCounts[name] = (commandCounts[name] ?? 0) + 1;
      }
      failed = false;
    } finally {
      await r?.dispose();
      if (r !== undefined) for (const k of Object.keys(stats) as Array<keyof HarnessStats>) stats[k] += r.stats[k];
      if (failed && options.keepFailedDirs) lastFailedDir = tmp;
      else fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  const params: fc.Parameters<[LogOptions, number, Iterable<LogCommand>]> = {
    numRuns: options.numRuns ?? 20,
    endOnFailure: options.shrink === false,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
  };
  const details = await fc.check(property, params);
  if (details.failed) {
    const report = fc.defaultReportMessage(details) ?? 'property failed';
    const cause = details.errorInstance;
    const error = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const replay = `runModelTest({ ...sameOptions, seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath)}${extractReplayPath(report)} })`;
    const kept = lastFailedDir === undefined ? '' : `\nDirectory of the last failing run: ${lastFailedDir}`;
    throw new ModelTestFailure(`aof model-based test failed: ${error}\nReplay with ${replay}\n\n${report}${kept}`, details.seed, details.counterexamplePath ?? undefined, lastFailedDir);
  }
  options.logLine?.(`aof model test: ${runs} runs, ${commands} commands, seed ${details.seed}`);
  return { seed: details.seed, runs, commands, stats, commandCounts };
}

function extractReplayPath(report: string): string {
  const m = /replayPath="([^"]*)"/.exec(report);
  return m === null ? '' : `, replayPath: ${JSON.stringify(m[1])}`;
}
