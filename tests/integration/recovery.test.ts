import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
// This build writes format version 3: records have 8-byte headers (length, record CRC).
import { FRAME_HEADER_BYTES, RECORD_HEADER_BYTES_V3 as RECORD_HEADER_BYTES } from '../../src/record/frame.js';
import { seededBytes } from '../helpers/rng.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, recoveryFiles, rejection, segmentFiles } from './support.js';

const frameBytesOf = (payloadBytes: number): number => FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + payloadBytes;

/**
 * The state a crash leaves: the files as they are while the writer still has
 * the log open (no close marker). Only `segments/` is copied: the copy must
 * not carry this live process's LOCK (a crashed writer's lock names a dead
 * pid, which the next open takes over; see the lock tests).
 */
function crashCopy(dir: string): string {
  const copy = path.join(tempDir(), 'crashed');
  fs.mkdirSync(copy);
  fs.cpSync(path.join(dir, 'segments'), path.join(copy, 'segments'), { recursive: true });
  return copy;
}

function snapshotFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of segmentFiles(dir)) out.set(f, fs.readFileSync(f));
  return out;
}

describe('clean close and reopen', () => {
  it('reports a clean close and continues at the right sequence number', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    expect(log.openReport.recovery).toBeUndefined(); // a new log: nothing to recover
    for (let i = 0; i < 10; i++) await log.append(payloadFor(i));
    await log.close();
    const again = await openLog(dir);
    expect(again.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined });
    expect(again.openReport.unbornMovedTo).toBeUndefined();
    expect(again.nextSeq).toBe(10);
    expect(await again.append(payloadFor(10))).toBe(10);
    expect((await collect(again.read())).map((r) => Buffer.from(r.payload))).toEqual(Array.from({ length: 11 }, (_, i) => payloadFor(i)));
    expect(recoveryFiles(dir)).toEqual([]);
  });

  it('a log that was never closed reopens without a clean-close flag and loses nothing acknowledged', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 25; i++) await log.append(payloadFor(i));
    const copy = crashCopy(dir);
    const recovered = await openLog(copy);
    expect(recovered.openReport.recovery?.cleanClose).toBe(false);
    // At most zero-filled space past the data (preallocation) was cut: no torn tail, nothing needed keeping.
    expect(recovered.openReport.recovery?.tornTail).toBeUndefined();
    expect(recoveryFiles(copy)).toEqual([]);
    expect(recovered.nextSeq).toBe(25);
    expect(await recovered.append('next')).toBe(25);
  });
});

describe('crashes around segment creation', () => {
  async function rolledAndClosed(): Promise<{ dir: string; last: string }> {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await log.appendBatch(['a', 'b', 'c']);
    await log.roll();
    const last = log.segments()[1]!.file;
    await log.close();
    return { dir, last };
  }

  it('an empty active segment closed cleanly reopens at the right sequence', async () => {
    const { dir } = await rolledAndClosed();
    const log = await openLog(dir);
    expect(log.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined });
    expect(log.nextSeq).toBe(3);
    expect(await log.append('d')).toBe(3);
    expect(log.segments().map((s) => [s.baseSeq, s.nextSeq, s.status])).toEqual([[0, 3, 'sealed'], [3, 4, 'active']]);
  });

  it('a crash after sealing, before the next segment existed: a new one is started', async () => {
    const { dir, last } = await rolledAndClosed();
    fs.rmSync(last);
    const log = await openLog(dir);
    expect(log.nextSeq).toBe(3);
    expect(await log.append('d')).toBe(3);
    expect((await collect(log.read())).map((r) => r.payload.toString())).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a segment file created just before a crash, with no header, is moved to recovery/ and replaced', async () => {
    for (const size of [0, 10, 4096]) {
      const { dir, last } = await rolledAndClosed();
      fs.writeFileSync(last, Buffer.alloc(size));
      const log = await openLog(dir);
      expect(log.openReport.unbornMovedTo).toBeDefined();
      expect(recoveryFiles(dir)).toEqual([log.openReport.unbornMovedTo]);
      expect(fs.statSync(log.openReport.unbornMovedTo!).size).toBe(size);
      expect(await log.append('d')).toBe(3);
      expect(segmentFiles(dir)).toEqual(log.segments().map((s) => s.file));
      await log.close();
      expect((await Log.verify(dir)).ok).toBe(true);
    }
  });
});

