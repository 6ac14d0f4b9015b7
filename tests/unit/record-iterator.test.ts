import { describe, expect, it } from 'vitest';
import { mapErrors, RecordIterator } from '../../src/read/record-iterator.js';
import type { LogRecord } from '../../src/read/record.js';
import { Log } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

const rec = (seq: number): LogRecord => ({ seq, timestamp: 0, payload: Buffer.from(`r${seq}`) });

describe('RecordIterator', () => {
  it('yields every record of every batch in order, skipping empty batches', async () => {
    async function* batches(): AsyncGenerator<readonly LogRecord[]> {
      yield [rec(0), rec(1)];
      yield [];
      yield [rec(2)];
    }
    const seen: number[] = [];
    for await (const r of new RecordIterator(batches(), (e) => e)) seen.push(r.seq);
    expect(seen).toEqual([0, 1, 2]);
  });

  it('a consumer that breaks early ends the source (its finally runs)', async () => {
    let released = false;
    async function* batches(): AsyncGenerator<readonly LogRecord[]> {
      try {
        yield [rec(0), rec(1), rec(2)];
        yield [rec(3)];
      } finally {
        released = true;
      }
    }
    for await (const r of new RecordIterator(batches(), (e) => e)) if (r.seq === 1) break;
    expect(released).toBe(true);
  });

  it('errors of the source pass through the mapping once', async () => {
    async function* batches(): AsyncGenerator<readonly LogRecord[]> {
      yield [rec(0)];
      throw new Error('boom');
    }
    const it = new RecordIterator(batches(), (e) => new Error(`mapped: ${(e as Error).message}`));
    expect((await it.next()).value?.seq).toBe(0);
    await expect(it.next()).rejects.toThrow('mapped: boom');
  });

  it('concurrent next() calls get consecutive records, as from an async generator', async () => {
    async function* batches(): AsyncGenerator<readonly LogRecord[]> {
      for (let b = 0; b < 10; b++) yield Array.from({ length: 7 }, (_, i) => rec(b * 7 + i));
    }
    const it = new RecordIterator(batches(), (e) => e);
    const results = await Promise.all(Array.from({ length: 75 }, () => it.next()));
    expect(results.filter((r) => r.done !== true).map((r) => r.value!.seq)).toEqual(Array.from({ length: 70 }, (_, i) => i));
    expect(results.slice(70).every((r) => r.done === true)).toBe(true);
  });

  it('throw() ends the source and rethrows', async () => {
    let released = false;
    async function* batches(): AsyncGenerator<readonly LogRecord[]> {
      try {
        yield [rec(0), rec(1)];
      } finally {
        released = true;
      }
    }
    const it = new RecordIterator(batches(), (e) => e);
    await it.next();
    await expect(it.throw(new Error('consumer failed'))).rejects.toThrow('consumer failed');
    expect(released).toBe(true);
    expect((await it.next()).done).toBe(true);
  });

  it('log.read: breaking out early releases the segment file, and a later read works', async () => {
    const log = await Log.open(tempLogDir(), { segment: { maxRecords: 10 } });
    for (let i = 0; i < 35; i++) await log.append(`r${i}`);
    for await (const r of log.read({ from: 5 })) if (r.seq === 12) break;
    const all: string[] = [];
    for await (const r of log.read({ from: 30 })) all.push(r.payload.toString());
    expect(all).toEqual(['r30', 'r31', 'r32', 'r33', 'r34']);
    await log.close(); // would hang or fail if a reader still held a handle it never released
  });
});

describe('mapErrors (log.readBatches)', () => {
  it('passes batches through, maps a source error once, and ends the source on an early break', async () => {
    let released = 0;
    async function* batches(fail: boolean): AsyncGenerator<readonly LogRecord[]> {
      try {
        yield [rec(0), rec(1)];
        if (fail) throw new Error('boom');
        yield [rec(2)];
      } finally {
        released++;
      }
    }
    const seen: number[][] = [];
    for await (const b of mapErrors(batches(false), (e) => e)) seen.push(b.map((r) => r.seq));
    expect(seen).toEqual([[0, 1], [2]]);
    for await (const b of mapErrors(batches(false), (e) => e)) if (b[0]!.seq === 0) break;
    expect(released).toBe(2);
    const it = mapErrors(batches(true), (e) => new Error(`mapped: ${(e as Error).message}`));
    expect((await it.next()).value?.map((r) => r.seq)).toEqual([0, 1]);
    await expect(it.next()).rejects.toThrow('mapped: boom');
    expect(released).toBe(3);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});
