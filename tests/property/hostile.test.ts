/**
 * Hostile operations (issue 18) as commands of the model-based harness: a
 * rolled-back, deleted or foreign segment, a damaged catalog, a repair
 * killed half-way, a full disk, exhausted descriptors. First each command
 * alone on a fixed log, deterministically; then all of them mixed with
 * appends, crashes and faults, seeded and bounded (< 60 s).
 *
 * `KNOWN_HOSTILE_BREAKS` lists the attacks the engine does not withstand
 * yet: their breaking single-command cases must fail with today's symptom
 * (remove the entry when the fix lands), the first property leaves them
 * out, and the every-attack property is `it.fails`.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogOptions } from '../../src/options.js';
import { AppendCommand, GetCommand, ReadCommand, ReopenCommand, RollCommand, TailCommand, type LogCommand } from '../../src/testing/commands.js';
import { LogUnderTest } from '../../src/testing/harness.js';
import { hostileCommands, type HostileWeights } from '../../src/testing/hostile-arbitraries.js';
import { DamageCatalogCommand, DeleteSegmentCommand, ForeignSegmentCommand, RollbackSegmentCommand } from '../../src/testing/hostile-commands.js';
import { DescriptorExhaustionCommand, DiskFullCommand, KillDuringRepairCommand } from '../../src/testing/hostile-runtime.js';
import { LogModel } from '../../src/testing/model.js';
import { logOptionsArb, runModelTest, TEST_LIMITS } from '../../src/testing/index.js';
import { tempDir } from '../helpers/tmp.js';
import { KNOWN_ENGINE_ISSUES, propertyRuns, propertySeed } from './support.js';

/**
 * Attacks the engine does not withstand yet (observed on main before the
 * issue-18 fixes), by weight name: the cases below that break must fail
 * with today's symptom, the first property leaves these attacks out, and
 * the second (every attack) is `it.fails`. Remove an entry when its fix lands.
 */
const KNOWN_HOSTILE_BREAKS = new Set<keyof HostileWeights>([]);
/**
 * Known breaks that kill the test process (a SIGBUS inside LMDB takes the
 * vitest worker, and every other test of this file, with it): while one is
 * listed, the every-attack property is skipped instead. `catalog`: the
 * single-page cases below pass, but a seeded mixed run (seed 0x4057, run 11:
 * garbage on the main database's root page) dies of SIGBUS (break 5).
 */
const KILLS_THE_PROCESS = new Set<keyof HostileWeights>([]);

const harnesses: LogUnderTest[] = [];
afterEach(async () => {
  for (const r of harnesses.splice(0)) await r.dispose();
});

const LOG: LogOptions = { ...TEST_LIMITS, flush: { strategy: 'always' }, segment: { maxRecords: 6 }, maxOpenFiles: 2 };

/** A log of `records` appends (every fifth a batch of two) in segments of six records, and its model. 16 appends: segments 0, 6, 12 sealed, 18 active with one record. */
async function setUp(records: number, log: LogOptions = LOG): Promise<{ m: LogModel; r: LogUnderTest }> {
  const r = await LogUnderTest.open({ dir: path.join(tempDir(), 'log'), log, seed: 3 });
  harnesses.push(r);
  const m = new LogModel({ flush: log.flush, limits: TEST_LIMITS, now: r.clock.nowMs });
  for (let i = 0; i < records; i++) await new AppendCommand({ batch: i % 5 === 4, payloads: i % 5 === 4 ? [`b${i}`, `c${i}`] : [`record ${i}`] }).run(m, r);
  return { m, r };
}

/** Runs `commands` in order, then one more append and a full audit: the log goes on after the attack. */
async function survive(m: LogModel, r: LogUnderTest, commands: LogCommand[]): Promise<void> {
  for (const c of commands) await c.run(m, r);
  await new AppendCommand({ batch: false, payloads: ['after the attack'] }).run(m, r);
  await new RollCommand().run(m, r);
}

