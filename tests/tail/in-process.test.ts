import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { Log, type LogRecord } from '../../src/index.js';
import { RECORD_HEADER_BYTES_V3 } from '../../src/record/frame.js';
import { seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { CountingFs } from '../../src/testing/counting-fs.js';

async function take(iter: AsyncIterable<LogRecord>, n: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  if (n === 0) return out;
  for await (const r of iter) {
    out.push(r);
    if (out.length === n) break;
  }
  return out;
}

describe('tail readers in the writer’s process', () => {
  it('many readers created at seeded moments each see every record from their start, in order, without gaps, across rolls', async () => {
    const rnd = seededRandom(42);
    const log = await Log.open(tempLogDir(), { segment: { maxRecords: 37 } });
    const TOTAL = 1500;
    const readers: Array<Promise<{ from: number; seqs: number[] }>> = [];
    const producers = Array.from({ length: 4 }, async (_, p) => {
      for (let i = 0; i < TOTAL / 4; i++) {
        if (rnd() < 0.02) {
          const from = Math.floor(rnd() * (log.nextSeq + 1));
          readers.push(take(log.tail({ from }), TOTAL - from).then((rs) => ({ from, seqs: rs.map((r) => r.seq) })));
        }
        if (rnd() < 0.1) await log.appendBatch([`p${p}-${i}-a`, `p${p}-${i}-b`]);
        else await log.append(`p${p}-${i}`);
      }
    });
    await Promise.all(producers);
    const total = log.nextSeq;
    const results = await Promise.all(readers.map(async (r) => r));
    expect(results.length).toBeGreaterThan(10);
    expect(log.metrics().rolls).toBeGreaterThan(10);
    for (const { from, seqs } of results) {
      const expected = Array.from({ length: Math.min(total, TOTAL) - from }, (_, i) => from + i);
      expect(seqs.slice(0, expected.length)).toEqual(expected);
    }
    await log.close();
  });

  it('never yields a record before its append resolved', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'always' } });
    const resolved = new Set<number>();
    const violations: number[] = [];
    const ac = new AbortController();
    const reading = (async () => {
      try {
        for await (const r of log.tail({ from: 0, signal: ac.signal })) if (!resolved.has(r.seq)) violations.push(r.seq);
      } catch (err) {
        expect((err as Error).name).toBe('AbortError');
      }
    })();
    await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(`r${i}`).then((seq) => resolved.add(seq))));
    for (let i = 0; i < 200; i++) resolved.add(await log.append(`s${i}`));
    await log.flush();
    ac.abort();
    await reading;
    expect(violations).toEqual([]);
    await log.close();
  });

  it('abort ends the loop with an AbortError, as events.on does; break ends it quietly', async () => {
    const log = await Log.open(tempLogDir());
    await log.append('a');
    const ac = new AbortController();
    const seen: number[] = [];
    const done = (async () => {
      for await (const r of log.tail({ from: 0, signal: ac.signal })) {
        seen.push(r.seq);
        if (r.seq === 1) ac.abort(new Error('enough'));
      }
    })();
    await log.append('b');
    const err = await done.catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: new Error('enough') });
    expect(seen).toEqual([0, 1]);
    // An abort while waiting for new records ends it too.
    const waiting = new AbortController();
    const idle = (async () => {
      for await (const _ of log.tail({ signal: waiting.signal })) throw new Error('nothing was appended');
    })();
    setImmediate(() => waiting.abort());
    await expect(idle).rejects.toMatchObject({ name: 'AbortError' });
    expect((await take(log.tail({ from: 0 }), 2)).map((r) => r.seq)).toEqual([0, 1]);
    await log.close();
  });

  it('closing the log ends every tail after delivering up to the final watermark', async () => {
    const log = await Log.open(tempLogDir());
    const readers = Array.from({ length: 300 }, (_, i) => (async () => {
      const seqs: number[] = [];
      for await (const r of log.tail({ from: i % 7 })) seqs.push(r.seq);
      return seqs;
    })());
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(`r${i}`)));
    const closing = log.close();
    const pending = log.append('after close').catch((e: unknown) => e);
    await closing;
    expect(await pending).toMatchObject({ code: 'AOF_CLOSED' });
    const results = await Promise.all(readers);
    results.forEach((seqs, i) => expect(seqs).toEqual(Array.from({ length: 50 - (i % 7) }, (_, k) => (i % 7) + k)));
  });

  it('defaults to following only new records', async () => {
    const log = await Log.open(tempLogDir());
    await log.append('old');
    const next = take(log.tail(), 1);
    await log.append('new');
    expect((await next).map((r) => r.payload.toString())).toEqual(['new']);
    await log.close();
  });

  it('a stalled reader holds only its read-ahead: the writer keeps going and buffers nothing for it', async () => {
    const log = await Log.open(tempLogDir(), { flush: { strategy: 'none' }, segment: { maxBytes: 8 * 1024 * 1024 } });
    const stalled = log.tail({ from: 0 })[Symbol.asyncIterator]();
    await log.append('first');
    expect((await stalled.next()).value?.seq).toBe(0);
    const before = process.memoryUsage().arrayBuffers;
    const payload = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < 1024; i++) await log.append(payload); // 1 GiB while the reader sleeps
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(32 * 1024 * 1024);
    expect(log.metrics().pendingBytesMax).toBeLessThanOrEqual(payload.length + RECORD_HEADER_BYTES_V3); // one append at a time: nothing queued for the reader
    expect((await stalled.next()).value?.seq).toBe(1);
    await stalled.return?.();
    await log.close();
  });

  it('a reader behind the start of the log gets AOF_BEHIND_RETENTION naming the first available record', async () => {
    const dir = tempLogDir();
    let log = await Log.open(dir, { segment: { maxRecords: 10 } });
    for (let i = 0; i < 25; i++) await log.append(`r${i}`);
    const first = log.segments()[0]!;
    await log.close();
    const catalog = (await SegmentCatalog.open(dir, false))!;
    await catalog.transition(0, 'deleted');
    await catalog.close();
    fs.rmSync(first.file);
    log = await Log.open(dir, { segment: { maxRecords: 10 } });
    await expect(take(log.tail({ from: 3 }), 1)).rejects.toMatchObject({ code: 'AOF_BEHIND_RETENTION', firstAvailable: 10, wanted: 3 });
    expect((await take(log.tail({ from: 10 }), 1))[0]?.seq).toBe(10);
    await log.close();
  });
});

describe('a tail reader woken per append', () => {
  it('reads on from where it stopped: each record is read from the file about once, not again from the last index entry at every wake-up', async () => {
    const counting = new CountingFs();
    const log = await Log.open(tempLogDir(), { fs: counting, flush: { strategy: 'none' } });
    const seen: number[] = [];
    let wake: (() => void) | undefined;
    const reader = (async () => {
      for await (const r of log.tail({ from: 0 })) {
        seen.push(r.seq);
        wake?.();
        if (seen.length === 400) return;
      }
    })();
    for (let i = 0; i < 400; i++) {
      const seq = await log.append(Buffer.alloc(100, i));
      // One append at a time, each read before the next: one wake-up per record.
      if (!seen.includes(seq)) await new Promise<void>((resolve) => (wake = resolve));
    }
    await reader;
    expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i));
    const segment = [...counting.bytesWritten.keys()].find((p) => p.endsWith('.seg'))!;
    const written = counting.bytesWritten.get(segment)!;
    // Before: every wake-up read and checksummed from the sparse index entry before it (up to 4 KiB) again: about 15x.
    expect(counting.bytesRead.get(segment) ?? 0).toBeLessThanOrEqual(2 * written);
    await log.close();
  });
});
