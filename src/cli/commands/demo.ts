import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Log } from '../../log.js';
import { childPayload } from '../../testing/child-payload.js';
import { FaultFs } from '../../testing/fault-fs.js';
import { defineCommand } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes, type Io } from '../io.js';

/** Records each producer appends. */
const PRODUCER_RECORDS = 2500;
/** Concurrent producers. */
const PRODUCERS = 8;
/** Acknowledgements to wait for before killing the child writer. */
const CHILD_ACKS_BEFORE_KILL = 2000;
/** Appends made durable with flush() before the simulated power loss, and appends left unsynced after them. */
const POWER_LOSS_SYNCED = 10;
const POWER_LOSS_UNSYNCED = 10;
/**
 * Seed of the simulated power loss. With it, a prefix of the unsynced writes
 * reaches the disk and the next one is torn part-way, so recovery has a torn
 * tail to keep and cut. (The outcome depends only on the seed and the sequence
 * of writes, which is fixed: the run is the same every time.)
 */
const POWER_LOSS_SEED = 47;

export const demoCommand = defineCommand({
  name: 'demo',
  help: `usage: aof demo [--keep]

Shows the engine at work in a temporary directory, in a few seconds:
concurrent producers under group commit with a tail reader following them,
an atomic batch, segment rolls, a read back after a clean reopen, a child
writer killed with SIGKILL mid-append and the recovery that follows, a
simulated power loss (FaultFs) whose torn tail recovery keeps under
recovery/ and cuts off, and a full verify. Prints what it did with figures.

  --keep   leave the directory in place (to try aof stat, verify, dump on it)

Exit status: 0 when every check passed, 1 when one failed, 3 when it could
not run.
${EXIT_STATUS_HELP}`,
  options: { keep: { type: 'boolean' } },
  positionals: { required: [] },
  async run({ values }, io) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aof-demo-'));
    try {
      const dir = path.join(root, 'log');
      io.out(`aof demo in ${root}`);
      const written = await produce(dir, io);
      await reopenAndRead(dir, written, io);
      await crashAndRecover(path.join(root, 'crashed'), io);
      await powerLossAndRecover(path.join(root, 'power-loss'), io);
      const report = await Log.verify(dir);
      io.out(`6. verify ${path.basename(dir)}: ${report.ok ? 'OK' : 'DAMAGED'}, ${report.records} records in ${report.segments.length} segments, closed cleanly: ${report.cleanClose}`);
      return report.ok ? ExitCode.OK : ExitCode.PROBLEMS;
    } finally {
      if (values.keep === true) io.out(`kept ${root}`);
      else fs.rmSync(root, { recursive: true, force: true });
    }
  },
});

async function produce(dir: string, io: Io): Promise<number> {
  const log = await Log.open(dir, { segment: { maxBytes: 256 * 1024 } }); // default flush: batch (durable group commit)
  let rolls = 0;
  log.on('roll', () => rolls++);
  const tail = followInProcess(log);
  const started = performance.now();
  const producer = async (p: number): Promise<void> => {
    for (let i = 0; i < PRODUCER_RECORDS; i++) await log.append(`producer ${p} event ${i} ${'x'.repeat(40)}`);
  };
  await Promise.all(Array.from({ length: PRODUCERS }, (_, p) => producer(p)));
  const seconds = (performance.now() - started) / 1000;
  const m = log.metrics();
  const followed = await tail.until(log.nextSeq);
  io.out(`1. ${PRODUCERS} producers appended ${m.records} records durably in ${seconds.toFixed(2)} s (${Math.round(m.records / seconds)} records/s)`);
  io.out(`   group commit: ${m.fsyncs} fsyncs for ${m.appends} appends (${m.recordsPerFsync.toFixed(1)} records per fsync, p50 fsync ${m.fsyncLatencyMs.p50.toFixed(2)} ms)`);
  io.out(`   a tail reader followed along: saw all ${followed.seen} in order, each once its append resolved,`);
  io.out(`   at most ${followed.maxLagRecords} records behind the writer (lag from append to delivery: p50 ${followed.p50LagMs} ms, max ${followed.maxLagMs} ms)`);
  const first = await log.appendBatch(['batch-a', 'batch-b', 'batch-c']);
  await log.roll();
  io.out(`2. appended an atomic batch at sequence ${first}; ${rolls + 1} segment rolls so far, ${log.segments().length} segments:`);
  for (const s of log.segments()) io.out(`   ${s.status.padEnd(6)} seq ${s.nextSeq > s.baseSeq ? `${s.baseSeq}..${s.nextSeq - 1}` : `${s.baseSeq} (empty)`} ${formatBytes(s.bytes)}`);
  const total = log.nextSeq;
  await log.close();
  return total;
}

