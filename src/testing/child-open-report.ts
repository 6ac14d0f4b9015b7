/**
 * Opens a log and reports in one JSON line on stdout what happened, for
 * tests that run it as another user (permission errors: root ignores file
 * modes, so such tests start this child with a non-root uid).
 *
 * Usage: node child-open-report.js DIR (read|write)
 * Prints `{"ok":true,"records":N}` or `{"ok":false,"code":...,"errno":...,"message":...,"file":...}`.
 */
import { Log } from '../log.js';

async function main(): Promise<void> {
  const [dir, how = 'read'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: child-open-report DIR (read|write)');
  try {
    const log = await Log.open(dir, { readOnly: how === 'read' });
    let records = 0;
    try {
      for await (const r of log.read()) records += r.seq >= 0 ? 1 : 0;
      if (how === 'write') await log.append('from the child');
    } finally {
      await log.close();
    }
    process.stdout.write(`${JSON.stringify({ ok: true, records })}\n`);
  } catch (err) {
    const e = err as { code?: string; errno?: string; message?: string; file?: string };
    process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, errno: e.errno, message: e.message, file: e.file })}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
