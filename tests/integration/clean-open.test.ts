import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { FRAME_HEADER_BYTES, RECORD_HEADER_BYTES_V3 as RECORD_HEADER_BYTES } from '../../src/record/frame.js';
import { POSITION_FRAME_BYTES, POSITION_RECORD_BYTES } from '../../src/segment/positions.js';
import { SEGMENT_HEADER_BYTES } from '../../src/segment/header.js';
import { FOOTER_READ_BYTES } from '../../src/segment/load.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, recoveryFiles, rejection, segmentFiles } from './support.js';

/**
 * Issue 19: the active segment of a cleanly closed log opens from its close
 * marker and the commit points recorded with it; its frames are read,
 * checked and indexed on first use, as sealed segments' footers are.
 */

const PAYLOAD = 100;
/** Every awaited single append is one frame of this size. */
const FRAME = FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + PAYLOAD;
const frameAt = (seq: number): number => SEGMENT_HEADER_BYTES + seq * FRAME;
/** What an open may read of an active segment it does not scan: its header, the end it looks for a footer in, the marker. */
const OPEN_READ_BOUND = SEGMENT_HEADER_BYTES + FOOTER_READ_BYTES + FRAME_HEADER_BYTES;

/** A cleanly closed log whose active segment holds `count` single-record frames (well over what an open may read). */
async function closedLog(count = 2000): Promise<{ dir: string; file: string }> {
  const dir = tempLogDir();
  const log = await openLog(dir);
  for (let i = 0; i < count; i++) await log.append(payloadFor(i, PAYLOAD));
  await log.close();
  const file = segmentFiles(dir)[0]!;
  expect(fs.statSync(file).size).toBe(frameAt(count) + FRAME_HEADER_BYTES); // the frames and the close marker
  return { dir, file };
}

async function readAll(log: Log): Promise<Buffer[]> {
  return (await collect(log.read({ from: 0 }))).map((r) => r.payload);
}

const expected = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => payloadFor(i, PAYLOAD));

