import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Log } from '../../log.js';
import { intOption, UsageError } from '../args.js';
import { CannotRunError, defineCommand } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';

/** Default time each phase runs, in ms: the whole bench takes about five of them. */
const DEFAULT_PHASE_MS = 800;
/** Bytes of each record's payload. */
const PAYLOAD_BYTES = 100;
/** Appends in flight at once in the non-durable phase. */
const PIPELINE_DEPTH = 1024;
/** Concurrent producers in the durable group-commit phase. */
const PRODUCERS = 64;
/** Bytes overwritten before each fdatasync of the raw disk test (one page, like a small group commit). */
const SYNC_BLOCK_BYTES = 4096;

export const benchCommand = defineCommand({
  name: 'bench',
  help: `usage: aof bench [--dir PATH] [--duration MS] [--json]

Measures this machine in a few seconds, in a temporary log directory that is
removed afterwards, with ${PAYLOAD_BYTES}-byte records:

  append, not durable     strategy 'none', ${PIPELINE_DEPTH} appends in flight
  durable, 1 producer     strategy 'always', one producer awaiting each append
  durable, ${PRODUCERS} producers   strategy 'always', ${PRODUCERS} producers each awaiting its own
                          appends: group commit shares each fdatasync
  read                    a sequential read of what the first phase wrote
  raw fdatasync           the disk alone: overwrite ${SYNC_BLOCK_BYTES} bytes, fdatasync, repeat

It prints records (or fdatasyncs) per second. One producer awaiting each
durable append gets about one append per fdatasync; many producers share each
fdatasync (group commit), so they go as far beyond the raw rate as the records
per fsync shown. Figures vary from run to run on a busy machine. The full
comparison with other engines is \`npm run bench\`.

  --dir PATH      where to create the temporary directory (default: the OS
                  temp dir; pass a path on the disk you care about)
  --duration MS   time per phase (default ${DEFAULT_PHASE_MS})
  --json          print the results as JSON

Exit status: 0 on success, 2 on bad usage, 3 when it could not run.
${EXIT_STATUS_HELP}`,
  options: { dir: { type: 'string' }, duration: { type: 'string' }, json: { type: 'boolean' } },
  positionals: { required: [] },
  async run({ values }, io) {
    const phaseMs = intOption('duration', values.duration) ?? DEFAULT_PHASE_MS;
    if (phaseMs < 10 || phaseMs > 60_000) throw new UsageError(`--duration must be between 10 and 60000 ms, got ${phaseMs}`);
    const parent = values.dir ?? os.tmpdir();
    let root: string;
    try {
      root = fs.mkdtempSync(path.join(parent, 'aof-bench-'));
    } catch (err) {
      throw new CannotRunError(`cannot create a temporary directory in ${parent}: ${(err as Error).message}`);
    }
    try {
      const results = await runBench(root, phaseMs, values.json === true ? undefined : io);
      if (values.json === true) io.out(JSON.stringify({ dir: parent, phaseMs, payloadBytes: PAYLOAD_BYTES, node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, results }, null, 2));
      return ExitCode.OK;
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
});

/** One measured phase. */
export interface BenchResult {
  /** Records appended or read (fdatasyncs for the raw disk phase). */
  operations: number;
  seconds: number;
  perSecond: number;
  /** Durable phases and the raw disk phase: fdatasync latency. */
  fsyncLatencyMs?: { p50: number; p99: number };
  /** Durable phases: records covered by each fdatasync. */
  recordsPerFsync?: number;
}

/** All phases, in the order run. */
export interface BenchResults {
  appendNotDurable: BenchResult;
  durableOneProducer: BenchResult;
  durableConcurrent: BenchResult & { producers: number };
  read: BenchResult;
  rawFdatasync: BenchResult;
}

async function runBench(root: string, phaseMs: number, io: Io | undefined): Promise<BenchResults> {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 'x');
  const show = (label: string, r: BenchResult, unit = 'records/s', extra = ''): void => {
    io?.out(`  ${label.padEnd(34)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(12)} ${unit}${extra}`);
  };
  io?.out(`aof bench: ${phaseMs} ms per phase, ${PAYLOAD_BYTES}-byte records, in ${path.dirname(root)}`);

  const fastDir = path.join(root, 'not-durable');
  const fast = await Log.open(fastDir, { flush: { strategy: 'none' } });
  let appendNotDurable: BenchResult;
  try {
    appendNotDurable = await timed(phaseMs, async (until) => {
      let n = 0;
      while (performance.now() < until) {
        await Promise.all(Array.from({ length: PIPELINE_DEPTH }, () => fast.append(payload)));
        n += PIPELINE_DEPTH;
      }
      return { operations: n };
    });
  } finally {
    await fast.close();
  }
  show('append, not durable', appendNotDurable);

  const durableOneProducer = await durablePhase(path.join(root, 'durable-1'), phaseMs, 1, payload);
  show('durable append, 1 producer', durableOneProducer, 'records/s', `  (p50 fsync ${durableOneProducer.fsyncLatencyMs!.p50.toFixed(2)} ms)`);
  const durableConcurrent = { ...(await durablePhase(path.join(root, 'durable-n'), phaseMs, PRODUCERS, payload)), producers: PRODUCERS };
  show(`durable append, ${PRODUCERS} producers`, durableConcurrent, 'records/s', `  (${durableConcurrent.recordsPerFsync!.toFixed(1)} records per fsync)`);

  const reader = await Log.open(fastDir, { readOnly: true });
  let read: BenchResult;
  try {
    read = await timed(phaseMs, async (until) => {
      let n = 0;
      for await (const record of reader.read()) {
        if (record.payload.length !== PAYLOAD_BYTES) throw new Error(`record ${record.seq} read back with ${record.payload.length} bytes`);
        if (++n % 4096 === 0 && performance.now() >= until) break;
      }
      return { operations: n };
    });
  } finally {
    await reader.close();
  }
  show('read', read);

  const rawFdatasync = await timed(phaseMs, async (until) => rawSyncs(path.join(root, 'fdatasync.bin'), until));
  show('disk: raw fdatasync', rawFdatasync, 'fdatasyncs/s', `  (p50 ${rawFdatasync.fsyncLatencyMs!.p50.toFixed(2)} ms)`);
  return { appendNotDurable, durableOneProducer, durableConcurrent, read, rawFdatasync };
}

async function durablePhase(dir: string, phaseMs: number, producers: number, payload: Buffer): Promise<BenchResult> {
  const log = await Log.open(dir, { flush: { strategy: 'always' } });
  try {
    const result = await timed(phaseMs, async (until) => {
      let n = 0;
      const producer = async (): Promise<void> => {
        while (performance.now() < until) {
          await log.append(payload);
          n++;
        }
      };
      await Promise.all(Array.from({ length: producers }, producer));
      return { operations: n };
    });
    const m = log.metrics();
    return { ...result, fsyncLatencyMs: { p50: m.fsyncLatencyMs.p50, p99: m.fsyncLatencyMs.p99 }, recordsPerFsync: m.recordsPerFsync };
  } finally {
    await log.close();
  }
}

/** The disk's own rate: overwrite one block and fdatasync it, as fast as it goes. */
async function rawSyncs(file: string, until: number): Promise<Omit<BenchResult, 'seconds' | 'perSecond'>> {
  const handle = await fs.promises.open(file, 'w+');
  const block = Buffer.alloc(SYNC_BLOCK_BYTES, 1);
  const latencies: number[] = [];
  try {
    await handle.write(block, 0, block.length, 0);
    await handle.sync();
    while (performance.now() < until) {
      block[0] = latencies.length & 0xff;
      await handle.write(block, 0, block.length, 0);
      const t = performance.now();
      await handle.datasync();
      latencies.push(performance.now() - t);
    }
  } finally {
    await handle.close();
  }
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { operations: latencies.length, fsyncLatencyMs: { p50: pick(0.5), p99: pick(0.99) } };
}

/** Runs `body` with a deadline `phaseMs` from now and measures its rate. */
async function timed<R extends { operations: number }>(phaseMs: number, body: (until: number) => Promise<R>): Promise<R & { seconds: number; perSecond: number }> {
  const started = performance.now();
  const result = await body(started + phaseMs);
  const seconds = (performance.now() - started) / 1000;
  return { ...result, seconds, perSecond: seconds === 0 ? 0 : result.operations / seconds };
}
