import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import type { Payload } from '../../src/record/payload.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, rejection } from './support.js';

/** Runs `use` (which may throw synchronously or reject) and returns the error. */
async function failure(use: () => unknown): Promise<Error & { code?: string }> {
  return rejection((async () => {
    const r = use();
    if (r !== null && typeof r === 'object' && Symbol.asyncIterator in r) await collect(r as AsyncIterable<never>);
    else await r;
  })());
}

/** Appends a known record and checks that every acknowledged record is still there, in order. */
async function expectUsable(log: Log, acked: Buffer[]): Promise<void> {
  const next = payloadFor(acked.length);
  expect(await log.append(next)).toBe(acked.length);
  acked.push(next);
  expect((await collect(log.read())).map((r) => Buffer.from(r.payload))).toEqual(acked);
}

describe('bad input is rejected with a stable code, and the log stays usable', () => {
  it('payloads of the wrong type', async () => {
    const log = await openLog(tempLogDir());
    const acked: Buffer[] = [];
    await expectUsable(log, acked);
    for (const bad of [42, { a: 1 }, null, undefined, [1, 2, 3], true, Symbol('s'), () => 'x', new ArrayBuffer(4), 10n]) {
      const err = await failure(() => log.append(bad as unknown as Payload));
      expect(err.code, String(typeof bad)).toBe('AOF_INVALID_ARGUMENT');
      expect(err.message).toMatch(/payload must be a Uint8Array or a string/);
      const inBatch = await failure(() => log.appendBatch(['fine', bad as unknown as Payload]));
      expect(inBatch.code).toBe('AOF_INVALID_ARGUMENT');
      expect(inBatch.message).toMatch(/payload 1 of the batch/);
      await expectUsable(log, acked);
    }
    for (const notArray of [null, 'abc', 5, { length: 1, 0: 'x' }]) {
      expect((await failure(() => log.appendBatch(notArray as unknown as Payload[]))).code).toBe('AOF_INVALID_ARGUMENT');
    }
    await expectUsable(log, acked);
    expect(log.metrics().records).toBe(acked.length);
  });

  it('records over maxRecordBytes: AOF_RECORD_TOO_LARGE; exactly at the bound is accepted', async () => {
    const log = await openLog(tempLogDir(), { maxRecordBytes: 100 });
    const acked: Buffer[] = [];
    expect(await log.append(Buffer.alloc(100, 1))).toBe(0);
    acked.push(Buffer.alloc(100, 1));
    const err = await failure(() => log.append(Buffer.alloc(101)));
    expect(err).toMatchObject({ code: 'AOF_RECORD_TOO_LARGE', bytes: 101, limitBytes: 100 });
    // Strings are measured in UTF-8 bytes: 34 three-byte characters are 102 bytes.
    expect((await failure(() => log.append('✓'.repeat(34)))).code).toBe('AOF_RECORD_TOO_LARGE');
    const batchErr = await failure(() => log.appendBatch([Buffer.alloc(5), Buffer.alloc(101), Buffer.alloc(5)]));
    expect(batchErr).toMatchObject({ code: 'AOF_RECORD_TOO_LARGE', bytes: 101 });
    expect(batchErr.message).toMatch(/record 1 of the batch/);
    await expectUsable(log, acked); // nothing of the rejected batch was written
  });

  it('empty batches are invalid; batches over maxBatchBytes or maxBatchRecords: AOF_BATCH_TOO_LARGE; at the bounds accepted', async () => {
    const log = await openLog(tempLogDir(), { maxBatchBytes: 1000, maxBatchRecords: 10 });
    const acked: Buffer[] = [];
    expect((await failure(() => log.appendBatch([]))).code).toBe('AOF_INVALID_ARGUMENT');

    const tenRecords = Array.from({ length: 10 }, (_, i) => payloadFor(i, 20));
    expect(await log.appendBatch(tenRecords)).toBe(0);
    acked.push(...tenRecords);
    const eleven = await failure(() => log.appendBatch(Array.from({ length: 11 }, () => 'x')));
    expect(eleven.code).toBe('AOF_BATCH_TOO_LARGE');
    expect(eleven.message).toMatch(/maxBatchRecords/);

    const atBytes = [Buffer.alloc(500, 1), Buffer.alloc(500, 2)];
    expect(await log.appendBatch(atBytes)).toBe(10);
    acked.push(...atBytes);
    const overBytes = await failure(() => log.appendBatch([Buffer.alloc(500), Buffer.alloc(501)]));
    expect(overBytes.code).toBe('AOF_BATCH_TOO_LARGE');
    expect(overBytes.message).toMatch(/maxBatchBytes/);
    await expectUsable(log, acked);
  });

  it('sequence numbers that are not non-negative integers', async () => {
    const log = await openLog(tempLogDir());
    const acked: Buffer[] = [];
    await expectUsable(log, acked);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5, 2 ** 53, '1', null, {}]) {
      expect((await failure(() => log.get(bad as number))).code, `get(${String(bad)})`).toBe('AOF_INVALID_ARGUMENT');
      expect((await failure(() => log.read({ from: bad as number }))).code, `from ${String(bad)}`).toBe('AOF_INVALID_ARGUMENT');
      expect((await failure(() => log.read({ to: bad as number }))).code, `to ${String(bad)}`).toBe('AOF_INVALID_ARGUMENT');
    }
    const named = await failure(() => log.read({ from: -3 }));
    expect(named.message).toMatch(/from must be a non-negative integer/);
    expect((await failure(() => log.read(null as unknown as object))).code).toBe('AOF_INVALID_ARGUMENT');
    await expectUsable(log, acked);
  });

  it('use after close: AOF_CLOSED for every operation, while appends issued before close() were written', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    const before = Array.from({ length: 20 }, (_, i) => log.append(payloadFor(i)));
    await log.close();
    expect(await Promise.all(before)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const [name, use] of [
      ['append', () => log.append('x')],
      ['appendBatch', () => log.appendBatch(['x'])],
      ['get', () => log.get(0)],
      ['read', () => log.read()],
      ['roll', () => log.roll()],
      ['flush', () => log.flush()],
    ] as const) {
      expect((await failure(use)).code, name).toBe('AOF_CLOSED');
    }
    const again = await openLog(dir);
    expect((await collect(again.read())).map((r) => Buffer.from(r.payload))).toEqual(Array.from({ length: 20 }, (_, i) => payloadFor(i)));
  });

  it('writes on a read-only handle: AOF_READ_ONLY; reads work', async () => {
    const dir = tempLogDir();
    const writer = await openLog(dir);
    await writer.appendBatch(['a', 'b']);
    await writer.close();
    const ro = await openLog(dir, { readOnly: true });
    expect(ro.readOnly).toBe(true);
    for (const use of [() => ro.append('x'), () => ro.appendBatch(['x']), () => ro.roll(), () => ro.flush()]) {
      expect((await failure(use)).code).toBe('AOF_READ_ONLY');
    }
    expect((await collect(ro.read())).map((r) => r.payload.toString())).toEqual(['a', 'b']);
    expect(ro.metrics()).toMatchObject({ records: 0, writes: 0, failed: false });
  });

  it('a log path that is a file: AOF_INVALID_ARGUMENT, for writers and readers, and the file is untouched', async () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, 'hello');
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(file, { readOnly }));
      expect(err.code).toBe('AOF_INVALID_ARGUMENT');
      expect(err.message).toContain(file);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('hello');
    expect((await rejection(Log.open(''))).code).toBe('AOF_INVALID_ARGUMENT');
    expect((await rejection(Log.open(42 as unknown as string))).code).toBe('AOF_INVALID_ARGUMENT');
  });

  it('a path below a file, or a read-only open of a missing directory: AOF_IO naming the path, nothing created', async () => {
    const file = path.join(tempDir(), 'plain-file');
    fs.writeFileSync(file, '');
    const below = path.join(file, 'log');
    const err = await rejection(Log.open(below));
    expect(err.code).toBe('AOF_IO');
    expect(err.message).toContain(below);
    const missing = tempLogDir();
    const ro = await rejection(Log.open(missing, { readOnly: true }));
    expect(ro).toMatchObject({ code: 'AOF_IO', file: missing });
    expect(fs.existsSync(missing)).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable parent directory: AOF_IO naming the path (skipped as root: root ignores permission bits)', async () => {
    const parent = tempDir();
    fs.chmodSync(parent, 0o500);
    try {
      const dir = path.join(parent, 'log');
      const err = await rejection(Log.open(dir));
      expect(err.code).toBe('AOF_IO');
      expect(err.message).toContain(dir);
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      fs.chmodSync(parent, 0o700);
    }
  });
});
