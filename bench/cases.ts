/**
 * Every measurement of the benchmark: the workloads, who runs in each, and
 * the cases (one child process each) that produce their figures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { concurrentProducers, randomInts, freshDir, median, now, pipelined, rate, removeDir, sequential, POOL_SIZE, RECORD_BYTES, type Budget, type Timed } from './common.js';
import { openAof, openHypercore, openLevel, openLmdb, openSqlite, scanBatches, type Adapter, type Durability } from './engines.js';
import type { Params } from './params.js';
import { rawGetter, rawScan, rawSequentialWrite, rawWrite } from './raw.js';
import { crcCase, openTimeCase, rssCase, tailCase } from './special.js';
import { appendInWindows, userReadCase } from './user-reads.js';
import { eventStoreCases, EVENT_STORE_WORKLOADS } from './es-cases.js';
import { snapshotTickCase } from './snapshot-case.js';

/** Who a figure is about: aof itself, the raw-fs floor, or a peer engine. */
export type Kind = 'aof' | 'floor' | 'peer';

/** A figure a case promises to produce. */
export interface Produces {
  workload: string;
  contender: string;
  label: string;
  kind: Kind;
  /** Settings, in words (durability, batching, API). */
  setting: string;
}

/** A measured figure (or why there is none). */
export interface Figure {
  workload: string;
  contender: string;
  /** Median over the timed runs, in the workload's unit. NaN when not available. */
  value: number;
  /** Each timed run's value. */
  runs: number[];
  /** Extra facts (counts, secondary units). */
  extra?: Record<string, number | string>;
  /** Why there is no value (not applicable, or the run failed). */
  note?: string;
  /** The workload does not apply to this engine (`note` says why). */
  notApplicable?: boolean;
}

/** What a case gets from the child that runs it. */
export interface CaseContext {
  /** A directory of its own (removed afterwards). */
  dir: string;
  params: Params;
  /** The records every engine writes: record `i` is `pool[i % POOL_SIZE]`. */
  pool: Buffer[];
  /** Reports what is running now (the progress line). */
  progress(text: string): void;
}

/** One child process's worth of measurements. */
export interface CaseDef {
  id: string;
  produces: Produces[];
  /**
   * The main process runs this case once per timed run (each child does its
   * warm-up and one run), taking turns with the other cases of its workload,
   * so that a busy spell of the machine hits every contender alike.
   */
  interleave?: boolean;
  run(ctx: CaseContext): Promise<Figure[]>;
}

/** A workload as the report presents it. */
export interface WorkloadDef {
  id: string;
  title: string;
  /** Unit of the values (higher is better unless `lowerIsBetter`). */
  unit: string;
  lowerIsBetter?: boolean;
  /** What is measured, in a sentence or two. */
  what: string;
  /** The aof contender the ratios are taken of. */
  primary: string;
}

export const WORKLOADS: WorkloadDef[] = [
  { id: 'append', title: 'Pipelined append, non-durable', unit: 'records/s', primary: 'aof', what: 'Single-record appends, a window of appends kept in flight (a new one issued as each resolves). Acknowledged after write(2) or the engine\'s non-durable commit.' },
  { id: 'append-durable', title: 'Pipelined append, durable', unit: 'records/s', primary: 'aof-always', what: 'As above, but every acknowledged record is on stable storage (fdatasync or the engine\'s synced commit) when its append resolves.' },
  { id: 'batch', title: 'appendBatch of 1,000', unit: 'MB/s', primary: 'aof', what: 'Batches of 1,000 records, 8 batches kept in flight (engines with a synchronous API do them one after another); payload MB/s (10^6 bytes). aof\'s figure includes a final flush() (fdatasync), so that it compares with the disk\'s sequential write bandwidth, the floor of this workload.' },
  { id: 'seq-read', title: 'Sequential read', unit: 'records/s', primary: 'aof', what: 'Every record of a data set in order, page cache warm (the data set was just written). aof: log.read(); lmdb: getRange(); sqlite: SELECT ... ORDER BY seq; level: values() iterator with nextv(1000); hypercore: createReadStream().' },
  { id: 'get', title: 'Random get', unit: 'gets/s', primary: 'aof', what: 'Records at seeded random positions of the same data set, one at a time (each awaited), page cache warm. Every value returned is checked. The floor reads and checks the whole frame holding the record, as one CRC per frame requires.' },
  { id: 'durable-1', title: 'Durable, one awaiting producer', unit: 'records/s', primary: 'aof-always', what: 'One producer awaiting each single-record append before the next, at durable settings. The floor is a write(2)+fdatasync loop.' },
  { id: 'durable-64', title: 'Durable, 64 concurrent producers', unit: 'records/s', primary: 'aof-always', what: '64 producers, each awaiting its own single-record append before the next, at durable settings. The floor is the disk\'s fsync rate (a write+fdatasync loop), the rate one producer gets without group commit.' },
  { id: 'user-append', title: 'Issue 21: append() in windows of 10,000 awaited with Promise.all', unit: 'records/s', primary: 'aof', what: "The shape a user writes first: 10,000 single-record appends issued in a loop, then `await Promise.all` of them, then the next 10,000; flush 'none'. lmdb-js: async `put` in the same shape." },
  { id: 'user-read', title: 'Issue 21: for await over log.read()', unit: 'records/s', primary: 'aof', what: 'Every record of the data set written by the shape above, in order, in one child process with the peer and the floor taking turns run by run; page cache warm. The loop body touches the payload length and the sequence number, as a user\'s does.' },
  { id: 'user-get-append', title: 'Issue 21: await log.get(seq) at random, records written by append()', unit: 'gets/s', primary: 'aof', what: 'Seeded random positions, one get awaited at a time, on the data set written by append() in windows of 10,000 (same child process and turns as above).' },
  { id: 'user-get-batch', title: 'Issue 21: await log.get(seq) at random, records written by appendBatch(1,000)', unit: 'gets/s', primary: 'aof', what: 'As above, on records written by appendBatch() of 1,000. Floors: one readSync of exactly one record and its CRC (what a get of one record costs with no engine), and one readSync of a 4 KiB frame and its CRC.' },
  ...EVENT_STORE_WORKLOADS,
];

