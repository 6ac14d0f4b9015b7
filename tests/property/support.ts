import * as fs from 'node:fs';
import * as path from 'node:path';
import { Log, type LogOptions } from '../../src/index.js';
import { ManualClock, seededBytes, seededRandom, type KnownIssue } from '../../src/testing/index.js';

/**
 * Run counts and seeds of the property suites.
 *
 * - `AOF_PROPERTY_RUNS=n`: runs per model-based property (CI default 40);
 *   the corruption fuzzer does 3n damage cases and 1.5n hostile-length
 *   cases. Raise it for long soaks.
 * - `AOF_PROPERTY_SEED=n` pins fast-check's seed; `AOF_PROPERTY_SEED=random`
 *   draws a new one each time (printed on failure). Default: fixed seeds, so
 *   CI replays the same runs.
 */
export function propertyRuns(ciDefault: number, factor = 1): number {
  const env = process.env.AOF_PROPERTY_RUNS;
  const base = env === undefined || env === '' ? ciDefault : Number(env);
  if (!Number.isFinite(base) || base < 1) throw new Error(`AOF_PROPERTY_RUNS must be a positive number, got ${env}`);
  return Math.max(1, Math.round(base * factor));
}

/** The seed of a suite: `fixed` unless AOF_PROPERTY_SEED says otherwise. */
export function propertySeed(fixed: number): number | undefined {
  const env = process.env.AOF_PROPERTY_SEED;
  if (env === undefined || env === '') return fixed;
  if (env === 'random') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n)) throw new Error(`AOF_PROPERTY_SEED must be an integer or "random", got ${env}`);
  return n;
}

/** Generous timeout of a property `it`, scaled with the run count. */
export function propertyTimeoutMs(runs: number, msPerRun: number): number {
  return Math.max(60_000, runs * msPerRun * 4);
}

/** A cleanly closed multi-segment log built from a seed, and what each record holds. */
export interface BaseLog {
  dir: string;
  expected: Uint8Array[];
}

/**
 * Writes a log of `records` records (single appends and batches, empty,
 * tiny, UTF-8 and binary payloads) in small segments with explicit rolls,
 * and closes it cleanly.
 */
export async function buildBaseLog(dir: string, seed: number, records: number, options: LogOptions = {}): Promise<BaseLog> {
  const rnd = seededRandom(seed);
  const clock = new ManualClock(1_700_000_000_000);
  const log = await Log.open(dir, { flush: { strategy: 'none' }, clock: clock.now, segment: { maxBytes: 700, indexIntervalBytes: 96 }, ...options });
  const expected: Uint8Array[] = [];
  const payload = (): Uint8Array => {
    const kind = Math.floor(rnd() * 4);
    if (kind === 0) return new Uint8Array(0);
    if (kind === 1) return new Uint8Array(Buffer.from(`rec-${expected.length}-é€𝄞`, 'utf8'));
    return seededBytes(Math.floor(rnd() * 1e9), Math.floor(rnd() * (kind === 2 ? 16 : 200)));
  };
  while (expected.length < records) {
    clock.advance(Math.floor(rnd() * 5));
    if (rnd() < 0.3) {
      const batch = Array.from({ length: 1 + Math.floor(rnd() * 5) }, payload);
      await log.appendBatch(batch);
      expected.push(...batch);
    } else {
      const p = payload();
      await log.append(p);
      expected.push(p);
    }
    if (rnd() < 0.03) await log.roll();
  }
  await log.close();
  return { dir, expected };
}

/** Copies a log directory (for one damaged copy per case). */
export function copyLog(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(from, to, { recursive: true });
}

/**
 * Engine bugs our suites work around until their fixes land (each has a
 * reduced reproduction, marked `it.fails`, in engine-bugs.test.ts). Remove a
 * flag together with the `.fails` of its test when the fix is in.
 */
export const KNOWN_ENGINE_ISSUES: KnownIssue[] = [
  // Every engine bug the property suites found is fixed (tests/property/engine-bugs.test.ts); the suites run strict.
];
