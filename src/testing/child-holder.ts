/**
 * A writer that appends COUNT records and then holds the log open, idle,
 * until its stdin closes (then closes the log and exits). It prints `ready`
 * once the records are acknowledged. Its active segment then ends in the
 * zeros the writer preallocated, past its published watermark: what a
 * dry-run repair beside a live writer sees.
 *
 * Usage: node child-holder.js DIR COUNT
 */
import { Log } from '../log.js';
import { childPayload } from './child-payload.js';

async function main(): Promise<void> {
  const [dir, countArg = '10'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: child-holder DIR COUNT');
  const log = await Log.open(dir);
  for (let i = 0; i < Number(countArg); i++) await log.append(childPayload(log.nextSeq, 64));
  process.stdout.write('ready\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  await log.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
