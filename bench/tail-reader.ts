/**
 * The cross-process tail reader of the tail-latency workload: opens the log
 * read-only, tails it from 0 and reports each record's yield time
 * (CLOCK_MONOTONIC, shared with the writer's process) over IPC.
 * Usage (forked by bench/special.ts): node dist/bench/tail-reader.js DIR
 */
import { Log } from 'aof';
import { tailOf } from './special.js';

const send = (m: object): void => void process.send?.(m);
const hr = (): number => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const log = await Log.open(dir, { readOnly: true });
  const tail = tailOf(log);
  if (tail === undefined) {
    send({ kind: 'na' });
    await log.close();
    return;
  }
  const ac = new AbortController();
  process.on('disconnect', () => ac.abort());
  send({ kind: 'ready' });
  try {
    for await (const r of tail({ from: 0, signal: ac.signal })) send({ kind: 'yield', seq: r.seq, at: hr() });
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    await log.close();
  }
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
});
