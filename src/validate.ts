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

