/**
 * A writer process for crash tests and the demo: opens the log given in
 * argv, appends records as fast as it can with `concurrency` appends in
 * flight, and prints `ack <seq>` for each acknowledged record (and `ready`
 * once the log is open). A parent kills it with SIGKILL at a moment of its
 * choosing and then checks that every acknowledged record survived.
 *
 * It also prints `failed <code>` when the log enters its failed state (its
 * `error` event) and `error <code>` when it stops on an error (e.g.
 * `error AOF_LOCKED` when another writer holds the log), so a parent can wait
 * on a line instead of a timer.
 *
 * Usage: node child-writer.js DIR [strategy] [concurrency] [payloadBytes]
 */
import { Log } from '../log.js';
import type { FlushOptions } from '../flush/strategy.js';
import { childPayload } from './child-payload.js';

async function main(): Promise<void> {
  const [dir, strategy = 'always', concurrencyArg = '8', bytesArg = '64'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: child-writer DIR [strategy] [concurrency] [payloadBytes]');
  const concurrency = Number(concurrencyArg);
  const bytes = Number(bytesArg);
  const log = await Log.open(dir, { flush: { strategy } as FlushOptions, segment: { maxBytes: 64 * 1024 } });
  log.on('error', (err: Error & { code?: string }) => {
    process.stdout.write(`failed ${err.code ?? 'unknown'}\n`);
  });
  process.stdout.write('ready\n');
  let next = log.nextSeq;
  const worker = async (): Promise<void> => {
    for (;;) {
      const expected = next++;
      const seq = await log.append(childPayload(expected, bytes));
      process.stdout.write(`ack ${seq}\n`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

main().catch((err: unknown) => {
  process.stdout.write(`error ${(err as { code?: string }).code ?? 'unknown'}\n`);
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
