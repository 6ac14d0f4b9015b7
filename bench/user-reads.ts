/**
 * Issue 21's read shapes, exactly as a user writes them, with lmdb-js and the
 * floors in the same child process, taking turns run by run (so every ratio
 * has a run-to-run spread from paired runs):
 *
 * - `for await (const r of log.read({ from: 0 }))` over records written by
 *   plain `append` calls (windows of `userWindow` awaited with `Promise.all`),
 *   vs lmdb `getRange` iterated with `for ... of`, vs the JS floor of that
 *   shape (a `for await` over an async iterator yielding views of one buffer);
 * - `await log.get(seq)` at seeded random positions, one at a time, on those
 *   records, and on records written by `appendBatch(1,000)`, vs `await db.get(key)`,
 *   vs a `readSync` of exactly one record plus its CRC, and a `readSync` of a
 *   4 KiB frame plus its CRC.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Log } from 'aof';
import { crc32, freshDir, median, now, randomInts, removeDir, POOL_SIZE, RECORD_BYTES, type Timed } from './common.js';
import type { CaseContext, CaseDef, Figure, Produces } from './cases.js';
import { rawGetter, rawWrite } from './raw.js';

/** Records per frame of the 4 KiB-frame get floor (as in cases.ts). */
const SMALL_FRAME_RECORDS = 38;
/** Bytes of a record of the one-record floor file: length, CRC-32 of the payload, payload. */
const RAW_RECORD_BYTES = 8 + RECORD_BYTES;

type LmdbDb = { put(k: number, v: Buffer): Promise<boolean>; get(k: number): Buffer | undefined; getRange(o: { start: number }): Iterable<{ key: unknown; value: Buffer }>; close(): Promise<void> };

/** Issue 21's write shape: `window` appends issued, then awaited together; then the next window. */
export async function appendInWindows(put: (i: number) => Promise<unknown>, n: number, window: number): Promise<void> {
  for (let done = 0; done < n; ) {
    const count = Math.min(window, n - done);
    const pending = new Array<Promise<unknown>>(count);
    for (let i = 0; i < count; i++) pending[i] = put(done + i);
    await Promise.all(pending);
    done += count;
  }
}

type FloorRecord = { seq: number; timestamp: number; payload: Buffer };

/**
 * The JS floor of a `for await` read: a hand-written async iterator (no
 * generator machinery) whose `next()` returns an already resolved promise of
 * a record whose payload is a `Buffer.subarray` view of one buffer, made as
 * it goes: the await and the view any Node engine pays per record.
 */
function viewsOf(buf: Buffer, n: number): AsyncIterable<FloorRecord> {
  return {
    [Symbol.asyncIterator]() {
      const ts = Date.now();
      let i = 0;
      return {
        next(): Promise<IteratorResult<FloorRecord>> {
          if (i >= n) return Promise.resolve({ done: true, value: undefined });
          const at = i * RECORD_BYTES;
          const value = { seq: i, timestamp: ts, payload: buf.subarray(at, at + RECORD_BYTES) };
          i++;
          return Promise.resolve({ done: false, value });
        },
      };
    },
  };
}

/** As `viewsOf`, over records (and views) built before the loop: the await alone. */
function prebuiltOf(records: readonly FloorRecord[]): AsyncIterable<FloorRecord> {
  return {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next(): Promise<IteratorResult<FloorRecord>> {
          if (i >= records.length) return Promise.resolve({ done: true, value: undefined });
          return Promise.resolve({ done: false, value: records[i++]! });
        },
      };
    },
  };
}

// Each contender's loop is its own function, so that one contender's types do not make another's loop polymorphic.

async function scanAof(log: Log): Promise<Timed> {
  const start = now();
  let n = 0;
  let bytes = 0;
  let last = -1;
  for await (const r of log.read({ from: 0 })) {
    bytes += r.payload.length;
    last = r.seq;
    n++;
  }
  const ms = now() - start;
  if (last !== n - 1) throw new Error(`aof read: last seq ${last} after ${n} records`);
  return { ops: n, ms, bytes };
}

