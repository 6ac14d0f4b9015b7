import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log, type LogOptions } from '../../src/index.js';
import { FaultFs, type FsOperation } from '../../src/testing/fault-fs.js';
import { tempDir } from '../helpers/tmp.js';

function newDir(): string {
  return path.join(tempDir(), 'log');
}

async function appendMany(log: Log, from: number, n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => log.append(`r${from + i}`)));
}

/** Every acknowledged record is present and intact after a reopen with the real file system. */
async function expectIntact(dir: string, acked: number[]): Promise<Log> {
  const log = await Log.open(dir);
  for (const seq of acked) expect((await log.get(seq))?.payload.toString(), `record ${seq}`).toMatch(/^r\d+$/);
  let expected = 0;
  for await (const r of log.read()) expect(r.seq).toBe(expected++);
  return log;
}

/** Small writes go through pwrite on the calling thread by default; `syncIoMaxBytes: 0` sends them through the thread pool. */
const IO_PATHS: Array<[string, LogOptions]> = [
  ['on the calling thread', {}],
  ['through the thread pool', { syncIoMaxBytes: 0 }],
];

describe.each(IO_PATHS)('a failed write (%s)', (_path, io) => {
  it.each(['ENOSPC', 'EIO'])('rejects that append with AOF_IO carrying %s, cuts the partial frame off, and the log stays usable', async (errno) => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 1 });
    const log = await Log.open(dir, { ...io, fs: faults, flush: { strategy: 'always' } });
    const acked = await appendMany(log, 0, 10);
    faults.shortWriteNext(1);
    faults.failNext('write', errno);
    const err = await log.append('doomed').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AOF_IO', errno });
    expect((err as Error).message).toContain('.seg');
    expect(log.metrics().writeErrors).toBe(1);
    // The cause is gone: appends continue right after the last acknowledged record.
    const next = await log.append('r10');
    expect(next).toBe(10);
    acked.push(next);
    await log.close();
    const reopened = await expectIntact(dir, acked);
    expect(reopened.nextSeq).toBe(11);
    expect(reopened.openReport.recovery?.cleanClose).toBe(true);
    await reopened.close();
  });

  it('short writes are completed, not mistaken for failures', async () => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 2 });
    const log = await Log.open(dir, { ...io, fs: faults });
    faults.shortWriteNext(5);
    const acked = await appendMany(log, 0, 5);
    for (const seq of acked) await log.append(`r${seq + 5}`);
    await log.close();
    await (await expectIntact(dir, [...acked, 5, 6, 7, 8, 9])).close();
  });

  it('a failed cut-back after a failed write puts the log in the failed state', async () => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 3 });
    const log = await Log.open(dir, { ...io, fs: faults });
    const acked = await appendMany(log, 0, 3);
    faults.shortWriteNext(1);
    faults.failNext('write', 'EIO');
    faults.failNext('truncate', 'EIO');
    await expect(log.append('x')).rejects.toMatchObject({ code: 'AOF_IO' });
    await expect(log.append('y')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED', errno: 'EIO' });
    await log.close();
    await (await expectIntact(dir, acked)).close();
  });
});

describe('a failed fsync', () => {
  it.each<LogOptions['flush']>([{ strategy: 'always' }, { strategy: 'batch' }, { strategy: 'adaptive' }])('puts the log in the failed state under %o: covered and later appends reject with AOF_LOG_FAILED, never retried', async (flush) => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 4 });
    const log = await Log.open(dir, { fs: faults, flush });
    const errors: Error[] = [];
    log.on('error', (e) => errors.push(e));
    const acked = await appendMany(log, 0, 20);
    faults.failNext('datasync', 'EIO');
    const covered = await Promise.allSettled([log.append('a'), log.append('b')]);
    for (const r of covered) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'AOF_LOG_FAILED', errno: 'EIO' } });
    const syncsAfterFailure = faults.calls.get('datasync');
    await expect(log.append('later')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await expect(log.flush()).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    expect(faults.calls.get('datasync')).toBe(syncsAfterFailure); // no retry
    expect(log.metrics().failed).toBe(true);
    expect(errors).toHaveLength(1);
    await log.close();
    // Only a reopen clears it; it re-verifies the active segment from disk.
    const reopened = await expectIntact(dir, acked);
    expect(await reopened.append('r-after')).toBeGreaterThanOrEqual(20);
    await reopened.close();
  });

  it('under none, a failed flush() puts the log in the failed state too', async () => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 5 });
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'none' } });
    await appendMany(log, 0, 5);
    faults.failNext('datasync', 'EIO');
    await expect(log.flush()).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await expect(log.append('x')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await log.close();
  });
});

