import { InvariantError } from './errors.js';

/**
 * Fails loudly when an invariant of the data path does not hold. Used on every
 * boundary where bytes or sequence numbers cross from one module to another.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
