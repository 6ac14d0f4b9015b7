import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { seededBytes, seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor } from './support.js';

describe('open, append, read, close, reopen', () => {
  it('a new log starts at sequence 0 and is empty', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    expect(log.firstSeq).toBe(0);
    expect(log.nextSeq).toBe(0);
    expect(log.readOnly).toBe(false);
    expect(await collect(log.read())).toEqual([]);
    expect(await log.get(0)).toBeUndefined();
    expect(await log.append('first')).toBe(0);
    expect(await log.append(Buffer.from('second'))).toBe(1);
    expect(log.nextSeq).toBe(2);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
  });

  it('get returns what was appended: strings as UTF-8, bytes as bytes, empty records too', async () => {
    const log = await openLog(tempLogDir());
    const inputs: Array<string | Uint8Array> = ['héllo wörld ✓', new Uint8Array([0, 1, 2, 255]), '', new Uint8Array(0), seededBytes(3, 100_000)];
    const seqs: number[] = [];
    for (const p of inputs) seqs.push(await log.append(p));
    expect(seqs).toEqual([0, 1, 2, 3, 4]);
    for (let i = 0; i < inputs.length; i++) {
      const rec = await log.get(i);
      expect(rec?.seq).toBe(i);
      const expected = typeof inputs[i] === 'string' ? Buffer.from(inputs[i] as string, 'utf8') : Buffer.from(inputs[i] as Uint8Array);
      expect(Buffer.from(rec!.payload)).toEqual(expected);
    }
  });

  it('survives close and reopen, several times, continuing the sequence', async () => {
    const dir = tempLogDir();
    const rnd = seededRandom(12);
    const expected: Buffer[] = [];
    for (let round = 0; round < 4; round++) {
      const log = await openLog(dir);
      expect(log.nextSeq).toBe(expected.length);
      const n = 1 + Math.floor(rnd() * 20);
      for (let i = 0; i < n; i++) {
        const p = seededBytes(round * 1000 + i, Math.floor(rnd() * 500));
        expect(await log.append(p)).toBe(expected.length);
        expected.push(p);
      }
      const all = await collect(log.read());
      expect(all.map((r) => r.seq)).toEqual(expected.map((_, i) => i));
      expect(all.map((r) => Buffer.from(r.payload))).toEqual(expected);
      await log.close();
    }
    const ro = await openLog(dir, { readOnly: true });
    expect(ro.nextSeq).toBe(expected.length);
    expect((await collect(ro.read())).map((r) => Buffer.from(r.payload))).toEqual(expected);
  });

  it('timestamps come from the clock option and are stored with each record', async () => {
    let now = 5_000;
    const log = await openLog(tempLogDir(), { clock: () => now });
    await log.append('a');
    now = 6_000;
    await log.append('b');
    expect((await collect(log.read())).map((r) => r.timestamp)).toEqual([5_000, 6_000]);
  });

  it('close is idempotent and `await using` closes', async () => {
    const dir = tempLogDir();
    {
      await using log = await Log.open(dir);
      await log.append('x');
    }
    const log = await Log.open(dir); // would be AOF_LOCKED if the scope had not closed it
    expect(log.nextSeq).toBe(1);
    await log.close();
    await log.close();
  });
});

