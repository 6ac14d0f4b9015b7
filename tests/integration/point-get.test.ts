import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import type { LogRecord } from '../../src/read/record.js';
import type { SegmentReader } from '../../src/read/segment-reader.js';
import { crc32 } from '../../src/record/crc.js';
import { FRAME_HEADER_BYTES, frameCrcSeed, RECORD_HEADER_BYTES_V3 } from '../../src/record/frame.js';
import { decodeTrailer, TRAILER_BYTES } from '../../src/segment/footer.js';
import { copyFixture, RECORD_COUNT } from '../format/fixture-helpers.js';
import { seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, rejection } from './support.js';

/** The reader behind a log (its position cache is what the bound test looks at). */
const readerOf = (log: Log): SegmentReader => (log as unknown as { reader: SegmentReader }).reader;

/** Frames of a segment file (offset, firstSeq, count), walked through their headers. */
function framesOf(file: string): Array<{ offset: number; firstSeq: number; count: number; bytes: number }> {
  const buf = fs.readFileSync(file);
  const trailer = buf.length >= 80 ? decodeTrailer(buf.subarray(buf.length - TRAILER_BYTES)) : undefined;
  const end = trailer === undefined ? buf.length : Number(buf.readBigUInt64LE(buf.length - trailer.footerBytes + 48));
  const out = [];
  for (let at = 64; at < end; ) {
    const bytes = buf.readUInt32LE(at);
    // Zeros past the last frame: the writer's preallocated space.
    if (bytes === 0) break;
    out.push({ offset: at, firstSeq: Number(buf.readBigUInt64LE(at + 8)), count: buf.readUInt32LE(at + 16), bytes });
    at += bytes;
  }
  return out;
}

/** What `read()` yields, by sequence number: the reference for gets. */
async function byRead(log: Log): Promise<Map<number, LogRecord>> {
  return new Map((await collect(log.read())).map((r) => [r.seq, { ...r, payload: Buffer.from(r.payload) }]));
}

function expectSame(got: LogRecord | undefined, want: LogRecord | undefined): void {
  expect(got === undefined ? undefined : { seq: got.seq, timestamp: got.timestamp, payload: Buffer.from(got.payload) }).toEqual(want);
}

/** A log written by appends many in flight and appendBatch, over several segments. */
async function writtenLog(dir: string, options = {}): Promise<Log> {
  const log = await openLog(dir, { segment: { maxBytes: 4 * 1024 }, ...options });
  let seq = 0;
  for (let round = 0; round < 6; round++) {
    const inFlight = Array.from({ length: 40 }, (_, i) => log.append(payloadFor(seq + i, 10 + ((seq + i) % 90))));
    expect(await Promise.all(inFlight)).toEqual(inFlight.map((_, i) => seq + i));
    seq += 40;
    const batch = Array.from({ length: 30 }, (_, i) => payloadFor(seq + i, 5 + ((seq + i) % 50)));
    expect(await log.appendBatch(batch)).toBe(seq);
    seq += 30;
  }
  return log;
}

