import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

/**
 * Small writes and reads run on the event loop's thread, so their promises
 * resolve in the same turn; these loops would never let a timer run unless
 * the log yields. Each loop stops as soon as the timer fires, or after a
 * bound far beyond what a few milliseconds hold: no clock in the assertions.
 */
const BOUND = 200_000;

function timerFlag(): { fired: () => boolean } {
  let fired = false;
  setTimeout(() => (fired = true), 0);
  return { fired: () => fired };
}

describe('the event loop keeps turning under tight loops', () => {
  it.each(['none', 'interval', 'always'] as const)('awaited appends (%s) let timers run, and interval gets its background fdatasyncs', async (strategy) => {
    const log = await Log.open(tempLogDir(), { flush: strategy === 'interval' ? { strategy, intervalMs: 1 } : { strategy } });
    const timer = timerFlag();
    let n = 0;
    while (!timer.fired() && n < BOUND) {
      await log.append('x');
      n++;
    }
    expect(timer.fired()).toBe(true);
    if (strategy === 'interval') {
      const before = log.metrics().fsyncs;
      for (let i = 0; log.metrics().fsyncs === before && i < BOUND; i++) await log.append('y');
      expect(log.metrics().fsyncs).toBeGreaterThan(before);
    }
    await log.close();
  });

  it('reading with for await, and awaited gets, let timers run', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'none' } });
    await Promise.all(Array.from({ length: 50_000 }, (_, i) => log.append(`record ${i}`)));
    let timer = timerFlag();
    for (let pass = 0; !timer.fired() && pass < 20; pass++) {
      for await (const r of log.read({ from: 0 })) if (timer.fired() || r.seq < 0) break;
    }
    expect(timer.fired()).toBe(true);
    timer = timerFlag();
    for (let i = 0; !timer.fired() && i < BOUND; i++) await log.get(i % 50_000);
    expect(timer.fired()).toBe(true);
    await log.close();
  });

  it('a tail reading a backlog, and one following a producer whose appends resolve without I/O, let timers run', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'none' } });
    await Promise.all(Array.from({ length: 50_000 }, (_, i) => log.append(`record ${i}`)));
    let timer = timerFlag();
    const ac = new AbortController();
    for (let pass = 0; !timer.fired() && pass < 20; pass++) {
      for await (const r of log.tail({ from: 0, signal: ac.signal })) if (timer.fired() || r.seq === 49_999) break;
    }
    expect(timer.fired()).toBe(true);
    // Following: the tail keeps up with every append, and neither side holds the loop.
    timer = timerFlag();
    let seen = 0;
    const follower = (async () => {
      for await (const r of log.tail({ signal: ac.signal })) {
        seen = r.seq;
        if (timer.fired()) return;
      }
    })();
    for (let n = 0; !timer.fired() && n < BOUND; n++) await log.append('x');
    expect(timer.fired()).toBe(true);
    await log.append('last');
    await follower;
    expect(seen).toBeGreaterThan(50_000);
    await log.close();
  });
});
