import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import {
  decodeFooter, decodeTrailer, encodeFooter, FOOTER_FIXED_BYTES, INDEX_ENTRY_BYTES, TRAILER_BYTES, TRAILER_MAGIC, type SegmentSummary,
} from '../../src/segment/footer.js';

const SALT = Buffer.from('saltsalt', 'latin1');
const FILE = '/logs/segments/00000000000000000100.seg';

function summary(overrides: Partial<SegmentSummary> = {}): SegmentSummary {
  return {
    recordCount: 30, firstSeq: 100, nextSeq: 130, firstTimestamp: 1_700_000_000_000, lastTimestamp: 1_700_000_000_999, dataEnd: 9000,
    index: [
      { seq: 100, offset: 64, timestamp: 1_700_000_000_000 },
      { seq: 110, offset: 4200, timestamp: 1_700_000_000_500 },
      { seq: 125, offset: 8500, timestamp: 1_700_000_000_900 },
    ],
    ...overrides,
  };
}

function decode(buf: Buffer, s: SegmentSummary, salt = SALT, base = s.firstSeq): SegmentSummary {
  return decodeFooter(buf, s.dataEnd + buf.length, salt, base, FILE);
}

function decodeErr(run: () => unknown): CorruptionError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptionError);
    return err as CorruptionError;
  }
  return expect.fail('damaged footer accepted');
}

describe('segment footer', () => {
  it('round-trips the summary and sparse index', () => {
    const s = summary();
    const buf = encodeFooter(s, SALT);
    expect(buf.length).toBe(FOOTER_FIXED_BYTES + 3 * INDEX_ENTRY_BYTES + TRAILER_BYTES);
    expect(decode(buf, s)).toEqual(s);
  });

  it('round-trips an empty index and large values', () => {
    const s = summary({ index: [], recordCount: 5, firstSeq: 2 ** 52, nextSeq: 2 ** 52 + 5, lastTimestamp: 2 ** 50 });
    expect(decode(encodeFooter(s, SALT), s)).toEqual(s);
  });

  it('ends with a trailer giving its length and checksum', () => {
    const buf = encodeFooter(summary(), SALT);
    const trailer = decodeTrailer(buf.subarray(buf.length - TRAILER_BYTES));
    expect(trailer?.footerBytes).toBe(buf.length);
    expect(buf.subarray(buf.length - 8)).toEqual(TRAILER_MAGIC);
    expect(decodeTrailer(Buffer.alloc(TRAILER_BYTES))).toBeUndefined();
    expect(decodeTrailer(buf.subarray(buf.length - TRAILER_BYTES + 1))).toBeUndefined();
  });

  it('a salt mismatch is corruption at the footer start', () => {
    const s = summary();
    const err = decodeErr(() => decode(encodeFooter(s, SALT), s, Buffer.from('SALTSALT', 'latin1')));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: FILE, offset: s.dataEnd });
    expect(err.message).toMatch(/salt/);
  });

  it('any flipped byte before the trailer checksum is detected', () => {
    const s = summary();
    const good = encodeFooter(s, SALT);
    for (let i = 0; i < good.length - 12; i++) {
      const buf = Buffer.from(good);
      buf[i] ^= 0x01;
      const err = decodeErr(() => decode(buf, s));
      expect(err.code, `byte ${i}`).toBe('AOF_CORRUPT');
    }
    const crcFlipped = Buffer.from(good);
    crcFlipped[good.length - 12] ^= 0x01;
    expect(decodeErr(() => decode(crcFlipped, s)).message).toMatch(/checksum mismatch/);
  });

  it('an index out of order, or out of the segment range, is corruption (even with a valid checksum)', () => {
    const bySeq = summary({ index: [{ seq: 100, offset: 64, timestamp: 0 }, { seq: 120, offset: 500, timestamp: 0 }, { seq: 110, offset: 900, timestamp: 0 }] });
    expect(decodeErr(() => decode(encodeFooter(bySeq, SALT), bySeq)).message).toMatch(/index entry 2 out of order/);
    const byOffset = summary({ index: [{ seq: 100, offset: 64, timestamp: 0 }, { seq: 120, offset: 500, timestamp: 0 }, { seq: 121, offset: 500, timestamp: 0 }] });
    expect(decodeErr(() => decode(encodeFooter(byOffset, SALT), byOffset)).message).toMatch(/index entry 2 out of order/);
    const pastEnd = summary({ index: [{ seq: 130, offset: 64, timestamp: 0 }] });
    expect(decodeErr(() => decode(encodeFooter(pastEnd, SALT), pastEnd)).message).toMatch(/index entry 0 out of range/);
    const intoFooter = summary({ index: [{ seq: 100, offset: 9000, timestamp: 0 }] });
    expect(decodeErr(() => decode(encodeFooter(intoFooter, SALT), intoFooter)).message).toMatch(/out of range/);
  });

  it('a footer for another base, or not ending at its data end, is corruption', () => {
    const s = summary();
    const buf = encodeFooter(s, SALT);
    expect(decodeErr(() => decode(buf, s, SALT, 99)).message).toMatch(/not the segment base 99/);
    expect(decodeErr(() => decodeFooter(buf, s.dataEnd + buf.length + 1, SALT, 100, FILE)).message).toMatch(/disagree/);
  });

  it('bad magic is corruption', () => {
    const s = summary();
    const buf = encodeFooter(s, SALT);
    buf[0] = 0;
    expect(decodeErr(() => decode(buf, s)).message).toMatch(/magic/);
  });
});
