/**
 * Format version 3 (docs/FORMAT.md, "Format version 3"): the golden script as
 * this build's writer leaves it, `fixtures/valid-v3/`, checked field by field
 * at the offsets FORMAT.md gives: record headers with their record CRC, the
 * position table between a sealed segment's frames and its footer, and the
 * footer whose dataEnd names the table. The hex dumps in FORMAT.md are checked
 * against these bytes by tests/format/golden.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { FIXTURE_LOG_ID, fixtureSalt } from '../../fixtures/build.js';
import { copyFixture, expectGoldenRecords, FIXTURES_DIR, listFiles, RECORD_COUNT, readAll } from './fixture-helpers.js';

const V3 = path.join(FIXTURES_DIR, 'valid-v3');
const SEG0 = 'segments/00000000000000000000.seg';
const zcrc = (data: Uint8Array, seed = 0): number => zlib.crc32(data, seed) >>> 0;
const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32;
const bytesOf = (rel: string): Buffer => fs.readFileSync(path.join(V3, rel));

/** The documented record CRC: crc32(salt ‖ seq u64 ‖ length u32 ‖ payload). */
function recordCrcOf(salt: Buffer, seq: number, payload: Buffer): number {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(seq));
  head.writeUInt32LE(payload.length, 8);
  return zcrc(Buffer.concat([salt, head, payload]));
}

describe('fixtures/valid-v3 matches docs/FORMAT.md byte for byte', () => {
  it('every segment header is version 3 with the log identity; the identity file records the clean close', () => {
    const segs = listFiles(V3).filter((f) => f.startsWith('segments/'));
    expect(segs.length).toBe(5);
    for (const rel of segs) {
      const b = bytesOf(rel);
      expect(b.subarray(0, 8).toString('latin1')).toBe('AOFSEGMT');
      expect(b.readUInt16LE(8)).toBe(3);
      expect(b.subarray(48, 60).equals(FIXTURE_LOG_ID)).toBe(true);
      expect(b.readUInt32LE(60)).toBe(zcrc(b.subarray(0, 60)));
    }
    const id = bytesOf('identity');
    expect(u64(id, 32)).toBe(RECORD_COUNT);
  });

  it('the first frame: frame header as in version 2, then length 10, the record CRC, "hello, aof"', () => {
    const b = bytesOf(SEG0);
    const salt = fixtureSalt(0);
    expect(b.subarray(32, 40).equals(salt)).toBe(true);
    expect(b.readUInt32LE(64)).toBe(50); // frameBytes = 32 + 8 + 10
    expect(b.readUInt32LE(68)).toBe(0x75463549);
    expect(b.readUInt32LE(68)).toBe(zcrc(Buffer.concat([salt, b.subarray(72, 114)])));
    expect(u64(b, 72)).toBe(0);
    expect(b.readUInt32LE(80)).toBe(1);
    expect(u64(b, 84)).toBe(1704067201000);
    expect(b.readUInt16LE(92)).toBe(0);
    expect(b.readUInt32LE(96)).toBe(10);
    expect(b.readUInt32LE(100)).toBe(0x46a7dac6);
    expect(b.readUInt32LE(100)).toBe(recordCrcOf(salt, 0, Buffer.from('hello, aof')));
    expect(b.subarray(104, 114).toString()).toBe('hello, aof');
  });

  it('the batch frame at 154: three records, each with its CRC over its own sequence number', () => {
    const b = bytesOf(SEG0);
    const salt = fixtureSalt(0);
    expect(b.readUInt32LE(154)).toBe(70);
    expect(u64(b, 162)).toBe(2);
    let at = 154 + 32;
    ['alpha', 'beta', 'gamma'].forEach((word, i) => {
      expect(b.readUInt32LE(at)).toBe(word.length);
      expect(b.readUInt32LE(at + 4)).toBe(recordCrcOf(salt, 2 + i, Buffer.from(word)));
      expect(b.subarray(at + 8, at + 8 + word.length).toString()).toBe(word);
      at += 8 + word.length;
    });
    expect(at).toBe(154 + 70);
  });

  it('the position table at dataEnd 288: record offsets, frame entries, trailer with counts, seeded CRC and AOFP; the footer follows at 384', () => {
    const b = bytesOf(SEG0);
    expect(b.length).toBe(512);
    const footerBytes = b.readUInt32LE(b.length - 16);
    expect(footerBytes).toBe(128);
    const footerAt = b.length - footerBytes;
    expect(footerAt).toBe(384);
    expect(b.subarray(footerAt, footerAt + 4).toString('latin1')).toBe('AOFF');
    expect(u64(b, footerAt + 48)).toBe(288); // dataEnd: the table's offset
    expect(u64(b, footerAt + 8)).toBe(6);
    const t = 288;
    const T = footerAt - t;
    expect(T).toBe(96);
    expect([0, 1, 2, 3, 4, 5].map((i) => b.readUInt32LE(t + 4 * i))).toEqual([96, 146, 186, 199, 211, 256]);
    const frames = [0, 1, 2, 3].map((i) => [b.readUInt32LE(t + 24 + 12 * i), u64(b, t + 24 + 12 * i + 4)]);
    expect(frames).toEqual([[0, 1704067201000], [1, 1704067202000], [2, 1704067203000], [5, 1704067204000]]);
    expect(b.readUInt32LE(t + T - 24)).toBe(6);
    expect(b.readUInt32LE(t + T - 20)).toBe(4);
    expect(b.readUInt32LE(t + T - 16)).toBe(0);
    expect(b.readUInt32LE(t + T - 12)).toBe(0);
    expect(b.readUInt32LE(t + T - 8)).toBe(0xd3edc4d8);
    expect(b.readUInt32LE(t + T - 8)).toBe(zcrc(b.subarray(t, t + T - 8), zcrc(fixtureSalt(0))));
    expect(b.subarray(t + T - 4, t + T).toString('latin1')).toBe('AOFP');
    // Each record entry points at a record header whose length and CRC check.
    for (let i = 0; i < 6; i++) {
      const at = b.readUInt32LE(t + 4 * i);
      const len = b.readUInt32LE(at);
      expect(b.readUInt32LE(at + 4)).toBe(recordCrcOf(fixtureSalt(0), i, b.subarray(at + 8, at + 8 + len)));
    }
  });

  it('opens, reads every record, gets each one through the tables, and verifies ok', async () => {
    const dir = copyFixture('valid-v3');
    expect(await Log.verify(dir)).toMatchObject({ ok: true, records: RECORD_COUNT, nextSeq: RECORD_COUNT, cleanClose: true, problems: [] });
    for (const readOnly of [true, false]) {
      const log = await Log.open(dir, { readOnly });
      try {
        const { records, error } = await readAll(log);
        expect(error).toBeUndefined();
        expectGoldenRecords(records, 0, RECORD_COUNT);
        const gets = await Promise.all(records.map((r) => log.get(r.seq)));
        expect(gets.map((g) => [g!.seq, g!.timestamp, Buffer.from(g!.payload)])).toEqual(records.map((r) => [r.seq, r.timestamp, Buffer.from(r.payload)]));
      } finally {
        await log.close();
      }
    }
  });
});
