import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';

/** Kills per strategy; AOF_CRASH_RUNS scales it. */
const KILLS = Number(process.env.AOF_CRASH_RUNS ?? 3);

describe.each(['always', 'batch', 'adaptive', 'interval', 'none'])('SIGKILL of a writer under %s', (strategy) => {
  it(`loses no acknowledged record across ${KILLS} kills at seeded moments, and the log accepts appends again`, async () => {
    const dir = tempLogDir();
    const rnd = seededRandom(strategy.length * 31337);
    let ackedTotal: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = startChildWriter(dir, strategy, 1 + Math.floor(rnd() * 32), 16 + Math.floor(rnd() * 200));
      await writer.ready;
      await writer.waitForAcks(50 + Math.floor(rnd() * 1500));
      await writer.kill();
      ackedTotal = ackedTotal.concat(writer.acked);
      const log = await Log.open(dir);
      try {
        let expected = 0;
        for await (const r of log.read()) {
          expect(r.seq).toBe(expected++);
        }
        for (const seq of writer.acked) {
          const rec = await log.get(seq);
          expect(rec, `acknowledged record ${seq} lost`).toBeDefined();
          expect(rec!.payload.subarray(0, `rec-${seq}:`.length).toString('latin1')).toBe(`rec-${seq}:`);
        }
      } finally {
        await log.close();
      }
    }
    const log = await Log.open(dir);
    expect(log.nextSeq).toBeGreaterThanOrEqual(Math.max(...ackedTotal) + 1);
    const seq = await log.append(childPayload(log.nextSeq, 16));
    expect(seq).toBe(log.nextSeq - 1);
    await log.close();
  });
});
