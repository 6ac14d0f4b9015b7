/**
 * The fault model reaches every file operation the engine does on a log's
 * files: tiering's removals, the whole-file checksum of an upload, the
 * archive tier's own files (FsArchive with the log's adapter), the cache of
 * segments fetched back, backup's hard links and its cleanup. A `FaultFs`
 * recording every call enumerates them; then each newly routed call is
 * failed once, and must fail typed and lose nothing. Before these paths went
 * through the adapter, each fault below never fired.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchive } from '../../src/archive/fs-archive.js';
import { Log } from '../../src/log.js';
import { SnapshotStore } from '../../src/snapshot/store.js';
import type { LogOptions } from '../../src/options.js';
import { FaultFs, type FsOperation } from '../../src/testing/fault-fs.js';
import { tempDir } from '../helpers/tmp.js';

const opened: Log[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => undefined);
});

const RECORDS = 35;
const payload = (i: number): string => `record ${i} ${'y'.repeat(i % 13)}`;

interface Tiered {
  root: string;
  dir: string;
  log: Log;
  failures: Array<{ code: string; errno: string | undefined }>;
}

/** A log on `faults` with small segments, an FsArchive on the same adapter, and local retention of one segment. */
async function tieredLog(faults: FaultFs, extra: LogOptions = {}): Promise<Tiered> {
  const root = tempDir();
  const dir = path.join(root, 'log');
  const archive = new FsArchive(path.join(root, 'archive'), { fs: faults });
  const log = await Log.open(dir, { fs: faults, segment: { maxRecords: 10 }, archive, retention: { maxSegments: 1 }, archiveRetry: { baseMs: 1, maxMs: 2 }, ...extra });
  opened.push(log);
  const failures: Tiered['failures'] = [];
  log.on('archive', (e) => {
    if (e.status === 'failed') failures.push({ code: e.error.code, errno: e.error.errno });
  });
  return { root, dir, log, failures };
}

async function appendAll(log: Log): Promise<void> {
  for (let i = 0; i < RECORDS; i++) await log.append(payload(i));
}

async function readAll(log: Log): Promise<string[]> {
  const out: string[] = [];
  for await (const r of log.read()) out.push(Buffer.from(r.payload).toString());
  return out;
}

const expected = Array.from({ length: RECORDS }, (_, i) => payload(i));

/** Closes the log, reopens it on the real file system with the same archive, and reads everything. */
async function reopenAndRead(t: Tiered): Promise<string[]> {
  await t.log.close();
  const log = await Log.open(t.dir, { archive: new FsArchive(path.join(t.root, 'archive')), segment: { maxRecords: 10 } });
  opened.push(log);
  return readAll(log);
}

function rest(dir: string, pattern: RegExp): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => pattern.test(n)) : [];
}

