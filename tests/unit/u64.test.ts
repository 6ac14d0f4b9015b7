import { describe, expect, it } from 'vitest';
import { readU64, writeU64 } from '../../src/record/u64.js';
import { seededRandom } from '../helpers/rng.js';

describe('u64 helpers', () => {
  it('round-trip every safe integer class, little-endian', () => {
    const values = [0, 1, 255, 256, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
    for (const v of values) {
      const buf = Buffer.alloc(8);
      writeU64(buf, 0, v);
      expect(readU64(buf, 0), String(v)).toBe(v);
      expect(buf.readBigUInt64LE(0)).toBe(BigInt(v));
    }
  });

  it('round-trip seeded random safe integers at an unaligned offset', () => {
    const rnd = seededRandom(53);
    const buf = Buffer.alloc(16);
    for (let i = 0; i < 1000; i++) {
      const v = Math.floor(rnd() * Number.MAX_SAFE_INTEGER);
      writeU64(buf, 3, v);
      expect(readU64(buf, 3)).toBe(v);
      expect(buf.readBigUInt64LE(3)).toBe(BigInt(v));
    }
  });

  it('2^53 - 1 round trips and 2^53 and above read as -1 (damage)', () => {
    const buf = Buffer.alloc(8);
    writeU64(buf, 0, 2 ** 53 - 1);
    expect(readU64(buf, 0)).toBe(2 ** 53 - 1);
    for (const big of [2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 64n - 1n]) {
      buf.writeBigUInt64LE(big, 0);
      expect(readU64(buf, 0), String(big)).toBe(-1);
    }
  });
});
