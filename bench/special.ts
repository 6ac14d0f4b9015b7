/**
 * The aof-only workloads: open time of many sealed segments, tail latency,
 * writer RSS over a long run, the CRC implementation.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import CRC32 from 'crc-32';
import { Log } from 'aof';
import { builtinCrc, CRC_IMPL, dirBytes, freshDir, median, now, pipelined, quantile, removeDir, POOL_SIZE } from './common.js';
import type { CaseContext, CaseDef, Figure } from './cases.js';

const MiB = 1024 * 1024;

// ---- open time of a log of many sealed segments, vs scanning it ----

/** Opens timed per handle kind (after one untimed warm-up open). */
const OPEN_RUNS = 15;

export function openTimeCase(): CaseDef {
  const W = 'open';
  return {
    id: 'open/aof',
    produces: [
      { workload: W, contender: 'open', label: 'Log.open (writer)', kind: 'aof', setting: 'takes the lock, opens sealed segments from the catalog (each read on first use), recovers the active one' },
      { workload: W, contender: 'open-ro', label: 'Log.open (readOnly)', kind: 'aof', setting: 'no lock, no recovery' },
      { workload: W, contender: 'scan', label: 'scan: log.read() of every record', kind: 'aof', setting: 'readOnly log, every frame read and checked' },
    ],
    async run(ctx) {
      const { openSegments: S, openRecordsPerSegment: R } = ctx.params;
      const dir = path.join(freshDir(ctx.dir, 'open'), 'log');
      try {
        ctx.progress(`writing ${S.toLocaleString('en-US')} sealed segments of ${R} records`);
        const writer = await Log.open(dir, { flush: { strategy: 'none' }, segment: { maxRecords: R } });
        const batch = Array.from({ length: R }, (_, i) => ctx.pool[i % POOL_SIZE]!);
        // S full segments get sealed as the next batch arrives; the last batch stays in the active segment.
        for (let s = 0; s <= S; s++) await writer.appendBatch(batch);
        await writer.close();
        const probe = await Log.open(dir, { readOnly: true });
        const sealed = probe.segments().length - 1;
        const records = probe.nextSeq;
        await probe.close();
        const bytes = dirBytes(path.join(dir, 'segments'));

        let warmUpOpenMs = NaN;
        const times = async (label: string, runs: number, once: () => Promise<number>): Promise<number[]> => {
          const warmUp = await once();
          if (Number.isNaN(warmUpOpenMs)) warmUpOpenMs = warmUp;
          const out: number[] = [];
          for (let r = 0; r < runs; r++) {
            ctx.progress(`${label}: run ${r + 1}/${runs}`);
            out.push(await once());
          }
          return out;
        };
        // An open takes milliseconds, and the first ones in a process run cold code (and meet the garbage
        // collector's first growth): the median of many opens measures the open, a few would measure the JIT.
        const runs = Math.max(ctx.params.runs, OPEN_RUNS);
        const openWriter = await times('Log.open (writer)', runs, async () => {
          const t0 = now();
          const log = await Log.open(dir);
          const ms = now() - t0;
          await log.close();
          return ms;
        });
        const openRo = await times('Log.open (readOnly)', runs, async () => {
          const t0 = now();
          const log = await Log.open(dir, { readOnly: true });
          const ms = now() - t0;
          await log.close();
          return ms;
        });
        const scan = await times('scan', ctx.params.runs, async () => {
          const log = await Log.open(dir, { readOnly: true });
          const t0 = now();
          let n = 0;
          for await (const r of log.read({ from: 0 })) if (r.payload.length > 0) n++;
          const ms = now() - t0;
          await log.close();
          if (n !== records) throw new Error(`scan saw ${n} of ${records} records`);
          return ms;
        });
        const facts = { sealedSegments: sealed, records, bytes };
        return [
          { workload: W, contender: 'open', value: median(openWriter), runs: openWriter, extra: { ...facts, warmUpOpenMs: Math.round(warmUpOpenMs * 10) / 10 } },
          { workload: W, contender: 'open-ro', value: median(openRo), runs: openRo, extra: facts },
          { workload: W, contender: 'scan', value: median(scan), runs: scan, extra: facts },
        ];
      } finally {
        removeDir(path.dirname(dir));
      }
    },
  };
}

// ---- tail latency (hook: log.tail is being written) ----

/** The shape of `log.tail`, once it exists (DESIGN.md: `for await (const r of log.tail({ from, signal }))`). */
export type TailFn = (options: { from?: number; signal?: AbortSignal }) => AsyncIterable<{ seq: number }>;

