import { seededRandom } from '../../src/testing/random.js';

export { seededRandom };

/** Deterministic bytes of length `n` from `seed`. */
export function seededBytes(seed: number, n: number): Buffer {
  const rnd = seededRandom(seed);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}