// ---- helpers ----

function recs(pool: readonly Buffer[], first: number, count: number): Buffer[] {
  const out = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) out[i] = pool[(first + i) % POOL_SIZE]!;
  return out;
}

function syncLoop(budget: Budget, op: (i: number) => void): Timed {
  const start = now();
  let i = 0;
  while (i < budget.n) {
    op(i++);
    if ((i & 255) === 0 && now() - start >= budget.capMs) break;
  }
  return { ops: i, ms: now() - start };
}

/** One warm-up run at a tenth of the budget, then `runs` timed runs; the value of each is `value(timed)`. */
async function repeat(ctx: CaseContext, label: string, budget: Budget, once: (budget: Budget, run: number) => Promise<Timed>, value: (t: Timed) => number = rate): Promise<{ value: number; runs: number[]; timed: Timed[] }> {
  ctx.progress(`${label}: warm-up`);
  await once({ n: Math.max(1, Math.ceil(budget.n / 10)), capMs: Math.max(50, budget.capMs / 5) }, -1);
  const timed: Timed[] = [];
  for (let r = 0; r < ctx.params.runs; r++) {
    ctx.progress(`${label}: run ${r + 1}/${ctx.params.runs}`);
    timed.push(await once(budget, r));
  }
  const values = timed.map(value);
  return { value: median(values), runs: values, timed };
}

/** Opens a fresh engine in a fresh directory for each run, drives it, closes it, removes the directory. */
function freshRun(ctx: CaseContext, open: (dir: string) => Promise<Adapter>, drive: (a: Adapter, budget: Budget) => Promise<Timed> | Timed, after?: (a: Adapter, t: Timed) => Promise<void> | void): (budget: Budget, run: number) => Promise<Timed> {
  return async (budget, run) => {
    const dir = freshDir(ctx.dir, `run${run + 1}`);
    const a = await open(dir);
    try {
      const t = await drive(a, budget);
      await after?.(a, t);
      return t;
    } finally {
      await a.close();
      removeDir(dir);
    }
  };
}

type Driver = (ctx: CaseContext) => (a: Adapter, budget: Budget) => Promise<Timed> | Timed;

/** Appends kept in flight, `window` of them. */
const windowed: Driver = (ctx) => (a, budget) => pipelined(budget, ctx.params.window, (i) => a.put!(i, ctx.pool[i % POOL_SIZE]!));
/** A synchronous engine gets the records in flight as one transaction per window (what a group-committing wrapper would do). */
const grouped: Driver = (ctx) => (a, budget) => {
  let done = 0;
  return syncLoopGroups(budget, ctx.params.window, (count) => {
    void a.putMany!(done, recs(ctx.pool, done, count));
    done += count;
  });
};
/** One synchronous put per record. */
const syncEach: Driver = (ctx) => (a, budget) => syncLoop(budget, (i) => a.putSync!(i, ctx.pool[i % POOL_SIZE]!));
/** One awaited put at a time. */
const awaitEach: Driver = (ctx) => (a, budget) =>
  sequential(budget, async (i) => {
    await a.put!(i, ctx.pool[i % POOL_SIZE]!);
    return 1;
  });
