import { describe, expect, it } from 'vitest';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor } from './support.js';

describe('group commit', () => {
  it('2000 concurrent appends plus interleaved batches get distinct consecutive seqs, in order, in few writes', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    const rnd = seededRandom(2000);
    // Each call's payloads, by call index; payload bytes name the call and position.
    const calls: Buffer[][] = [];
    const promises: Array<Promise<number>> = [];
    let appends = 0;
    for (let i = 0; i < 2000; i++) {
      const single = [Buffer.from(`single ${i} ${'x'.repeat(Math.floor(rnd() * 50))}`)];
      calls.push(single);
      promises.push(log.append(single[0]!));
      appends++;
      if (i % 50 === 25) {
        const batch = Array.from({ length: 1 + Math.floor(rnd() * 10) }, (_, k) => Buffer.from(`batch ${i}.${k}`));
        calls.push(batch);
        promises.push(log.appendBatch(batch));
        appends++;
      }
    }
    const firstSeqs = await Promise.all(promises);
    const total = calls.reduce((n, c) => n + c.length, 0);

    // Calls issued in one turn are taken in call order: each starts where the previous one ended.
    let expectedSeq = 0;
    for (let c = 0; c < calls.length; c++) {
      expect(firstSeqs[c], `call ${c}`).toBe(expectedSeq);
      expectedSeq += calls[c]!.length;
    }
    expect(log.nextSeq).toBe(total);

    const flat = calls.flat();
    const read = await collect(log.read());
    expect(read.map((r) => r.seq)).toEqual(flat.map((_, i) => i));
    expect(read.map((r) => Buffer.from(r.payload))).toEqual(flat);

    const m = log.metrics();
    expect(m.appends).toBe(appends);
    expect(m.records).toBe(total);
    expect(m.writes).toBeGreaterThan(0);
    expect(m.writes).toBeLessThan(appends / 20); // coalesced: many appends per write(2)
    expect(m.fsyncs).toBeLessThanOrEqual(m.writes);
    expect(m.appendsPerWrite).toBeGreaterThan(20);

    // And it is all there after a reopen.
    await log.close();
    const again = await openLog(dir, { readOnly: true });
    expect((await collect(again.read())).map((r) => Buffer.from(r.payload))).toEqual(flat);
  });

  it('appendBatch is one frame: it resolves its first seq and its records are consecutive', async () => {
    const log = await openLog(tempLogDir());
    await log.append('before');
    const first = await log.appendBatch(['a', Buffer.from('b'), '', 'd']);
    expect(first).toBe(1);
    expect(await log.append('after')).toBe(5);
    expect((await collect(log.read())).map((r) => r.payload.toString())).toEqual(['before', 'a', 'b', '', 'd', 'after']);
    // One batch, one timestamp.
    const ts = (await collect(log.read({ from: 1, to: 5 }))).map((r) => r.timestamp);
    expect(new Set(ts).size).toBe(1);
  });

  it('a batch is never split across segments, even when it would overflow one', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxBytes: 1024 } });
    await log.append(payloadFor(0, 600));
    const first = await log.appendBatch(Array.from({ length: 10 }, (_, i) => payloadFor(i + 1, 100)));
    expect(first).toBe(1);
    const segs = log.segments();
    const holding = segs.filter((s) => s.baseSeq <= 1 && 1 < s.nextSeq);
    expect(holding).toHaveLength(1);
    expect(holding[0]!.baseSeq).toBe(1);
    expect(holding[0]!.nextSeq).toBe(11);
  });

  it('back-pressure: with a tiny maxPendingBytes every append still succeeds, in order', async () => {
    const log = await openLog(tempLogDir(), { maxPendingBytes: 64 });
    const payloads = Array.from({ length: 500 }, (_, i) => payloadFor(i, 40));
    const seqs = await Promise.all(payloads.map((p) => log.append(p)));
    expect(seqs).toEqual(payloads.map((_, i) => i));
    const read = await collect(log.read());
    expect(read.map((r) => Buffer.from(r.payload))).toEqual(payloads);
    const m = log.metrics();
    expect(m.appendsWaited).toBeGreaterThan(0);
    expect(m.pendingBytesMax).toBeLessThanOrEqual(64);
    expect(m.pendingBytes).toBe(0);
  });

  it('back-pressure admits a record larger than maxPendingBytes alone', async () => {
    const log = await openLog(tempLogDir(), { maxPendingBytes: 16 });
    const big = payloadFor(1, 10_000);
    const seqs = await Promise.all([log.append('a'), log.append(big), log.append('c')]);
    expect(seqs).toEqual([0, 1, 2]);
    expect(Buffer.from((await log.get(1))!.payload)).toEqual(big);
  });

  it('flush() resolves after everything before it, whatever the strategy', async () => {
    for (const strategy of ['always', 'batch', 'interval', 'none', 'adaptive'] as const) {
      const log = await openLog(tempLogDir(), { flush: { strategy } });
      const pending = Array.from({ length: 50 }, (_, i) => log.append(payloadFor(i)));
      let settled = 0;
      for (const p of pending) void p.then(() => settled++);
      let settledAtFlush = -1;
      await log.flush().then(() => {
        settledAtFlush = settled;
      });
      expect(settledAtFlush).toBe(pending.length);
      expect(await Promise.all(pending)).toEqual(pending.map((_, i) => i));
      expect(log.metrics().fsyncs).toBeGreaterThanOrEqual(1);
      expect(log.nextSeq).toBe(50);
      await log.flush(); // nothing pending: resolves at once
      await log.close();
    }
  });

  it("strategy 'none' acknowledges without fsync; flush() then syncs", async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { flush: { strategy: 'none' } });
    const seqs = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(payloadFor(i))));
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(log.metrics().fsyncs).toBe(0);
    const flushes: Array<{ records: number }> = [];
    log.on('flush', (info) => flushes.push(info));
    await log.flush();
    expect(log.metrics().fsyncs).toBe(1);
    expect(flushes).toEqual([expect.objectContaining({ records: 100 })]);
    await log.close();
    const again = await openLog(dir);
    expect(again.openReport.recovery?.cleanClose).toBe(true);
    expect((await collect(again.read())).map((r) => Buffer.from(r.payload))).toEqual(Array.from({ length: 100 }, (_, i) => payloadFor(i)));
  });

  it("strategy 'always' fsyncs before acknowledging and emits 'append' and 'flush' events", async () => {
    const log = await openLog(tempLogDir(), { flush: { strategy: 'always' } });
    const appended: Array<{ from: number; to: number }> = [];
    const flushed: Array<{ records: number }> = [];
    log.on('append', (r) => appended.push(r));
    log.on('flush', (f) => flushed.push(f));
    await Promise.all([log.append('a'), log.append('b'), log.appendBatch(['c', 'd'])]);
    await log.append('e');
    expect(appended).toEqual([{ from: 0, to: 4 }, { from: 4, to: 5 }]);
    expect(flushed.map((f) => f.records)).toEqual([4, 1]);
    expect(log.metrics().fsyncs).toBe(2);
  });

  it('more than syncIoMaxBytes queued goes out in pieces on this thread, under one fdatasync; a failed piece rejects only its own appends', async () => {
    const counting = new CountingFs();
    const log = await openLog(tempLogDir(), { fs: counting, flush: { strategy: 'always' }, syncIoMaxBytes: 4096 });
    counting.reset();
    // 40 appends of 1 KiB issued in one turn: about 41 KiB waiting, pieces of at most 4 KiB.
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(payloadFor(i, 1024))));
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(counting.calls.get('writeSync')).toBeGreaterThanOrEqual(10);
    expect(counting.calls.get('write') ?? 0).toBe(0);
    expect(counting.calls.get('datasync')).toBe(1);

    const faults = new FaultFs();
    const failing = await openLog(tempLogDir(), { fs: faults, flush: { strategy: 'none' }, syncIoMaxBytes: 4096 });
    faults.failNext('write', 'EIO', { path: /\.seg$/, skip: 1 });
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => failing.append(payloadFor(i, 1024)).then((seq) => seq, (err: { code?: string }) => err.code ?? 'no code')));
    // The first piece (3 appends of 1 KiB and their headers fit 4 KiB) is written and acknowledged; the second fails alone; the rest follow.
    expect(outcomes.slice(0, 3)).toEqual([0, 1, 2]);
    expect(outcomes.slice(3, 6)).toEqual(['AOF_IO', 'AOF_IO', 'AOF_IO']);
    expect(outcomes.slice(6)).toEqual([3, 4, 5, 6, 7, 8]);
    for (let seq = 0; seq < 9; seq++) expect((await failing.get(seq))?.payload).toEqual(payloadFor(seq < 3 ? seq : seq + 3, 1024));
  });
});
