import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/record/crc.js';
import {
  decodeFrameHeader, encodeEmptyFrame, encodeFrame, FLAG_CLOSE_MARKER, FLAG_GAP, FRAME_BYTES_MAX, FRAME_HEADER_BYTES,
  frameBytesFor, frameChecksumMatches, frameCrcSeed, forEachRecord, implausibleHeader, recordAt, RECORD_HEADER_BYTES, type FrameHeader,
} from '../../src/record/frame.js';
import { seededBytes, seededRandom } from '../helpers/rng.js';

/** Frames are checksummed with a seed derived from their segment's salt. */
const SEED = frameCrcSeed(Buffer.from('segsalt1', 'latin1'));

function encode(firstSeq: number, timestamp: number, payloads: Uint8Array[], at = 0): Buffer {
  const total = frameBytesFor(payloads.reduce((n, p) => n + p.byteLength, 0), payloads.length);
  const out = Buffer.alloc(at + total + 7, 0xee); // guard bytes around the frame
  expect(encodeFrame(out, at, SEED, firstSeq, timestamp, payloads)).toBe(total);
  return out;
}

function recordsOf(buf: Buffer, offset: number, h: FrameHeader): Buffer[] {
  const out: Buffer[] = [];
  expect(forEachRecord(buf, offset, h, RECORD_HEADER_BYTES, (p, i) => {
    expect(i).toBe(out.length);
    out.push(Buffer.from(p));
  })).toBeUndefined();
  return out;
}

function header(fields: Partial<FrameHeader>): FrameHeader {
  return { frameBytes: 64, crc: 0, firstSeq: 0, count: 1, timestamp: 0, flags: 0, ...fields };
}

/** Rewrites the CRC after a deliberate edit, so only the layout is wrong. */
function reseal(buf: Buffer, offset: number): void {
  const frameBytes = buf.readUInt32LE(offset);
  buf.writeUInt32LE(crc32(buf.subarray(offset + 8, offset + frameBytes), SEED), offset + 4);
}

