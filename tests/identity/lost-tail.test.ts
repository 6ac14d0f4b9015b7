import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, rejection } from '../integration/support.js';
import { frameOffsets, lastSegment, segments } from './support.js';

/**
 * Break 8 and 10 of issue 18: the end of the data moved back behind what the
 * log had acknowledged (a restored older copy of the last segment, a deleted
 * last segment, whole records cut off after a clean close). Open must refuse
 * with AOF_DATA_LOST naming the range, verify must report it, and after an
 * explicit repair no new record may take one of the lost sequence numbers.
 */

async function appendEach(log: Log, from: number, to: number): Promise<void> {
  // One awaited append at a time: one frame per record, so whole records can be cut.
  for (let i = from; i < to; i++) expect(await log.append(payloadFor(i))).toBe(i);
}

/** Every segment file's bytes, and the names under `recovery/`. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map(segments(dir).map((f) => [f, fs.readFileSync(f)]));
  const rec = path.join(dir, 'recovery');
  if (fs.existsSync(rec)) for (const n of fs.readdirSync(rec)) out.set(path.join(rec, n), Buffer.alloc(0));
  return out;
}

async function expectLost(dir: string, from: number, to: number, options: { readOnly?: boolean } = {}): Promise<void> {
  const before = snapshot(dir);
  const err = await rejection(Log.open(dir, { readOnly: options.readOnly === true }));
  expect(err.code, err.message).toBe('AOF_DATA_LOST');
  expect(err).toMatchObject({ from, to });
  expect(err.message).toContain(`${from}..${to - 1}`);
  // Refused before recovery changed anything: no marker cut, no segment created in place of a missing one.
  expect(snapshot(dir)).toEqual(before);
}

async function expectVerifyReports(dir: string, from: number, to: number): Promise<void> {
  const report = await Log.verify(dir);
  expect(report.ok).toBe(false);
  const problem = report.problems.find((p) => p.code === 'AOF_DATA_LOST');
  expect(problem, JSON.stringify(report.problems)).toMatchObject({ severity: 'error', seqFrom: from, seqTo: to });
}

/** After the operator accepted the loss with repair: the lost numbers read as a gap, and appends continue after them. */
async function expectRepairedWithGap(dir: string, from: number, to: number): Promise<void> {
  const repaired = await Log.repair(dir);
  expect(repaired.lostRanges).toContainEqual({ from, to });
  const log = await openLog(dir);
  expect(log.nextSeq).toBe(to);
  expect(await log.append('after repair')).toBe(to);
  expect((await rejection(log.get(from))).code).toBe('AOF_GAP');
  expect((await log.get(from - 1))?.payload).toEqual(from === 0 ? undefined : payloadFor(from - 1));
  await log.close();
  expect((await Log.verify(dir)).ok).toBe(true);
  const again = await openLog(dir);
  expect(again.nextSeq).toBe(to + 1);
  await again.close();
}

describe('the last segment rolled back to an older copy (break 8)', () => {
  it('open fails naming the missing range, verify reports it, repair records a gap and the numbers are never reused', async () => {
    const dir = tempLogDir();
    let log = await openLog(dir);
    await appendEach(log, 0, 10);
    await log.close();
    const old = path.join(tempDir(), 'old.seg');
    fs.copyFileSync(lastSegment(dir), old);
    log = await openLog(dir);
    await appendEach(log, 10, 20);
    await log.close();
    fs.copyFileSync(old, lastSegment(dir)); // a restored disk snapshot

    await expectLost(dir, 10, 20);
    await expectLost(dir, 10, 20, { readOnly: true });
    await expectVerifyReports(dir, 10, 20);
    await expectRepairedWithGap(dir, 10, 20);
  });

  it('a copy taken while the writer was running (no close marker) is caught the same way', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await appendEach(log, 0, 5);
    const old = path.join(tempDir(), 'old.seg');
    fs.copyFileSync(lastSegment(dir), old);
    await appendEach(log, 5, 12);
    await log.close();
    fs.copyFileSync(old, lastSegment(dir));
    await expectLost(dir, 5, 12);
  });
});

describe('the last segment deleted (break 8)', () => {
  it('open fails naming the missing range; no new segment takes its place', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxBytes: 256 } });
    await appendEach(log, 0, 30);
    await log.close();
    const files = segments(dir);
    expect(files.length).toBeGreaterThan(2);
    const last = files[files.length - 1]!;
    const base = Number(path.basename(last, '.seg'));
    fs.rmSync(last);
    await expectLost(dir, base, 30);
    expect(fs.existsSync(last)).toBe(false); // the failed open created nothing in its place
    await expectVerifyReports(dir, base, 30);
    await expectRepairedWithGap(dir, base, 30);
  });

  it('the only segment deleted: the records 0.. are reported lost', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await appendEach(log, 0, 4);
    await log.close();
    fs.rmSync(lastSegment(dir));
    await expectLost(dir, 0, 4);
    await expectVerifyReports(dir, 0, 4);
  });
});

