import { InvalidArgumentError } from '../errors.js';
import { positiveInt } from '../validate.js';

/**
 * When `append()` resolves, by strategy (docs/DURABILITY.md states each
 * promise exactly):
 * - `always`: after an fdatasync covering the record; appends waiting together share one.
 * - `batch`: after the group fdatasync covering it; when producers are concurrent, the
 *   writer waits up to `maxDelayMs` (or until `maxRecords`/`maxBytes` are waiting) to
 *   share one fdatasync among more appends. A lone producer never waits for the timer.
 * - `interval`: after write(2); an fdatasync runs every `intervalMs`.
 * - `none`: after write(2); the OS decides when the bytes reach the disk.
 * - `adaptive`: after an fdatasync; the wait for more appends is tuned from the measured
 *   fdatasync latency so that an append's latency stays near `targetLatencyMs`.
 */
export type FlushOptions =
  | { strategy: 'always' }
  | { strategy: 'batch'; maxRecords?: number; maxBytes?: number; maxDelayMs?: number }
  | { strategy: 'interval'; intervalMs?: number }
  | { strategy: 'none' }
  | { strategy: 'adaptive'; targetLatencyMs?: number };

/** The strategies this build implements. */
export const FLUSH_STRATEGIES = ['always', 'batch', 'interval', 'none', 'adaptive'] as const;

/** Defaults of the strategies' parameters. */
export const FLUSH_DEFAULTS = {
  batchMaxRecords: 4096,
  batchMaxBytes: 4 * 1024 * 1024,
  batchMaxDelayMs: 2,
  intervalMs: 100,
  adaptiveTargetLatencyMs: 5,
} as const;

/** A flush strategy with its defaults applied. */
export type NormalizedFlush =
  | { strategy: 'always' }
  | { strategy: 'batch'; maxRecords: number; maxBytes: number; maxDelayMs: number }
  | { strategy: 'interval'; intervalMs: number }
  | { strategy: 'none' }
  | { strategy: 'adaptive'; targetLatencyMs: number };

/** The default: durable, with a small delay to share fsyncs among concurrent producers. */
export const DEFAULT_FLUSH: NormalizedFlush = {
  strategy: 'batch',
  maxRecords: FLUSH_DEFAULTS.batchMaxRecords,
  maxBytes: FLUSH_DEFAULTS.batchMaxBytes,
  maxDelayMs: FLUSH_DEFAULTS.batchMaxDelayMs,
};

/** Validates `flush` options, naming what is wrong. */
export function normalizeFlushOptions(value: unknown): NormalizedFlush {
  if (value === undefined) return DEFAULT_FLUSH;
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError('option flush must be an object like { strategy: "batch" }');
  const o = value as Record<string, unknown>;
  const known = (keys: string[]): void => {
    for (const k of Object.keys(o)) if (k !== 'strategy' && !keys.includes(k)) throw new InvalidArgumentError(`option flush.${k} does not apply to strategy ${String(o.strategy)}`);
  };
  switch (o.strategy) {
    case 'always':
    case 'none':
      known([]);
      return { strategy: o.strategy };
    case 'batch':
      known(['maxRecords', 'maxBytes', 'maxDelayMs']);
      return {
        strategy: 'batch',
        maxRecords: positiveInt('flush.maxRecords', o.maxRecords, FLUSH_DEFAULTS.batchMaxRecords, 0xffff_ffff),
        maxBytes: positiveInt('flush.maxBytes', o.maxBytes, FLUSH_DEFAULTS.batchMaxBytes, Number.MAX_SAFE_INTEGER),
        maxDelayMs: positiveInt('flush.maxDelayMs', o.maxDelayMs, FLUSH_DEFAULTS.batchMaxDelayMs, 60_000, true),
      };
    case 'interval':
      known(['intervalMs']);
      return { strategy: 'interval', intervalMs: positiveInt('flush.intervalMs', o.intervalMs, FLUSH_DEFAULTS.intervalMs, 3_600_000) };
    case 'adaptive':
      known(['targetLatencyMs']);
      return { strategy: 'adaptive', targetLatencyMs: positiveInt('flush.targetLatencyMs', o.targetLatencyMs, FLUSH_DEFAULTS.adaptiveTargetLatencyMs, 60_000) };
    default:
      throw new InvalidArgumentError(`option flush.strategy must be one of ${FLUSH_STRATEGIES.join(', ')}, got ${String(o.strategy)}`);
  }
}

/** Whether a strategy acknowledges only after the data reached stable storage. */
export function syncsBeforeAck(flush: NormalizedFlush): boolean {
  return flush.strategy === 'always' || flush.strategy === 'batch' || flush.strategy === 'adaptive';
}