describe('frame codec', () => {
  it('round-trips header fields and payloads, at any offset', () => {
    const payloads = [Buffer.from('hello'), new Uint8Array(0), seededBytes(1, 1000), Buffer.from('é✓', 'utf8')];
    for (const at of [0, 1, 13]) {
      const buf = encode(123_456_789_012, 1_700_000_000_123, payloads, at);
      const h = decodeFrameHeader(buf, at);
      expect(h).toMatchObject({ frameBytes: frameBytesFor(1000 + 5 + 5, 4), firstSeq: 123_456_789_012, count: 4, timestamp: 1_700_000_000_123, flags: 0 });
      expect(implausibleHeader(h, buf.length - at)).toBeUndefined();
      expect(frameChecksumMatches(buf, at, h, SEED)).toBe(true);
      expect(recordsOf(buf, at, h)).toEqual(payloads.map((p) => Buffer.from(p)));
      for (let i = 0; i < payloads.length; i++) expect(Buffer.from(recordAt(buf, at, h, i, RECORD_HEADER_BYTES) as Buffer)).toEqual(Buffer.from(payloads[i]!));
      // Nothing was written outside the frame.
      expect(buf.subarray(0, at).every((b) => b === 0xee)).toBe(true);
      expect(buf.subarray(at + h.frameBytes).every((b) => b === 0xee)).toBe(true);
    }
  });

  it('round-trips seeded random batches', () => {
    const rnd = seededRandom(321);
    for (let i = 0; i < 200; i++) {
      const count = 1 + Math.floor(rnd() * 20);
      const payloads = Array.from({ length: count }, (_, k) => seededBytes(i * 100 + k, Math.floor(rnd() * 300)));
      const seq = Math.floor(rnd() * 2 ** 52);
      const ts = Math.floor(rnd() * 2 ** 45);
      const buf = encode(seq, ts, payloads);
      const h = decodeFrameHeader(buf, 0);
      expect(h.firstSeq).toBe(seq);
      expect(h.timestamp).toBe(ts);
      expect(h.count).toBe(count);
      expect(frameChecksumMatches(buf, 0, h, SEED)).toBe(true);
      expect(recordsOf(buf, 0, h)).toEqual(payloads);
    }
  });

  it('the checksum is seeded by the segment salt: the same bytes fail under another segment\'s seed', () => {
    const buf = encode(5, 6, [Buffer.from('payload')]);
    const h = decodeFrameHeader(buf, 0);
    expect(frameChecksumMatches(buf, 0, h, SEED)).toBe(true);
    expect(frameChecksumMatches(buf, 0, h, frameCrcSeed(Buffer.from('segsalt2', 'latin1')))).toBe(false);
    expect(frameChecksumMatches(buf, 0, h, 0)).toBe(false);
    expect(frameCrcSeed(Buffer.from('segsalt1', 'latin1'))).toBe(crc32(Buffer.from('segsalt1', 'latin1')));
  });

  it('frameBytesFor counts the header and one length prefix per record', () => {
    expect(frameBytesFor(0, 0)).toBe(FRAME_HEADER_BYTES);
    expect(frameBytesFor(10, 3)).toBe(FRAME_HEADER_BYTES + 3 * RECORD_HEADER_BYTES + 10);
  });

  it('any flipped bit of a frame fails its checksum or its plausibility check', () => {
    const original = encode(42, 1000, [Buffer.from('abc'), Buffer.from('defgh')]);
    const frameBytes = decodeFrameHeader(original, 0).frameBytes;
    for (let i = 0; i < frameBytes; i++) {
      for (const bit of [0x01, 0x80]) {
        const buf = Buffer.from(original);
        buf[i] ^= bit;
        const h = decodeFrameHeader(buf, 0);
        const valid = implausibleHeader(h, frameBytes) === undefined && frameChecksumMatches(buf, 0, h, SEED);
        expect(valid, `byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  describe('implausibleHeader rejects hostile headers before any allocation', () => {
    it('length 0 and lengths below the header size', () => {
      expect(implausibleHeader(header({ frameBytes: 0 }), 1 << 20)).toMatch(/below the header size/);
      expect(implausibleHeader(header({ frameBytes: FRAME_HEADER_BYTES - 1 }), 1 << 20)).toMatch(/below the header size/);
    });

    it('lengths of 2^31 and above FRAME_BYTES_MAX', () => {
      expect(implausibleHeader(header({ frameBytes: 2 ** 31 }), 2 ** 40)).toMatch(/exceeds FRAME_BYTES_MAX/);
      expect(implausibleHeader(header({ frameBytes: 0xffff_ffff }), 2 ** 40)).toMatch(/exceeds FRAME_BYTES_MAX/);
      expect(implausibleHeader(header({ frameBytes: FRAME_BYTES_MAX + 1 }), 2 ** 40)).toMatch(/exceeds FRAME_BYTES_MAX/);
    });

    it('lengths past the bytes available', () => {
      expect(implausibleHeader(header({ frameBytes: 100 }), 99)).toMatch(/runs past the end/);
      expect(implausibleHeader(header({ frameBytes: 100 }), 100)).toBeUndefined();
    });

    it('a record count that cannot fit the length', () => {
      const fits = (100 - FRAME_HEADER_BYTES) / RECORD_HEADER_BYTES;
      expect(implausibleHeader(header({ frameBytes: 100, count: fits }), 100)).toBeUndefined();
      expect(implausibleHeader(header({ frameBytes: 100, count: fits + 1 }), 100)).toMatch(/does not fit/);
      expect(implausibleHeader(header({ frameBytes: 100, count: 0xffff_ffff }), 100)).toMatch(/does not fit/);
    });

    it('a data frame with no records, unknown flags, and out-of-range u64 fields', () => {
      expect(implausibleHeader(header({ count: 0 }), 64)).toMatch(/no records/);
      expect(implausibleHeader(header({ flags: 0x4 }), 64)).toMatch(/unknown frame flags/);
      expect(implausibleHeader(header({ flags: 0x8000 }), 64)).toMatch(/unknown frame flags/);
      expect(implausibleHeader(header({ firstSeq: -1 }), 64)).toMatch(/out of range/);
      expect(implausibleHeader(header({ timestamp: -1 }), 64)).toMatch(/out of range/);
    });

    it('decodes an oversized u64 sequence from bytes as out of range', () => {
      const buf = encode(1, 1, [Buffer.from('x')]);
      buf.writeBigUInt64LE(2n ** 60n, 8);
      reseal(buf, 0);
      const h = decodeFrameHeader(buf, 0);
      expect(h.firstSeq).toBe(-1);
      expect(implausibleHeader(h, buf.length)).toMatch(/out of range/);
    });
  });

  describe('flags', () => {
    it('a clean-close marker is a bare header with count 0 and flag 0x1', () => {
      const marker = encodeEmptyFrame(SEED, 77, 0, 5000, FLAG_CLOSE_MARKER);
      expect(marker.length).toBe(FRAME_HEADER_BYTES);
      const h = decodeFrameHeader(marker, 0);
      expect(h).toMatchObject({ frameBytes: FRAME_HEADER_BYTES, firstSeq: 77, count: 0, timestamp: 5000, flags: FLAG_CLOSE_MARKER });
      expect(implausibleHeader(h, marker.length)).toBeUndefined();
      expect(frameChecksumMatches(marker, 0, h, SEED)).toBe(true);
      expect(forEachRecord(marker, 0, h, RECORD_HEADER_BYTES, () => expect.fail('a marker has no records'))).toBeUndefined();
    });

    it('a gap frame carries the count of lost sequence numbers and no bodies', () => {
      const gap = encodeEmptyFrame(SEED, 10, 1_000_000, 5000, FLAG_GAP);
      const h = decodeFrameHeader(gap, 0);
      expect(h).toMatchObject({ frameBytes: FRAME_HEADER_BYTES, firstSeq: 10, count: 1_000_000, flags: FLAG_GAP });
      expect(implausibleHeader(h, gap.length)).toBeUndefined();
      expect(frameChecksumMatches(gap, 0, h, SEED)).toBe(true);
    });

    it('empty frames must be markers without records or non-empty gaps', () => {
      expect(() => encodeEmptyFrame(SEED, 1, 1, 0, FLAG_CLOSE_MARKER)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
      expect(() => encodeEmptyFrame(SEED, 1, 0, 0, FLAG_GAP)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
      expect(() => encodeEmptyFrame(SEED, 1, 0, 0, 0)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
    });
  });

  describe('record layout inside a checksummed frame', () => {
    it('a record length running past the frame is reported, not returned', () => {
      const buf = encode(0, 0, [Buffer.from('abc'), Buffer.from('def')]);
      buf.writeUInt32LE(1000, FRAME_HEADER_BYTES); // first record claims 1000 bytes
      reseal(buf, 0);
      const h = decodeFrameHeader(buf, 0);
      expect(frameChecksumMatches(buf, 0, h, SEED)).toBe(true);
      expect(forEachRecord(buf, 0, h, RECORD_HEADER_BYTES, () => undefined)).toMatch(/record 0 of 1000 bytes runs past the frame/);
      expect(recordAt(buf, 0, h, 1, RECORD_HEADER_BYTES)).toMatch(/runs past the frame/);
    });

    it('bytes left after the last record are reported', () => {
      const buf = encode(0, 0, [Buffer.from('abc'), Buffer.from('def')]);
      buf.writeUInt32LE(1, 16); // count 1 while two records are present
      reseal(buf, 0);
      const h = decodeFrameHeader(buf, 0);
      expect(forEachRecord(buf, 0, h, RECORD_HEADER_BYTES, () => undefined)).toMatch(/bytes after its last record/);
    });
  });
});
