/**
 * What repair changes on disk and how (issue #18): it refuses a segment that
 * is a symbolic link; it never modifies a segment file in place (a backup may
 * share it through a hard link); a dry run beside a live writer reads the
 * writer's published watermark instead of calling its preallocated zeros a
 * torn tail.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { aof, copyFixture, requireBuilt, seg, snapshotFiles } from '../cli/run.js';
import { distPath } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

beforeAll(requireBuilt);

describe('repair and the files it changes', () => {
  it('refuses a segment that is a symbolic link, naming it, and changes nothing', async () => {
    const dir = copyFixture('flipped-sealed');
    const outside = path.join(tempDir(), 'elsewhere.seg');
    fs.renameSync(path.join(dir, seg(0)), outside);
    fs.symlinkSync(outside, path.join(dir, seg(0)));
    // The writer lock's file (LOCK.kernel) is not data: repair takes the lock before it looks at the segments.
    const data = (): Map<string, Buffer> => new Map([...snapshotFiles(dir)].filter(([name]) => !name.startsWith('LOCK')));
    const before = data();
    const target = fs.readFileSync(outside);

    for (const options of [{ mode: 'truncate' as const }, { mode: 'skip' as const }, { dryRun: true }]) {
      const err = await Log.repair(dir, options).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code, JSON.stringify(options)).toBe('AOF_INVALID_ARGUMENT');
      expect(err?.message).toContain(path.join(dir, seg(0)));
      expect(err?.message).toContain('symbolic link');
    }
    const cli = await aof(['repair', dir, '--yes']);
    expect(cli.code, cli.stderr).toBe(3);
    expect(cli.stderr).toContain('symbolic link');
    expect(fs.lstatSync(path.join(dir, seg(0))).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(outside).equals(target)).toBe(true);
    expect(data()).toEqual(before);
  });

  it('a FIFO named like a segment: verify reports it and repair refuses it, both without blocking on it', async () => {
    const dir = copyFixture('flipped-sealed');
    const names = fs.readdirSync(path.dirname(path.join(dir, seg(0)))).filter((n) => n.endsWith('.seg')).sort();
    const last = Number(names[names.length - 1]!.slice(0, 20));
    const fifo = path.join(dir, seg(last + 1_000_000));
    execFileSync('mkfifo', [fifo]);
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.file === fifo && p.message.includes('not a regular file'))).toBe(true);
    for (const options of [{ mode: 'truncate' as const }, { dryRun: true }]) {
      const err = await Log.repair(dir, options).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code, JSON.stringify(options)).toBe('AOF_INVALID_ARGUMENT');
      expect(err?.message).toContain(fifo);
    }
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('never modifies in place a segment a backup shares through a hard link: the backup keeps its bytes', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const log = await Log.open(dir, { segment: { maxBytes: 2048 } });
    for (let i = 0; i < 100; i++) await log.append(`record ${i}`);
    const backup = await log.backup(path.join(root, 'backup'));
    await log.close();
    const linked = backup.segments.find((s) => s.how === 'link' && s.baseSeq > 0);
    expect(linked, 'a sealed segment was hard-linked into the backup').toBeDefined();
    const name = `${String(linked!.baseSeq).padStart(20, '0')}.seg`;
    const inLog = path.join(dir, 'segments', name);
    const inBackup = path.join(root, 'backup', 'segments', name);
    expect(fs.statSync(inBackup).nlink).toBe(2);
    // Bit rot in the shared file: both names see it.
    const fd = fs.openSync(inLog, 'r+');
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 100);
    fs.closeSync(fd);
    const backupBefore = fs.readFileSync(inBackup);
    const backupFiles = snapshotFiles(path.join(root, 'backup'));

    for (const mode of ['truncate', 'skip'] as const) {
      const report = await Log.repair(dir, { mode });
      expect(report.after?.ok).toBe(true);
    }
    expect(fs.readFileSync(inBackup).equals(backupBefore), 'the backup copy is byte-identical').toBe(true);
    expect(snapshotFiles(path.join(root, 'backup'))).toEqual(backupFiles);
    expect(fs.statSync(inBackup).nlink, 'the log now has a file of its own').toBe(1);
    expect(fs.statSync(inLog).size).toBeLessThan(backupBefore.length);
  });

  it('a dry run beside a live writer reports no torn tail in the preallocated zeros past its watermark', async () => {
    const dir = path.join(tempDir(), 'log');
    const child = spawn(process.execPath, [distPath('src/testing/child-holder.js'), dir, '20'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (c: string) => (c.includes('ready') ? resolve() : undefined));
        child.on('close', (code) => reject(new Error(`writer exited (${code}): ${stderr}`)));
      });
      const active = path.join(dir, seg(0));
      expect(fs.statSync(active).size, 'the writer preallocated space').toBeGreaterThanOrEqual(1024 * 1024);

      const plan = await Log.repair(dir, { dryRun: true });
      expect(plan.actions).toEqual([]);
      expect(plan.lostRanges).toEqual([]);
      const cli = await aof(['repair', dir, '--dry-run']);
      expect(cli.code, cli.stdout + cli.stderr).toBe(0);
      expect(cli.stdout).toContain('nothing to repair');
    } finally {
      child.stdin!.end();
      expect(await exited, stderr).toBe(0);
    }
    // Once the writer is gone, its records are all there.
    const log = await Log.open(dir, { readOnly: true });
    expect(log.nextSeq).toBe(20);
    await log.close();
  });
});