/** `log.tail` when this build of aof has it. */
export function tailOf(log: Log): TailFn | undefined {
  const tail = (log as unknown as { tail?: unknown }).tail;
  return typeof tail === 'function' ? (tail as TailFn).bind(log) : undefined;
}

const hr = (): number => Number(process.hrtime.bigint()) / 1e6; // ms on CLOCK_MONOTONIC, shared by every process of the machine

const TAIL_NA = 'not available: log.tail is not a function in this build of aof';

export function tailCase(): CaseDef {
  const W = 'tail';
  return {
    id: 'tail/aof',
    produces: [
      { workload: W, contender: 'in-process', label: 'in-process', kind: 'aof', setting: "a tail({ from: 0 }) reader in the writer's process; flush 'always'" },
      { workload: W, contender: 'cross-process', label: 'cross-process', kind: 'aof', setting: "a readOnly log in another process tailing from 0; flush 'always'" },
      { workload: W, contender: 'in-process-user', label: 'in-process, as a user writes it', kind: 'aof', setting: "issue 21's shape: Log.open(dir) with the defaults; a for await tail reader; a writer awaiting each append in turn, never waiting for the reader; from the append's acknowledgement to the yield (0 when the reader had it first)" },
    ],
    async run(ctx) {
      const figures: Figure[] = [];
      const base = freshDir(ctx.dir, 'tail');
      try {
        figures.push(await inProcessTail(ctx, path.join(base, 'in')));
        figures.push(await crossProcessTail(ctx, path.join(base, 'cross')));
        figures.push(await userShapeTail(ctx, path.join(base, 'user')));
      } finally {
        removeDir(base);
      }
      return figures;
    },
  };
}

function latencyFigure(contender: string, latencies: number[], timeouts: number, extra: Record<string, number> = {}): Figure {
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  return { workload: 'tail', contender, value: p99, runs: [p99], extra: { p50Ms: round3(p50), p99Ms: round3(p99), maxMs: round3(Math.max(...latencies)), samples: latencies.length, timeouts, ...extra } };
}

/**
 * Issue 21's shape: the defaults, a `for await` tail reader, a writer that
 * awaits each append in turn and never waits for the reader. Latency from
 * the acknowledgement to the yield (and, in the details, from the call).
 */