function scanLmdb(db: LmdbDb): Timed {
  const start = now();
  let n = 0;
  let bytes = 0;
  let last: unknown;
  for (const { key, value } of db.getRange({ start: 0 })) {
    bytes += value.length;
    last = key;
    n++;
  }
  const ms = now() - start;
  if (last !== n - 1) throw new Error(`lmdb getRange: last key ${String(last)} after ${n} records`);
  return { ops: n, ms, bytes };
}

async function scanFloor(buf: Buffer, N: number): Promise<Timed> {
  const start = now();
  let n = 0;
  let bytes = 0;
  let last = -1;
  for await (const r of viewsOf(buf, N)) {
    bytes += r.payload.length;
    last = r.seq;
    n++;
  }
  const ms = now() - start;
  if (last !== n - 1) throw new Error('floor: out of order');
  return { ops: n, ms, bytes };
}

async function scanPrebuilt(buf: Buffer, N: number): Promise<Timed> {
  const ts = Date.now();
  const records = new Array<FloorRecord>(N);
  for (let i = 0; i < N; i++) records[i] = { seq: i, timestamp: ts, payload: buf.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES) };
  const start = now();
  let n = 0;
  let bytes = 0;
  let last = -1;
  for await (const r of prebuiltOf(records)) {
    bytes += r.payload.length;
    last = r.seq;
    n++;
  }
  const ms = now() - start;
  if (last !== n - 1) throw new Error('floor: out of order');
  return { ops: n, ms, bytes };
}

function checkRecord(who: string, seq: number, p: Uint8Array | undefined): void {
  if (p === undefined || p.length !== RECORD_BYTES || (p[0]! | (p[1]! << 8)) !== seq % POOL_SIZE) throw new Error(`${who}: get(${seq}) returned the wrong record`);
}

/** Gets at seeded random positions, one at a time, each awaited, until `n` or `capMs`. */
async function randomGets(n: number, capMs: number, N: number, seed: number, get: (seq: number) => Promise<void>): Promise<Timed> {
  const rnd = randomInts(seed);
  const start = now();
  let i = 0;
  while (i < n) {
    await get(rnd(N));
    i++;
    if ((i & 63) === 0 && now() - start >= capMs) break;
  }
  return { ops: i, ms: now() - start };
}

