import { describe, expect, it } from 'vitest';
import { EventStore, WrongExpectedVersionError, type AppendResult } from '../../src/index.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openStore } from './support.js';

function settle<T>(ps: Array<Promise<T>>): Promise<Array<{ ok: true; value: T } | { ok: false; error: unknown }>> {
  return Promise.all(
    ps.map((p) =>
      p.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ),
  );
}

describe('EventStore: concurrent appends', () => {
  it.each([
    ['no_stream', 'no_stream' as const],
    ['the same version', 4],
  ])('many callers appending to one stream expecting %s: exactly one wins, the rest get AOF_WRONG_EXPECTED_VERSION', async (_, expectedVersion) => {
    const es = await openStore(tempLogDir());
    if (typeof expectedVersion === 'number') {
      for (let v = 0; v <= expectedVersion; v++) await es.appendToStream('hot', [{ type: 'warm', data: v }]);
    }
    const before = es.log.nextSeq;
    const results = await settle(Array.from({ length: 64 }, (_, i) => es.appendToStream('hot', [{ type: 'decided', data: i }, { type: 'also', data: i }], { expectedVersion })));
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(WrongExpectedVersionError);
    const base = typeof expectedVersion === 'number' ? expectedVersion + 1 : 0;
    expect((winners[0] as { value: AppendResult }).value.nextExpectedVersion).toBe(base + 1);
    expect(es.log.nextSeq).toBe(before + 2);
    // The first caller won: per-stream decisions are made in call order.
    const decided = (await collect(es.readStream('hot'))).filter((e) => e.type !== 'warm');
    expect(decided.map((e) => e.data)).toEqual([0, 0]);
    await es.close();
  });

  it("callers appending to one stream with 'any' all succeed, with consecutive versions in call order", async () => {
    const es = await openStore(tempLogDir());
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => es.appendToStream('s', [{ type: 'n', data: i }])));
    expect(results.map((r) => r.nextExpectedVersion)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect((await collect(es.readStream('s'))).map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await es.close();
  });

  it('appends to different streams proceed together and share group commits', async () => {
    const es = await EventStore.open(tempLogDir(), { flush: { strategy: 'always' } });
    const N = 256;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => es.appendToStream(`stream-${i}`, [{ type: 'created', data: i }], { expectedVersion: 'no_stream' })));
    expect(results.every((r) => r.nextExpectedVersion === 0)).toBe(true);
    const m = es.log.metrics();
    expect(m.appends).toBe(N);
    // One frame and one fdatasync per group, not per append.
    expect(m.fsyncs).toBeLessThan(N / 8);
    expect(m.appendsPerWrite).toBeGreaterThan(8);
    await es.close();
  });

  it('mixed workload: concurrent deciders on overlapping streams never produce a gap or a duplicate version', async () => {
    const es = await openStore(tempLogDir());
    const streams = ['a', 'b', 'c', 'd'];
    let conflicts = 0;
    const decider = async (seed: number): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const s = streams[(seed * 7 + i * 3) % streams.length]!;
        const seen = es.streamVersion(s);
        try {
          await es.appendToStream(s, [{ type: 'd', data: { seed, i } }], { expectedVersion: seen === undefined ? 'no_stream' : seen });
        } catch (err) {
          if (!(err instanceof WrongExpectedVersionError)) throw err;
          conflicts++;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => decider(i)));
    expect(conflicts).toBeGreaterThan(0);
    let total = 0;
    for (const s of streams) {
      const events = await collect(es.readStream(s));
      expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i));
      total += events.length;
    }
    expect(total + conflicts).toBe(16 * 40);
    await es.close();
  });
});

describe('EventStore: a failed append leaves the in-memory state right', () => {
  it('a write that fails (ENOSPC) rejects its append; the version does not move, and the next caller with the same expectation wins', async () => {
    const faults = new FaultFs({ seed: 5 });
    const es = await EventStore.open(tempLogDir(), { fs: faults, flush: { strategy: 'always' } });
    await es.appendToStream('s', [{ type: 'first', data: 0 }], { expectedVersion: 'no_stream' });
    faults.failNext('write', 'ENOSPC');
    // Issued together: the first is written (and fails); the others wait for it and decide after it settled.
    const [a, b, c] = await settle([
      es.appendToStream('s', [{ type: 'doomed', data: 1 }], { expectedVersion: 0 }),
      es.appendToStream('s', [{ type: 'second', data: 2 }], { expectedVersion: 0 }),
      es.appendToStream('s', [{ type: 'third', data: 3 }], { expectedVersion: 1 }),
    ]);
    expect(a).toMatchObject({ ok: false, error: { code: 'AOF_IO', errno: 'ENOSPC' } });
    expect(b).toEqual({ ok: true, value: { nextExpectedVersion: 1, position: 1 } });
    expect(c).toEqual({ ok: true, value: { nextExpectedVersion: 2, position: 2 } });
    expect((await collect(es.readStream('s'))).map((e) => e.type)).toEqual(['first', 'second', 'third']);
    expect(es.streamVersion('s')).toBe(2);
    await es.close();
  });

  it('a log in the failed state (fdatasync failed) rejects appends and leaves versions alone; a reopen has them right', async () => {
    const dir = tempLogDir();
    const faults = new FaultFs({ seed: 6 });
    const es = await EventStore.open(dir, { fs: faults, flush: { strategy: 'always' } });
    await es.appendToStream('s', [{ type: 'first', data: 0 }]);
    faults.failNext('datasync', 'EIO');
    await expect(es.appendToStream('s', [{ type: 'lost?', data: 1 }], { expectedVersion: 0 })).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    expect(es.streamVersion('s')).toBe(0);
    await expect(es.appendToStream('s', [{ type: 'after', data: 2 }], { expectedVersion: 0 })).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await es.close().catch(() => undefined);
    // The unacknowledged frame may or may not be on disk: the reopened index follows the log, whichever it is.
    const again = await EventStore.open(dir);
    const inLog = (await collect(again.readStream('s'))).map((e) => e.type);
    expect(inLog[0]).toBe('first');
    expect(again.streamVersion('s')).toBe(inLog.length - 1);
    await again.close();
  });
});