/** Issue 21's append shape: `userWindow` appends issued, then awaited with one Promise.all, then the next window. */
const windowThenAll: Driver = (ctx) => async (a, budget) => {
  const start = now();
  let done = 0;
  while (done < budget.n) {
    const count = Math.min(ctx.params.userWindow, budget.n - done);
    const first = done;
    await appendInWindows((i) => a.put!(first + i, ctx.pool[(first + i) % POOL_SIZE]!), count, count);
    done += count;
    if (now() - start >= budget.capMs) break;
  }
  return { ops: done, ms: now() - start };
};
/** `producers` awaiting producers. */
const producersDriver: Driver = (ctx) => (a, budget) => concurrentProducers(budget, ctx.params.producers, (i) => a.put!(i, ctx.pool[i % POOL_SIZE]!));
/** Batches of `batch` records, `BATCHES_IN_FLIGHT` of them in flight (a synchronous engine does them one after another). */
const batchesInFlight: Driver = (ctx) => async (a, budget) => {
  const size = ctx.params.batch;
  const t = await pipelined({ n: Math.ceil(budget.n / size), capMs: budget.capMs }, BATCHES_IN_FLIGHT, async (i) => {
    const first = i * size;
    await a.putMany!(first, recs(ctx.pool, first, Math.min(size, budget.n - first)));
  });
  return { ops: Math.min(budget.n, t.ops * size), ms: t.ms };
};
/** Batches kept in flight by the appendBatch workload. */
export const BATCHES_IN_FLIGHT = 8;

function syncLoopGroups(budget: Budget, group: number, op: (count: number) => void): Timed {
  const start = now();
  let done = 0;
  while (done < budget.n) {
    const count = Math.min(group, budget.n - done);
    op(count);
    done += count;
    if (now() - start >= budget.capMs) break;
  }
  return { ops: done, ms: now() - start };
}

/** A case measuring one engine at one setting in one write workload. */
function writeCase(workload: string, contender: string, label: string, kind: Kind, setting: string, open: (dir: string) => Promise<Adapter>, driver: Driver, budgetOf: (p: Params) => Budget, extraOf?: (a: Adapter, t: Timed) => Record<string, number | string>): CaseDef {
  return {
    interleave: true,
    id: `${workload}/${contender}`,
    produces: [{ workload, contender, label, kind, setting }],
    async run(ctx) {
      let extra: Record<string, number | string> | undefined;
      const m = await repeat(ctx, label, budgetOf(ctx.params), freshRun(ctx, open, driver(ctx), (a, t) => {
        if (extraOf !== undefined) extra = extraOf(a, t);
      }));
      const records = m.timed.map((t) => t.ops);
      return [{ workload, contender, value: m.value, runs: m.runs, extra: { ...extra, recordsPerRun: Math.round(median(records)) } }];
    },
  };
}

function notApplicable(workload: string, contender: string, label: string, setting: string, why: string): CaseDef {
  return { id: `${workload}/${contender}`, produces: [{ workload, contender, label, kind: 'peer', setting }], interleave: true, run: async () => [{ workload, contender, value: NaN, runs: [], note: why, notApplicable: true }] };
}

/** A case measuring the raw-fs floor. */
function rawCase(workload: string, contender: string, label: string, setting: string, once: (ctx: CaseContext, file: string, budget: Budget) => Promise<Timed> | Timed, budgetOf: (p: Params) => Budget, value: (t: Timed) => number = rate): CaseDef {
  return {
    interleave: true,
    id: `${workload}/${contender}`,
    produces: [{ workload, contender, label, kind: 'floor', setting }],
    async run(ctx) {
      const m = await repeat(
        ctx,
        label,
        budgetOf(ctx.params),
        async (budget, run) => {
          const dir = freshDir(ctx.dir, `run${run + 1}`);
          try {
            return await once(ctx, path.join(dir, 'raw.log'), budget);
          } finally {
            removeDir(dir);
          }
        },
        value,
      );
      return [{ workload, contender, value: m.value, runs: m.runs, extra: { recordsPerRun: Math.round(median(m.timed.map((t) => t.ops))) } }];
    },
  };
}

const throughput = (p: Params): Budget => ({ n: p.n, capMs: p.capMs });
const durable = (p: Params): Budget => ({ n: p.n, capMs: p.durableCapMs });

const aofInfo = (a: Adapter): Record<string, number | string> => a.info?.() ?? {};

const NONE = { flush: { strategy: 'none' as const } };
const ALWAYS = { flush: { strategy: 'always' as const } };
const BATCH = { flush: { strategy: 'batch' as const } };

