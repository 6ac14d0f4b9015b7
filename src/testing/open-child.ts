/**
 * Opens a log in a process of its own, for tests where opening may kill the
 * process (a damaged LMDB catalog used to, by SIGBUS): the parent sees a
 * signal as the child's, not its own. Modes: `read` (a read-only handle reads
 * every record), `write` (a writer opens, reads every record, appends one,
 * closes), `verify` (`Log.verify`). Prints one JSON line with what it found.
 *
 * Usage: node open-child.js DIR read|write|verify
 */
import { Log } from '../log.js';

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  if (dir === undefined || (mode !== 'read' && mode !== 'write' && mode !== 'verify')) throw new Error('usage: open-child DIR read|write|verify');
  if (mode === 'verify') {
    process.stdout.write(`${JSON.stringify(await Log.verify(dir))}\n`);
    return;
  }
  const log = await Log.open(dir, { readOnly: mode === 'read' });
  let records = 0;
  for await (const _ of log.read()) records++;
  const segments = log.segments().map((s) => s.status);
  if (mode === 'write') await log.append('appended by open-child');
  const nextSeq = log.nextSeq;
  await log.close();
  process.stdout.write(`${JSON.stringify({ records, nextSeq, segments, catalog: log.openReport.catalog ?? null })}\n`);
}

main().catch((err: unknown) => {
  const e = err as { code?: unknown; message?: unknown };
  process.stdout.write(`${JSON.stringify({ error: { code: e?.code ?? null, message: String(e?.message ?? err) } })}\n`);
  process.exit(1);
});