describe('faults while rolling and sealing', () => {
  it('a failed footer write rejects the append that triggered the roll; the segment stays active and usable', async () => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 6 });
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'always' }, segment: { maxRecords: 5 } });
    const acked = await appendMany(log, 0, 5);
    faults.failNext('write', 'ENOSPC');
    await expect(log.append('r5')).rejects.toMatchObject({ code: 'AOF_IO', errno: 'ENOSPC' });
    expect(log.segments()).toHaveLength(1);
    acked.push(await log.append('r5'));
    expect(log.segments().map((s) => s.status)).toEqual(['sealed', 'active']);
    await log.close();
    await (await expectIntact(dir, acked)).close();
  });

  it.each<[FsOperation, string]>([
    ['datasync', 'the footer fsync'],
    ['open', 'creating the next segment'],
    ['syncDir', 'the directory fsync of the next segment'],
  ])('a failure of %s (%s) fails the log; a reopen recovers every acknowledged record', async (op) => {
    const dir = newDir();
    const faults = new FaultFs({ seed: 7 });
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'always' }, segment: { maxRecords: 5 } });
    const acked = await appendMany(log, 0, 5);
    faults.failNext(op, 'EIO');
    await expect(log.roll()).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await expect(log.append('x')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await log.close();
    const reopened = await expectIntact(dir, acked);
    expect(await reopened.append('r5')).toBe(5);
    await reopened.close();
  });
});

describe('faults while opening', () => {
  it.each<FsOperation>(['readdir', 'open', 'read', 'stat', 'mkdir', 'truncate'])('a failing %s makes open reject, and a later open succeeds with everything intact', async (op) => {
    const dir = newDir();
    const log = await Log.open(dir, { segment: { maxRecords: 4 } });
    const acked = await appendMany(log, 0, 10);
    await log.close();
    // An open that takes the active segment from its close marker truncates nothing: without the catalog's record of the close it scans, and cuts the marker off.
    if (op === 'truncate') fs.rmSync(path.join(dir, 'index'), { recursive: true });
    const faults = new FaultFs({ seed: 8 });
    faults.failNext(op, 'EIO', op === 'mkdir' ? { path: 'recovery' } : {});
    // truncate and mkdir only happen when the close marker is removed / bytes are kept.
    const opened = await Log.open(dir, { fs: faults }).then(
      async (l) => {
        await l.close();
        return 'opened';
      },
      (e: unknown) => e,
    );
    if (opened !== 'opened') expect(opened).toMatchObject({ code: expect.stringMatching(/^AOF_/) });
    else expect(['mkdir']).toContain(op); // no recovery/ directory needed after a clean close
    await (await expectIntact(dir, acked)).close();
  });
});

describe('directory fsyncs promised by DURABILITY.md', () => {
  it('a new log directory is fsynced into its parent, and segments/ before the first segment is used', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const parentFault = new FaultFs({ seed: 9 });
    parentFault.failNext('syncDir', 'EIO', { path: new RegExp(`^${root}$`) });
    await expect(Log.open(dir, { fs: parentFault })).rejects.toMatchObject({ code: 'AOF_IO' });
    const segmentsFault = new FaultFs({ seed: 10 });
    segmentsFault.failNext('syncDir', 'EIO', { path: /segments$/ });
    await expect(Log.open(path.join(root, 'log2'), { fs: segmentsFault })).rejects.toMatchObject({ code: 'AOF_IO' });
    const counted = new FaultFs({ seed: 11 });
    const log = await Log.open(path.join(root, 'log3'), { fs: counted, segment: { maxRecords: 1 } });
    const before = counted.calls.get('syncDir') ?? 0;
    await log.append('a');
    await log.append('b'); // rolls: the new segment's directory entry is fsynced
    expect(counted.calls.get('syncDir')).toBeGreaterThan(before);
    await log.close();
  });
});