describe('point gets in format version 3', () => {
  it('get and getMany return what read() returns, for records of append and appendBatch, in every segment, before and after reopen', async () => {
    const dir = tempLogDir();
    let log = await writtenLog(dir);
    expect(log.segments().length).toBeGreaterThan(3);
    const want = await byRead(log);
    expect(want.size).toBe(420);
    const rnd = seededRandom(5);
    const check = async (l: Log): Promise<void> => {
      for (let i = 0; i < 300; i++) {
        const seq = Math.floor(rnd() * 430);
        expectSame(await l.get(seq), want.get(seq));
      }
      const seqs = Array.from({ length: 25 }, () => Math.floor(rnd() * 430));
      const many = await l.getMany(seqs);
      expect(many.length).toBe(seqs.length);
      seqs.forEach((s, i) => expectSame(many[i], want.get(s)));
      expect(await l.getMany([])).toEqual([]);
    };
    await check(log);
    await log.close();
    // Reopened: sealed segments answer from their position tables, the active one from the recovery scan.
    log = await openLog(dir);
    await check(log);
    await log.close();
    const ro = await openLog(dir, { readOnly: true });
    await check(ro);
    expect((await Log.verify(dir)).ok).toBe(true);
  });

  it('a read-only handle beside a live writer gets every published record and nothing past it', async () => {
    const dir = tempLogDir();
    const log = await writtenLog(dir);
    const ro = await openLog(dir, { readOnly: true });
    const want = await byRead(log);
    for (const seq of [0, 1, 69, 70, 200, 419]) expectSame(await ro.get(seq), want.get(seq));
    expect((await ro.getMany([419, 0, 210])).map((r) => r?.seq)).toEqual([419, 0, 210]);
    await log.append('later');
    expect((await ro.get(420))?.payload.toString()).toBe('later');
  });

  it('the appends of one group commit share one frame (version 3), where version 2 cut frames at 4 KiB', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    const inFlight = Array.from({ length: 200 }, (_, i) => log.append(payloadFor(i, 100)));
    await Promise.all(inFlight);
    const frames = framesOf(log.segments()[0]!.file);
    // 200 × 108 bytes = 21,600 bytes: one frame (v2 needed at least 6 of 4 KiB).
    expect(frames.length).toBeLessThan(3);
    expect(frames.reduce((n, f) => n + f.count, 0)).toBe(200);
    for (const s of [0, 99, 199]) expect((await log.get(s))!.payload).toEqual(payloadFor(s, 100));
  });

  it('a log of version-2 sealed segments (fixtures/valid-v2) takes version-3 segments on top; gets and getMany read both', async () => {
    const dir = copyFixture('valid-v2');
    const log = await openLog(dir, { segment: { maxBytes: 320 } });
    const before = await byRead(log);
    for (let i = 0; i < 30; i++) await log.append(`v3-${i}`);
    await log.roll();
    await log.append('last');
    const versions = log.segments().map((s) => fs.readFileSync(s.file).readUInt16LE(8));
    expect(versions.slice(0, 4)).toEqual([2, 2, 2, 2]);
    expect(versions.slice(4).every((v) => v === 3)).toBe(true);
    for (const [seq, r] of before) expectSame(await log.get(seq), r);
    for (let i = 0; i < 30; i++) expect((await log.get(RECORD_COUNT + i))?.payload.toString()).toBe(`v3-${i}`);
    const many = await log.getMany([RECORD_COUNT + 29, 3, RECORD_COUNT + 30, 0]);
    expect(many.map((r) => r?.seq)).toEqual([RECORD_COUNT + 29, 3, RECORD_COUNT + 30, 0]);
    await log.close();
    expect((await Log.verify(dir)).ok).toBe(true);
  });

  it('damaged record bytes: the get rejects AOF_CORRUPT naming the file and the record offset; its neighbours in the same frame still read', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await log.appendBatch(Array.from({ length: 10 }, (_, i) => payloadFor(i, 40)));
    await log.roll();
    await log.append('next');
    const file = log.segments()[0]!.file;
    await log.close();
    // Record 4 of the one frame: its payload starts after the frame header and four 8 + 40-byte records.
    const recordAt = 64 + FRAME_HEADER_BYTES + 4 * (RECORD_HEADER_BYTES_V3 + 40);
    const bytes = fs.readFileSync(file);
    bytes[recordAt + RECORD_HEADER_BYTES_V3 + 3]! ^= 0x08;
    fs.writeFileSync(file, bytes);
    const again = await openLog(dir);
    expect(await rejection(again.get(4))).toMatchObject({ code: 'AOF_CORRUPT', file, offset: recordAt });
    expect((await rejection(again.getMany([3, 4]))).message).toMatch(/record 4 checksum mismatch/);
    for (const s of [0, 3, 5, 9]) expect((await again.get(s))!.payload).toEqual(payloadFor(s, 40));
    // Verify checks the frame CRC (and record CRCs): it names the frame.
    const report = await Log.verify(dir);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', file, offset: 64 })]);
  });

  it('a record whose own CRC fails under a valid frame CRC (crafted): get rejects naming the record, verify reports the frame', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await log.appendBatch(Array.from({ length: 5 }, (_, i) => payloadFor(i, 20)));
    await log.roll();
    await log.append('next');
    const seg = log.segments()[0]!;
    await log.close();
    const bytes = fs.readFileSync(seg.file);
    const recordAt = 64 + FRAME_HEADER_BYTES + 2 * (RECORD_HEADER_BYTES_V3 + 20);
    bytes[recordAt + 4]! ^= 0xff; // the record CRC of record 2
    // Re-seal the frame CRC, seeded with the segment's salt: only the record CRC is wrong now.
    const frameBytes = bytes.readUInt32LE(64);
    bytes.writeUInt32LE(crc32(bytes.subarray(72, 64 + frameBytes), frameCrcSeed(bytes.subarray(32, 40))), 68);
    fs.writeFileSync(seg.file, bytes);
    const again = await openLog(dir);
    expect(await rejection(again.get(2))).toMatchObject({ code: 'AOF_CORRUPT', file: seg.file, offset: recordAt });
    expect((await again.get(1))!.payload).toEqual(payloadFor(1, 20));
    await again.close();
    const report = await Log.verify(dir);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', file: seg.file, offset: 64 })]);
    expect(report.problems[0]!.message).toMatch(/record 2 checksum mismatch/);
  });

  it('a damaged position table is AOF_CORRUPT naming the file and its offset, never a wrong record; verify reports it and repair rewrites it', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 20; i++) await log.append(payloadFor(i, 30));
    await log.roll();
    await log.append('next');
    const file = log.segments()[0]!.file;
    await log.close();
    const bytes = fs.readFileSync(file);
    const footerStart = bytes.length - decodeTrailer(bytes.subarray(bytes.length - TRAILER_BYTES))!.footerBytes;
    const dataEnd = Number(bytes.readBigUInt64LE(footerStart + 48));
    // The offset of record 7 in the table (4 bytes per record from the table's start).
    bytes[dataEnd + 7 * 4]! ^= 0x20;
    fs.writeFileSync(file, bytes);
    const again = await openLog(dir);
    expect(await rejection(again.get(7))).toMatchObject({ code: 'AOF_CORRUPT', file, offset: dataEnd });
    expect((await rejection(again.get(8))).message).toMatch(/damaged position table/);
    // Sequential reads check frames, not the table.
    expect((await collect(again.read())).length).toBe(21);
    await again.close();
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', file, offset: dataEnd })]);
    const repaired = await Log.repair(dir);
    expect(repaired.lostRanges).toEqual([]);
    expect((await Log.verify(dir)).ok).toBe(true);
    const fixed = await openLog(dir);
    for (const s of [0, 7, 19, 20]) expect((await fixed.get(s))!.seq).toBe(s);
  });

  it('gaps left by repair in a version-3 segment are AOF_GAP through the position table', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 5; i++) await log.append(payloadFor(i, 30));
    await log.roll();
    await log.append('next');
    const file = log.segments()[0]!.file;
    await log.close();
    const frames = framesOf(file);
    const bytes = fs.readFileSync(file);
    bytes[frames[2]!.offset + FRAME_HEADER_BYTES + 10]! ^= 0x01;
    fs.writeFileSync(file, bytes);
    const report = await Log.repair(dir, { mode: 'skip' });
    expect(report.lostRanges).toEqual([{ from: 2, to: 3 }]);
    const again = await openLog(dir);
    expect(await rejection(again.get(2))).toMatchObject({ code: 'AOF_GAP', from: 2, to: 3 });
    for (const s of [0, 1, 3, 4, 5]) expect((await again.get(s))!.seq).toBe(s);
  });

  it('the position cache keeps sealed segments\' tables within positionCacheBytes, least recently used out first', async () => {
    const dir = tempLogDir();
    const first = await writtenLog(dir);
    const sealed = first.segments().filter((s) => s.status !== 'active').length;
    await first.close();
    expect(sealed).toBeGreaterThan(3);
    const want = await (async () => {
      const l = await openLog(dir, { readOnly: true });
      const m = await byRead(l);
      await l.close();
      return m;
    })();
    // Room for a few of these segments' tables (each a few hundred bytes in memory), not all of them.
    const bound = 1000;
    const log = await openLog(dir, { positionCacheBytes: bound });
    const cache = readerOf(log).positionCache;
    for (let round = 0; round < 2; round++) for (let s = 0; s < 420; s += 7) expectSame(await log.get(s), want.get(s));
    expect(cache.maxBytes).toBe(bound);
    expect(cache.bytes).toBeLessThanOrEqual(bound);
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.size).toBeLessThan(sealed);
    // No cache at all: every get reads its table again, and still returns the right record.
    const none = await openLog(dir, { readOnly: true, positionCacheBytes: 0 });
    for (let s = 0; s < 420; s += 13) expectSame(await none.get(s), want.get(s));
    expect(readerOf(none).positionCache.size).toBe(0);
  });
});

