/**
 * An event-store writer process for tests of read-only stores in another
 * process: opens the event store in argv[2], prints `ready`, then obeys one
 * command per stdin line, so that the parent decides every step (no timers):
 *
 * - `append STREAM COUNT`: appends COUNT events `{ type: 'Added', data: { n } }`
 *   in one call and prints `acked STREAM NEXT_EXPECTED_VERSION POSITION`
 *   once they are acknowledged;
 * - `close`: closes the store, prints `closed` and exits.
 *
 * Errors print `error <code>` and exit 1.
 *
 * Usage: node child-event-writer.js DIR
 */
import * as readline from 'node:readline';
import { EventStore } from '../stream/event-store.js';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: child-event-writer DIR');
  const es = await EventStore.open(dir, { flush: { strategy: 'always' } });
  process.stdout.write('ready\n');
  let n = 0;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [command, stream, count] = line.split(' ');
    if (command === 'append') {
      const events = Array.from({ length: Number(count) }, () => ({ type: 'Added', data: { n: n++ } }));
      const r = await es.appendToStream(stream!, events);
      process.stdout.write(`acked ${stream} ${r.nextExpectedVersion} ${r.position}\n`);
    } else if (command === 'close') {
      await es.close();
      process.stdout.write('closed\n');
      process.exit(0);
    }
  }
}

main().catch((err: unknown) => {
  process.stdout.write(`error ${(err as { code?: string }).code ?? 'unknown'}\n`);
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
