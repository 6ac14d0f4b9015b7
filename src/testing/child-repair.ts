/**
 * `Log.repair` in a process of its own, for kill-at-every-step tests: with
 * KILL_AT = N ≥ 1 the process SIGKILLs itself right before the Nth change
 * repair makes on disk (see {@link KillFs}); with 0 it runs to the end and
 * prints `{"mutations": <changes made>, "ok": <verify after>}` on stdout, so
 * a parent knows how many steps there are to kill at.
 *
 * Usage: node child-repair.js DIR truncate|skip KILL_AT [trace]
 */
import { Log } from '../log.js';
import { KillFs } from './kill-fs.js';

async function main(): Promise<void> {
  const [dir, mode, killAtArg = '0', trace] = process.argv.slice(2);
  if (dir === undefined || (mode !== 'truncate' && mode !== 'skip')) throw new Error('usage: child-repair DIR truncate|skip KILL_AT [trace]');
  const killAt = Number(killAtArg);
  const fs = new KillFs(undefined, trace === 'trace' ? (n, op, p) => process.stderr.write(`${n} ${op} ${p}\n`) : undefined);
  fs.arm(killAt > 0 ? killAt : undefined);
  const report = await Log.repair(dir, { mode, fs });
  process.stdout.write(`${JSON.stringify({ mutations: fs.mutations, ok: report.after?.ok ?? null, actions: report.actions.length })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