/**
 * Runs a case of attack `name`. While the attack is a known break, the case
 * must fail with today's `symptom` (so it documents the break precisely, and
 * fails once the fix lands until the entry goes); then it must pass.
 */
async function holds(name: keyof HostileWeights, symptom: RegExp, run: () => Promise<void>): Promise<void> {
  if (!KNOWN_HOSTILE_BREAKS.has(name)) return run();
  await expect(run()).rejects.toThrow(symptom);
}

describe('each hostile command alone', () => {
  it('rollback of the last segment after appends is reported, never resumed over (break 8)', async () => {
    const { m, r } = await setUp(16);
    await holds('rollback', /silently lost/, () => survive(m, r, [new RollbackSegmentCommand([{ batch: false, payloads: ['lost?'] }, { batch: true, payloads: ['x', 'y'] }], false, 11)]));
  });

  it('rollback with nothing appended since the copy opens intact', async () => {
    const { m, r } = await setUp(9);
    const c = new RollbackSegmentCommand([], false, 12);
    await survive(m, r, [c]);
    expect(c.outcome).toBe('intact');
  });

  it('rollback of a segment sealed since its copy is detected (an unsealed segment before later ones)', async () => {
    const { m, r } = await setUp(9);
    const c = new RollbackSegmentCommand([{ batch: false, payloads: ['z'] }], true, 13);
    await survive(m, r, [c]);
    expect(c.outcome).toBe('detected');
  });

  it('deleting the last segment is reported (break 8)', async () => {
    const { m, r } = await setUp(16);
    await holds('delete', /silently lost/, () => survive(m, r, [new DeleteSegmentCommand(3, 14)])); // 4 segments: the last one
  });

  it('deleting the first segment is reported, never read as a shorter log', async () => {
    const { m, r } = await setUp(20);
    await survive(m, r, [new DeleteSegmentCommand(0, 15)]);
  });

  it('deleting a middle segment is reported', async () => {
    const { m, r } = await setUp(20);
    const c = new DeleteSegmentCommand(1, 16);
    await survive(m, r, [c]);
    expect(c.outcome).toBe('detected');
  });

  it("another log's last segment in place of ours: its records are never returned (break 8)", async () => {
    const { m, r } = await setUp(16);
    await holds('foreign', /nothing wrong may be returned as data|silently lost/, () => survive(m, r, [new ForeignSegmentCommand(3, 2, 17)]));
  });

  it("another log's sealed segment in place of one of ours is reported", async () => {
    const { m, r } = await setUp(20);
    await survive(m, r, [new ForeignSegmentCommand(1, 6, 18)]);
  });

  // These pass today although 'catalog' is a known break (see KILLS_THE_PROCESS).
  it.each(['meta', 'main-root', 'last', 'any'] as const)('garbage in catalog page %s: no process dies, every record reads (break 5)', async (page) => {
    const { m, r } = await setUp(20);
    await survive(m, r, [new DamageCatalogCommand(page, 1, 19)]);
  });

  it.each([0, 3, 8, 20])('repair killed after %i calls, then repaired again: the writer opens, nothing before the damage lost', async (calls) => {
    const { m, r } = await setUp(16);
    await survive(m, r, [new KillDuringRepairCommand(2, calls)]);
  });

  it('after a repair leaves a gap, get, read, tail and reopens reject with AOF_GAP exactly there, and the log goes on after it', async () => {
    const { m, r } = await setUp(16);
    await new KillDuringRepairCommand(2, 3).run(m, r);
    const [gap] = m.gaps;
    expect(gap).toBeDefined();
    expect(gap!.to).toBe(19); // what the log had acknowledged: 16 appends, three of them batches of two
    const inGap = gap!.from + 1;
    await survive(m, r, [
      new GetCommand(gap!.from),
      new GetCommand(inGap),
      new ReadCommand(0, undefined),
      new ReadCommand(inGap, undefined),
      new ReadCommand(gap!.from - 1, gap!.from + 1),
      new TailCommand(0, [{ batch: false, payloads: ['during a tail'] }]),
      new TailCommand(inGap, []),
      new ReopenCommand(),
      new ReadCommand(gap!.to, undefined),
    ]);
  });

  it('repair killed right after it moved the later segments aside, then repaired again: the writer opens (break 7)', async () => {
    const { m, r } = await setUp(16);
    // Killed after 29 to 35 calls, repair leaves a catalog naming a segment it moved, and the next repair does not notice.
    await holds('repairKill', /the writer does not open.*the catalog lists segment/, () => survive(m, r, [new KillDuringRepairCommand(2, 31)]));
  });

  it('a full disk during appends, a roll and close: typed errors, close returns, nothing lost once space is freed (break 2)', async () => {
    const { m, r } = await setUp(8);
    await survive(m, r, [new DiskFullCommand([{ batch: false, payloads: ['full'] }, { batch: true, payloads: ['a', 'b'] }], true)]);
  });

  it('paused readers stay within maxOpenFiles, EMFILE fails reads typed and never the writer (break 4)', async () => {
    const { m, r } = await setUp(16);
    await holds('descriptors', /paused readers hold \d+ segment descriptors/, () => survive(m, r, [new DescriptorExhaustionCommand(12, 5, [{ batch: false, payloads: ['emfile'] }])]));
  });

  it('EMFILE alone (no paused readers) fails reads typed, keeps the writer, loses nothing', async () => {
    const { m, r } = await setUp(30);
    await survive(m, r, [new DescriptorExhaustionCommand(0, 5, [{ batch: false, payloads: ['emfile'] }])]);
  });
});