async function userShapeTail(ctx: CaseContext, dir: string): Promise<Figure> {
  const log = await Log.open(dir);
  const ac = new AbortController();
  try {
    const tail = tailOf(log);
    if (tail === undefined) return { workload: 'tail', contender: 'in-process-user', value: NaN, runs: [], note: TAIL_NA };
    const samples = ctx.params.tailSamples;
    const yielded = new Float64Array(samples).fill(NaN);
    let waiter: (() => void) | undefined;
    const reader = (async () => {
      try {
        for await (const r of tail({ from: 0, signal: ac.signal })) {
          if (r.seq < samples) yielded[r.seq] = hr();
          if (r.seq === samples - 1) waiter?.();
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    })();
    const calledAt = new Float64Array(samples);
    const ackedAt = new Float64Array(samples);
    for (let i = 0; i < samples; i++) {
      if (i % 100 === 0) ctx.progress(`tail, user shape: ${i}/${samples}`);
      calledAt[i] = hr();
      const seq = await log.append(ctx.pool[i % POOL_SIZE]!);
      ackedAt[i] = hr();
      if (seq !== i) throw new Error(`append ${i} got seq ${seq}`);
    }
    if (Number.isNaN(yielded[samples - 1]!)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        waiter = () => (clearTimeout(timer), resolve());
      });
    }
    ac.abort();
    await reader;
    const fromAck: number[] = [];
    const fromCall: number[] = [];
    let timeouts = 0;
    let readerFirst = 0;
    for (let i = Math.min(20, Math.floor(samples / 10)); i < samples; i++) {
      const y = yielded[i]!;
      if (Number.isNaN(y)) {
        timeouts++;
        continue;
      }
      if (y <= ackedAt[i]!) readerFirst++;
      fromAck.push(Math.max(0, y - ackedAt[i]!));
      fromCall.push(y - calledAt[i]!);
    }
    return latencyFigure('in-process-user', fromAck, timeouts, { fromCallP50Ms: round3(quantile(fromCall, 0.5)), fromCallP99Ms: round3(quantile(fromCall, 0.99)), readerFirst });
  } finally {
    ac.abort();
    await log.close();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * One producer appends a record, then waits until the reader has yielded it
 * (or a timeout) before the next: latency from the append's acknowledgement
 * to the reader's yield, unloaded.
 */
async function inProcessTail(ctx: CaseContext, dir: string): Promise<Figure> {
  const log = await Log.open(dir, { flush: { strategy: 'always' } });
  const ac = new AbortController();
  try {
    const tail = tailOf(log);
    if (tail === undefined) return { workload: 'tail', contender: 'in-process', value: NaN, runs: [], note: TAIL_NA };
    const yielded = new Map<number, number>();
    let waiter: { seq: number; wake: () => void } | undefined;
    const reader = (async () => {
      try {
        for await (const r of tail({ from: 0, signal: ac.signal })) {
          yielded.set(r.seq, hr());
          if (waiter !== undefined && r.seq >= waiter.seq) waiter.wake();
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    })();
    const latencies: number[] = [];
    let timeouts = 0;
    const samples = ctx.params.tailSamples;
    for (let i = 0; i < samples; i++) {
      if (i % 100 === 0) ctx.progress(`tail in-process: ${i}/${samples}`);
      const seq = await log.append(ctx.pool[i % POOL_SIZE]!);
      const ackAt = hr();
      if (!yielded.has(seq)) {
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 1000);
          waiter = { seq, wake: () => (clearTimeout(timer), resolve(true)) };
        });
        waiter = undefined;
        if (!ok) {
          timeouts++;
          continue;
        }
      }
      if (i >= Math.min(20, samples / 10)) latencies.push(Math.max(0, yielded.get(seq)! - ackAt)); // skip the first few: warm-up
      yielded.delete(seq);
    }
    ac.abort();
    await reader;
    return latencyFigure('in-process', latencies, timeouts);
  } finally {
    ac.abort();
    await log.close();
  }
}

/** As in-process, with the reader in a child process (bench/tail-reader.ts) reporting its yield times over IPC. */
async function crossProcessTail(ctx: CaseContext, dir: string): Promise<Figure> {
  const log = await Log.open(dir, { flush: { strategy: 'always' } });
  const childPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tail-reader.js');
  const child = fork(childPath, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const yielded = new Map<number, number>();
    let waiter: { seq: number; wake: () => void } | undefined;
    let failure: string | undefined;
    const ready = new Promise<'ready' | 'na'>((resolve, reject) => {
      child.on('message', (m: { kind: string; seq?: number; at?: number; message?: string }) => {
        if (m.kind === 'ready' || m.kind === 'na') resolve(m.kind);
        else if (m.kind === 'yield') {
          yielded.set(m.seq!, m.at!);
          if (waiter !== undefined && m.seq! >= waiter.seq) waiter.wake();
        } else if (m.kind === 'error') {
          failure = m.message;
          reject(new Error(m.message));
        }
      });
      child.on('exit', (code) => reject(new Error(`the tail reader exited with ${code}`)));
    });
    if ((await ready) === 'na') return { workload: 'tail', contender: 'cross-process', value: NaN, runs: [], note: TAIL_NA };
    const latencies: number[] = [];
    let timeouts = 0;
    const samples = ctx.params.tailSamples;
    for (let i = 0; i < samples && failure === undefined; i++) {
      if (i % 100 === 0) ctx.progress(`tail cross-process: ${i}/${samples}`);
      const seq = await log.append(ctx.pool[i % POOL_SIZE]!);
      const ackAt = hr();
      if (!yielded.has(seq)) {
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 5000);
          waiter = { seq, wake: () => (clearTimeout(timer), resolve(true)) };
        });
        waiter = undefined;
        if (!ok) {
          timeouts++;
          continue;
        }
      }
      if (i >= Math.min(20, samples / 10)) latencies.push(Math.max(0, yielded.get(seq)! - ackAt));
      yielded.delete(seq);
    }
    if (failure !== undefined) throw new Error(failure);
    return latencyFigure('cross-process', latencies, timeouts);
  } finally {
    child.removeAllListeners('exit');
    child.kill();
    await log.close();
  }
}

// ---- writer RSS over a long run ----

