import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { KERNEL_LOCK_NAME, LOCK_NAME, LOCK_STALE_MS } from '../../src/lock/writer-lock.js';
import { tempLogDir } from '../helpers/tmp.js';
import { rejection } from './support.js';

/**
 * The kernel lock's bookkeeping: when a lease left behind may be taken over
 * on the kernel's word, when only by its age; one descriptor, closed once.
 */

/** Descriptors of this process open on `file` (Linux). */
function descriptorsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** A lease as a writer that died left it, with the fields given. */
function leaveLease(dir: string, owner: Record<string, unknown>): void {
  fs.mkdirSync(path.join(dir, LOCK_NAME));
  fs.writeFileSync(path.join(dir, LOCK_NAME, 'owner.json'), JSON.stringify({ pid: 4242, host: 'a-container', acquiredMs: Date.now(), token: 'dead-writer', ...owner }));
}

async function closedLog(): Promise<{ dir: string; kernelFile: string; id: { dev: number; ino: number } }> {
  const dir = tempLogDir();
  await (await Log.open(dir)).close();
  const kernelFile = path.join(dir, KERNEL_LOCK_NAME);
  const st = fs.statSync(kernelFile);
  return { dir, kernelFile, id: { dev: st.dev, ino: st.ino } };
}

const bootId = (): string => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const onLinux = process.platform === 'linux';

describe.skipIf(!onLinux)('the kernel lock', () => {
  it('one descriptor on the lock file while open, none after close, none left by a refused open', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir);
    const kernelFile = path.join(dir, KERNEL_LOCK_NAME);
    expect(descriptorsOn(kernelFile)).toBe(1);
    expect((await rejection(Log.open(dir))).code).toBe('AOF_LOCKED');
    expect((await rejection(Log.repair(dir))).code).toBe('AOF_LOCKED');
    expect(descriptorsOn(kernelFile)).toBe(1);
    await log.close();
    await log.close();
    expect(descriptorsOn(kernelFile)).toBe(0);
    // The lock file stays (removing it could let two writers lock two inodes); the lease goes.
    expect(fs.existsSync(kernelFile)).toBe(true);
    expect(fs.existsSync(path.join(dir, LOCK_NAME))).toBe(false);
  });

  it('a lease left on this kernel by a holder of the same lock file is taken over at once, whatever its pid and host', async () => {
    const { dir, id } = await closedLog();
    // pid 1 on another host is alive in every PID namespace: the kernel lock, free, says otherwise.
    leaveLease(dir, { pid: 1, host: 'another-container', bootId: bootId(), kernelLock: id });
    const log = await Log.open(dir);
    await log.close();
  });

  it('a lease left before a reboot is taken over at once on a local file system', async () => {
    const { dir, id } = await closedLog();
    const local = [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630].includes(Number(fs.statfsSync(dir).type) >>> 0);
    leaveLease(dir, { bootId: 'a-boot-before-the-power-cut', kernelLock: id });
    if (local) {
      const log = await Log.open(dir);
      await log.close();
    } else {
      // Elsewhere the kernel cannot vouch for another boot's holder: only the lease's age can.
      expect((await rejection(Log.open(dir))).code).toBe('AOF_LOCKED');
    }
  });

  it('a lease whose holder locked another file (the lock file was replaced, or the log copied) is taken over only by its age', async () => {
    const { dir, id } = await closedLog();
    leaveLease(dir, { bootId: bootId(), kernelLock: { dev: id.dev, ino: id.ino + 1_000_000 } });
    const err = await rejection(Log.open(dir));
    expect(err.code).toBe('AOF_LOCKED');
    expect(err.message).toContain('pid 4242 on a-container');
    expect(err.message).toContain(`remove ${path.join(dir, LOCK_NAME)} if no writer is running`);
    expect(descriptorsOn(path.join(dir, KERNEL_LOCK_NAME))).toBe(0);
    const old = new Date(Date.now() - LOCK_STALE_MS - 10_000);
    fs.utimesSync(path.join(dir, LOCK_NAME), old, old);
    const log = await Log.open(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_NAME, 'owner.json'), 'utf8'))).toMatchObject({ pid: process.pid, host: os.hostname(), bootId: bootId(), kernelLock: { dev: id.dev, ino: id.ino } });
    await log.close();
  });

  it('a symlink in place of the lock file is not followed', async () => {
    const { dir, kernelFile } = await closedLog();
    const elsewhere = path.join(path.dirname(dir), 'elsewhere');
    fs.rmSync(kernelFile);
    fs.symlinkSync(elsewhere, kernelFile);
    const err = await rejection(Log.open(dir));
    expect(err.code).toBe('AOF_IO');
    expect(err.message).toContain(kernelFile);
    expect(fs.existsSync(elsewhere)).toBe(false);
  });
});
