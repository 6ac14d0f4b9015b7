import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { aof, requireBuilt } from './run.js';

requireBuilt();

async function buildLog(): Promise<string> {
  const dir = path.join(tempDir(), 'log');
  const log = await Log.open(dir, { segment: { maxRecords: 10 } });
  for (let i = 0; i < 35; i++) await log.append(`r${i}`);
  await log.close();
  return dir;
}

describe('aof archive', () => {
  it('shows the queue, uploads it with --now, and says where each segment went', async () => {
    const dir = await buildLog();
    const archiveDir = path.join(tempDir(), 'archive');
    const before = await aof(['archive', dir, '--json']);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ byStatus: { sealed: 3, active: 1 }, queuedSegments: 3 });
    const now = await aof(['archive', dir, '--now', '--fs', archiveDir, '--compress', 'gzip', '--json']);
    expect(now.code).toBe(0);
    const report = JSON.parse(now.stdout) as { byStatus: Record<string, number>; queuedSegments: number; archived: Array<{ location: string }> };
    expect(report).toMatchObject({ byStatus: { archived: 3, active: 1 }, queuedSegments: 0 });
    for (const a of report.archived) expect(fs.existsSync(a.location.replace(/^fs:/, ''))).toBe(true);
    expect((await aof(['archive', dir, '--now'])).code).toBe(2);
    expect((await aof(['archive', dir, '--now', '--fs', archiveDir, '--compress', 'zstd'])).code).toBe(2);
  });
});

describe('aof backup', () => {
  it('copies a log that then verifies clean, and refuses a non-empty destination', async () => {
    const dir = await buildLog();
    const dest = path.join(tempDir(), 'copy');
    const result = await aof(['backup', dir, dest, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ firstSeq: 0, nextSeq: 35, cleanClose: true });
    const verify = await aof(['verify', dest, '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, records: 35 });
    const again = await aof(['backup', dir, dest]);
    expect(again.code).not.toBe(0);
  });
});