export function rssCase(): CaseDef {
  const W = 'rss';
  return {
    id: 'rss/aof',
    produces: [{ workload: W, contender: 'aof', label: 'aof writer', kind: 'aof', setting: "appendBatch(1,000) of 100 B records, 8 batches in flight, flush 'none', 64 MiB segments" }],
    async run(ctx) {
      const dir = path.join(freshDir(ctx.dir, 'rss'), 'log');
      const log = await Log.open(dir, { flush: { strategy: 'none' } });
      const samples: Array<{ bytes: number; rss: number; heap: number }> = [];
      let written = 0;
      const sample = (): void => {
        const m = process.memoryUsage();
        samples.push({ bytes: written, rss: m.rss, heap: m.heapUsed });
      };
      const timer = setInterval(() => {
        sample();
        ctx.progress(`writer RSS: ${(written / MiB).toFixed(0)} / ${(ctx.params.rssBytes / MiB).toFixed(0)} MiB written, RSS ${(process.memoryUsage.rss() / MiB).toFixed(0)} MiB`);
      }, 100);
      const batch = Array.from({ length: 1000 }, (_, i) => ctx.pool[i % POOL_SIZE]!);
      const batchBytes = 1000 * 100;
      const t0 = now();
      try {
        sample();
        const n = Math.ceil(ctx.params.rssBytes / batchBytes);
        await pipelined({ n, capMs: Infinity }, 8, async () => {
          await log.appendBatch(batch);
          written += batchBytes;
        });
        sample();
      } finally {
        clearInterval(timer);
        await log.close();
        removeDir(path.dirname(dir));
      }
      const ms = now() - t0;
      // Flat: the highest RSS of the second half of the run against the highest of the first half (after the first 10%).
      const total = written;
      const first = samples.filter((s) => s.bytes >= total * 0.1 && s.bytes < total * 0.5);
      const second = samples.filter((s) => s.bytes >= total * 0.5);
      const max = (xs: typeof samples, k: 'rss' | 'heap'): number => Math.max(...xs.map((s) => s[k]));
      const firstMax = first.length > 0 ? max(first, 'rss') : samples[0]!.rss;
      const secondMax = second.length > 0 ? max(second, 'rss') : samples[samples.length - 1]!.rss;
      const growth = secondMax - firstMax;
      return [
        {
          workload: W,
          contender: 'aof',
          value: growth / MiB,
          runs: [growth / MiB],
          extra: {
            bytesWritten: total,
            seconds: Math.round(ms / 100) / 10,
            rssStartMiB: mib(samples[0]!.rss),
            rssFirstHalfMaxMiB: mib(firstMax),
            rssSecondHalfMaxMiB: mib(secondMax),
            rssEndMiB: mib(samples[samples.length - 1]!.rss),
            heapMaxMiB: mib(max(samples, 'heap')),
            samples: samples.length,
          },
        },
      ];
    },
  };
}

function mib(x: number): number {
  return Math.round((x / MiB) * 10) / 10;
}

// ---- CRC ----

export function crcCase(): CaseDef {
  const W = 'crc';
  return {
    id: 'crc/impl',
    produces: [
      { workload: W, contender: 'zlib', label: 'zlib.crc32 (Node built-in)', kind: 'aof', setting: '1 MiB buffers' },
      { workload: W, contender: 'crc-32', label: 'crc-32 package', kind: 'floor', setting: '1 MiB buffers' },
    ],
    async run(ctx) {
      const big = Buffer.alloc(MiB, 7);
      const small = ctx.pool[0]!;
      const measure = (f: (b: Uint8Array) => number): { gbps: number; smallPerSec: number } => {
        const iters = ctx.params.mode === 'quick' ? 20 : 300;
        const smallIters = ctx.params.mode === 'quick' ? 10_000 : 1_000_000;
        for (let i = 0; i < 10; i++) f(big);
        let t0 = now();
        for (let i = 0; i < iters; i++) f(big);
        const gbps = (iters * MiB) / 1e6 / (now() - t0);
        let x = 0;
        t0 = now();
        for (let i = 0; i < smallIters; i++) x ^= f(small);
        const smallPerSec = (smallIters * 1000) / (now() - t0);
        if (x === 0.5) console.log(x); // keep x alive
        return { gbps, smallPerSec };
      };
      const figures: Figure[] = [];
      const native = builtinCrc;
      if (native !== undefined) {
        const z = measure((b) => native(b, 0));
        figures.push({ workload: W, contender: 'zlib', value: z.gbps, runs: [z.gbps], extra: { inUse: CRC_IMPL, crcsOf100BytesPerSecond: Math.round(z.smallPerSec) } });
      } else figures.push({ workload: W, contender: 'zlib', value: NaN, runs: [], note: 'zlib.crc32 is not in this Node (added in 20.15)' });
      const p = measure((b) => CRC32.buf(b, 0));
      figures.push({ workload: W, contender: 'crc-32', value: p.gbps, runs: [p.gbps], extra: { crcsOf100BytesPerSecond: Math.round(p.smallPerSec) } });
      return figures;
    },
  };
}