describe('whole records cut off the end after a clean close (break 10)', () => {
  async function closedLogCut(keep: number, total: number): Promise<string> {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await appendEach(log, 0, total);
    await log.close();
    const file = lastSegment(dir);
    fs.truncateSync(file, frameOffsets(file)[keep]!); // cut at a frame boundary: no torn frame to notice
    return dir;
  }

  it('open fails, verify reports the range, repair records a gap', async () => {
    const dir = await closedLogCut(7, 10);
    await expectLost(dir, 7, 10);
    await expectLost(dir, 7, 10, { readOnly: true });
    await expectVerifyReports(dir, 7, 10);
    await expectRepairedWithGap(dir, 7, 10);
  });

  it('is caught without the catalog too (it is derived data and may be rebuilt)', async () => {
    const dir = await closedLogCut(3, 10);
    fs.rmSync(path.join(dir, 'index'), { recursive: true });
    await expectLost(dir, 3, 10);
    await expectVerifyReports(dir, 3, 10);
  });

  it('is caught without the catalog and without the watermark file', async () => {
    const dir = await closedLogCut(3, 10);
    fs.rmSync(path.join(dir, 'index'), { recursive: true });
    fs.rmSync(path.join(dir, 'watermark'));
    await expectLost(dir, 3, 10);
  });
});

describe('no false alarm', () => {
  it('a torn tail after a crash (bytes never acknowledged) is still cut off silently', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await appendEach(log, 0, 5);
    // The state a crash mid-write leaves: half a frame after the acknowledged ones (the writer is still open).
    const copy = path.join(tempDir(), 'crashed');
    fs.cpSync(dir, copy, { recursive: true, filter: (src) => path.basename(src) !== 'LOCK' });
    fs.appendFileSync(lastSegment(copy), Buffer.from([60, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]));
    await log.close();
    const reopened = await openLog(copy);
    expect(reopened.nextSeq).toBe(5);
    expect(reopened.openReport.recovery?.tornTail).toBeDefined();
    expect((await collect(reopened.read())).length).toBe(5);
    await reopened.close();
    expect((await Log.verify(copy)).ok).toBe(true);
  });
});

describe('the published watermark as a commit point (a crash, so no clean-close record and a stale catalog entry)', () => {
  /** A copy of the log as a crash leaves it (the writer still open), with its last segment then rolled back to `old`. */
  async function crashedAndRolledBack(flush: 'batch' | 'none'): Promise<string> {
    const dir = tempLogDir();
    const log = await openLog(dir, { flush: { strategy: flush } });
    await appendEach(log, 0, 6);
    const old = path.join(tempDir(), 'old.seg');
    fs.copyFileSync(lastSegment(dir), old);
    await appendEach(log, 6, 15);
    const copy = path.join(tempDir(), 'crashed');
    fs.cpSync(dir, copy, { recursive: true, filter: (src) => path.basename(src) !== 'LOCK' });
    await log.close();
    fs.copyFileSync(old, lastSegment(copy));
    return copy;
  }

  it('under a strategy that syncs before acknowledging, the watermark alone names the loss', async () => {
    const dir = await crashedAndRolledBack('batch');
    const err = await rejection(Log.open(dir, { flush: { strategy: 'batch' } }));
    expect(err).toMatchObject({ code: 'AOF_DATA_LOST', from: 6, to: 15, witness: 'published watermark' });
    // Repair counts the watermark too: the numbers become a gap, never reused.
    await expectRepairedWithGap(dir, 6, 15);
  });

  it('under none, a watermark ahead of the data (what a power loss may leave) is no alarm, whatever strategy the next writer uses', async () => {
    const dir = await crashedAndRolledBack('none');
    // The none writer cleared WATERMARK_DURABLE before it acknowledged anything: its watermark vouches for nothing.
    expect(fs.readFileSync(path.join(dir, 'identity')).readUInt32LE(40)).toBe(0);
    const log = await openLog(dir); // the default strategy, batch
    expect(log.nextSeq).toBe(6);
    await log.close();
    expect(fs.readFileSync(path.join(dir, 'identity')).readUInt32LE(40)).toBe(1);
  });
});
