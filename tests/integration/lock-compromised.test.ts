import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { KERNEL_LOCK_NAME, LOCK_NAME } from '../../src/lock/writer-lock.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { readWatermarkState } from '../../src/tail/watermark.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';
import { rejection } from './support.js';

/**
 * Someone removes or replaces the lock under a live writer (an operator
 * "cleaning up", a script, a restore). The writer can no longer be sure it is
 * alone: it must stop writing (failed state) before it overwrites what a new
 * writer, which may now take the lock, writes.
 */

/** Replaces `file` by a new inode with the same name, as a restore or an editor's save would. */
function replaceFile(file: string): void {
  fs.writeFileSync(`${file}.new`, '');
  fs.renameSync(`${file}.new`, file);
}

const compromises: Array<{ name: string; act(dir: string): void }> = [
  { name: 'the LOCK directory removed', act: (dir) => fs.rmSync(path.join(dir, LOCK_NAME), { recursive: true, force: true }) },
  {
    name: 'the LOCK directory replaced',
    act: (dir) => {
      fs.rmSync(path.join(dir, LOCK_NAME), { recursive: true, force: true });
      fs.mkdirSync(path.join(dir, LOCK_NAME));
      fs.writeFileSync(path.join(dir, LOCK_NAME, 'owner.json'), JSON.stringify({ pid: 1, host: 'elsewhere', token: 'someone-else' }));
    },
  },
  { name: 'the kernel lock file replaced by another inode', act: (dir) => replaceFile(path.join(dir, KERNEL_LOCK_NAME)) },
  { name: 'the kernel lock file removed', act: (dir) => fs.rmSync(path.join(dir, KERNEL_LOCK_NAME), { force: true }) },
];

describe('a writer whose lock is compromised stops writing', () => {
  for (const c of compromises) {
    it(`${c.name}: the next roll and every append after it reject with AOF_LOG_FAILED`, async () => {
      const dir = tempLogDir();
      const log = await Log.open(dir);
      const failures: unknown[] = [];
      log.on('error', (err) => failures.push(err));
      await log.appendBatch(['a', 'b', 'c']);
      c.act(dir);
      // A roll creates a file another writer may also create: the lock is checked first.
      const err = await rejection(log.roll());
      expect(err.code).toBe('AOF_LOG_FAILED');
      expect(err.message).toContain('lock');
      expect((await rejection(log.append('d'))).code).toBe('AOF_LOG_FAILED');
      expect(failures).toHaveLength(1);
      await log.close();
      // Whatever the compromise left, nothing acknowledged is lost; clear it and the next writer opens.
      fs.rmSync(path.join(dir, LOCK_NAME), { recursive: true, force: true });
      const next = await Log.open(dir);
      try {
        expect(next.nextSeq).toBe(3);
        expect((await next.get(2))?.payload.toString()).toBe('c');
      } finally {
        await next.close();
      }
    });
  }

  it('a writer that lost its lock leaves the watermark to the writer that took it (its close writes nothing there)', async () => {
    const dir = tempLogDir();
    const first = await Log.open(dir);
    first.on('error', () => undefined);
    await first.appendBatch(['a', 'b', 'c']);
    fs.rmSync(path.join(dir, LOCK_NAME), { recursive: true, force: true });
    fs.rmSync(path.join(dir, KERNEL_LOCK_NAME), { force: true });
    expect((await rejection(first.roll())).code).toBe('AOF_LOG_FAILED');
    // The writer that takes the lock runs in another process (one process holds a directory once).
    const second = startChildWriter(dir, 'always', 1, 16);
    try {
      expect(await second.waitForLine('ready', 'error ')).toBe('ready');
      await second.waitForAcks(10);
      second.child.kill('SIGSTOP'); // holds its watermark still, so only the first writer could change it now
      const before = await readWatermarkState(nodeFs, dir);
      expect(before.kind === 'valid' && before.nextSeq > 3).toBe(true);
      // The first writer closing must not put its own last value (3) back over the second's.
      await first.close();
      expect(await readWatermarkState(nodeFs, dir)).toEqual(before);
    } finally {
      second.child.kill('SIGCONT');
      await second.kill();
    }
  });

  it('a writer in another process notices on its own (periodic check) and stops before a new writer writes; nothing of either is lost', async () => {
    const dir = tempLogDir();
    const first = startChildWriter(dir, 'always', 8, 64);
    try {
      expect(await first.waitForLine('ready', 'error ')).toBe('ready');
      await first.waitForAcks(100);
      // The whole lock removed: the kernel lock file goes with it, so a new writer can take a lock of its own.
      fs.rmSync(path.join(dir, LOCK_NAME), { recursive: true, force: true });
      fs.rmSync(path.join(dir, KERNEL_LOCK_NAME), { force: true });
      // No roll needed: the running writer finds out by itself, and stops.
      expect(await first.waitForLine('failed ')).toBe('failed AOF_LOG_FAILED');
      expect(await first.waitForLine('error ')).toBe('error AOF_LOG_FAILED');
      expect(await first.exited).toBe(1);
      const ackedByFirst = [...first.acked];

      const second = await Log.open(dir);
      const firstOfSecond = second.nextSeq;
      expect(firstOfSecond).toBeGreaterThanOrEqual(ackedByFirst.length);
      for (let i = 0; i < 50; i++) await second.append(childPayload(firstOfSecond + i, 64));
      await second.close();

      const log = await Log.open(dir, { readOnly: true });
      try {
        for (const seq of ackedByFirst) expect((await log.get(seq))?.payload.equals(childPayload(seq, 64)), `seq ${seq}`).toBe(true);
        for (let i = 0; i < 50; i++) expect((await log.get(firstOfSecond + i))?.payload.equals(childPayload(firstOfSecond + i, 64))).toBe(true);
        expect(log.nextSeq).toBe(firstOfSecond + 50);
      } finally {
        await log.close();
      }
    } finally {
      await first.kill();
    }
  }, 20_000);
});