describe('the fault model reaches every file operation', () => {
  it('a recorded run of tiering, retention, fetch-back and backup shows each newly routed operation', async () => {
    const faults = new FaultFs({ record: true });
    const t = await tieredLog(faults, { retention: { maxSegments: 2 } });
    await appendAll(t.log);
    await t.log.archiveNow(); // uploads, then evicts all but the last sealed and the active segment
    expect(await readAll(t.log)).toEqual(expected); // fetches evicted segments back into the cache
    const backupRoot = tempDir();
    faults.failNext('write', 'ENOSPC', { path: 'broken' });
    await expect(t.log.backup(path.join(backupRoot, 'broken'), { link: false })).rejects.toMatchObject({ code: 'AOF_IO' });
    await t.log.backup(path.join(backupRoot, 'copy'));

    const seen = (op: FsOperation, where: RegExp): boolean => faults.journal.some((c) => c.op === op && (where.test(c.path) || (c.to !== undefined && where.test(c.to))));
    const logSegments = /\/log\/segments\/\d{20}\.seg$/;
    expect(seen('unlink', logSegments)).toBe(true); // retention's eviction
    expect(seen('syncDir', /\/log\/segments$/)).toBe(true);
    expect(seen('read', /\/archive\/segments\/\d{20}\.seg$/)).toBe(true); // FsArchive reads back what it stored
    expect(seen('write', /\/archive\/segments\/.*\.tmp-/)).toBe(true);
    expect(seen('rename', /\/archive\/segments\//)).toBe(true);
    expect(seen('mkdir', /\/log\/cache$/)).toBe(true); // the fetch-back cache
    expect(seen('write', /\/log\/cache\/.*\.fetch-/)).toBe(true);
    expect(seen('rename', /\/log\/cache\/.*\.fetch-/)).toBe(true);
    expect(seen('link', logSegments)).toBe(true); // backup's hard links
    expect(seen('rmdir', /broken/)).toBe(true); // a failed backup removes its temporary directory
  });

  it('retention: a failed removal of an evicted segment is reported typed and loses nothing', async () => {
    const faults = new FaultFs();
    const t = await tieredLog(faults);
    faults.failNext('unlink', 'EIO', { path: '/log/segments/' });
    await appendAll(t.log);
    await t.log.archiveNow();
    expect(faults.faultsPending).toBe(false);
    expect(t.failures).toContainEqual({ code: 'AOF_IO', errno: 'EIO' });
    expect(await readAll(t.log)).toEqual(expected);
    expect(await reopenAndRead(t)).toEqual(expected);
  });

  it('upload: a failed read of the whole-file checksum is an archive failure retried, and loses nothing', async () => {
    const faults = new FaultFs();
    const t = await tieredLog(faults, { retention: undefined });
    // Nothing else reads the segment files of a writer before the upload does.
    faults.failNext('read', 'EIO', { path: '/log/segments/' });
    await appendAll(t.log);
    await t.log.archiveNow().catch(() => undefined);
    await t.log.archiveNow();
    expect(faults.faultsPending).toBe(false);
    expect(t.failures.map((f) => f.code)).toContain('AOF_ARCHIVE_UNAVAILABLE');
    expect(t.log.segments().slice(0, -1).every((s) => s.status === 'archived')).toBe(true);
    expect(await reopenAndRead(t)).toEqual(expected);
  });

  it('FsArchive on the log adapter: a full archive disk is a transient archive failure, and loses nothing', async () => {
    const faults = new FaultFs();
    const t = await tieredLog(faults);
    faults.failNext('write', 'ENOSPC', { path: '/archive/' });
    await appendAll(t.log);
    await t.log.archiveNow().catch(() => undefined);
    await t.log.archiveNow();
    expect(faults.faultsPending).toBe(false);
    expect(t.failures).toContainEqual({ code: 'AOF_ARCHIVE_UNAVAILABLE', errno: undefined });
    expect(await readAll(t.log)).toEqual(expected);
    expect(rest(path.join(t.root, 'archive', 'segments'), /\.tmp-/)).toEqual([]);
  });

  it.each([
    ['mkdir', 'EACCES', '/log/cache'],
    ['open', 'EMFILE', '.fetch-'],
    ['rename', 'EIO', '/log/cache/'],
    ['stat', 'EIO', '/log/cache/'],
  ] as const)('fetch-back: a failed %s (%s) in the cache fails the read typed, leaves no temporary, and the next read works', async (op, errno, where) => {
    const faults = new FaultFs();
    const t = await tieredLog(faults);
    await appendAll(t.log);
    await t.log.archiveNow();
    expect(t.log.segments()[0]!.status).toBe('evicted');
    faults.failNext(op, errno, { path: where });
    const err = await readAll(t.log).then(() => undefined, (e: unknown) => e as { code?: string });
    expect(faults.faultsPending).toBe(false);
    expect(err?.code).toMatch(/^AOF_/);
    expect(rest(path.join(t.dir, 'cache'), /\.fetch-/)).toEqual([]);
    expect(await readAll(t.log)).toEqual(expected);
  });

  it('fetch-back: a failed removal when the cache evicts is not the read\'s failure, and loses nothing', async () => {
    const faults = new FaultFs();
    // A cache smaller than two segments: every fetch evicts the one before.
    const t = await tieredLog(faults, { archiveCacheMaxBytes: 1 });
    await appendAll(t.log);
    await t.log.archiveNow();
    faults.failNext('unlink', 'EIO', { path: '/log/cache/' });
    expect(await readAll(t.log)).toEqual(expected);
    expect(faults.faultsPending).toBe(false);
    expect(await readAll(t.log)).toEqual(expected);
  });

  it('snapshot store: pruning a backup removes its tree through the adapter', async () => {
    const faults = new FaultFs({ record: true });
    const t = await tieredLog(faults, { archive: undefined, retention: undefined });
    await appendAll(t.log);
    const dir = path.join(tempDir(), 'snapshots');
    const store = await SnapshotStore.open(dir, { keepBackups: 1, fs: faults });
    try {
      const first = await store.backup(t.log);
      await t.log.append('one more');
      await store.backup(t.log); // prunes the first
      expect(fs.existsSync(first.dir)).toBe(false);
      expect(faults.journal.some((c) => c.op === 'rmdir' && c.path.includes(`${first.name}-pruned`))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('backup: a failed hard link fails the backup typed and leaves nothing; EXDEV falls back to a copy', async () => {
    const faults = new FaultFs();
    const t = await tieredLog(faults, { archive: undefined, retention: undefined });
    await appendAll(t.log);
    const dest = tempDir();
    faults.failNext('link', 'EIO');
    await expect(t.log.backup(path.join(dest, 'one'))).rejects.toMatchObject({ code: 'AOF_IO', errno: 'EIO' });
    expect(faults.faultsPending).toBe(false);
    expect(fs.readdirSync(dest)).toEqual([]); // neither the destination nor its temporary directory

    faults.failNext('link', 'EXDEV', { times: Infinity });
    const report = await t.log.backup(path.join(dest, 'two'));
    expect(report.segments.map((s) => s.how)).toEqual(['copy', 'copy', 'copy', 'prefix']);
    faults.clearFaults();
    const copy = await Log.open(path.join(dest, 'two'), { readOnly: true });
    opened.push(copy);
    expect(await readAll(copy)).toEqual(expected);
    expect(await reopenAndRead(t)).toEqual(expected);
  });

  it('backup cleanup goes through the adapter: its removal is attempted there, and its own failure does not hide the cause', async () => {
    const faults = new FaultFs({ record: true });
    const t = await tieredLog(faults, { archive: undefined, retention: undefined });
    await appendAll(t.log);
    const dest = tempDir();
    faults.failNext('write', 'ENOSPC', { path: 'copy' });
    faults.failNext('rmdir', 'EIO');
    await expect(t.log.backup(path.join(dest, 'copy'), { link: false })).rejects.toMatchObject({ code: 'AOF_IO', errno: 'ENOSPC' });
    expect(faults.faultsPending).toBe(false);
    expect(faults.journal.filter((c) => c.op === 'rmdir').map((c) => path.dirname(c.path))).toEqual([dest]);
  });
});

describe('FaultFs models the new operations', () => {
  it('a renamed directory keeps its files and their synced state through a power loss; a link is one more name of the same file', async () => {
    const root = tempDir();
    const faults = new FaultFs({ seed: 7, unsyncedSurvival: 'none' });
    await faults.mkdir(path.join(root, 'x'));
    const h = await faults.open(path.join(root, 'x', 'f'), 'createNew');
    await h.write(Buffer.from('synced'), 0, 6, 0);
    await h.datasync();
    await h.write(Buffer.from('-lost'), 0, 5, 6);
    await h.close();
    await faults.syncDir(path.join(root, 'x'));
    await faults.link(path.join(root, 'x', 'f'), path.join(root, 'x', 'g'));
    await faults.syncDir(path.join(root, 'x'));
    await faults.rename(path.join(root, 'x'), path.join(root, 'y'));
    await faults.powerLoss();
    expect(fs.readFileSync(path.join(root, 'y', 'f'), 'utf8')).toBe('synced');
    expect(fs.statSync(path.join(root, 'y', 'g')).ino).toBe(fs.statSync(path.join(root, 'y', 'f')).ino);
    expect(fs.existsSync(path.join(root, 'x'))).toBe(false);
  });

  it('rmdir removes a tree and can be failed; lstat sees a symbolic link as one', async () => {
    const root = tempDir();
    const faults = new FaultFs();
    await faults.mkdir(path.join(root, 'd', 'e'));
    fs.writeFileSync(path.join(root, 'd', 'e', 'f'), 'x');
    fs.symlinkSync(path.join(root, 'd', 'e', 'f'), path.join(root, 'link'));
    expect(await faults.lstat(path.join(root, 'link'))).toMatchObject({ isSymbolicLink: true, isFile: false });
    expect(await faults.stat(path.join(root, 'link'))).toMatchObject({ isFile: true });
    faults.failNext('rmdir', 'EBUSY');
    await expect(faults.rmdir(path.join(root, 'd'), { recursive: true })).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(faults.rmdir(path.join(root, 'd'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await faults.rmdir(path.join(root, 'd'), { recursive: true });
    expect(fs.existsSync(path.join(root, 'd'))).toBe(false);
    await expect(faults.rmdir(path.join(root, 'd'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
