import fc from 'fast-check';
import type { FlushOptions } from '../flush/strategy.js';
import type { LogOptions } from '../options.js';
import type { Payload } from '../record/payload.js';
import type { FaultRule, FsOperation } from './fault-fs.js';
import { FLUSH_STRATEGY_NAMES, type FlushStrategy, type ModelLimits } from './model.js';
import { seededRandom } from './random.js';

/**
 * fast-check arbitraries for log tests: payloads, batches, log options and
 * fault schedules. Every size they produce is bounded by the limits passed
 * in, so generated runs stay fast.
 *
 * @module
 */

/** Limits the arbitraries respect; the same values go to `LogOptions` and the model. */
export type ArbitraryLimits = ModelLimits;

/** Small limits that keep generated runs fast while still reaching every bound. */
export const TEST_LIMITS: ArbitraryLimits = { maxRecordBytes: 1024, maxBatchBytes: 4096, maxBatchRecords: 16 };

/** `length` bytes drawn from `seed`: large payloads without large shrink trees. */
export function seededBytes(seed: number, length: number): Uint8Array {
  const rnd = seededRandom(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

/** Binary payloads of exactly `min..max` bytes, filled from a seed. */
export function sizedBytesArb(min: number, max: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.integer({ min, max }), fc.integer()).map(([length, seed]) => seededBytes(seed, length));
}

/**
 * Valid payloads, weighted towards the interesting ones: empty (bytes and
 * string), tiny binary, UTF-8 strings (multi-byte and astral characters
 * included), medium binary, and exactly at `maxRecordBytes` (as bytes and as
 * a string of multi-byte characters).
 */
export function payloadArb(limits: Pick<ArbitraryLimits, 'maxRecordBytes'> = TEST_LIMITS): fc.Arbitrary<Payload> {
  const max = limits.maxRecordBytes;
  const atLimitString = fc.constantFrom('é', '€', '𝄞', 'a').map((ch) => {
    const unit = Buffer.byteLength(ch, 'utf8');
    return ch.repeat(Math.floor(max / unit)) + 'a'.repeat(max % unit);
  });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Payload>(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.constant<Payload>('') },
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: Math.min(16, max) }) },
    { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: Math.min(24, Math.floor(max / 4)) }) },
    { weight: 2, arbitrary: sizedBytesArb(Math.min(17, max), max) },
    { weight: 1, arbitrary: sizedBytesArb(max, max) },
    { weight: 1, arbitrary: atLimitString },
  );
}

/** Payloads one byte over `maxRecordBytes` (or more): the append must reject with `AOF_RECORD_TOO_LARGE`. */
export function oversizedPayloadArb(limits: Pick<ArbitraryLimits, 'maxRecordBytes'> = TEST_LIMITS): fc.Arbitrary<Payload> {
  const max = limits.maxRecordBytes;
  return fc.oneof(sizedBytesArb(max + 1, max + 16), fc.constant('€'.repeat(Math.floor(max / 3) + 1)));
}

/** Batches of 1 to `maxBatchRecords` valid payloads (most of them small). */
export function batchArb(limits: ArbitraryLimits = TEST_LIMITS, maxLength = limits.maxBatchRecords): fc.Arbitrary<Payload[]> {
  return fc.array(payloadArb(limits), { minLength: 1, maxLength: Math.min(maxLength, limits.maxBatchRecords) });
}

/** Flush options of the given strategies, with parameters that make timers fire (or never fire) within a test. */
export function flushOptionsArb(strategies: readonly FlushStrategy[] = FLUSH_STRATEGY_NAMES): fc.Arbitrary<FlushOptions> {
  const by: Record<FlushStrategy, fc.Arbitrary<FlushOptions>> = {
    always: fc.constant({ strategy: 'always' }),
    batch: fc.record({ strategy: fc.constant('batch' as const), maxDelayMs: fc.integer({ min: 0, max: 3 }), maxRecords: fc.integer({ min: 1, max: 64 }) }),
    adaptive: fc.record({ strategy: fc.constant('adaptive' as const), targetLatencyMs: fc.integer({ min: 1, max: 5 }) }),
    interval: fc.record({ strategy: fc.constant('interval' as const), intervalMs: fc.constantFrom(1, 5, 3_600_000) }),
    none: fc.constant({ strategy: 'none' }),
  };
  return fc.oneof(...strategies.map((s) => by[s]));
}