const open = {
  aof: (options: Parameters<typeof openAof>[1]) => (dir: string) => openAof(dir, options),
  lmdb: (d: Durability) => (dir: string) => openLmdb(dir, d),
  sqlite: (d: Durability) => (dir: string) => openSqlite(dir, d),
  level: (d: Durability) => (dir: string) => openLevel(dir, d),
  hypercore: () => (dir: string) => openHypercore(dir),
};

const NO_DURABLE_HYPERCORE = 'hypercore 11 documents no durable setting (its RocksDB writes are not fsynced)';
const SETTING = {
  lmdbNon: 'noSync: true',
  lmdbDur: 'synced commits, overlappingSync: false (resolves after the flush)',
  sqliteNon: 'WAL, synchronous = OFF',
  sqliteDur: 'WAL, synchronous = FULL',
  levelNon: 'sync: false (default)',
  levelDur: 'sync: true',
};

// ---- the cases, in the order they run ----

function appendCases(): CaseDef[] {
  const W = 'append';
  return [
    writeCase(W, 'aof', 'aof', 'aof', "flush 'none'; append() per record", open.aof(NONE), windowed, throughput, aofInfo),
    rawCase(W, 'raw-sync', 'raw fs writeSync', 'frames of one window (1,024 records) with aof\'s framing and CRC, one writeSync each', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.window, 'none', 'sync'), throughput),
    rawCase(W, 'raw-async', 'raw fs FileHandle', 'as raw writeSync, with await FileHandle.write', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.window, 'none', 'async'), throughput),
    writeCase(W, 'lmdb-async', 'lmdb put (async)', 'peer', `${SETTING.lmdbNon}; put() per record`, open.lmdb('non-durable'), windowed, throughput),
    writeCase(W, 'lmdb-sync', 'lmdb putSync', 'peer', `${SETTING.lmdbNon}; putSync() per record (one transaction each)`, open.lmdb('non-durable'), syncEach, throughput),
    writeCase(W, 'sqlite', 'better-sqlite3', 'peer', `${SETTING.sqliteNon}; the records in flight inserted as one transaction per window (its API is synchronous)`, open.sqlite('non-durable'), grouped, throughput),
    writeCase(W, 'level', 'classic-level', 'peer', `${SETTING.levelNon}; put() per record`, open.level('non-durable'), windowed, throughput),
    writeCase(W, 'hypercore', 'hypercore', 'peer', 'defaults; append() per record', open.hypercore(), windowed, throughput),
  ];
}

function userAppendCases(): CaseDef[] {
  const W = 'user-append';
  return [
    writeCase(W, 'aof', 'aof', 'aof', "flush 'none'; append() per record, 10,000 issued then awaited with Promise.all", open.aof(NONE), windowThenAll, throughput, aofInfo),
    rawCase(W, 'raw-sync', 'raw fs writeSync', "frames of 1,024 records with aof's framing and CRC, one writeSync each (the write floor)", (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.window, 'none', 'sync'), throughput),
    writeCase(W, 'lmdb-async', 'lmdb put (async)', 'peer', `${SETTING.lmdbNon}; put() per record, 10,000 issued then awaited with Promise.all`, open.lmdb('non-durable'), windowThenAll, throughput),
  ];
}

function durableAppendCases(): CaseDef[] {
  const W = 'append-durable';
  return [
    writeCase(W, 'aof-always', "aof 'always'", 'aof', "flush 'always'; append() per record", open.aof(ALWAYS), windowed, durable, aofInfo),
    writeCase(W, 'aof-batch', "aof 'batch'", 'aof', "flush 'batch' (the default: maxDelayMs 2)", open.aof(BATCH), windowed, durable, aofInfo),
    rawCase(W, 'raw-sync', 'raw fs writeSync+fdatasync', 'frames of one window with aof\'s framing and CRC, writeSync + fdatasyncSync each', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.window, 'each', 'sync'), durable),
    rawCase(W, 'raw-async', 'raw fs FileHandle+datasync', 'as above with FileHandle.write + datasync', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.window, 'each', 'async'), durable),
    writeCase(W, 'lmdb-async', 'lmdb put (async)', 'peer', `${SETTING.lmdbDur}; put() per record`, open.lmdb('durable'), windowed, durable),
    writeCase(W, 'sqlite', 'better-sqlite3', 'peer', `${SETTING.sqliteDur}; one transaction per window`, open.sqlite('durable'), grouped, durable),
    writeCase(W, 'level', 'classic-level', 'peer', `${SETTING.levelDur}; put() per record`, open.level('durable'), windowed, durable),
    notApplicable(W, 'hypercore', 'hypercore', '-', NO_DURABLE_HYPERCORE),
  ];
}

