/**
 * Shared pieces of the benchmark: the records every engine writes, the raw
 * frame codec of the floor, timing and the drivers that issue operations.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import CRC32 from 'crc-32';

/** Bytes of each record unless a workload says otherwise. */
export const RECORD_BYTES = 100;
/** Distinct records in the pool; record `i` is `pool[i % POOL_SIZE]`. */
export const POOL_SIZE = 4096;

type ZlibWithCrc = { crc32?: (data: Uint8Array, value?: number) => number };
const builtinCrc = (zlib as unknown as ZlibWithCrc).crc32;

/** The CRC-32 the floor uses: the same choice as src/record/crc.ts (zlib.crc32 when Node has it). */
export const crc32: (data: Uint8Array, seed?: number) => number =
  builtinCrc !== undefined ? (d, s = 0) => builtinCrc(d, s) >>> 0 : (d, s = 0) => CRC32.buf(d, s) >>> 0;
/** Which CRC-32 implementation is in use. */
export const CRC_IMPL = builtinCrc !== undefined ? 'zlib.crc32 (native, built into Node)' : 'crc-32 (portable JavaScript)';
export { builtinCrc };

/** The same records for every engine: deterministic pseudo-random bytes, each with its pool index in its first 4 bytes. */
export function makeRecords(size = RECORD_BYTES, count = POOL_SIZE, seed = 0x9e3779b9): Buffer[] {
  let x = seed >>> 0 || 1;
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b[j] = x & 0xff;
    }
    if (size >= 4) b.writeUInt32LE(i, 0);
    out.push(b);
  }
  return out;
}

/** A seeded PRNG (xorshift32) returning integers in [0, n). */
export function randomInts(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

// ---- the raw floor's framing: aof's frame layout (docs/FORMAT.md, "Frame"), CRC-32 over bytes [8, end) ----

/** Bytes of a frame header (as in aof). */
export const FRAME_HEADER = 32;
/** Bytes of each record's length prefix (as in aof). */
export const RECORD_HEADER = 4;

/** Bytes of a frame holding `count` records of `size` bytes. */
export function frameBytes(count: number, size = RECORD_BYTES): number {
  return FRAME_HEADER + count * (RECORD_HEADER + size);
}

/**
 * Encodes records `[first, first + count)` of `pool` as one frame into `out`
 * at `offset` (the frame layout and CRC of aof) and returns its length.
 */
export function encodeFrame(out: Buffer, offset: number, pool: readonly Buffer[], first: number, count: number): number {
  let at = offset + FRAME_HEADER;
  for (let i = 0; i < count; i++) {
    const p = pool[(first + i) % pool.length]!;
    out.writeUInt32LE(p.length, at);
    out.set(p, at + RECORD_HEADER);
    at += RECORD_HEADER + p.length;
  }
  const len = at - offset;
  out.writeUInt32LE(len, offset);
  out.writeUInt32LE(first >>> 0, offset + 8);
  out.writeUInt32LE(Math.floor(first / 2 ** 32), offset + 12);
  out.writeUInt32LE(count, offset + 16);
  const now = Date.now();
  out.writeUInt32LE(now >>> 0, offset + 20);
  out.writeUInt32LE(Math.floor(now / 2 ** 32), offset + 24);
  out.writeUInt32LE(0, offset + 28);
  out.writeUInt32LE(crc32(out.subarray(offset + 8, offset + len)), offset + 4);
  return len;
}

/**
 * Walks whole frames in `buf[0, end)`: checks each CRC, calls `visit` with a
 * view of every record. Returns the offset of the first incomplete frame.
 */
export function decodeFrames(buf: Buffer, end: number, visit: (payload: Buffer) => void): number {
  let at = 0;
  while (at + FRAME_HEADER <= end) {
    const len = buf.readUInt32LE(at);
    if (len < FRAME_HEADER) throw new Error(`bad frame length ${len} at ${at}`);
    if (at + len > end) break;
    if (crc32(buf.subarray(at + 8, at + len)) !== buf.readUInt32LE(at + 4)) throw new Error(`frame checksum mismatch at ${at}`);
    const count = buf.readUInt32LE(at + 16);
    let p = at + FRAME_HEADER;
    for (let i = 0; i < count; i++) {
      const n = buf.readUInt32LE(p);
      p += RECORD_HEADER;
      visit(buf.subarray(p, p + n));
      p += n;
    }
    at += len;
  }
  return at;
}

// ---- timing ----

/** Milliseconds, high resolution. */
export const now = (): number => performance.now();

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-quantile (0..1) of a list, nearest rank. */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/** A count of operations done in a time. */
export interface Timed {
  ops: number;
  ms: number;
  /** Bytes written or read, when the workload measures bandwidth. */
  bytes?: number;
}

/** Operations per second of a timed run. */
export function rate(t: Timed): number {
  return t.ms > 0 ? (t.ops * 1000) / t.ms : 0;
}

/** A run stops after `n` operations or `capMs` milliseconds, whichever comes first. */
export interface Budget {
  n: number;
  capMs: number;
}

/**
 * Keeps up to `window` calls of `op` in flight (a sliding window) until
 * `budget.n` have completed or `budget.capMs` has passed; returns the count and
 * the time until the last completed.
 */
export function pipelined(budget: Budget, window: number, op: (i: number) => Promise<unknown>): Promise<Timed> {
  return new Promise<Timed>((resolve, reject) => {
    const start = now();
    let issued = 0;
    let done = 0;
    let inFlight = 0;
    let stopped = false;
    let failed = false;
    const settle = (): void => {
      done++;
      inFlight--;
      // The clock is read every 256 completions: reading it costs about as much as an append.
      if (!stopped && (issued >= budget.n || ((done & 255) === 0 && now() - start >= budget.capMs))) stopped = true;
      if (stopped) {
        if (inFlight === 0 && !failed) resolve({ ops: done, ms: now() - start });
        return;
      }
      fill();
    };
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    const fill = (): void => {
      while (inFlight < window && issued < budget.n) {
        const i = issued++;
        inFlight++;
        op(i).then(settle, fail);
      }
    };
    fill();
  });
}

/** Runs `op` one after another (each awaited) until the budget is spent; `op(i)` returns how many records it did. */
export async function sequential(budget: Budget, op: (i: number) => Promise<number> | number): Promise<Timed> {
  const start = now();
  let ops = 0;
  for (let i = 0; ops < budget.n; i++) {
    ops += await op(i);
    if (now() - start >= budget.capMs) break;
  }
  return { ops, ms: now() - start };
}

/** `producers` loops, each awaiting its own `op` before the next, until the budget is spent. */
export async function concurrentProducers(budget: Budget, producers: number, op: (i: number) => Promise<unknown>): Promise<Timed> {
  const start = now();
  let issued = 0;
  let done = 0;
  const loop = async (): Promise<void> => {
    while (issued < budget.n && now() - start < budget.capMs) {
      await op(issued++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: producers }, loop));
  return { ops: done, ms: now() - start };
}

// ---- files ----

/** A fresh, empty directory `name` under `root`. */
export function freshDir(root: string, name: string): string {
  const dir = path.join(root, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Removes a directory tree, ignoring errors. */
export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Bytes of every file under `dir`. */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** fsync of a directory (after creating files in it). */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
