import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Native, crc32Portable, type Crc32 } from '../../src/record/crc.js';
import { seededBytes, seededRandom } from '../helpers/rng.js';

// Reference vectors of CRC-32/ISO-HDLC (the zlib / PNG / Ethernet CRC).
const VECTORS: Array<[string, number]> = [
  ['', 0x00000000],
  ['a', 0xe8b7be43],
  ['abc', 0x352441c2],
  ['123456789', 0xcbf43926],
  ['message digest', 0x20159d7f],
  ['The quick brown fox jumps over the lazy dog', 0x414fa339],
];

const nodeHasNative = typeof (zlib as unknown as { crc32?: unknown }).crc32 === 'function';

function implementations(): Array<[string, Crc32]> {
  const list: Array<[string, Crc32]> = [['portable', crc32Portable], ['chosen', crc32]];
  if (crc32Native !== undefined) list.push(['native', crc32Native]);
  return list;
}

describe('CRC-32', () => {
  it('uses the native zlib.crc32 exactly when this Node has it', () => {
    expect(crc32Native !== undefined).toBe(nodeHasNative);
    expect(crc32).toBe(crc32Native ?? crc32Portable);
  });

  for (const [name, impl] of implementations()) {
    it(`${name}: known vectors`, () => {
      for (const [text, expected] of VECTORS) expect(impl(Buffer.from(text, 'latin1')), text).toBe(expected);
    });

    it(`${name}: returns an unsigned 32-bit integer`, () => {
      const rnd = seededRandom(7);
      for (let i = 0; i < 200; i++) {
        const v = impl(seededBytes(Math.floor(rnd() * 1e9), 1 + Math.floor(rnd() * 64)));
        expect(Number.isInteger(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(0xffff_ffff);
      }
    });

    it(`${name}: continuing from a seed equals one pass over the concatenation`, () => {
      const rnd = seededRandom(11);
      for (let i = 0; i < 100; i++) {
        const whole = seededBytes(1000 + i, Math.floor(rnd() * 3000));
        const cut = Math.floor(rnd() * (whole.length + 1));
        expect(impl(whole.subarray(cut), impl(whole.subarray(0, cut)))).toBe(impl(whole));
      }
    });
  }

  describe.skipIf(crc32Native === undefined)('native and portable agree (this Node has zlib.crc32)', () => {
    const native = crc32Native!;

    it('on empty input', () => {
      expect(native(new Uint8Array(0))).toBe(0);
      expect(crc32Portable(new Uint8Array(0))).toBe(0);
      // An empty continuation returns the seed unchanged.
      expect(native(new Uint8Array(0), 0xdeadbeef)).toBe(0xdeadbeef);
      expect(crc32Portable(new Uint8Array(0), 0xdeadbeef)).toBe(0xdeadbeef);
    });

    it('on every single byte value, and on all 256 values in one buffer', () => {
      for (let b = 0; b < 256; b++) {
        const one = Uint8Array.of(b);
        expect(native(one), `byte ${b}`).toBe(crc32Portable(one));
      }
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      expect(native(all)).toBe(crc32Portable(all));
      const reversed = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
      expect(native(reversed)).toBe(crc32Portable(reversed));
      expect(native(new Uint8Array(4096).fill(0xff))).toBe(crc32Portable(new Uint8Array(4096).fill(0xff)));
      expect(native(new Uint8Array(4096))).toBe(crc32Portable(new Uint8Array(4096)));
    });

    it('on seeded random buffers of many sizes', () => {
      const sizes = [...Array.from({ length: 130 }, (_, i) => i), 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097, 65_535, 65_536, 65_539, 1 << 20];
      for (const size of sizes) {
        const data = seededBytes(size * 31 + 5, size);
        expect(native(data), `size ${size}`).toBe(crc32Portable(data));
      }
    });

    it('on views that do not start at offset 0 of their buffer', () => {
      const backing = seededBytes(99, 5000);
      const rnd = seededRandom(99);
      for (let i = 0; i < 100; i++) {
        const start = Math.floor(rnd() * 2500);
        const end = start + Math.floor(rnd() * 2500);
        const view = new Uint8Array(backing.buffer, backing.byteOffset + start, end - start);
        expect(native(view)).toBe(crc32Portable(view));
        expect(native(view)).toBe(crc32Portable(Buffer.from(view)));
      }
    });

    it('on incremental computation with seeds, mixing the two implementations', () => {
      const rnd = seededRandom(2024);
      for (let i = 0; i < 200; i++) {
        const data = seededBytes(7000 + i, Math.floor(rnd() * 2000));
        const cuts = [0, Math.floor(rnd() * data.length), Math.floor(rnd() * data.length), data.length].sort((a, b) => a - b);
        let n = 0;
        let p = 0;
        let mixed = 0;
        for (let k = 0; k + 1 < cuts.length; k++) {
          const part = data.subarray(cuts[k], cuts[k + 1]);
          n = native(part, n);
          p = crc32Portable(part, p);
          mixed = k % 2 === 0 ? native(part, mixed) : crc32Portable(part, mixed);
        }
        expect(n).toBe(crc32Portable(data));
        expect(p).toBe(n);
        expect(mixed).toBe(n);
      }
    });

    it('on arbitrary seeds, including ones with the top bit set', () => {
      const rnd = seededRandom(5);
      for (let i = 0; i < 300; i++) {
        const seed = Math.floor(rnd() * 0x1_0000_0000);
        const data = seededBytes(i, Math.floor(rnd() * 100));
        expect(native(data, seed), `seed ${seed}`).toBe(crc32Portable(data, seed));
      }
      for (const seed of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]) {
        expect(native(Buffer.from('123456789'), seed)).toBe(crc32Portable(Buffer.from('123456789'), seed));
      }
    });
  });
});
