import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

describe('seekTime', () => {
  it('equals a brute-force scan for random timestamps, across segments and index intervals', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 12 }),
        async (steps, probes, maxRecords) => {
          let now = 1_000;
          const log = await Log.open(tempLogDir(), { clock: () => now, segment: { maxRecords, indexIntervalBytes: 64 } });
          try {
            const times: number[] = [];
            for (const step of steps) {
              now += step;
              await log.append(`t${now}`);
              times.push(now);
            }
            for (const probe of [...probes, 0, 1_000, now, now + 1]) {
              const first = times.findIndex((t) => t >= probe);
              expect(await log.seekTime(probe)).toBe(first < 0 ? undefined : first);
            }
          } finally {
            await log.close();
          }
        },
      ),
      { numRuns: 40, seed: 20261123 },
    );
  });

  it('a clock stepping back is clamped, so time search still bisects', async () => {
    const clock = [100, 200, 150, 300];
    let i = 0;
    const log = await Log.open(tempLogDir(), { clock: () => clock[Math.min(i, clock.length - 1)]! });
    for (; i < clock.length; i++) await log.append(`r${i}`);
    expect(await log.seekTime(160)).toBe(1);
    expect(await log.seekTime(201)).toBe(3);
    await log.close();
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY, '5', undefined, null])('rejects %s with AOF_INVALID_ARGUMENT', async (bad) => {
    const log = await Log.open(tempLogDir());
    await expect(log.seekTime(bad as never)).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await log.close();
  });
});
