/**
 * Runnable example of docs/TESTING.md: crash-testing an application built on
 * aof with `aof/testing`, in vitest. It imports the package the way an
 * application does ('aof', 'aof/testing'), which resolve to the build in
 * dist/ (`npm test` builds first).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Log } from 'aof';
import { LogUnderTest, runModelTest } from 'aof/testing';

// --- the application under test ------------------------------------------------

/** A tiny ledger: deposits are events in the log; balances are folded from them. */
class Ledger {
  constructor(readonly log: Log) {}

  /** Resolves once the deposit is durable (the log's flush strategy decides when). */
  deposit(account: string, amount: number): Promise<number> {
    return this.log.append(JSON.stringify({ account, amount }));
  }

  async balances(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for await (const r of this.log.read()) {
      const { account, amount } = JSON.parse(r.payload.toString('utf8')) as { account: string; amount: number };
      out[account] = (out[account] ?? 0) + amount;
    }
    return out;
  }
}

// --- the test ---------------------------------------------------------------------

const dirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-'));
  dirs.push(dir);
  return path.join(dir, 'log');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** The application's own model: the deposits it was told are durable. */
interface LedgerModel {
  deposits: Array<{ account: string; amount: number }>;
}

function fold(deposits: LedgerModel['deposits']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of deposits) out[d.account] = (out[d.account] ?? 0) + d.amount;
  return out;
}

/** The real side: the harness (crash, power loss, reopen) and the application on its current log. */
interface LedgerSystem {
  harness: LogUnderTest;
}

type LedgerCommand = fc.AsyncCommand<LedgerModel, LedgerSystem>;

const deposit = fc.record({ account: fc.constantFrom('alice', 'bob', 'carol'), amount: fc.integer({ min: 1, max: 1000 }) }).map(
  ({ account, amount }): LedgerCommand => ({
    check: () => true,
    async run(m, r) {
      await new Ledger(r.harness.log).deposit(account, amount);
      m.deposits.push({ account, amount }); // acknowledged: must survive from now on
    },
    toString: () => `deposit(${account}, ${amount})`,
  }),
);

const crash = fc.constant<LedgerCommand>({
  check: () => true,
  async run(m, r) {
    await r.harness.crash(); // the process dies; a new one opens the same files
    expect(await new Ledger(r.harness.log).balances()).toEqual(fold(m.deposits));
  },
  toString: () => 'crash',
});

const powerLoss = fc.integer().map(
  (seed): LedgerCommand => ({
    check: () => true,
    async run(m, r) {
      await r.harness.powerLoss(seed); // unsynced writes are lost (a seeded prefix may survive)
      expect(await new Ledger(r.harness.log).balances()).toEqual(fold(m.deposits));
    },
    toString: () => `powerLoss(${seed})`,
  }),
);

describe('example: crash-testing an application built on aof', () => {
  it('the log itself, with the options the application uses, through crashes, power losses and faults', async () => {
    // One call: model-based runs over a real temporary directory. On failure it throws with the
    // shrunk command sequence and the { seed, path, replayPath } that replay it.
    const report = await runModelTest({
      log: { flush: { strategy: 'batch', maxDelayMs: 1 }, segment: { maxBytes: 2048 } },
      seed: 42,
      numRuns: 10,
    });
    expect(report.runs).toBeGreaterThanOrEqual(10);
  });

  it('every acknowledged deposit survives process crashes and power losses (flush strategy always)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.commands([deposit, deposit, deposit, crash, powerLoss], { maxCommands: 25 }), async (seed, commands) => {
        const harness = await LogUnderTest.open({ dir: freshDir(), seed, log: { flush: { strategy: 'always' }, segment: { maxBytes: 1024 } } });
        try {
          await fc.asyncModelRun(() => ({ model: { deposits: [] }, real: { harness } }), commands);
        } finally {
          await harness.dispose();
        }
      }),
      { seed: 7, numRuns: 15 },
    );
  });

  it('a crash in the middle of concurrent deposits keeps every one that was acknowledged', async () => {
    const harness = await LogUnderTest.open({ dir: freshDir(), log: { flush: { strategy: 'always' } } });
    try {
      const ledger = new Ledger(harness.log);
      harness.process.crashAfter(5); // the process dies at its 6th file-system call from now
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => ledger.deposit('alice', i + 1)));
      const acknowledged = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ account: 'alice', amount: i + 1 }] : []));
      await harness.crash();
      const after = await new Ledger(harness.log).balances();
      // Everything acknowledged is there; deposits whose append failed may or may not be (they are in doubt).
      expect(after.alice ?? 0).toBeGreaterThanOrEqual(fold(acknowledged).alice ?? 0);
    } finally {
      await harness.dispose();
    }
  });
});