/** The one-record floor file: each record as [length u32][CRC-32 of the payload u32][payload], at `seq * 108`. */
function writeRecordFile(file: string, pool: readonly Buffer[], N: number): void {
  const chunk = 8192;
  const buf = Buffer.allocUnsafe(chunk * RAW_RECORD_BYTES);
  const fd = fs.openSync(file, 'w');
  try {
    for (let first = 0; first < N; first += chunk) {
      const count = Math.min(chunk, N - first);
      for (let i = 0; i < count; i++) {
        const p = pool[(first + i) % POOL_SIZE]!;
        const at = i * RAW_RECORD_BYTES;
        buf.writeUInt32LE(p.length, at);
        buf.writeUInt32LE(crc32(p), at + 4);
        p.copy(buf, at + 8);
      }
      fs.writeSync(fd, buf, 0, count * RAW_RECORD_BYTES, first * RAW_RECORD_BYTES);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** One `readSync` of exactly one record at its offset, one CRC-32 of it. */
function recordGetter(file: string): { get(seq: number): Buffer; close(): void } {
  const fd = fs.openSync(file, 'r');
  return {
    get(seq) {
      const buf = Buffer.allocUnsafe(RAW_RECORD_BYTES);
      const n = fs.readSync(fd, buf, 0, RAW_RECORD_BYTES, seq * RAW_RECORD_BYTES);
      const len = buf.readUInt32LE(0);
      if (n !== RAW_RECORD_BYTES || len !== RECORD_BYTES) throw new Error(`floor: short record ${seq}`);
      const payload = buf.subarray(8, 8 + len);
      if (crc32(payload) !== buf.readUInt32LE(4)) throw new Error(`floor: checksum mismatch at record ${seq}`);
      return payload;
    },
    close: () => fs.closeSync(fd),
  };
}

const rate = (t: Timed): number => (t.ms > 0 ? (t.ops * 1000) / t.ms : 0);

export function userReadCase(): CaseDef {
  const R = 'user-read';
  const GA = 'user-get-append';
  const GB = 'user-get-batch';
  const produces: Produces[] = [
    { workload: R, contender: 'aof', label: 'aof for await log.read()', kind: 'aof', setting: "records written by append() in windows of 10,000 awaited with Promise.all, flush 'none'; for await (const r of log.read({ from: 0 })), the body reads r.payload.length and r.seq" },
    { workload: R, contender: 'lmdb', label: 'lmdb getRange for...of', kind: 'peer', setting: 'records written by async put() in the same windows, noSync; for (const { key, value } of db.getRange({ start: 0 })), the body reads value.length and key' },
    { workload: R, contender: 'js-floor', label: 'JS floor: for await, a view per record', kind: 'floor', setting: 'for await over a hand-written async iterator whose next() returns a resolved promise of { seq, timestamp, payload }, payload a Buffer.subarray view of one buffer made as it goes: the await and the view any Node engine pays per record; no I/O, no CRC' },
    { workload: R, contender: 'js-floor-prebuilt', label: 'JS floor: for await, records built before', kind: 'floor', setting: 'as above over records and views built before the timed loop: the await alone' },
    { workload: GA, contender: 'aof', label: 'aof await log.get(seq)', kind: 'aof', setting: 'the records above (written by append()); await log.get(seq) at seeded random positions, one at a time' },
    { workload: GA, contender: 'lmdb', label: 'lmdb await db.get(key)', kind: 'peer', setting: 'the lmdb records above; await db.get(key) at the same positions' },
    { workload: GA, contender: 'raw-record', label: 'raw fs readSync of one record', kind: 'floor', setting: 'a file of 108-byte records (length, CRC-32, payload); one readSync of exactly one record at its offset and one CRC-32 of it' },
    { workload: GB, contender: 'aof', label: 'aof await log.get(seq), appendBatch', kind: 'aof', setting: "records written by appendBatch() of 1,000, flush 'none'; await log.get(seq) at seeded random positions, one at a time" },
    { workload: GB, contender: 'lmdb', label: 'lmdb await db.get(key)', kind: 'peer', setting: 'the lmdb records above; await db.get(key), measured again in turn with this workload' },
    { workload: GB, contender: 'raw-record', label: 'raw fs readSync of one record', kind: 'floor', setting: 'one readSync of exactly one 108-byte record and one CRC-32 of it, measured again in turn with this workload' },
    { workload: GB, contender: 'raw-4k', label: 'raw fs readSync of a 4 KiB frame', kind: 'floor', setting: `frames of ${SMALL_FRAME_RECORDS} records (4 KiB); one readSync of the frame holding the record and its CRC` },
  ];
  return {
    id: 'user-read/all',
    produces,
    async run(ctx: CaseContext): Promise<Figure[]> {
      const N = ctx.params.userReadN;
      const runs = ctx.params.runs;
      const dir = freshDir(ctx.dir, 'user-read');
      const { open } = await import('lmdb');
      const db = open({ path: path.join(dir, 'lmdb'), keyEncoding: 'uint32', encoding: 'binary', noSync: true }) as unknown as LmdbDb;
      let appended: Log | undefined;
      let batched: Log | undefined;
      const closeRaw: Array<() => unknown> = [];
      try {
        ctx.progress(`writing ${N.toLocaleString('en-US')} records to aof (append), aof (appendBatch), lmdb and the floor files`);
        appended = await Log.open(path.join(dir, 'aof-append'), { flush: { strategy: 'none' } });
        const a = appended;
        await appendInWindows((i) => a.append(ctx.pool[i % POOL_SIZE]!), N, ctx.params.userWindow);
        await a.close();
        batched = await Log.open(path.join(dir, 'aof-batch'), { flush: { strategy: 'none' } });
        for (let first = 0; first < N; first += 1000) {
          const count = Math.min(1000, N - first);
          await batched.appendBatch(Array.from({ length: count }, (_, i) => ctx.pool[(first + i) % POOL_SIZE]!));
        }
        await batched.close();
        await appendInWindows((i) => db.put(i, ctx.pool[i % POOL_SIZE]!), N, ctx.params.userWindow);
        const recordFile = path.join(dir, 'records.raw');
        writeRecordFile(recordFile, ctx.pool, N);
        const frameFile = path.join(dir, 'frames.raw');
        await rawWrite(frameFile, ctx.pool, { n: N, capMs: Infinity }, SMALL_FRAME_RECORDS, 'end', 'sync');
        const floorBuf = Buffer.allocUnsafe(N * RECORD_BYTES);
        for (let i = 0; i < N; i++) ctx.pool[i % POOL_SIZE]!.copy(floorBuf, i * RECORD_BYTES);
        // Reads start from freshly opened logs (the page cache stays warm).
        appended = await Log.open(path.join(dir, 'aof-append'), { flush: { strategy: 'none' } });
        batched = await Log.open(path.join(dir, 'aof-batch'), { flush: { strategy: 'none' } });
        const one = recordGetter(recordFile);
        closeRaw.push(() => one.close());
        const frames = await rawGetter(frameFile, SMALL_FRAME_RECORDS, RECORD_BYTES, 'sync');
        closeRaw.push(() => frames.close());

        const scans: Record<string, (n: number) => Promise<Timed> | Timed> = {
          aof: () => scanAof(appended!),
          lmdb: () => scanLmdb(db),
          'js-floor': (n) => scanFloor(floorBuf, n),
          'js-floor-prebuilt': (n) => scanPrebuilt(floorBuf, n),
        };
        const gets = (workload: string): Record<string, (seq: number) => Promise<void>> => {
          const log = workload === GA ? appended! : batched!;
          const out: Record<string, (seq: number) => Promise<void>> = {
            aof: async (s) => checkRecord('aof', s, (await log.get(s))?.payload),
            lmdb: async (s) => checkRecord('lmdb', s, await db.get(s)),
            'raw-record': async (s) => checkRecord('floor', s, await one.get(s)),
          };
          if (workload === GB) out['raw-4k'] = async (s) => checkRecord('floor 4k', s, await frames.get(s));
          return out;
        };

        const results = new Map<string, Timed[]>();
        const record = (workload: string, contender: string, t: Timed): void => {
          const k = `${workload}/${contender}`;
          results.set(k, [...(results.get(k) ?? []), t]);
        };
        // A warm-up pass of each at a tenth of the size, then the timed runs, contenders taking turns.
        for (let r = -1; r < runs; r++) {
          for (const [c, scan] of Object.entries(scans)) {
            ctx.progress(`${R} ${c}: ${r < 0 ? 'warm-up' : `run ${r + 1}/${runs}`}`);
            if (r < 0) {
              if (c.startsWith('js-floor')) await scan(Math.ceil(N / 10));
              else await scan(N); // a scan cannot stop early without changing its shape; the warm-up reads it all once
            } else record(R, c, await scan(N));
          }
        }
        for (const workload of [GA, GB]) {
          const fns = gets(workload);
          for (let r = -1; r < runs; r++) {
            for (const [c, get] of Object.entries(fns)) {
              ctx.progress(`${workload} ${c}: ${r < 0 ? 'warm-up' : `run ${r + 1}/${runs}`}`);
              const n = r < 0 ? Math.ceil(ctx.params.gets / 10) : ctx.params.gets;
              const cap = r < 0 ? ctx.params.getCapMs / 5 : ctx.params.getCapMs;
              const t = await randomGets(n, cap, N, 1234 + Math.max(0, r), get);
              if (r >= 0) record(workload, c, t);
            }
          }
        }
        return produces.map((p) => {
          const timed = results.get(`${p.workload}/${p.contender}`) ?? [];
          const values = timed.map(rate);
          return { workload: p.workload, contender: p.contender, value: median(values), runs: values, extra: { records: N, recordsPerRun: Math.round(median(timed.map((t) => t.ops))) } };
        });
      } finally {
        for (const c of closeRaw) await c();
        await appended?.close().catch(() => undefined);
        await batched?.close().catch(() => undefined);
        await db.close();
        removeDir(dir);
      }
    },
  };
}
