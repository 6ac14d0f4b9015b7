import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { distPath, runNode } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

/**
 * A writer's clean close records the checksum of `data.mdb`: the next open,
 * finding it byte for byte as left, needs no probe process (issue 19: a
 * probe is a fresh Node process, longer than the rest of the open).
 * Counted in a fresh process whose `child_process.spawn` counts probes.
 */
const script = (dir: string): string => `
  const cp = await import('node:child_process');
  const { syncBuiltinESMExports } = await import('node:module');
  let probes = 0;
  const spawn = cp.default.spawn;
  cp.default.spawn = (cmd, args, ...rest) => { if (cmd === process.execPath && args?.[0] === '-e') probes++; return spawn(cmd, args, ...rest); };
  syncBuiltinESMExports();
  const { Log } = await import(${JSON.stringify(distPath('src/index.js'))});
  const log = await Log.open(${JSON.stringify(dir)});
  await log.close();
  console.log(JSON.stringify({ probes }));`;

describe('the catalog probe after a clean close', () => {
  it('is skipped when data.mdb is as the close left it, and runs when the record is missing', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir);
    for (let i = 0; i < 10; i++) await log.append(`r${i}`);
    await log.close();
    const clean = await runNode(['--input-type=module', '-e', script(dir)]);
    expect(clean.stderr).toBe('');
    expect(JSON.parse(clean.stdout)).toEqual({ probes: 0 });
    fs.rmSync(path.join(dir, 'index', 'closed-checksum.json'));
    const unknown = await runNode(['--input-type=module', '-e', script(dir)]);
    expect(JSON.parse(unknown.stdout)).toEqual({ probes: 1 });
  });
});
