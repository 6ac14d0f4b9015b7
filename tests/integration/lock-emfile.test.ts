import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_CHECK_INTERVAL_MS } from '../../src/lock/writer-lock.js';
import { tempLogDir } from '../helpers/tmp.js';

/**
 * Descriptors run out (EMFILE) while a writer holds its lock: its periodic
 * check cannot read the lease's owner file, which says nothing about the
 * lease. Taking that for a lost lock put the writer into its failed state
 * for good (found by an outside check: "EMFILE fails a read typed, never the
 * writer"). The writer runs in a child so the exhaustion stays there.
 */
const CHILD = `
import * as fs from 'node:fs';
const { Log } = await import(process.argv[1]);
const dir = process.argv[2];
const checkMs = Number(process.argv[3]);
const log = await Log.open(dir, { flush: { strategy: 'always' } });
await log.append('before');
const held = [];
try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
// Wait past two lock checks while every descriptor is taken: the periodic check is what is under test.
await new Promise((resolve) => setTimeout(resolve, 2.5 * checkMs));
for (const fd of held) fs.closeSync(fd);
let outcome = 'ok';
try { await log.append('after'); } catch (err) { outcome = err.code + ': ' + err.message; }
await log.close();
console.log(JSON.stringify({ outcome, exhausted: held.length }));
`;

describe('the writer lock under descriptor exhaustion', () => {
  it('a lock check that cannot read its owner file (EMFILE) does not fail the writer', async () => {
    const dir = tempLogDir();
    const entry = path.resolve('dist/src/index.js');
    const run = spawnSync('bash', ['-c', `ulimit -n 128 && exec node --input-type=module -e "$0" "$@"`, CHILD, entry, dir, String(LOCK_CHECK_INTERVAL_MS)], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { outcome: string; exhausted: number };
    expect(out.exhausted).toBeGreaterThan(0);
    expect(out.outcome).toBe('ok');
  });
});