/** Options of {@link logOptionsArb}. */
export interface LogOptionsArbOptions {
  /** Strategies to draw from (default: all five). */
  strategies?: readonly FlushStrategy[];
  /** Record and batch bounds, passed through unchanged (default {@link TEST_LIMITS}). */
  limits?: ArbitraryLimits;
}

/**
 * Log options that exercise the engine's edges: segments small enough to
 * roll every few appends (by bytes, records or age), preallocation on and
 * off, background writeback (`none`, `interval`) every few appends or never,
 * tiny sparse-index intervals, read-ahead windows and write buffers
 * smaller than a frame, a file cache of one handle. `fs` and `clock` are
 * left for the harness to set.
 */
export function logOptionsArb(options: LogOptionsArbOptions = {}): fc.Arbitrary<LogOptions> {
  const limits = options.limits ?? TEST_LIMITS;
  return fc.record(
    {
      flush: flushOptionsArb(options.strategies),
      segment: fc.record(
        {
          maxBytes: fc.integer({ min: 200, max: 8192 }),
          maxRecords: fc.integer({ min: 1, max: 40 }),
          maxAgeMs: fc.integer({ min: 5, max: 500 }),
          indexIntervalBytes: fc.integer({ min: 32, max: 2048 }),
          preallocateBytes: fc.constantFrom(0, 100, 4096, 1024 * 1024),
        },
        { requiredKeys: ['maxBytes'] },
      ),
      writeBufferBytes: fc.integer({ min: 64, max: 8192 }),
      writebackBytes: fc.constantFrom(0, 64, 1024, 8192),
      readAheadBytes: fc.integer({ min: 32, max: 65536 }),
      maxOpenFiles: fc.integer({ min: 1, max: 4 }),
    },
    { requiredKeys: ['flush', 'segment'] },
  ).map((o) => ({ ...o, ...limits }));
}

/** Operations that fault schedules target by default: every call the data path makes. */
export const FAULT_OPERATIONS: readonly FsOperation[] = ['write', 'datasync', 'truncate', 'open', 'syncDir', 'read', 'size', 'readdir', 'stat', 'mkdir', 'rename'];

/** Options of {@link faultRuleArb}. */
export interface FaultArbOptions {
  /** Operations to fail (default {@link FAULT_OPERATIONS}, weighted towards write and datasync). */
  ops?: readonly FsOperation[];
  /** Errnos to fail with (default `EIO`, `ENOSPC`, `EDQUOT`). */
  errnos?: readonly string[];
  /** Most matching calls let through before the failure (default 3). */
  maxSkip?: number;
}

/** One injected fault: which operation fails with which errno, after how many matching calls. */
export function faultRuleArb(options: FaultArbOptions = {}): fc.Arbitrary<FaultRule> {
  const ops = options.ops ?? FAULT_OPERATIONS;
  const weighted = ops.map((op) => ({ weight: op === 'write' || op === 'datasync' ? 4 : 1, arbitrary: fc.constant(op) }));
  // Most faults aim at segment files: the data path, rather than the watermark or catalog files beside it.
  const pathArb = fc.oneof({ weight: 3, arbitrary: fc.constant<string | undefined>('.seg') }, { weight: 1, arbitrary: fc.constant<string | undefined>(undefined) });
  return fc.record({
    op: fc.oneof(...weighted),
    path: pathArb,
    errno: fc.constantFrom(...(options.errnos ?? ['EIO', 'ENOSPC', 'EDQUOT'])),
    skip: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: Math.max(1, options.maxSkip ?? 3) }) }),
    times: fc.constant(1),
  });
}

/** One or two faults armed together (two reach paths such as a failed write whose cut-back fails too). */
export function faultScheduleArb(options: FaultArbOptions = {}): fc.Arbitrary<FaultRule[]> {
  return fc.array(faultRuleArb(options), { minLength: 1, maxLength: 2 });
}