function batchCases(): CaseDef[] {
  const W = 'batch';
  const mbps = (t: Timed): number => (t.ms > 0 ? (t.ops * 100) / 1000 / t.ms : 0); // payload MB/s of 100-byte records
  const batchBudget = throughput;
  const aofBatch: CaseDef = {
    id: `${W}/aof`,
    interleave: true,
    produces: [{ workload: W, contender: 'aof', label: 'aof', kind: 'aof', setting: "flush 'none'; appendBatch(1,000), 8 in flight; final flush() inside the timing" }],
    async run(ctx) {
      let beforeFlushMs: number[] = [];
      let info: Record<string, number | string> = {};
      const m = await repeat(
        ctx,
        'aof appendBatch',
        batchBudget(ctx.params),
        freshRun(
          ctx,
          open.aof(NONE),
          async (a, budget) => {
            const t = await batchesInFlight(ctx)(a, budget);
            const flushStart = now();
            await a.sync!();
            beforeFlushMs.push(t.ms);
            return { ops: t.ops, ms: t.ms + (now() - flushStart) };
          },
          (a) => {
            info = aofInfo(a);
          },
        ),
        mbps,
      );
      beforeFlushMs = beforeFlushMs.slice(1);
      const noFlush = median(m.timed.map((t, i) => (t.ops * 100) / 1000 / beforeFlushMs[i]!));
      return [{ workload: W, contender: 'aof', value: m.value, runs: m.runs, extra: { ...info, recordsPerSecond: Math.round(median(m.timed.map(rate))), mbPerSecondWithoutFlush: round1(noFlush), recordsPerRun: Math.round(median(m.timed.map((t) => t.ops))) } }];
    },
  };
  const disk = rawCase(W, 'disk', 'disk sequential write', '1 MiB writeSync calls of the same number of bytes as the records, then one fdatasync, inside the timing', (ctx, file, b) => rawSequentialWrite(file, b.n * 100), batchBudget, (t) => (t.ms > 0 ? t.bytes! / 1000 / t.ms : 0));
  const rawSync = rawCase(W, 'raw-sync', 'raw fs writeSync', 'frames of 1,000 records with aof\'s framing and CRC, one writeSync each, final fdatasync inside the timing', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.batch, 'end', 'sync'), batchBudget, mbps);
  const rawAsync = rawCase(W, 'raw-async', 'raw fs FileHandle', 'as raw writeSync with FileHandle.write and datasync', (ctx, file, b) => rawWrite(file, ctx.pool, b, ctx.params.batch, 'end', 'async'), batchBudget, mbps);
  const peer = (contender: string, label: string, setting: string, o: (dir: string) => Promise<Adapter>): CaseDef => {
    const c = writeCase(W, contender, label, 'peer', setting, o, batchesInFlight, batchBudget);
    return { ...c, run: async (ctx) => (await c.run(ctx)).map((f) => ({ ...f, value: (f.value * 100) / 1e6, runs: f.runs.map((r) => (r * 100) / 1e6) })) };
  };
  return [
    aofBatch,
    disk,
    rawSync,
    rawAsync,
    peer('lmdb', 'lmdb transaction', `${SETTING.lmdbNon}; one transaction() of 1,000 putSync per batch, 8 in flight; no final sync`, open.lmdb('non-durable')),
    peer('sqlite', 'better-sqlite3', `${SETTING.sqliteNon}; one transaction per batch (synchronous: one at a time); no final sync`, open.sqlite('non-durable')),
    peer('level', 'classic-level', `${SETTING.levelNon}; batch() of 1,000, 8 in flight; no final sync`, open.level('non-durable')),
    peer('hypercore', 'hypercore', 'append(array of 1,000), 8 in flight; no final sync', open.hypercore()),
  ];
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** What a read case measures. */
interface ReadSpec {
  contender: string;
  label: string;
  kind: Kind;
  setting: string;
  open: (dir: string) => Promise<Adapter>;
  populate: (ctx: CaseContext, a: Adapter) => Promise<void> | void;
  seqRead?: boolean;
  gets?: boolean;
  concurrentGets?: boolean;
}

