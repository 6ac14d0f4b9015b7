import { describe, expect, it } from 'vitest';
import type { IndexEntry } from '../../src/segment/footer.js';
import { floorBeforeTime, floorBySeq, SparseIndexBuilder } from '../../src/segment/sparse-index.js';
import { seededRandom } from '../helpers/rng.js';

describe('SparseIndexBuilder', () => {
  it('indexes the first frame at or after each interval of bytes', () => {
    const b = new SparseIndexBuilder(100);
    b.add(0, 64, 10); // first frame: always indexed
    b.add(1, 100, 11); // within 100 bytes of 64: skipped
    b.add(2, 163, 12); // 163 < 164: skipped
    b.add(3, 164, 13); // 164 = 64 + 100: indexed
    b.add(9, 400, 14); // far past: indexed
    b.add(10, 450, 15); // 450 < 500: skipped
    expect(b.entries).toEqual([
      { seq: 0, offset: 64, timestamp: 10 },
      { seq: 3, offset: 164, timestamp: 13 },
      { seq: 9, offset: 400, timestamp: 14 },
    ]);
  });

  it('continues from initial entries (a reopened active segment)', () => {
    const b = new SparseIndexBuilder(100, [{ seq: 0, offset: 64, timestamp: 1 }, { seq: 5, offset: 200, timestamp: 2 }]);
    b.add(6, 250, 3);
    b.add(7, 300, 4);
    expect(b.entries.map((e) => e.seq)).toEqual([0, 5, 7]);
  });

  it('asserts that entries strictly increase', () => {
    const b = new SparseIndexBuilder(10);
    b.add(5, 100, 0);
    expect(() => b.add(5, 200, 0)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
    expect(() => b.add(4, 300, 0)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
    expect(() => new SparseIndexBuilder(0)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
  });

  it('never leaves more than one interval of bytes unindexed between entries', () => {
    const rnd = seededRandom(17);
    const interval = 512;
    const b = new SparseIndexBuilder(interval);
    const frames: IndexEntry[] = [];
    let offset = 64;
    for (let seq = 0; seq < 2000; seq++) {
      frames.push({ seq, offset, timestamp: seq });
      b.add(seq, offset, seq);
      offset += 32 + Math.floor(rnd() * 300);
    }
    const e = b.entries;
    expect(e[0]).toEqual(frames[0]);
    for (let i = 1; i < e.length; i++) expect(e[i]!.offset - e[i - 1]!.offset).toBeGreaterThanOrEqual(interval);
    // From any frame, the index entry at or before it is within one interval plus one frame.
    for (const f of frames) expect(f.offset - floorBySeq(e, f.seq)!.offset).toBeLessThan(interval);
  });
});

describe('index lookups', () => {
  const entries: IndexEntry[] = [
    { seq: 10, offset: 64, timestamp: 100 },
    { seq: 20, offset: 500, timestamp: 100 },
    { seq: 30, offset: 900, timestamp: 200 },
    { seq: 40, offset: 1300, timestamp: 300 },
  ];

  it('floorBySeq: last entry with seq <= target', () => {
    expect(floorBySeq([], 5)).toBeUndefined();
    expect(floorBySeq(entries, 9)).toBeUndefined();
    expect(floorBySeq(entries, 10)?.seq).toBe(10);
    expect(floorBySeq(entries, 19)?.seq).toBe(10);
    expect(floorBySeq(entries, 20)?.seq).toBe(20);
    expect(floorBySeq(entries, 39)?.seq).toBe(30);
    expect(floorBySeq(entries, 1e9)?.seq).toBe(40);
  });

  it('floorBeforeTime: last entry strictly before the time, past runs of equal timestamps', () => {
    expect(floorBeforeTime([], 5)).toBeUndefined();
    expect(floorBeforeTime(entries, 100)).toBeUndefined();
    expect(floorBeforeTime(entries, 101)?.seq).toBe(20);
    expect(floorBeforeTime(entries, 200)?.seq).toBe(20);
    expect(floorBeforeTime(entries, 201)?.seq).toBe(30);
    expect(floorBeforeTime(entries, 1e12)?.seq).toBe(40);
  });

  it('agree with a linear search on seeded random indexes', () => {
    const rnd = seededRandom(4242);
    for (let round = 0; round < 200; round++) {
      const list: IndexEntry[] = [];
      let seq = Math.floor(rnd() * 10);
      let ts = Math.floor(rnd() * 10);
      const n = Math.floor(rnd() * 40);
      for (let i = 0; i < n; i++) {
        list.push({ seq, offset: 64 + i * 100, timestamp: ts });
        seq += 1 + Math.floor(rnd() * 5);
        ts += Math.floor(rnd() * 3); // non-decreasing, with repeats
      }
      for (let q = 0; q < 30; q++) {
        const s = Math.floor(rnd() * (seq + 5));
        const t = Math.floor(rnd() * (ts + 5));
        const bySeq = list.filter((e) => e.seq <= s).pop();
        const byTime = list.filter((e) => e.timestamp < t).pop();
        expect(floorBySeq(list, s)).toBe(bySeq);
        expect(floorBeforeTime(list, t)).toBe(byTime);
      }
    }
  });
});