describe('read ranges and get bounds', () => {
  async function logWith(n: number): Promise<Log> {
    const log = await openLog(tempLogDir());
    await log.appendBatch(Array.from({ length: n }, (_, i) => payloadFor(i)));
    return log;
  }

  it('read({ from, to }) yields from inclusive to exclusive', async () => {
    const log = await logWith(20);
    expect((await collect(log.read({ from: 5, to: 9 }))).map((r) => r.seq)).toEqual([5, 6, 7, 8]);
    expect((await collect(log.read({ from: 0, to: 1 }))).map((r) => r.seq)).toEqual([0]);
    expect((await collect(log.read({ from: 7, to: 7 })))).toEqual([]);
    expect((await collect(log.read({ from: 9, to: 3 })))).toEqual([]);
    expect((await collect(log.read({ from: 18 }))).map((r) => r.seq)).toEqual([18, 19]);
    expect((await collect(log.read({ to: 2 }))).map((r) => r.seq)).toEqual([0, 1]);
    expect((await collect(log.read({ from: 15, to: 1000 }))).map((r) => r.seq)).toEqual([15, 16, 17, 18, 19]);
    expect(await collect(log.read({ from: 20 }))).toEqual([]);
    expect(await collect(log.read({ from: 1_000_000 }))).toEqual([]);
    for (const r of await collect(log.read({ from: 3, to: 6 }))) expect(Buffer.from(r.payload)).toEqual(payloadFor(r.seq));
  });

  it('read() without `to` stops at the commit watermark when it was called', async () => {
    const log = await logWith(5);
    const before = log.read();
    await log.append('later');
    expect((await collect(before)).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect((await collect(log.read())).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('read() does not return records whose append has not resolved', async () => {
    const log = await logWith(3);
    const pending = log.append('in flight');
    // Issued in the same turn as the append: the watermark is still 3.
    const seen = await collect(log.read({ from: 0, to: 100 }));
    expect(seen.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(await pending).toBe(3);
  });

  it('get outside the log is undefined', async () => {
    const log = await logWith(10);
    expect(await log.get(10)).toBeUndefined();
    expect(await log.get(11)).toBeUndefined();
    expect(await log.get(Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect((await log.get(9))?.seq).toBe(9);
  });

  it('concurrent readers across many segments share a small file cache correctly', async () => {
    const log = await openLog(tempLogDir(), { segment: { maxRecords: 10 }, maxOpenFiles: 2 });
    const payloads = Array.from({ length: 80 }, (_, i) => payloadFor(i, 30));
    for (let i = 0; i < payloads.length; i += 5) await log.appendBatch(payloads.slice(i, i + 5));
    expect(log.segments()).toHaveLength(8);
    const ranges = [[0, 80], [75, 80], [10, 45], [33, 34], [0, 12], [60, 79]] as const;
    const [reads, gets] = await Promise.all([
      Promise.all(ranges.map(([from, to]) => collect(log.read({ from, to })))),
      Promise.all(payloads.map((_, i) => log.get(79 - i))),
    ]);
    ranges.forEach(([from, to], k) => expect(reads[k]!.map((r) => Buffer.from(r.payload))).toEqual(payloads.slice(from, to)));
    expect(gets.map((r) => Buffer.from(r!.payload))).toEqual([...payloads].reverse());
  });

  it('reads across many segments and index intervals, by get and by ranges', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxBytes: 8 * 1024, indexIntervalBytes: 512 } });
    const rnd = seededRandom(99);
    const payloads: Buffer[] = [];
    for (let i = 0; i < 300; i++) payloads.push(seededBytes(i, Math.floor(rnd() * 200)));
    for (let i = 0; i < payloads.length; i += 7) await log.appendBatch(payloads.slice(i, i + 7));
    expect(log.segments().length).toBeGreaterThan(3);
    for (let k = 0; k < 100; k++) {
      const seq = Math.floor(rnd() * payloads.length);
      expect(Buffer.from((await log.get(seq))!.payload)).toEqual(payloads[seq]);
      const from = Math.floor(rnd() * payloads.length);
      const to = from + Math.floor(rnd() * 60);
      const got = await collect(log.read({ from, to }));
      expect(got.map((r) => r.seq)).toEqual(Array.from({ length: Math.min(to, payloads.length) - from }, (_, i) => from + i));
      for (const r of got) expect(Buffer.from(r.payload)).toEqual(payloads[r.seq]);
    }
    await log.close();
    const again = await openLog(dir, { readOnly: true });
    expect((await collect(again.read())).map((r) => Buffer.from(r.payload))).toEqual(payloads);
  });
});