const RUNS = propertyRuns(40, 0.5);

/** The property: hostile commands (weighted up) among appends, crashes, power losses and faults, over three strategies. */
async function mixed(weights: Partial<HostileWeights>, seed: number): Promise<Record<string, number>> {
  const report = await runModelTest({
    log: logOptionsArb({ strategies: ['always', 'batch', 'none'], limits: TEST_LIMITS }),
    numRuns: RUNS,
    maxCommands: 14,
    knownIssues: KNOWN_ENGINE_ISSUES,
    seed: propertySeed(seed),
    shrink: false, // bounded time; the failure prints its replay recipe (rerun it with shrinking to minimise)
    commands: { weights: { tail: 0, readOnlyView: 0, verify: 0, invalid: 0 }, extra: hostileCommands({ weights }).map((c) => ({ ...c, weight: c.weight * 3 })) },
  });
  expect(report.runs).toBe(RUNS);
  return report.commandCounts;
}

describe('hostile commands mixed with appends, crashes and faults', () => {
  it(`the attacks the engine withstands today hold the standard (${RUNS} seeded runs)`, async () => {
    const weights: Partial<HostileWeights> = {};
    for (const name of KNOWN_HOSTILE_BREAKS) weights[name] = 0;
    const counts = await mixed(weights, 0x4057);
    for (const [name, command] of [['diskFull', 'diskFull'], ['catalog', 'damageCatalog'], ['descriptors', 'exhaustDescriptors'], ['repairKill', 'killDuringRepair']] as const) {
      if (!KNOWN_HOSTILE_BREAKS.has(name)) expect(counts[command], command).toBeGreaterThan(0);
    }
  }, 60_000);

  // The gate of the issue-18 fixes: every attack, but for known breaks that would kill the process.
  // Its seed must reach the pending breaks: 0x4058 reaches none of them once the model expects the gaps
  // that repairs leave (its runs keep paused readers within the descriptor bound); 0x4059 reaches break 4.
  const killers = [...KILLS_THE_PROCESS].filter((name) => KNOWN_HOSTILE_BREAKS.has(name));
  const pending = [...KNOWN_HOSTILE_BREAKS].filter((name) => !KILLS_THE_PROCESS.has(name));
  const left = killers.length === 0 ? '' : ` but ${killers.join(', ')} (it kills the process while broken)`;
  (pending.length > 0 ? it.fails : it)(`every attack${left} holds the standard (${RUNS} seeded runs)`, async () => {
    await mixed(Object.fromEntries(killers.map((name) => [name, 0])), 0x4059);
  }, 60_000);
});
