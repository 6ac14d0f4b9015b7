import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Portable } from '../../src/record/crc.js';
import { crc32Range, RECORD_CRC_NATIVE_MIN_BYTES, recordCrc, recordCrcOfView, viewOf } from '../../src/record/record-crc.js';
import { decodePositions, Positions } from '../../src/segment/positions.js';
import { seededBytes, seededRandom } from '../helpers/rng.js';

const zcrc = (data: Uint8Array, seed = 0): number => zlib.crc32(data, seed) >>> 0;

/** The record CRC as docs/FORMAT.md defines it: CRC-32 of seq (u64 LE) ‖ length (u32 LE) ‖ payload, continuing from the seed. */
function reference(seed: number, seq: number, payload: Buffer): number {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(seq));
  head.writeUInt32LE(payload.length, 8);
  return zcrc(payload, zcrc(head, seed));
}

describe('record CRC (format version 3)', () => {
  it('crc32Range equals zlib.crc32 for every length 0..600 at odd offsets, on both sides of the native crossover', () => {
    for (let n = 0; n <= 600; n++) {
      const buf = seededBytes(n + 1, n + 7);
      const seed = n * 2654435761 >>> 0;
      expect(crc32Range(buf, 3, 3 + n, seed), `length ${n}`).toBe(zcrc(buf.subarray(3, 3 + n), seed));
      expect(crc32Range(buf, 3, 3 + n, seed)).toBe(crc32Portable(buf.subarray(3, 3 + n), seed));
    }
    expect(RECORD_CRC_NATIVE_MIN_BYTES).toBeGreaterThan(0);
  });

  it('recordCrc is the documented function of seed, sequence number, length and payload (seeded random cases)', () => {
    const rnd = seededRandom(77);
    for (let i = 0; i < 500; i++) {
      const n = Math.floor(rnd() * 2000);
      const payload = seededBytes(1000 + i, n);
      const seq = Math.floor(rnd() * 2 ** 53);
      const seed = Math.floor(rnd() * 2 ** 32);
      const buf = Buffer.concat([Buffer.alloc(5), payload]);
      expect(recordCrc(seed, seq, buf, 5, n)).toBe(reference(seed, seq, payload));
    }
  });

  it('recordCrcOfView (the encoder word walk) equals recordCrc for every length 0..600 at every alignment, in a Buffer at a pool offset', () => {
    const rnd = seededRandom(91);
    // A small allocUnsafe buffer lies at an offset in Node's shared pool: the view must start where the Buffer does.
    const buf = Buffer.allocUnsafe(700);
    buf.set(seededBytes(5, 700));
    const view = viewOf(buf);
    for (let n = 0; n <= 600; n++) {
      const start = n % 7;
      const seq = Math.floor(rnd() * 2 ** 53);
      const seed = Math.floor(rnd() * 2 ** 32);
      expect(recordCrcOfView(seed, seq, view, start, n), `length ${n} at ${start}`).toBe(reference(seed, seq, buf.subarray(start, start + n)));
      expect(recordCrc(seed, seq, buf, start, n)).toBe(reference(seed, seq, buf.subarray(start, start + n)));
    }
  });

  it('a different sequence number or seed gives another CRC: a record read at the wrong place fails its check', () => {
    const payload = Buffer.from('the same bytes');
    const a = recordCrc(1, 10, payload, 0, payload.length);
    expect(recordCrc(1, 11, payload, 0, payload.length)).not.toBe(a);
    expect(recordCrc(2, 10, payload, 0, payload.length)).not.toBe(a);
  });
});

