/**
 * A writer process for full-disk tests: opens the log given in argv with
 * small segments (a seal, and so a catalog commit, every `maxRecords`
 * records), appends one record at a time and prints `ack <seq>` for each
 * acknowledged one and `reject <code> <errno>` for each rejection, until
 * `giveUp` appends in a row were rejected; then closes the log and prints
 * `close ok` or `close <code> <errno>`, then `catalog-errors <n>`, and exits 0.
 * A raw (untyped) error prints `raw:<name>` as its code. Nothing here
 * listens for unhandled rejections: one kills the process, as it would an
 * application's.
 *
 * Usage: node full-disk-writer.js DIR [maxRecords] [payloadBytes] [giveUp]
 */
import { AofError } from '../errors.js';
import { Log } from '../log.js';
import { childPayload } from './child-payload.js';

function describe(err: unknown): string {
  if (err instanceof AofError) return `${err.code} ${(err as { errno?: string }).errno ?? '-'}`;
  const e = err as { name?: string; code?: unknown };
  return `raw:${e?.name ?? typeof err} ${String(e?.code ?? '-')}`;
}

async function main(): Promise<void> {
  const [dir, maxRecordsArg = '20', bytesArg = '200', giveUpArg = '12'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: full-disk-writer DIR [maxRecords] [payloadBytes] [giveUp]');
  const log = await Log.open(dir, { segment: { maxRecords: Number(maxRecordsArg) } });
  process.stdout.write('ready\n');
  let inARow = 0;
  while (inARow < Number(giveUpArg)) {
    const next = log.nextSeq;
    try {
      const seq = await log.append(childPayload(next, Number(bytesArg)));
      process.stdout.write(`ack ${seq}\n`);
      inARow = 0;
    } catch (err) {
      process.stdout.write(`reject ${describe(err)}\n`);
      inARow++;
    }
  }
  const catalogErrors = log.catalogErrors.length;
  try {
    await log.close();
    process.stdout.write('close ok\n');
  } catch (err) {
    process.stdout.write(`close ${describe(err)}\n`);
  }
  process.stdout.write(`catalog-errors ${catalogErrors}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
