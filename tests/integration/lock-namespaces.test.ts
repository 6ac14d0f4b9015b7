import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { distPath, startChildWriter, type ChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

/**
 * Two writers that cannot see each other's processes: another container on
 * the same volume, a sidecar. In a new PID namespace the holder's pid does
 * not exist (or names another process), so a liveness test by pid declares a
 * live lock stale; only the kernel, which sees every open file description
 * whatever the namespace, can arbitrate.
 */

// unshare(1) needs CAP_SYS_ADMIN for --pid/--uts; CI runs as root and must run these.
const unshareWorks = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
if (!unshareWorks) process.stderr.write('SKIPPED lock-namespaces.test.ts: needs root and a working unshare(1) (--pid --fork --mount-proc)\n');

// --kill-child: a SIGKILL to unshare takes its child (pid 1 of the namespace) with it.
const PID_NS = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
// Also another UTS namespace with another hostname: the holder's recorded host is not ours either.
const PID_UTS_NS = [...PID_NS, '--uts', 'sh', '-c', 'hostname aof-other-host && exec "$@"', 'sh'];

/** Runs `Log.repair(dir)` in a process started under `prefix`; its outcome as one line. */
function repairIn(prefix: string[], dir: string): string {
  const script = `import { Log } from ${JSON.stringify(distPath('src/index.js'))};
Log.repair(process.argv[1]).then(() => console.log('repaired'), (err) => console.log('error ' + err.code));`;
  const command = [...prefix, process.execPath, '--input-type=module', '-e', script, dir];
  const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  return run.stdout.trim() || `exit ${run.status}: ${run.stderr}`;
}

const cases: Array<{ name: string; holder: string[]; second: string[] }> = [
  { name: 'the second writer runs in a new PID namespace', holder: [], second: PID_NS },
  { name: 'the second writer runs in new PID and UTS namespaces with another hostname', holder: [], second: PID_UTS_NS },
  { name: 'the holder runs in a new PID namespace, the second writer on the host', holder: PID_NS, second: [] },
];

describe.skipIf(!unshareWorks)('one writer per log across PID namespaces', () => {
  for (const c of cases) {
    it(`${c.name}: AOF_LOCKED while the holder lives, the next writer opens at once after SIGKILL`, async () => {
      const dir = tempLogDir();
      const children: ChildWriter[] = [];
      const start = (prefix: string[]): ChildWriter => {
        const w = startChildWriter(dir, 'always', 8, 64, prefix);
        children.push(w);
        return w;
      };
      try {
        const holder = start(c.holder);
        expect(await holder.waitForLine('ready', 'error ')).toBe('ready');
        await holder.waitForAcks(100);

        const second = start(c.second);
        expect(await second.waitForLine('ready', 'error ')).toBe('error AOF_LOCKED');
        expect(await second.exited).toBe(1);
        // Everything else that takes the writer lock is refused alike: a repair here, and one where the second writer ran.
        await expect(Log.repair(dir)).rejects.toMatchObject({ code: 'AOF_LOCKED' });
        expect(repairIn(c.second, dir)).toBe('error AOF_LOCKED');
        // The holder was not disturbed: it goes on acknowledging.
        await holder.waitForAcks(holder.acked.length + 100);

        await holder.kill();
        // The kernel dropped the holder's lock with its last descriptor: no staleness to wait for.
        const next = start(c.second);
        expect(await next.waitForLine('ready', 'error ')).toBe('ready');
        await next.waitForAcks(50);
        await next.kill();

        const log = await Log.open(dir, { readOnly: true });
        try {
          for (const w of [holder, next]) {
            for (const seq of w.acked) expect((await log.get(seq))?.payload.equals(childPayload(seq, 64)), `seq ${seq}`).toBe(true);
          }
        } finally {
          await log.close();
        }
      } finally {
        for (const w of children) await w.kill();
      }
    });
  }
});