/** Reads: populate a data set of `readN` records once, then sequential scans and/or random gets. */
function readCase(spec: ReadSpec): CaseDef {
  const { contender, label, kind, setting, seqRead = true, gets = true, concurrentGets = false } = spec;
  const produces: Produces[] = [];
  if (seqRead) produces.push({ workload: 'seq-read', contender, label, kind, setting });
  if (gets) produces.push({ workload: 'get', contender, label, kind, setting });
  if (concurrentGets) produces.push({ workload: 'get', contender: `${contender}-c64`, label: `${label}, 64 gets in flight`, kind, setting: `${setting}; 64 get() calls kept in flight` });
  return {
    id: `read/${contender}`,
    produces,
    async run(ctx) {
      const dir = freshDir(ctx.dir, 'data');
      const N = ctx.params.readN;
      let a = await spec.open(dir);
      const figures: Figure[] = [];
      try {
        ctx.progress(`${label}: writing ${N.toLocaleString('en-US')} records`);
        const t0 = now();
        await spec.populate(ctx, a);
        const populateMs = now() - t0;
        const info = a.info?.() ?? {};
        // Reopen, so that reads start from a freshly opened engine (the page cache stays warm).
        await a.close();
        a = await spec.open(dir);
        if (seqRead) {
          const scanBudget = { n: N, capMs: ctx.params.capMs };
          const seq = await repeat(ctx, `${label} sequential read`, scanBudget, async (budget) => {
            const start = now();
            let seen = 0;
            const n = await a.scan!((p) => {
              if (p[0]! !== ((seen % POOL_SIZE) & 0xff)) throw new Error(`${label}: record ${seen} has the wrong payload`);
              seen++;
              if (seen >= budget.n) return false;
              if ((seen & 1023) === 0 && now() - start >= budget.capMs) return false;
              return true;
            });
            return { ops: Math.min(n, seen), ms: now() - start };
          });
          figures.push({ workload: 'seq-read', contender, value: seq.value, runs: seq.runs, extra: { ...info, records: N, populateMs: Math.round(populateMs), recordsPerRun: Math.round(median(seq.timed.map((t) => t.ops))) } });
        }
        if (gets) {
          const getBudget = { n: ctx.params.gets, capMs: ctx.params.getCapMs };
          const check = (seq: number, p: Uint8Array | null | undefined): void => {
            if (p == null || p.length !== 100 || (p[0]! | (p[1]! << 8)) !== seq % POOL_SIZE) throw new Error(`${label}: get(${seq}) returned the wrong record`);
          };
          const g = await repeat(ctx, `${label} random get`, getBudget, async (budget, run) => {
            const rnd = randomInts(1234 + run);
            return sequential(budget, async () => {
              const s = rnd(N);
              check(s, await a.get!(s));
              return 1;
            });
          });
          figures.push({ workload: 'get', contender, value: g.value, runs: g.runs, extra: { ...(seqRead ? {} : info), records: N, recordsPerRun: Math.round(median(g.timed.map((t) => t.ops))) } });
          if (concurrentGets) {
            const c = await repeat(ctx, `${label} random get x64`, getBudget, async (budget, run) => {
              const rnd = randomInts(1234 + run);
              return pipelined(budget, 64, async () => {
                const s = rnd(N);
                check(s, await a.get!(s));
              });
            });
            figures.push({ workload: 'get', contender: `${contender}-c64`, value: c.value, runs: c.runs });
          }
        }
      } finally {
        await a.close();
        removeDir(dir);
      }
      return figures;
    },
  };
}


/** The read data set written with single puts, `window` in flight (aof: appends coalesced by group commit). */
async function populatePipelined(ctx: CaseContext, a: Adapter): Promise<void> {
  const N = ctx.params.readN;
  for (let done = 0; done < N; ) {
    const count = Math.min(ctx.params.window, N - done);
    await Promise.all(recs(ctx.pool, done, count).map((rec, i) => a.put!(done + i, rec)));
    done += count;
  }
  await a.sync?.();
}

async function populateBatches(ctx: CaseContext, a: Adapter, size: number): Promise<void> {
  const N = ctx.params.readN;
  for (let done = 0; done < N; ) {
    const count = Math.min(size, N - done);
    await a.putMany!(done, recs(ctx.pool, done, count));
    done += count;
  }
  await a.sync?.();
}

function rawReadCase(mode: 'sync' | 'async'): CaseDef {
  const contender = `raw-${mode}`;
  const label = mode === 'sync' ? 'raw fs readSync' : 'raw fs FileHandle';
  const call = mode === 'sync' ? 'readSync' : 'FileHandle.read';
  return {
    id: `read/${contender}`,
    produces: [
      { workload: 'seq-read', contender, label, kind: 'floor', setting: `1 MiB ${call} calls over a file of frames of 1,000 records (aof's framing), every frame's CRC checked, a view of every record` },
      { workload: 'get', contender, label, kind: 'floor', setting: `the same file; with every frame's offset in memory, one ${call} of the frame holding the record, its CRC checked (the floor of a get under one CRC per frame)` },
    ],
    run: (ctx) =>
      withRawDataFile(ctx, label, ctx.params.batch, async (file, N) => {
        const m = await repeat(ctx, `${label} sequential read`, { n: N, capMs: ctx.params.capMs }, async (budget) => {
          const start = now();
          let seen = 0;
          const n = await rawScan(file, mode, (p) => {
            if (p[0]! !== ((seen % POOL_SIZE) & 0xff)) throw new Error(`raw: record ${seen} has the wrong payload`);
            seen++;
            if (seen >= budget.n) return false;
            if ((seen & 1023) === 0 && now() - start >= budget.capMs) return false;
            return true;
          });
          return { ops: n, ms: now() - start };
        });
        const getter = await rawGetter(file, ctx.params.batch, RECORD_BYTES, mode);
        try {
          const g = await rawRandomGets(ctx, label, getter, N);
          const figures: Figure[] = [
            { workload: 'seq-read', contender, value: m.value, runs: m.runs, extra: { records: N, bytes: fs.statSync(file).size } },
            { workload: 'get', contender, value: g.value, runs: g.runs, extra: { records: N, recordsPerRun: Math.round(median(g.timed.map((t) => t.ops))) } },
          ];
          return figures;
        } finally {
          await getter.close();
        }
      }),
  };
}

