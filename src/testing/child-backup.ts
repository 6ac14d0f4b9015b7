/**
 * `log.backup(dest)` in a process of its own, for kill-at-every-step tests:
 * opens the log in DIR for writing, then backs it up to DEST; with KILL_AT =
 * N ≥ 1 the process SIGKILLs itself right before the Nth change the backup
 * makes on disk (see {@link KillFs}); with 0 it runs to the end and prints
 * `{"mutations": <changes made>}`.
 *
 * Usage: node child-backup.js DIR DEST KILL_AT
 */
import { Log } from '../log.js';
import { KillFs } from './kill-fs.js';

async function main(): Promise<void> {
  const [dir, dest, killAtArg = '0'] = process.argv.slice(2);
  if (dir === undefined || dest === undefined) throw new Error('usage: child-backup DIR DEST KILL_AT');
  const killAt = Number(killAtArg);
  const fs = new KillFs();
  const log = await Log.open(dir, { fs });
  fs.arm(killAt > 0 ? killAt : undefined);
  await log.backup(dest);
  const mutations = fs.mutations;
  fs.arm(undefined);
  await log.close();
  process.stdout.write(`${JSON.stringify({ mutations })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