describe('point gets after a clean open', () => {
  // A cleanly closed log's active segment opens without a scan (docs/FORMAT.md, "Recovery at open"): its table then
  // holds only what is appended since, until the first read checks the older frames and joins the two tables.
  it('serve records from before and after the open, through one table, before and after a roll', async () => {
    const dir = tempLogDir();
    const first = await openLog(dir);
    for (let i = 0; i < 40; i++) await first.append(`before ${i}`);
    await first.appendBatch(Array.from({ length: 30 }, (_, i) => `batch ${i}`));
    await first.close();
    const log = await openLog(dir);
    for (let i = 0; i < 25; i++) await log.append(`after ${i}`);
    const want = await byRead(log);
    expect(want.size).toBe(95);
    const positions = (log as unknown as { segmentList: Array<{ positions?: { recordCount: number } }> }).segmentList[0]!.positions;
    expect(positions?.recordCount).toBe(95);
    const rng = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const seq = Math.floor(rng() * 95);
      expectSame(await log.get(seq), want.get(seq));
    }
    expect((await log.getMany([94, 0, 69, 70])).map((r) => r?.seq)).toEqual([94, 0, 69, 70]);
    await log.roll();
    for (const seq of [0, 39, 40, 69, 70, 94]) expectSame(await log.get(seq), want.get(seq));
    await log.close();
    expect((await Log.verify(dir)).ok).toBe(true);
  });
});
