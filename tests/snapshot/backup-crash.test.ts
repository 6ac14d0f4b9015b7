/**
 * A backup killed part way (SIGKILL of the process running `log.backup`,
 * right before each change it makes on disk in turn) leaves no temporary
 * copy behind once the log is opened again or another backup runs, and its
 * destination is either absent or a whole backup.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { requireBuilt } from '../cli/run.js';
import { runChild } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

beforeAll(requireBuilt);

const RECORDS = 120;

/** Entries of `dir` that are a backup's temporary directory. */
function temporaries(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.tmp-'));
}

async function recordCount(dir: string): Promise<number> {
  const log = await Log.open(dir, { readOnly: true });
  try {
    let n = 0;
    for await (const r of log.read()) {
      expect(r.payload.toString()).toBe(`record ${r.seq}`);
      n++;
    }
    return n;
  } finally {
    await log.close();
  }
}

describe('SIGKILL during log.backup, at every step', () => {
  it('no temporary copy survives the next open of the log or the next backup; the destination is whole or absent', async () => {
    const template = path.join(tempDir(), 'log');
    const log = await Log.open(template, { segment: { maxBytes: 2048 } });
    for (let i = 0; i < RECORDS; i++) await log.append(`record ${i}`);
    await log.close();
    const copy = (): { root: string; dir: string; backups: string } => {
      const root = tempDir('aof-backup-kill-');
      fs.cpSync(template, path.join(root, 'log'), { recursive: true });
      fs.mkdirSync(path.join(root, 'backups'));
      return { root, dir: path.join(root, 'log'), backups: path.join(root, 'backups') };
    };

    const whole = copy();
    const full = await runChild('src/testing/child-backup.js', [whole.dir, path.join(whole.backups, 'b1'), '0']);
    expect(full.code, full.stderr).toBe(0);
    const { mutations } = JSON.parse(full.stdout) as { mutations: number };
    expect(mutations).toBeGreaterThan(5);
    expect(await recordCount(path.join(whole.backups, 'b1'))).toBe(RECORDS);

    for (let n = 1; n <= mutations; n++) {
      for (const next of ['open', 'backup'] as const) {
        const c = copy();
        const dest = path.join(c.backups, 'b1');
        const run = await runChild('src/testing/child-backup.js', [c.dir, dest, String(n)]);
        expect(run.signal, `kill before change ${n}: ${run.stderr}`).toBe('SIGKILL');
        if (next === 'open') {
          await (await Log.open(c.dir)).close();
        } else {
          const again = await Log.open(c.dir);
          try {
            await again.backup(path.join(c.backups, 'b2'));
          } finally {
            await again.close();
          }
          expect(await recordCount(path.join(c.backups, 'b2'))).toBe(RECORDS);
        }
        expect(temporaries(c.backups), `temporary copies after a kill before change ${n} and the next ${next}`).toEqual([]);
        if (fs.existsSync(dest)) expect(await recordCount(dest), `${dest} after a kill before change ${n}`).toBe(RECORDS);
      }
    }
  }, 240_000);
});
