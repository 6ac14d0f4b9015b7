import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SegmentInfo } from '../../src/log/segment-info.js';
import { DEFAULTS } from '../../src/options.js';
// This build writes format version 3: records have 8-byte headers (length, record CRC).
import { FRAME_HEADER_BYTES, RECORD_HEADER_BYTES_V3 as RECORD_HEADER_BYTES } from '../../src/record/frame.js';
import { SEGMENT_HEADER_BYTES } from '../../src/segment/header.js';
import { decodeTrailer, TRAILER_BYTES } from '../../src/segment/footer.js';

/** Bytes of a sealed segment's footer, from its trailer. */
/** Bytes after a sealed segment's frames: the footer and (version 3) the position table before it. */
function footerBytesOf(file: string): number {
  const buf = fs.readFileSync(file);
  const footerStart = buf.length - decodeTrailer(buf.subarray(buf.length - TRAILER_BYTES))!.footerBytes;
  const dataEnd = buf.readUInt32LE(footerStart + 48) + buf.readUInt32LE(footerStart + 52) * 2 ** 32;
  return buf.length - dataEnd;
}
import { FOOTER_READ_BYTES } from '../../src/segment/load.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { seededBytes } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, ManualClock, openLog, payloadFor, rejection, segmentFiles } from './support.js';

/** Every segment joins the next, and the last one is the only active one. */
function expectContiguous(segs: SegmentInfo[]): void {
  expect(segs[0]!.baseSeq).toBe(0);
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.baseSeq).toBe(segs[i - 1]!.nextSeq);
  for (const s of segs.slice(0, -1)) expect(s.status).toBe('sealed');
  expect(segs[segs.length - 1]!.status).toBe('active');
}

