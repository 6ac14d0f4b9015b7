import { InvalidArgumentError } from '../errors.js';

/**
 * When `append()` resolves, by strategy (docs/DURABILITY.md states each
 * promise exactly):
 * - `always`: after an fdatasync covering the record; concurrent appends share one.
 * - `none`: after write(2); the OS decides when the bytes reach the disk.
 */
export type FlushOptions =
  | { strategy: 'always' }
  | { strategy: 'none' };

/** The strategies this build implements. */
export const FLUSH_STRATEGIES = ['always', 'none'] as const;

/** A flush strategy with its defaults applied. */
export type NormalizedFlush = { strategy: 'always' } | { strategy: 'none' };

/** Validates `flush` options, naming what is wrong. */
export function normalizeFlushOptions(value: unknown): NormalizedFlush {
  if (value === undefined) return { strategy: 'always' };
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError('option flush must be an object like { strategy: "always" }');
  const strategy = (value as { strategy?: unknown }).strategy;
  switch (strategy) {
    case 'always':
    case 'none':
      return { strategy };
    default:
      throw new InvalidArgumentError(`option flush.strategy must be one of ${FLUSH_STRATEGIES.join(', ')}, got ${String(strategy)}`);
  }
}

/** Whether a strategy acknowledges only after data reached stable storage. */
export function syncsBeforeAck(flush: NormalizedFlush): boolean {
  return flush.strategy === 'always';
}