/** Writes the read data set (`readN` records in frames of `perFrame`) as a raw file, runs `body` on it, removes it. */
async function withRawDataFile(ctx: CaseContext, label: string, perFrame: number, body: (file: string, N: number) => Promise<Figure[]>): Promise<Figure[]> {
  const dir = freshDir(ctx.dir, 'data');
  try {
    const file = path.join(dir, 'raw.log');
    const N = ctx.params.readN;
    ctx.progress(`${label}: writing ${N.toLocaleString('en-US')} records`);
    await rawWrite(file, ctx.pool, { n: N, capMs: Infinity }, perFrame, 'end', 'sync');
    return await body(file, N);
  } finally {
    removeDir(dir);
  }
}

/** Seeded random gets of `N` records through a raw getter, every record checked. */
function rawRandomGets(ctx: CaseContext, label: string, getter: Awaited<ReturnType<typeof rawGetter>>, N: number): ReturnType<typeof repeat> {
  return repeat(ctx, `${label} random get`, { n: ctx.params.gets, capMs: ctx.params.getCapMs }, async (budget, run) => {
    const rnd = randomInts(1234 + run);
    return sequential(budget, async () => {
      const s = rnd(N);
      const p = await getter.get(s);
      if ((p[0]! | (p[1]! << 8)) !== s % POOL_SIZE) throw new Error(`raw: get(${s}) returned the wrong record`);
      return 1;
    });
  });
}

/** Records per frame of the 4 KiB-frame get floor: 38 records of 100 bytes fill a frame as aof's coalesced appends do (at most 4 KiB). */
const SMALL_FRAME_RECORDS = 38;

/** The floor of a get when frames are as small as coalesced appends make them: one readSync of a 4 KiB frame and its CRC, no engine. */
function rawSmallFrameGetCase(): CaseDef {
  const contender = 'raw-sync-4k';
  const label = 'raw fs readSync, 4 KiB frames';
  return {
    id: `read/${contender}`,
    produces: [{ workload: 'get', contender, label, kind: 'floor', setting: `a file of frames of ${SMALL_FRAME_RECORDS} records (4 KiB, as aof's coalesced appends); with every frame's offset in memory, one readSync of the frame holding the record, its CRC checked` }],
    run: (ctx) =>
      withRawDataFile(ctx, label, SMALL_FRAME_RECORDS, async (file, N) => {
        const getter = await rawGetter(file, SMALL_FRAME_RECORDS, RECORD_BYTES, 'sync');
        try {
          const g = await rawRandomGets(ctx, label, getter, N);
          return [{ workload: 'get', contender, value: g.value, runs: g.runs, extra: { records: N, recordsPerRun: Math.round(median(g.timed.map((t) => t.ops))) } }];
        } finally {
          await getter.close();
        }
      }),
  };
}