describe('segments', () => {
  it('rolls at segment.maxBytes: no segment holds more, none could have held the next frame', async () => {
    const dir = tempLogDir();
    const maxBytes = 4096;
    const log = await openLog(dir, { segment: { maxBytes } });
    const frameOf = (size: number): number => FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + size;
    const sizes = Array.from({ length: 200 }, (_, i) => 50 + ((i * 37) % 300));
    for (let i = 0; i < sizes.length; i++) expect(await log.append(payloadFor(i, sizes[i]))).toBe(i);
    const segs = log.segments();
    expect(segs.length).toBeGreaterThan(5);
    expectContiguous(segs);
    // maxBytes bounds header and frames; the footer of a sealed segment comes on top.
    const dataBytes = (s: SegmentInfo): number => (s.status === 'active' ? s.bytes : s.bytes - footerBytesOf(s.file));
    for (const s of segs) expect(dataBytes(s)).toBeLessThanOrEqual(maxBytes);
    for (const s of segs.slice(0, -1)) expect(dataBytes(s) + frameOf(sizes[s.nextSeq]!)).toBeGreaterThan(maxBytes);
    expect(segs.reduce((n, s) => n + s.recordCount, 0)).toBe(200);
    expect(segmentFiles(dir)).toEqual(segs.map((s) => s.file));
    expect(log.metrics().rolls).toBe(segs.length - 1);
    const read = await collect(log.read());
    expect(read.map((r) => Buffer.from(r.payload))).toEqual(sizes.map((n, i) => payloadFor(i, n)));
  });

  it('a frame larger than segment.maxBytes gets a segment of its own', async () => {
    const log = await openLog(tempLogDir(), { segment: { maxBytes: 256 } });
    await log.append('small');
    await log.append(payloadFor(1, 1000));
    await log.append('small again');
    const segs = log.segments();
    expect(segs.map((s) => [s.baseSeq, s.nextSeq])).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(Buffer.from((await log.get(1))!.payload)).toEqual(payloadFor(1, 1000));
  });

  it('rolls at segment.maxRecords', async () => {
    const log = await openLog(tempLogDir(), { segment: { maxRecords: 10 } });
    for (let i = 0; i < 35; i++) await log.append(payloadFor(i));
    // Concurrent appends and batches too: group commit never overfills a segment.
    await Promise.all([...Array.from({ length: 22 }, (_, i) => log.append(payloadFor(35 + i))), log.appendBatch(['x', 'y', 'z'])]);
    const segs = log.segments();
    expectContiguous(segs);
    for (const s of segs) expect(s.recordCount).toBeLessThanOrEqual(10);
    expect(segs.slice(0, 3).map((s) => s.recordCount)).toEqual([10, 10, 10]);
    expect(log.nextSeq).toBe(60);
    expect((await collect(log.read())).map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('rolls at segment.maxAgeMs, by the injected clock (no sleeping)', async () => {
    const clock = new ManualClock();
    const log = await openLog(tempLogDir(), { segment: { maxAgeMs: 1000 }, clock: clock.now });
    await log.append('a');
    clock.advance(999);
    await log.append('b'); // 999 ms old: stays
    expect(log.segments()).toHaveLength(1);
    clock.advance(1);
    await log.append('c'); // 1000 ms old: rolls first
    const segs = log.segments();
    expect(segs.map((s) => [s.baseSeq, s.nextSeq, s.status])).toEqual([[0, 2, 'sealed'], [2, 3, 'active']]);
    clock.advance(5000);
    // An old segment rolls only when an append arrives.
    expect(log.segments()).toHaveLength(2);
    await log.append('d');
    expect(log.segments().map((s) => s.baseSeq)).toEqual([0, 2, 3]);
    expect((await collect(log.read())).map((r) => r.payload.toString())).toEqual(['a', 'b', 'c', 'd']);
  });

  it("roll() seals the active segment, emits 'seal' then 'roll', and is a no-op on an empty segment", async () => {
    const clock = new ManualClock(10_000);
    const log = await openLog(tempLogDir(), { clock: clock.now });
    const events: Array<[string, SegmentInfo]> = [];
    log.on('seal', (s) => events.push(['seal', s]));
    log.on('roll', (s) => events.push(['roll', s]));
    await log.roll(); // empty: nothing to seal
    expect(events).toEqual([]);
    expect(log.segments()).toHaveLength(1);

    await log.appendBatch(['a', 'b', 'c']);
    clock.advance(5);
    await log.append('d');
    await log.roll();
    expect(events.map(([kind]) => kind)).toEqual(['seal', 'roll']);
    const [, sealed] = events[0]!;
    const [, rolled] = events[1]!;
    expect(sealed).toMatchObject({ baseSeq: 0, nextSeq: 4, recordCount: 4, status: 'sealed', firstTimestamp: 10_000, lastTimestamp: 10_005 });
    expect(rolled).toMatchObject({ baseSeq: 4, nextSeq: 4, recordCount: 0, status: 'active', bytes: SEGMENT_HEADER_BYTES });
    expect(fs.statSync(sealed.file).size).toBe(sealed.bytes); // bytes counts the whole file, footer included
    await log.roll(); // the new segment is empty: no-op
    expect(events).toHaveLength(2);

    expect(log.segments()).toEqual([expect.objectContaining({ baseSeq: 0, status: 'sealed' }), expect.objectContaining({ baseSeq: 4, status: 'active' })]);
    expect(await log.append('e')).toBe(4);
    expect((await collect(log.read())).map((r) => r.payload.toString())).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('roll() runs in order with the appends around it', async () => {
    const log = await openLog(tempLogDir());
    const a = log.append('a');
    const r = log.roll();
    const b = log.append('b');
    await Promise.all([a, r, b]);
    expect(log.segments().map((s) => [s.baseSeq, s.nextSeq])).toEqual([[0, 1], [1, 2]]);
  });

  it('segments() reports each segment with its range, counts, bytes and file, and survives reopen', async () => {
    const dir = tempLogDir();
    const clock = new ManualClock(1_000);
    const log = await openLog(dir, { clock: clock.now });
    await log.appendBatch(['a', 'b']);
    await log.roll();
    clock.advance(10);
    await log.append('c');
    const segs = log.segments();
    expect(segs).toHaveLength(2);
    expect(segs[0]).toMatchObject({ baseSeq: 0, nextSeq: 2, recordCount: 2, status: 'sealed', firstTimestamp: 1_000, lastTimestamp: 1_000 });
    expect(segs[1]).toMatchObject({ baseSeq: 2, nextSeq: 3, recordCount: 1, status: 'active', firstTimestamp: 1_010, lastTimestamp: 1_010 });
    expect(segs[1]!.bytes).toBe(SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + 1);
    expect(segs.map((s) => s.file)).toEqual(segmentFiles(dir));
    await log.close();
    const again = await openLog(dir, { clock: clock.now });
    expect(again.segments()).toEqual(segs);
  });

  it('timestamps never go backwards when the clock steps back, within and across segments and reopens', async () => {
    const dir = tempLogDir();
    const clock = new ManualClock(1_000_000);
    const log = await openLog(dir, { clock: clock.now, segment: { maxRecords: 3 } });
    const steps = [0, 10, -500, 5, -10_000, 20_000, -1, -30_000, 7, 0, -5];
    for (const step of steps) {
      clock.advance(step);
      await log.append(`at ${clock.nowMs}`);
    }
    await log.roll();
    clock.advance(-100_000);
    await log.append('after roll, clock far back');
    await log.close();
    clock.advance(-100_000);
    const again = await openLog(dir, { clock: clock.now, segment: { maxRecords: 3 } });
    await again.append('after reopen, clock further back');
    const ts = (await collect(again.read())).map((r) => r.timestamp);
    expect(ts).toHaveLength(steps.length + 2);
    for (let i = 1; i < ts.length; i++) expect(ts[i], `record ${i}`).toBeGreaterThanOrEqual(ts[i - 1]!);
    expect(ts[0]).toBe(1_000_000);
    const segs = again.segments();
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.firstTimestamp).toBeGreaterThanOrEqual(segs[i - 1]!.lastTimestamp);
  });

  it('opening a log of sealed segments reads only their headers and footers', async () => {
    const dir = tempLogDir();
    const segmentBytes = 2 * 1024 * 1024;
    const log = await openLog(dir, { segment: { maxBytes: segmentBytes } });
    const payloads = Array.from({ length: 128 }, (_, i) => seededBytes(i, 60 * 1024));
    for (const p of payloads) await log.append(p); // one frame per record
    await log.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const sealed = files.slice(0, -1);

    for (const readOnly of [false, true]) {
      const counting = new CountingFs();
      const reopened = await openLog(dir, { fs: counting, readOnly });
      expect(reopened.nextSeq).toBe(payloads.length);
      for (const file of sealed) {
        const size = fs.statSync(file).size;
        const read = counting.bytesRead.get(file) ?? 0;
        expect(size).toBeGreaterThan(segmentBytes / 2);
        // Header plus one bounded read at the end, whatever the segment's size.
        expect(read, file).toBeLessThanOrEqual(SEGMENT_HEADER_BYTES + FOOTER_READ_BYTES);
        expect(read * 10, file).toBeLessThan(size);
      }
      // Reading a record then touches only its frame, through one read-ahead window.
      counting.reset();
      expect(Buffer.from((await reopened.get(5))!.payload)).toEqual(payloads[5]);
      expect(counting.totalBytesRead).toBeLessThanOrEqual(DEFAULTS.readAheadBytes + 61 * 1024);
      expect(counting.totalBytesRead).toBeLessThan(segmentBytes / 4);
      await reopened.close();
    }
  });
});

describe('the I/O path (syncIoMaxBytes)', () => {
  it('writes and reads up to the bound run on the calling thread, larger ones and all with 0 through the thread pool, with the same results', async () => {
    for (const [syncIoMaxBytes, expectSync] of [[undefined, true], [0, false]] as const) {
      const dir = tempLogDir();
      const counting = new CountingFs();
      const log = await openLog(dir, { fs: counting, ...(syncIoMaxBytes === undefined ? {} : { syncIoMaxBytes }) });
      const payloads = Array.from({ length: 50 }, (_, i) => seededBytes(i, 100 + i));
      for (const p of payloads) await log.append(p);
      const big = seededBytes(99, DEFAULTS.syncIoMaxBytes + 1);
      await log.append(big); // one frame larger than the bound: through the thread pool either way
      expect((await collect(log.read({ from: 0 }))).map((r) => Buffer.from(r.payload))).toEqual([...payloads, big]);
      expect(Buffer.from((await log.get(7))!.payload)).toEqual(payloads[7]);
      // (The watermark is always written with writeSync: it is 16 bytes.)
      if (expectSync) {
        expect(counting.calls.get('writeSync')).toBeGreaterThanOrEqual(50 + 50);
        expect(counting.calls.get('readSync')).toBeGreaterThanOrEqual(1);
        expect(counting.calls.get('write')).toBeGreaterThanOrEqual(1);
      } else {
        expect(counting.calls.get('readSync') ?? 0).toBe(0);
        expect(counting.calls.get('write')).toBeGreaterThanOrEqual(51);
      }
      await log.close();
    }
  });
});

describe('lookups on the calling thread', () => {
  it('a record returned by get keeps its bytes when later gets reuse the lookup window', async () => {
    const log = await openLog(tempLogDir(), { flush: { strategy: 'none' } });
    const payloads = Array.from({ length: 400 }, (_, i) => seededBytes(1000 + i, 50 + (i % 200)));
    await Promise.all(payloads.map((p) => log.append(p)));
    const kept = [];
    for (let i = 0; i < payloads.length; i += 7) kept.push({ i, record: (await log.get(i))! });
    for (const { i, record } of kept) expect(Buffer.from(record.payload)).toEqual(payloads[i]);
    await log.close();
  });

  it('a frame larger than syncIoMaxBytes is read through the thread pool, with the same result', async () => {
    const counting = new CountingFs();
    // A lookup window is 8 KiB: it fits the bound, the 20 KB frame does not.
    const log = await openLog(tempLogDir(), { fs: counting, syncIoMaxBytes: 8192 });
    const small = seededBytes(1, 100);
    const large = seededBytes(2, 20_000);
    await log.append(small);
    await log.append(large);
    await log.get(0); // opens and caches the handle
    counting.reset();
    expect(Buffer.from((await log.get(0))!.payload)).toEqual(small);
    expect(counting.calls.get('readSync')).toBeGreaterThanOrEqual(1);
    counting.reset();
    expect(Buffer.from((await log.get(1))!.payload)).toEqual(large);
    expect(counting.calls.get('read')).toBeGreaterThanOrEqual(1);
    await log.close();
  });

  it('damage in a frame is AOF_CORRUPT with file and offset on the fast path too', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxRecords: 100 } });
    for (let i = 0; i < 150; i++) await log.append(payloadFor(i, 200)); // one frame each: 200-byte records awaited one by one
    await log.close();
    const file = segmentFiles(dir)[0]!;
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(payloadFor(60, 200));
    bytes[at + 10] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const reopened = await openLog(dir);
    expect(Buffer.from((await reopened.get(5))!.payload)).toEqual(payloadFor(5, 200)); // caches the handle
    const err = await rejection(reopened.get(60));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file });
    expect(err.message).toContain(file);
    await reopened.close();
  });
});