/** A tail reader on the writer's own handle, counting what it sees and how far behind the writer it runs. */
function followInProcess(log: Log): { until(target: number): Promise<{ seen: number; maxLagRecords: number; maxLagMs: number; p50LagMs: number }> } {
  const stop = new AbortController();
  const stats = { seen: 0, maxLagRecords: 0, maxLagMs: 0, p50LagMs: 0 };
  const lagsMs: number[] = [];
  let target = Infinity;
  let reached: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const consume = (async (): Promise<void> => {
    let expected = 0;
    try {
      for await (const r of log.tail({ from: 0, signal: stop.signal })) {
        if (r.seq !== expected) throw new Error(`the tail reader got sequence ${r.seq} where ${expected} was expected`);
        expected++;
        stats.seen++;
        stats.maxLagRecords = Math.max(stats.maxLagRecords, log.nextSeq - 1 - r.seq);
        lagsMs.push(Date.now() - r.timestamp);
        if (stats.seen >= target) reached();
      }
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'AbortError') throw err;
    }
  })();
  return {
    async until(n) {
      target = n;
      if (stats.seen >= n) reached();
      await Promise.race([done, consume]);
      stop.abort();
      await consume;
      lagsMs.sort((a, b) => a - b);
      stats.p50LagMs = lagsMs[Math.floor(lagsMs.length / 2)] ?? 0;
      stats.maxLagMs = lagsMs[lagsMs.length - 1] ?? 0;
      return stats;
    },
  };
}

async function reopenAndRead(dir: string, expected: number, io: Io): Promise<void> {
  const log = await Log.open(dir);
  let n = 0;
  for await (const r of log.read()) {
    if (r.seq !== n) throw new Error(`read returned ${r.seq} where ${n} was expected`);
    n++;
  }
  const last = await log.get(expected - 1);
  io.out(`3. reopened (clean close: ${log.openReport.recovery?.cleanClose}); read back ${n} of ${expected} records in order; last is "${last?.payload.toString()}"`);
  await log.close();
}

async function crashAndRecover(dir: string, io: Io): Promise<void> {
  const acked = await runChildUntilKilled(dir);
  const log = await Log.open(dir);
  let intact = 0;
  for (const seq of acked) {
    const r = await log.get(seq);
    if (r !== undefined && r.payload.equals(childPayload(seq, 64))) intact++;
  }
  const torn = log.openReport.recovery?.tornTail;
  io.out(`4. killed a child writer with SIGKILL after ${acked.length} acknowledged appends; reopened at sequence ${log.nextSeq}`);
  io.out(`   ${intact} of ${acked.length} acknowledged records intact; ${torn === undefined ? 'no torn tail (the kill fell between frames)' : `torn tail of ${torn.bytes} bytes at offset ${torn.offset} cut off and kept in recovery/`}`);
  const seq = await log.append('written after recovery');
  io.out(`   the log accepts appends again: sequence ${seq}`);
  await log.close();
  if (intact !== acked.length) throw new Error('an acknowledged record was lost');
}

function runChildUntilKilled(dir: string): Promise<number[]> {
  const script = fileURLToPath(new URL('../../testing/child-writer.js', import.meta.url));
  const child = spawn(process.execPath, [script, dir, 'always', '16', '64'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked: number[] = [];
  let partial = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      if (acked.length >= CHILD_ACKS_BEFORE_KILL) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`child writer exited with ${code}`))));
  });
}

/**
 * A power loss, simulated by FaultFs: records made durable with flush() all
 * survive; of the appends after the last fsync (strategy 'none' acknowledges
 * after write(2) and promises nothing on power loss), the disk keeps a prefix,
 * the last one torn. Reopening keeps the torn bytes under recovery/ and cuts
 * them off.
 */
async function powerLossAndRecover(dir: string, io: Io): Promise<void> {
  const faults = new FaultFs({ seed: POWER_LOSS_SEED });
  const log = await Log.open(dir, { fs: faults, flush: { strategy: 'none' }, segment: { preallocateBytes: 0 } });
  for (let i = 0; i < POWER_LOSS_SYNCED; i++) await log.append(`synced event ${i}`);
  await log.flush();
  for (let i = 0; i < POWER_LOSS_UNSYNCED; i++) await log.append(`unsynced event ${i} ${'y'.repeat(48)}`);
  const loss = await faults.powerLoss();
  await log.close().catch(() => undefined); // the abandoned handle: its file system is gone with the power
  const segment = loss.files.find((f) => f.path.endsWith('.seg'));
  const reopened = await Log.open(dir);
  try {
    const recovery = reopened.openReport.recovery;
    const torn = recovery?.tornTail;
    io.out(`5. simulated a power loss (FaultFs, seed ${POWER_LOSS_SEED}) after ${POWER_LOSS_SYNCED} flushed and ${POWER_LOSS_UNSYNCED} unsynced appends (strategy 'none'):`);
    const kept = (segment?.keptOps ?? 0) - (segment === undefined || segment.torn === 'none' ? 0 : 1);
    const next = segment?.torn === 'prefix' ? ` and part of write ${kept + 1}` : segment?.torn === 'zeros' ? ` and zeros for write ${kept + 1}` : '';
    io.out(`   the disk kept ${kept} unsynced writes whole${next}; reopened at sequence ${reopened.nextSeq}, all ${POWER_LOSS_SYNCED} flushed records there`);
    if (torn !== undefined) {
      io.out(`   recovery cut a torn tail of ${torn.bytes} bytes at offset ${torn.offset} (${torn.reason}),`);
      io.out(`   keeping it in recovery/${path.basename(torn.preservedAt)} (try aof dump --raw on it)`);
    }
    else io.out(`   recovery: no torn tail${(recovery?.zeroTailBytes ?? 0) > 0 ? `; ${recovery?.zeroTailBytes} zero bytes cut off` : ''}`);
    if (reopened.nextSeq < POWER_LOSS_SYNCED) throw new Error('a flushed record was lost');
  } finally {
    await reopened.close();
  }
}
