import { InvalidArgumentError } from './errors.js';

/** A positive safe integer option (zero allowed where `zeroOk`), or its default when absent. */
export function positiveInt(name: string, value: unknown, fallback: number, max: number, zeroOk = false): number {
  if (value === undefined) return fallback;
  const min = zeroOk ? 0 : 1;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}


/**
 * A file-system path argument: a non-empty string without NUL bytes (no
 * system call accepts one; Node would refuse it with a code the engine would
 * otherwise report as an I/O error).
 */
export function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`${name} must be a non-empty path string, got ${value === null ? 'null' : typeof value}`);
  const nul = value.indexOf('\0');
  if (nul >= 0) throw new InvalidArgumentError(`${name} contains a NUL byte at index ${nul}: ${JSON.stringify(value.slice(0, 200))}`);
  return value;
}