function readCases(): CaseDef[] {
  const batchOf = (ctx: CaseContext, a: Adapter): Promise<void> => populateBatches(ctx, a, ctx.params.batch);
  return [
    readCase({ contender: 'aof', label: 'aof', kind: 'aof', setting: "written with appendBatch(1,000), flush 'none' (frames of 1,000 records); log.read() / log.get()", open: open.aof(NONE), populate: batchOf, concurrentGets: true }),
    readCase({ contender: 'aof-batches', label: 'aof, log.readBatches()', kind: 'aof', setting: "as aof; log.readBatches(): a stored frame's records at a time", open: (dir) => openAof(dir, NONE).then((a) => ({ ...a, scan: scanBatches(a.log) })), populate: batchOf, gets: false }),
    readCase({ contender: 'aof-append', label: 'aof, written with append()', kind: 'aof', setting: "written with single append() calls, a window of them in flight (the writer coalesces them into frames of up to 4 KiB); log.get()", open: open.aof(NONE), populate: populatePipelined, seqRead: false }),
    readCase({ contender: 'aof-f10', label: 'aof, frames of 10', kind: 'aof', setting: 'written with appendBatch(10) awaited one by one (frames of 10 records); log.get()', open: open.aof(NONE), populate: (ctx, a) => populateBatches(ctx, a, 10), seqRead: false }),
    rawReadCase('sync'),
    rawReadCase('async'),
    rawSmallFrameGetCase(),
    readCase({ contender: 'lmdb', label: 'lmdb', kind: 'peer', setting: 'getRange() / get() (synchronous); written in transactions of 1,000', open: open.lmdb('non-durable'), populate: batchOf }),
    readCase({ contender: 'sqlite', label: 'better-sqlite3', kind: 'peer', setting: 'SELECT payload ORDER BY seq / WHERE seq = ? (synchronous)', open: open.sqlite('non-durable'), populate: batchOf }),
    readCase({ contender: 'level', label: 'classic-level', kind: 'peer', setting: 'values() iterator with nextv(1,000) / get()', open: open.level('non-durable'), populate: batchOf }),
    readCase({ contender: 'hypercore', label: 'hypercore', kind: 'peer', setting: 'createReadStream() / get()', open: open.hypercore(), populate: batchOf }),
  ];
}

function durableCases(): CaseDef[] {
  const D1 = 'durable-1';
  const D64 = 'durable-64';
  const fsyncLoop = (ctx: CaseContext, file: string, b: Budget): Promise<Timed> => rawWrite(file, ctx.pool, b, 1, 'each', 'sync');
  return [
    writeCase(D1, 'aof-always', "aof 'always'", 'aof', "flush 'always'", open.aof(ALWAYS), awaitEach, durable, aofInfo),
    writeCase(D1, 'aof-batch', "aof 'batch'", 'aof', "flush 'batch' (the default)", open.aof(BATCH), awaitEach, durable, aofInfo),
    rawCase(D1, 'raw-sync', 'raw fs write+fdatasync', 'one frame per record (aof\'s framing and CRC), writeSync + fdatasyncSync each, file growing', fsyncLoop, durable),
    rawCase(D1, 'raw-async', 'raw fs FileHandle write+datasync', 'as above with FileHandle.write + datasync', (ctx, file, b) => rawWrite(file, ctx.pool, b, 1, 'each', 'async'), durable),
    writeCase(D1, 'lmdb-async', 'lmdb put (async)', 'peer', SETTING.lmdbDur, open.lmdb('durable'), awaitEach, durable),
    writeCase(D1, 'lmdb-sync', 'lmdb putSync', 'peer', 'synced commits; putSync() per record', open.lmdb('durable'), syncEach, durable),
    writeCase(D1, 'sqlite', 'better-sqlite3', 'peer', `${SETTING.sqliteDur}; one autocommit insert per record`, open.sqlite('durable'), syncEach, durable),
    writeCase(D1, 'level', 'classic-level', 'peer', SETTING.levelDur, open.level('durable'), awaitEach, durable),
    notApplicable(D1, 'hypercore', 'hypercore', '-', NO_DURABLE_HYPERCORE),
    writeCase(D64, 'aof-always', "aof 'always'", 'aof', "flush 'always'", open.aof(ALWAYS), producersDriver, durable, aofInfo),
    writeCase(D64, 'aof-batch', "aof 'batch'", 'aof', "flush 'batch' (the default)", open.aof(BATCH), producersDriver, durable, aofInfo),
    rawCase(D64, 'fsync-rate', 'disk fsync rate', 'the write+fdatasync loop of one producer (no group commit), measured again in this case', fsyncLoop, durable),
    writeCase(D64, 'lmdb-async', 'lmdb put (async)', 'peer', SETTING.lmdbDur, open.lmdb('durable'), producersDriver, durable),
    writeCase(D64, 'level', 'classic-level', 'peer', SETTING.levelDur, open.level('durable'), producersDriver, durable),
    notApplicable(D64, 'sqlite', 'better-sqlite3', '-', 'its API is synchronous (one connection writes one statement at a time): no concurrent producers to share a commit'),
    notApplicable(D64, 'hypercore', 'hypercore', '-', NO_DURABLE_HYPERCORE),
  ];
}

/** Every case, in the order they run. */
export function allCases(): CaseDef[] {
  return [...appendCases(), ...userAppendCases(), ...durableAppendCases(), ...batchCases(), ...readCases(), ...durableCases(), userReadCase(), openTimeCase(), tailCase(), ...eventStoreCases(), snapshotTickCase(), rssCase(), crcCase()];
}
