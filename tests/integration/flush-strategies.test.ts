import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { tempLogDir } from '../helpers/tmp.js';

/** A delay no test could sit out: if a producer ever waited for it, the test would time out. */
const HOUR_MS = 3_600_000;

describe('flush strategies', () => {
  it('defaults to batch, which syncs before acknowledging', async () => {
    const faults = new FaultFs();
    const log = await Log.open(tempLogDir(), { fs: faults });
    await log.append('a');
    expect(faults.calls.get('datasync')).toBeGreaterThanOrEqual(2); // segment header + the append
    expect(log.metrics().fsyncs).toBe(1);
    await log.close();
  });

  it.each(['batch', 'adaptive'] as const)('%s: a lone producer awaiting each append never waits for the gathering timer', async (strategy) => {
    const flush = strategy === 'batch' ? { strategy, maxDelayMs: HOUR_MS / 60 } : { strategy, targetLatencyMs: HOUR_MS / 60 };
    const log = await Log.open(tempLogDir(), { flush });
    for (let i = 0; i < 200; i++) expect(await log.append(`r${i}`)).toBe(i);
    expect(log.metrics().fsyncs).toBe(200);
    await log.close();
  });

  it('batch: closed-loop producers share fsyncs and never wait for the timer', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'batch', maxDelayMs: HOUR_MS / 60 } });
    const producers = Array.from({ length: 16 }, async (_, p) => {
      for (let i = 0; i < 50; i++) await log.append(`p${p}-${i}`);
    });
    await Promise.all(producers);
    const m = log.metrics();
    expect(m.records).toBe(800);
    expect(m.fsyncs).toBeLessThan(800);
    expect(m.recordsPerFsync).toBeGreaterThan(1);
    await log.close();
  });

  it('batch: stops gathering at maxRecords even with an hour of delay allowed', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'batch', maxDelayMs: 60_000, maxRecords: 8 }, writeBufferBytes: 64 });
    // Open-loop producer: keeps appending without awaiting, so appends arrive while fsyncs run.
    const pending: Array<Promise<number>> = [];
    for (let i = 0; i < 400; i++) {
      pending.push(log.append(`r${i}`));
      if (i % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
    }
    const seqs = await Promise.all(pending);
    expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i));
    await log.close();
  });

  it('always: one fsync per write group, concurrent appends share it', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'always' } });
    await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(`r${i}`)));
    const m = log.metrics();
    expect(m.writes).toBe(1);
    expect(m.fsyncs).toBe(1);
    expect(m.recordsPerFsync).toBe(100);
    await log.close();
  });

  it('interval: acknowledges after write and fsyncs in the background every intervalMs', async () => {
    const faults = new FaultFs();
    const log = await Log.open(tempLogDir(), { fs: faults, flush: { strategy: 'interval', intervalMs: 5 } });
    const syncsBefore = faults.calls.get('datasync') ?? 0;
    await log.append('a');
    expect(log.metrics().fsyncs).toBe(0);
    const [info] = (await once(log, 'flush')) as [{ records: number; bytes: number; durationMs: number }];
    expect(info.records).toBe(1);
    expect(info.bytes).toBeGreaterThan(0);
    expect(faults.calls.get('datasync')).toBe(syncsBefore + 1);
    await log.close();
  });

  it('none: acknowledges after write; flush() makes everything durable', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'none' } });
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(`r${i}`)));
    expect(log.metrics().fsyncs).toBe(0);
    const flushed = once(log, 'flush');
    await log.flush();
    const [info] = (await flushed) as [{ records: number }];
    expect(info.records).toBe(10);
    expect(log.metrics().fsyncs).toBe(1);
    await log.close();
  });

  it('emits a flush event per fsync with its size and duration, and metrics add up', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'always' } });
    const events: Array<{ records: number; bytes: number; durationMs: number }> = [];
    log.on('flush', (e) => events.push(e));
    for (let i = 0; i < 5; i++) await log.append(`r${i}`);
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(`q${i}`)));
    const m = log.metrics();
    expect(events).toHaveLength(m.fsyncs);
    expect(events.reduce((n, e) => n + e.records, 0)).toBe(25);
    expect(events.every((e) => e.durationMs >= 0 && e.bytes > 0)).toBe(true);
    expect(m.fsyncLatencyMs.max).toBeGreaterThanOrEqual(m.fsyncLatencyMs.p99);
    expect(m.fsyncLatencyMs.p99).toBeGreaterThanOrEqual(m.fsyncLatencyMs.p50);
    expect(m.bytesWritten).toBe(events.reduce((n, e) => n + e.bytes, 0));
    await log.close();
  });

  it.each([
    [{ strategy: 'sometimes' }, 'flush.strategy'],
    [{ strategy: 'batch', maxDelayMs: -1 }, 'flush.maxDelayMs'],
    [{ strategy: 'batch', maxRecords: 0 }, 'flush.maxRecords'],
    [{ strategy: 'interval', intervalMs: 1.5 }, 'flush.intervalMs'],
    [{ strategy: 'adaptive', targetLatencyMs: 'fast' }, 'flush.targetLatencyMs'],
    [{ strategy: 'always', intervalMs: 5 }, 'flush.intervalMs'],
    ['always', 'flush'],
  ])('rejects invalid flush options %o naming %s', async (flush, name) => {
    await expect(Log.open(tempLogDir(), { flush: flush as never })).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT', message: expect.stringContaining(name) });
  });
});