describe('damage after a clean close is corruption, never a torn tail', () => {
  it('flipping any byte of the last data frame: the writer finds it on first read (the scanning open, at open) as AOF_CORRUPT, and cuts nothing', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 5; i++) await log.append(payloadFor(i, 20));
    const seg = log.segments()[0]!;
    await log.close();
    const lastFrameAt = seg.bytes - frameBytesOf(20);
    const original = fs.readFileSync(seg.file);
    const damagedDir = path.join(tempDir(), 'damaged');
    for (let at = lastFrameAt; at < seg.bytes; at++) {
      fs.rmSync(damagedDir, { recursive: true, force: true });
      fs.cpSync(dir, damagedDir, { recursive: true });
      const file = segmentFiles(damagedDir)[0]!;
      const bytes = Buffer.from(original);
      bytes[at] ^= 0x5a;
      fs.writeFileSync(file, bytes);
      // The clean close's records agree: the writer opens without reading the frames, and the first read checks them.
      const opened = await Log.open(damagedDir);
      expect(opened.nextSeq).toBe(5);
      for (const seq of [0, 4]) {
        const err = await rejection(opened.get(seq));
        expect(err.code, `flip at ${at}: ${err.message}`).toBe('AOF_CORRUPT');
        expect(err).toMatchObject({ file, offset: lastFrameAt });
      }
      await opened.close();
      // Nothing was cut or moved, and the lock was released.
      expect(fs.readFileSync(file).subarray(0, seg.bytes).equals(bytes.subarray(0, seg.bytes))).toBe(true);
      expect(recoveryFiles(damagedDir)).toEqual([]);
      expect(fs.existsSync(path.join(damagedDir, 'LOCK'))).toBe(false);
      // Without the catalog's record of the clean close the open scans the segment: the marker after the damage makes it corruption.
      fs.rmSync(path.join(damagedDir, 'index'), { recursive: true });
      const err = await rejection(Log.open(damagedDir));
      expect(err.code, `flip at ${at}: ${err.message}`).toBe('AOF_CORRUPT');
      expect(err).toMatchObject({ file, offset: lastFrameAt });
      expect(fs.readFileSync(file).subarray(0, seg.bytes).equals(bytes.subarray(0, seg.bytes))).toBe(true);
      expect(recoveryFiles(damagedDir)).toEqual([]);
      expect(fs.existsSync(path.join(damagedDir, 'LOCK'))).toBe(false);
    }
  });

  it('verify reports it with file and offset, a read-only open refuses it as the writer does, repair cuts it and keeps the bytes', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 5; i++) await log.append(payloadFor(i, 20));
    const seg = log.segments()[0]!;
    await log.close();
    const lastFrameAt = seg.bytes - frameBytesOf(20);
    const bytes = fs.readFileSync(seg.file);
    bytes[lastFrameAt + FRAME_HEADER_BYTES + 6] ^= 0xff;
    fs.writeFileSync(seg.file, bytes);

    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', severity: 'error', file: seg.file, offset: lastFrameAt, seqFrom: 4 })]);

    // The damaged frame lies below the commit point the writer published: a read-only open refuses, as the writer's does,
    // naming the file and offset, rather than serve a log that would end short of what was acknowledged (issue 18).
    const roErr = await rejection(openLog(dir, { readOnly: true }));
    expect(roErr.code).toBe('AOF_CORRUPT');
    expect(roErr.message).toContain(seg.file);
    expect(roErr.message).toContain(`offset ${lastFrameAt}`);

    const repaired = await Log.repair(dir);
    // Record 4 was acknowledged (the log closed cleanly after it): its number is recorded as a gap, never given to another record (issue 18).
    expect(repaired.actions).toEqual([expect.objectContaining({ kind: 'cut', file: seg.file, offset: lastFrameAt }), expect.objectContaining({ kind: 'rewrite', file: seg.file })]);
    expect(repaired.lostRanges).toEqual([{ from: 4, to: undefined }, { from: 4, to: 5 }]);
    expect(repaired.after?.ok).toBe(true);
    const kept = recoveryFiles(dir);
    expect(kept).toHaveLength(2); // the cut bytes, and the segment as it was before the gap was added
    expect(fs.readFileSync(kept.find((f) => f.includes('.cut.'))!)).toEqual(bytes.subarray(lastFrameAt));

    const after = await openLog(dir);
    expect(after.nextSeq).toBe(5);
    expect((await rejection(after.get(4))).code).toBe('AOF_GAP');
    expect(await after.append('new 5')).toBe(5);
  });

  it('a damaged frame in a sealed segment is reported on read, never returned as data', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 6; i++) await log.append(payloadFor(i, 20));
    await log.roll();
    await log.append(payloadFor(6, 20));
    const sealed = log.segments()[0]!;
    await log.close();
    const secondFrameAt = 64 + frameBytesOf(20);
    const bytes = fs.readFileSync(sealed.file);
    bytes[secondFrameAt + FRAME_HEADER_BYTES + 10] ^= 0x01;
    fs.writeFileSync(sealed.file, bytes);

    const again = await openLog(dir); // sealed segments are opened from their footers alone
    expect((await again.get(0))?.payload).toEqual(payloadFor(0, 20));
    // A get checks the record's own CRC and names the record's offset (format version 3); verify names the frame.
    expect(await rejection(again.get(1))).toMatchObject({ code: 'AOF_CORRUPT', file: sealed.file, offset: secondFrameAt + FRAME_HEADER_BYTES });
    expect((await again.get(6))?.payload).toEqual(payloadFor(6, 20));
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', file: sealed.file, offset: secondFrameAt, seqFrom: 1, seqTo: 2 })]);
  });
});