describe('position table', () => {
  function sample(): Positions {
    const p = new Positions(100, 64);
    p.beginFrame(100, 5000);
    p.addRecord(96);
    p.addRecord(120);
    p.endFrame(150);
    p.addEmptyFrame(102, 3, 182);
    p.beginFrame(105, 6000);
    p.addRecord(214);
    p.endFrame(240);
    return p;
  }

  it('locates records with their timestamps and range, gaps as gaps, nothing past the end', () => {
    const p = sample();
    expect(p.locate(100)).toEqual({ offset: 96, end: 120, timestamp: 5000 });
    expect(p.locate(101)).toEqual({ offset: 120, end: 214, timestamp: 5000 });
    expect(p.locate(103)).toEqual({ from: 102, to: 105 });
    expect(p.locate(105)).toEqual({ offset: 214, end: 240, timestamp: 6000 });
    expect(p.locate(106)).toBeUndefined();
    expect(p.locate(99)).toBeUndefined();
  });

  it('encodes and decodes to the same positions; any flipped byte is AOF_CORRUPT at the table offset', () => {
    const seed = 0x1234;
    const bytes = sample().encode(seed);
    const expected = { baseSeq: 100, nextSeq: 106, recordCount: 3, dataEnd: 240 };
    const back = decodePositions(bytes, seed, expected, 'f.seg');
    for (const s of [100, 101, 103, 105]) expect(back.locate(s)).toEqual(sample().locate(s));
    for (let i = 0; i < bytes.length; i++) {
      const bad = Buffer.from(bytes);
      bad[i]! ^= 0x10;
      expect(() => decodePositions(bad, seed, expected, 'f.seg'), `byte ${i}`).toThrow(expect.objectContaining({ code: 'AOF_CORRUPT', file: 'f.seg', offset: 240 }));
    }
    // Another segment's seed (salt): the same bytes do not check.
    expect(() => decodePositions(bytes, seed + 1, expected, 'f.seg')).toThrow(/checksum mismatch/);
    // Counts that disagree with the footer.
    expect(() => decodePositions(bytes, seed, { ...expected, recordCount: 4 }, 'f.seg')).toThrow(/records/);
  });

  it('addRecordStarts (the writer, per frame) builds the table addRecord builds, past the initial capacity, and the same bytes on disk', () => {
    const rnd = seededRandom(5);
    const frames = [1, 63, 64, 65, 200, 1000].map((n) => Array.from({ length: n }, () => Math.floor(rnd() * 300)));
    const one = new Positions(7, 64);
    const bulk = new Positions(7, 64);
    let seq = 7;
    let at = 64;
    for (const lengths of frames) {
      one.beginFrame(seq, seq * 10);
      bulk.beginFrame(seq, seq * 10);
      const starts = new Uint32Array(lengths.length);
      let each = at + 32;
      lengths.forEach((length, i) => {
        one.addRecord(each);
        starts[i] = each;
        each += 8 + length;
      });
      bulk.addRecordStarts(starts);
      one.endFrame(each);
      bulk.endFrame(each);
      seq += lengths.length;
      at = each;
    }
    expect(bulk.recordCount).toBe(one.recordCount);
    expect(bulk.nextSeq).toBe(one.nextSeq);
    for (let s = 7; s < seq; s += 13) expect(bulk.locate(s)).toEqual(one.locate(s));
    const bytes = bulk.encode(9);
    expect(bytes.equals(one.encode(9))).toBe(true);
    // The bulk copy of the entries writes them little-endian, as docs/FORMAT.md says.
    expect(bytes.readUInt32LE(0)).toBe(64 + 32);
    const back = decodePositions(bytes, 9, { baseSeq: 7, nextSeq: seq, recordCount: seq - 7, dataEnd: at }, 'f.seg');
    expect(back.locate(seq - 1)).toEqual(one.locate(seq - 1));
  });

  it('encodeGroupedFrame notes each record start (file offset) where the position table needs it', async () => {
    const { encodeGroupedFrame, RECORD_HEADER_BYTES_V3 } = await import('../../src/record/frame.js');
    const groups = [{ payloads: Buffer.from('a') }, { payloads: [Buffer.from('bb'), Buffer.alloc(600)] }, { payloads: Buffer.alloc(0) }];
    const out = Buffer.alloc(2000);
    const starts = new Uint32Array(4);
    const withStarts = encodeGroupedFrame(out, 100, 3, 50, 1, groups, 0, RECORD_HEADER_BYTES_V3, { offsets: starts, base: 4096 });
    const again = Buffer.alloc(2000);
    expect(encodeGroupedFrame(again, 100, 3, 50, 1, groups, 0, RECORD_HEADER_BYTES_V3)).toBe(withStarts);
    expect(again.equals(out)).toBe(true);
    expect([...starts]).toEqual([4096 + 132, 4096 + 132 + 9, 4096 + 132 + 9 + 10, 4096 + 132 + 9 + 10 + 608]);
  });
});

describe('position cache', () => {
  it('holds tables within its byte bound, evicting the least recently used first; a table over the bound is not kept', async () => {
    const { PositionCache } = await import('../../src/read/position-cache.js');
    const table = (records: number): Positions => {
      const p = new Positions(0, 64, records, 1);
      p.beginFrame(0, 1);
      for (let i = 0; i < records; i++) p.addRecord(64 + 32 + i * 10);
      p.endFrame(64 + 32 + records * 10);
      return p;
    };
    const segs = [0, 1, 2, 3].map((i) => ({ baseSeq: i }) as never);
    const one = table(100).bytes;
    const cache = new PositionCache(one * 2);
    cache.put(segs[0], table(100));
    cache.put(segs[1], table(100));
    expect(cache.get(segs[0])).toBeDefined(); // 0 is now the most recent
    cache.put(segs[2], table(100)); // evicts 1, the least recently used
    expect(cache.get(segs[1])).toBeUndefined();
    expect(cache.get(segs[0])).toBeDefined();
    expect(cache.get(segs[2])).toBeDefined();
    expect(cache.bytes).toBeLessThanOrEqual(one * 2);
    cache.put(segs[3], table(1000)); // larger than the whole bound: not kept, nothing evicted for it
    expect(cache.get(segs[3])).toBeUndefined();
    expect(cache.size).toBe(2);
    const none = new PositionCache(0);
    none.put(segs[0], table(1));
    expect(none.size).toBe(0);
  });
});
