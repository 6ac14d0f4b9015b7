import { InvalidArgumentError } from '../errors.js';

/**
 * The `clock` option, read with a check. Timestamps are stored as u64 and
 * read back only as safe integers (a larger value reads as damage), so a
 * clock returning anything but an integer in [0, 2^53) would produce
 * records that could be acknowledged but not read back. Every read that
 * ends up on disk goes through {@link readClock} before anything is written.
 *
 * @module
 */

/** Reads `clock` once: an integer number of ms since the epoch in [0, 2^53). Throws `AOF_INVALID_ARGUMENT` naming the value otherwise. */
export function readClock(clock: () => number): number {
  let value: unknown;
  try {
    value = clock();
  } catch (err) {
    throw new InvalidArgumentError(`option clock threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`option clock returned ${describe(value)}; a timestamp must be an integer number of ms since the epoch from 0 to 2^53 - 1`);
  }
  return value;
}

/** The clock's time, or undefined when it returns no valid timestamp (for uses that have a safe fallback, e.g. a segment's age). */
export function tryReadClock(clock: () => number): number | undefined {
  try {
    return readClock(clock);
  } catch {
    return undefined;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `the bigint ${value}n`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === 'number' || value === undefined || value === null) return String(value);
  const text = String(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}