describe('torn tails after a crash', () => {
  async function crashedLog(records: number, payloadBytes: number): Promise<{ dir: string; copy: string; file: string; dataEnd: number }> {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < records; i++) await log.append(payloadFor(i, payloadBytes));
    const copy = crashCopy(dir);
    const file = segmentFiles(copy)[0]!;
    return { dir, copy, file, dataEnd: log.segments()[0]!.bytes };
  }

  it('a last frame cut short is kept under recovery/ and cut off; every earlier record stays', async () => {
    const { copy, file, dataEnd } = await crashedLog(8, 100);
    const lastFrameAt = dataEnd - frameBytesOf(100);
    const original = fs.readFileSync(file);
    const cutAt = lastFrameAt + 50; // mid-frame
    fs.truncateSync(file, cutAt);

    // A read-only open reads up to the tear and changes nothing.
    const ro = await openLog(copy, { readOnly: true });
    expect(ro.nextSeq).toBe(7);
    expect((await collect(ro.read())).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    await ro.close();
    expect(fs.statSync(file).size).toBe(cutAt);
    expect(recoveryFiles(copy)).toEqual([]);

    const log = await openLog(copy);
    const recovery = log.openReport.recovery!;
    expect(recovery.cleanClose).toBe(false);
    expect(recovery.tornTail).toMatchObject({ offset: lastFrameAt, bytes: cutAt - lastFrameAt });
    expect(recovery.tornTail!.preservedAt).toBeDefined();
    expect(recoveryFiles(copy)).toEqual([recovery.tornTail!.preservedAt]);
    expect(fs.readFileSync(recovery.tornTail!.preservedAt!)).toEqual(original.subarray(lastFrameAt, cutAt));
    expect(fs.statSync(file).size).toBe(lastFrameAt);

    expect(log.nextSeq).toBe(7);
    expect((await collect(log.read())).map((r) => Buffer.from(r.payload))).toEqual(Array.from({ length: 7 }, (_, i) => payloadFor(i, 100)));
    expect(await log.append('replaces 7')).toBe(7);
    await log.close();
    expect((await Log.verify(copy)).ok).toBe(true);
  });

  it('garbage after the last whole frame is kept and cut; trailing zeros are cut without a copy', async () => {
    const { copy, file, dataEnd } = await crashedLog(3, 10);
    // Garbage right after the data (the file may extend past it: preallocated zeros).
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, seededBytes(5, 77), 0, 77, dataEnd);
    fs.closeSync(fd);
    const before = fs.readFileSync(file);
    const log = await openLog(copy);
    expect(log.openReport.recovery!.tornTail).toMatchObject({ offset: dataEnd, bytes: before.length - dataEnd });
    const kept = fs.readFileSync(log.openReport.recovery!.tornTail!.preservedAt!);
    expect(kept).toEqual(before.subarray(dataEnd));
    expect(kept.subarray(0, 77)).toEqual(seededBytes(5, 77));
    expect(fs.statSync(file).size).toBe(dataEnd);
    expect(log.nextSeq).toBe(3);
    await log.close();

    const zeros = await crashedLog(3, 10);
    fs.appendFileSync(zeros.file, Buffer.alloc(4096));
    const sizeWithZeros = fs.statSync(zeros.file).size;
    const z = await openLog(zeros.copy);
    // Zero bytes hold nothing: cut and counted, not called a torn tail, no copy kept.
    expect(z.openReport.recovery).toMatchObject({ cleanClose: false, tornTail: undefined, zeroTailBytes: sizeWithZeros - zeros.dataEnd });
    expect(recoveryFiles(zeros.copy)).toEqual([]);
    expect(fs.statSync(zeros.file).size).toBe(zeros.dataEnd);
    expect(z.nextSeq).toBe(3);
    expect(await z.append('d')).toBe(3);
  });

  it('verify calls a torn tail a warning, not an error', async () => {
    const { copy, file, dataEnd } = await crashedLog(4, 30);
    fs.truncateSync(file, dataEnd - 5);
    const report = await Log.verify(copy);
    expect(report.ok).toBe(true);
    expect(report.cleanClose).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_TORN_TAIL', severity: 'warning', offset: dataEnd - frameBytesOf(30) })]);
  });

  it('a bad frame followed by good ones in the active segment is corruption: the writer refuses to open', async () => {
    const { copy, file } = await crashedLog(6, 10);
    const secondFrameAt = 64 + frameBytesOf(10);
    const bytes = fs.readFileSync(file);
    bytes[secondFrameAt + 20] ^= 0x01;
    fs.writeFileSync(file, bytes);
    const err = await rejection(Log.open(copy));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file, offset: secondFrameAt });
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    expect(recoveryFiles(copy)).toEqual([]);
  });
});