describe('opening a cleanly closed log', () => {
  it('reads and writes nothing of the active segment\'s frames at open; the first read checks and indexes them once', async () => {
    const { dir, file } = await closedLog();
    const size = fs.statSync(file).size;
    const counting = new CountingFs();
    const log = await Log.open(dir, { fs: counting });
    expect(log.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined, zeroTailBytes: 0 });
    expect(counting.bytesRead.get(file) ?? 0).toBeLessThanOrEqual(OPEN_READ_BOUND);
    expect(OPEN_READ_BOUND).toBeLessThan(size / 2);
    expect(counting.bytesWritten.get(file) ?? 0).toBe(0);
    expect(fs.statSync(file).size).toBe(size); // the marker stays until an append writes over it
    expect(log.nextSeq).toBe(2000);
    expect(log.segments()).toEqual([expect.objectContaining({ baseSeq: 0, nextSeq: 2000, recordCount: 2000, bytes: frameAt(2000), status: 'active' })]);

    counting.reset();
    expect((await log.get(1234))?.payload).toEqual(payloadFor(1234, PAYLOAD));
    const checkedOnce = counting.bytesRead.get(file) ?? 0;
    expect(checkedOnce).toBeGreaterThanOrEqual(frameAt(2000) - SEGMENT_HEADER_BYTES);
    expect((await log.get(7))?.payload).toEqual(payloadFor(7, PAYLOAD));
    expect(counting.bytesRead.get(file)! - checkedOnce).toBeLessThan(64 * 1024); // indexed now: a lookup reads one interval
    expect(await readAll(log)).toEqual(expected(2000));
    expect(await log.seekTime(0)).toBe(0);
    await log.close();
    expect((await Log.verify(dir)).ok).toBe(true);
  });

  it('appends continue after the last record, over the marker, before and after the check; a roll seals with a footer indexing both', async () => {
    const { dir, file } = await closedLog(500);
    const log = await openLog(dir);
    for (let i = 500; i < 520; i++) expect(await log.append(payloadFor(i, PAYLOAD))).toBe(i);
    expect(fs.statSync(file).size).toBeGreaterThanOrEqual(frameAt(520)); // the marker was written over
    // The first read checks the frames the close left and keeps the index of those appended since.
    expect((await log.get(510))?.payload).toEqual(payloadFor(510, PAYLOAD));
    expect((await log.get(3))?.payload).toEqual(payloadFor(3, PAYLOAD));
    for (let i = 520; i < 530; i++) await log.append(payloadFor(i, PAYLOAD));
    expect(await readAll(log)).toEqual(expected(530));
    await log.roll();
    await log.append(payloadFor(530, PAYLOAD));
    await log.close();
    const report = await Log.verify(dir);
    expect(report).toMatchObject({ ok: true, records: 531 });
    const again = await openLog(dir);
    expect(await readAll(again)).toEqual(expected(531));
    expect((await again.get(250))?.payload).toEqual(payloadFor(250, PAYLOAD));
    await again.close();
  });

  it('a roll before any read checks the frames first, so the footer indexes them', async () => {
    const { dir } = await closedLog();
    const log = await openLog(dir);
    await log.roll();
    await log.close();
    expect((await Log.verify(dir)).ok).toBe(true);
    const counting = new CountingFs();
    const again = await Log.open(dir, { fs: counting });
    expect((await again.get(1290))?.payload).toEqual(payloadFor(1290, PAYLOAD));
    // The header, the end holding the footer, and the position table (version 3: at most a record and a frame entry per
    // record) with the one record it leads to: the footer led straight to it, no frame was scanned.
    const records = again.segments()[0]!.recordCount;
    expect(counting.bytesRead.get(segmentFiles(dir)[0]!)).toBeLessThan(OPEN_READ_BOUND + 16 * 1024 + records * (POSITION_RECORD_BYTES + POSITION_FRAME_BYTES));
    await again.close();
  });

  it('a damaged frame below the recorded end is AOF_CORRUPT on first read, naming file and offset; nothing is cut; verify finds it', async () => {
    const { dir, file } = await closedLog();
    const bytes = fs.readFileSync(file);
    const damagedAt = frameAt(1000);
    bytes[damagedAt + FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + 7] ^= 0x20;
    fs.writeFileSync(file, bytes);

    const log = await openLog(dir);
    expect(log.nextSeq).toBe(2000);
    for (const read of [() => log.get(5), () => log.get(1500), () => readAll(log)]) {
      const err = await rejection(read());
      expect(err).toMatchObject({ code: 'AOF_CORRUPT', file, offset: damagedAt });
      expect(err.message).toContain(file);
      expect(err.message).toContain(`offset ${damagedAt}`);
    }
    // A footer would vouch for the damaged frames: the segment is not sealed.
    expect(await rejection(log.roll())).toMatchObject({ code: 'AOF_CORRUPT', file, offset: damagedAt });
    await log.close();
    expect(fs.readFileSync(file).subarray(0, frameAt(2000)).equals(bytes.subarray(0, frameAt(2000)))).toBe(true);
    expect(recoveryFiles(dir)).toEqual([]);
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', severity: 'error', file, offset: damagedAt, seqFrom: 1000 })]);
  });

  it('scans at open when the catalog\'s record of the close is missing or disagrees, or after a crash (no marker)', async () => {
    const { dir, file } = await closedLog();
    const size = fs.statSync(file).size;
    const opensReading = async (where: string): Promise<number> => {
      const counting = new CountingFs();
      const log = await Log.open(where, { fs: counting });
      const read = counting.bytesRead.get(segmentFiles(where)[0]!) ?? 0;
      expect(await readAll(log)).toEqual(expected(2000));
      await log.close();
      return read;
    };
    // Without the catalog (deleted, so rebuilt): nothing vouches for the marker's end.
    const noCatalog = path.join(tempDir(), 'no-catalog');
    fs.cpSync(dir, noCatalog, { recursive: true });
    fs.rmSync(path.join(noCatalog, 'index'), { recursive: true });
    expect(await opensReading(noCatalog)).toBeGreaterThanOrEqual(size - FRAME_HEADER_BYTES);
    // A crash: the same frames without the marker.
    const crashed = path.join(tempDir(), 'crashed');
    fs.cpSync(dir, crashed, { recursive: true });
    fs.truncateSync(segmentFiles(crashed)[0]!, size - FRAME_HEADER_BYTES);
    expect(await opensReading(crashed)).toBeGreaterThanOrEqual(size - FRAME_HEADER_BYTES);
    // The marker cut off together with whole frames: the recorded commit point says records are missing.
    const cut = path.join(tempDir(), 'cut');
    fs.cpSync(dir, cut, { recursive: true });
    const marker = fs.readFileSync(file).subarray(size - FRAME_HEADER_BYTES);
    fs.truncateSync(segmentFiles(cut)[0]!, frameAt(1990));
    fs.appendFileSync(segmentFiles(cut)[0]!, marker);
    expect(await rejection(Log.open(cut))).toMatchObject({ code: 'AOF_DATA_LOST' });
    // And the original still opens from its marker.
    expect(await opensReading(dir)).toBeLessThanOrEqual(OPEN_READ_BOUND);
  });

  it('a writer process that reopened a cleanly closed log, appended and rolled, then was killed: every acknowledged record is there', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 300; i++) await log.append(childPayload(i, 64));
    await log.close();
    // The child writes segments of 64 KiB: it rolls the segment it opened from the marker, then others.
    const child = startChildWriter(dir, 'always', 8, 64);
    await child.ready;
    await child.waitForAcks(3000);
    await child.kill();
    const after = await openLog(dir);
    expect(after.openReport.recovery?.cleanClose).toBe(false);
    expect(segmentFiles(dir).length).toBeGreaterThan(2);
    const acked = Math.max(...child.acked);
    expect(after.nextSeq).toBeGreaterThan(acked);
    let seq = 0;
    for await (const r of after.read({ from: 0 })) {
      expect(r.seq).toBe(seq);
      expect(r.payload.subarray(0, `rec-${seq}:`.length).toString('latin1')).toBe(`rec-${seq}:`);
      seq++;
    }
    expect(seq).toBe(after.nextSeq);
    await after.close();
    expect((await Log.verify(dir)).ok).toBe(true);
  });
});
