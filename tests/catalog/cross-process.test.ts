import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { distPath } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** Runs `aof stat --json` (a read-only open) in another process. */
async function statInChild(dir: string): Promise<{ segments: Array<{ baseSeq: number; status: string; nextSeq: number }> }> {
  const { stdout } = await run(process.execPath, [distPath('src/cli/main.js'), 'stat', dir, '--json']);
  return JSON.parse(stdout) as { segments: Array<{ baseSeq: number; status: string; nextSeq: number }> };
}

describe('the catalog from another process', () => {
  it('a read-only reader in another process sees the live writer’s sealed segments', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 10 } });
    for (let i = 0; i < 25; i++) await log.append(`r${i}`);
    const first = await statInChild(dir);
    expect(first.segments.map((s) => [s.baseSeq, s.status])).toEqual([[0, 'sealed'], [10, 'sealed'], [20, 'active']]);
    for (let i = 25; i < 35; i++) await log.append(`r${i}`);
    const second = await statInChild(dir);
    expect(second.segments.map((s) => [s.baseSeq, s.status])).toEqual([[0, 'sealed'], [10, 'sealed'], [20, 'sealed'], [30, 'active']]);
    await log.close();
  });
});