describe('verify and repair of a healthy log', () => {
  async function healthyLog(): Promise<string> {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxRecords: 7 } });
    for (let i = 0; i < 30; i += 3) await log.appendBatch([payloadFor(i), payloadFor(i + 1), payloadFor(i + 2)]);
    await log.close();
    return dir;
  }

  it('Log.verify finds nothing wrong, counts every record and sees the clean close', async () => {
    const dir = await healthyLog();
    const progress: number[] = [];
    const report = await Log.verify(dir, { onProgress: (done) => progress.push(done) });
    expect(report).toMatchObject({ ok: true, problems: [], records: 30, nextSeq: 30, cleanClose: true, gaps: [] });
    expect(report.segments.length).toBeGreaterThan(1);
    expect(report.segments.slice(0, -1).every((s) => s.sealed)).toBe(true);
    expect(progress).toHaveLength(report.segments.length);
  });

  it('Log.verify of a log open for writing is ok (acknowledged frames are whole)', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(payloadFor(i))));
    const report = await Log.verify(dir);
    expect(report).toMatchObject({ ok: true, problems: [], records: 50, cleanClose: false });
  });

  it('Log.repair does nothing to a healthy log', async () => {
    const dir = await healthyLog();
    const before = snapshotFiles(dir);
    const report = await Log.repair(dir);
    expect(report).toMatchObject({ mode: 'truncate', dryRun: false, actions: [], lostRanges: [] });
    expect(report.after?.ok).toBe(true);
    expect(snapshotFiles(dir)).toEqual(before);
    expect(recoveryFiles(dir)).toEqual([]);
    const skip = await Log.repair(dir, { mode: 'skip' });
    expect(skip.actions).toEqual([]);
    expect(snapshotFiles(dir)).toEqual(before);
    const log = await openLog(dir);
    expect(log.nextSeq).toBe(30);
  });

  it('Log.repair refuses while a writer holds the log', async () => {
    const dir = tempLogDir();
    await openLog(dir);
    expect((await rejection(Log.repair(dir))).code).toBe('AOF_LOCKED');
  });
});
