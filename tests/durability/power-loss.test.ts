import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log, type LogOptions } from '../../src/index.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { seededRandom } from '../helpers/rng.js';
import { tempDir } from '../helpers/tmp.js';

/** Seeded runs per strategy; AOF_POWER_LOSS_RUNS scales it for long soaks. */
const RUNS = Number(process.env.AOF_POWER_LOSS_RUNS ?? 60);

function payloadOf(seq: number): string {
  return `p-${seq}-${'x'.repeat(seq % 97)}`;
}

interface RunResult {
  acked: Set<number>;
  survivors: number;
}

/**
 * One seeded run: concurrent producers append (single records and batches)
 * with small segments so rolls happen; at a seeded moment the power goes
 * out. Then the directory is reopened with the real file system and checked.
 */
async function powerLossRun(seed: number, flush: LogOptions['flush']): Promise<RunResult> {
  const dir = path.join(tempDir(), 'log');
  const rnd = seededRandom(seed);
  const faults = new FaultFs({ seed });
  const log = await Log.open(dir, { fs: faults, flush, segment: { maxBytes: 2048 + Math.floor(rnd() * 4096) } });
  const acked = new Set<number>();
  let nextSeq = 0;
  let stop = false;
  const producer = async (): Promise<void> => {
    while (!stop) {
      const batch = rnd() < 0.25 ? 1 + Math.floor(rnd() * 5) : 0;
      const first = nextSeq;
      nextSeq += Math.max(batch, 1);
      try {
        const seq = batch === 0 ? await log.append(payloadOf(first)) : await log.appendBatch(Array.from({ length: batch }, (_, i) => payloadOf(first + i)));
        expect(seq).toBe(first);
        for (let i = 0; i < Math.max(batch, 1); i++) acked.add(first + i);
      } catch {
        return; // power is out: the process would be dead
      }
    }
  };
  const producers = Array.from({ length: 1 + Math.floor(rnd() * 6) }, producer);
  const ackTarget = Math.floor(rnd() * 300);
  while (acked.size < ackTarget && !stop) await new Promise((resolve) => setImmediate(resolve));
  stop = true;
  await faults.powerLoss();
  await Promise.all(producers);
  await log.close().catch(() => undefined);

  const reopened = await Log.open(dir);
  try {
    let expected = 0;
    for await (const r of reopened.read()) {
      // What survives is a prefix of what was written: no holes, no reordering, no altered bytes.
      expect(r.seq).toBe(expected);
      expect(r.payload.toString()).toBe(payloadOf(r.seq));
      expected++;
    }
    return { acked, survivors: expected };
  } finally {
    await reopened.close();
  }
}

describe.each([
  { name: 'always', flush: { strategy: 'always' } as const },
  { name: 'batch', flush: { strategy: 'batch', maxDelayMs: 1 } as const },
  { name: 'adaptive', flush: { strategy: 'adaptive', targetLatencyMs: 2 } as const },
])('power loss under $name', ({ flush }) => {
  it(`loses no acknowledged record over ${RUNS} seeded runs, and what survives is a prefix`, async () => {
    for (let seed = 1; seed <= RUNS; seed++) {
      const { acked, survivors } = await powerLossRun(seed * 7919, flush);
      for (const seq of acked) expect(seq, `seed ${seed * 7919}: acknowledged record ${seq} lost`).toBeLessThan(survivors);
    }
  });
});

describe.each([
  { name: 'interval', flush: { strategy: 'interval', intervalMs: 5 } as const },
  { name: 'none', flush: { strategy: 'none' } as const },
])('power loss under $name', ({ flush }) => {
  it('keeps a prefix of what was written, never reordered or altered', async () => {
    for (let seed = 1; seed <= Math.ceil(RUNS / 2); seed++) await powerLossRun(seed * 104729, flush);
  });
});

describe('power loss without surviving writes', () => {
  it('under interval, everything acknowledged before the last completed fsync survives', async () => {
    const dir = path.join(tempDir(), 'log');
    const faults = new FaultFs({ seed: 5, unsyncedSurvival: 'none' });
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'interval', intervalMs: 3_600_000 } });
    for (let i = 0; i < 50; i++) await log.append(payloadOf(i));
    await log.flush(); // stands in for the interval timer firing
    for (let i = 50; i < 80; i++) await log.append(payloadOf(i));
    await faults.powerLoss();
    await log.close().catch(() => undefined);
    const reopened = await Log.open(dir);
    expect(reopened.nextSeq).toBe(50);
    expect((await reopened.get(49))?.payload.toString()).toBe(payloadOf(49));
    await reopened.close();
  });

  it('a segment created but whose directory entry was never fsynced disappears, and recovery copes', async () => {
    const dir = path.join(tempDir(), 'log');
    const faults = new FaultFs({ seed: 9, unsyncedSurvival: 'none' });
    // Skip the open's fsync of segments/ and the first segment's: fail the one after the second segment is created.
    faults.failNext('syncDir', 'EIO', { path: 'segments', skip: 2 });
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'always' }, segment: { maxRecords: 10 } });
    const acked: number[] = [];
    for (let i = 0; i < 30; i++) {
      try {
        acked.push(await log.append(payloadOf(i)));
      } catch {
        break;
      }
    }
    await faults.powerLoss();
    await log.close().catch(() => undefined);
    const reopened = await Log.open(dir);
    for (const seq of acked) expect((await reopened.get(seq))?.payload.toString()).toBe(payloadOf(seq));
    expect(fs.existsSync(path.join(dir, 'segments'))).toBe(true);
    await reopened.close();
  });
});
