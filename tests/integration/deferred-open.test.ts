import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { ProcessFs } from '../../src/testing/process-fs.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { open as openLmdb } from 'lmdb';
import { tempLogDir } from '../helpers/tmp.js';
import { openLog, payloadFor, rejection, segmentFiles } from './support.js';

const OPTIONS = { segment: { maxRecords: 10 } };

/** A cleanly closed log of 5 sealed segments of 10 records and an active one of 3. */
async function closedLog(): Promise<{ dir: string; sealed: string[] }> {
  const dir = tempLogDir();
  const log = await openLog(dir, OPTIONS);
  for (let i = 0; i < 53; i++) await log.append(payloadFor(i));
  await log.close();
  return { dir, sealed: segmentFiles(dir).slice(0, -1) };
}

async function closedCleanly(dir: string): Promise<boolean> {
  const catalog = (await SegmentCatalog.open(dir, true))!;
  try {
    return catalog.closedCleanly;
  } finally {
    await catalog.close();
  }
}

describe('sealed segments opened from the catalog after a clean close', () => {
  it.each([false, true])('open reads no sealed segment; the first read of one loads its header and footer (readOnly %s)', async (readOnly) => {
    const { dir, sealed } = await closedLog();
    expect(sealed).toHaveLength(5);
    const counting = new CountingFs();
    const log = await Log.open(dir, { ...OPTIONS, fs: counting, readOnly });
    for (const file of sealed) expect(counting.bytesRead.get(file) ?? 0, file).toBe(0);
    expect(log.segments().map((s) => [s.baseSeq, s.nextSeq, s.recordCount, s.status])).toEqual([
      [0, 10, 10, 'sealed'], [10, 20, 10, 'sealed'], [20, 30, 10, 'sealed'], [30, 40, 10, 'sealed'], [40, 50, 10, 'sealed'], [50, 53, 3, 'active'],
    ]);
    expect((await log.get(25))?.payload).toEqual(payloadFor(25));
    expect(sealed.filter((f) => (counting.bytesRead.get(f) ?? 0) > 0)).toEqual([sealed[2]]);
    expect((await log.seekTime(0))).toBe(0);
    const all = [];
    for await (const r of log.read({ from: 0 })) all.push(r.payload);
    expect(all).toEqual(Array.from({ length: 53 }, (_, i) => payloadFor(i)));
    await log.close();
  });

  it('a sealed segment changed behind the log after a clean close fails its first read with AOF_CORRUPT naming the file; verify finds it too', async () => {
    const { dir, sealed } = await closedLog();
    const victim = sealed[1]!;
    fs.truncateSync(victim, fs.statSync(victim).size - 5); // the trailer is gone
    const log = await openLog(dir, OPTIONS);
    expect((await log.get(5))?.payload).toEqual(payloadFor(5));
    const err = await rejection(log.get(15));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: victim });
    expect(err.message).toContain(victim);
    await log.close();
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.file === victim)).toBe(true);
  });

  it('a catalog that disagrees in a way only the footer shows is caught at first read, never served', async () => {
    const { dir, sealed } = await closedLog();
    // Swap two sealed files' contents: sizes and names match, the footers do not.
    const a = fs.readFileSync(sealed[0]!);
    fs.writeFileSync(sealed[0]!, fs.readFileSync(sealed[3]!));
    fs.writeFileSync(sealed[3]!, a);
    const log = await openLog(dir, OPTIONS);
    await expect(log.get(2)).rejects.toMatchObject({ code: 'AOF_CORRUPT', file: sealed[0] });
    await log.close();
  });

  it('the clean-close mark is cleared by the first catalog write, so a crash leaves the next open reading every footer', async () => {
    const { dir, sealed } = await closedLog();
    expect(await closedCleanly(dir)).toBe(true);
    const log = await openLog(dir, OPTIONS);
    expect(await closedCleanly(dir)).toBe(true); // opening alone writes nothing
    for (let i = 53; i < 61; i++) await log.append(payloadFor(i)); // rolls: a catalog write
    expect(await closedCleanly(dir)).toBe(false);
    await log.close();
    expect(await closedCleanly(dir)).toBe(true);

    // A catalog edited by anything but a writer's clean close is not trusted: the files are read and overrule it.
    const catalog = (await SegmentCatalog.open(dir, false))!;
    await catalog.replace({ ...catalog.get(10)!, recordCount: 3 });
    await catalog.close();
    expect(await closedCleanly(dir)).toBe(false);
    const counting = new CountingFs();
    const reopened = await Log.open(dir, { ...OPTIONS, fs: counting });
    for (const file of sealed) expect(counting.bytesRead.get(file) ?? 0, file).toBeGreaterThan(0);
    expect(reopened.openReport.catalog?.corrected.map((c) => c.baseSeq)).toEqual([10]);
    expect(reopened.segments()[1]).toMatchObject({ baseSeq: 10, recordCount: 10 });
    await reopened.close();
  });
});

describe('the clean-close mark and other writers of segment files', () => {
  it('repair takes the mark back before it changes any file: a crash mid-repair leaves an open that reads every footer', async () => {
    const { dir, sealed } = await closedLog();
    // Damage a frame in the middle of sealed segment 20: truncate mode cuts the log there.
    const bytes = fs.readFileSync(sealed[2]!);
    bytes[200] ^= 0xff;
    fs.writeFileSync(sealed[2]!, bytes);
    expect(await closedCleanly(dir)).toBe(true);
    const machine = new ProcessFs(nodeFs);
    // Repair replaces a segment by renaming a new file over it (never truncating in place): crash right before that.
    machine.crashBefore('rename', '.repair-tmp');
    await expect(Log.repair(dir, { fs: machine })).rejects.toThrow();
    expect(await closedCleanly(dir)).toBe(false);
    const repaired = await Log.repair(dir);
    expect(repaired.after?.ok).toBe(true);
    const log = await openLog(dir, OPTIONS);
    expect((await log.get(5))?.payload).toEqual(payloadFor(5));
    await log.close();
  });

  it('a read-only open creates nothing in the catalog', async () => {
    const { dir } = await closedLog();
    const env = openLmdb({ path: SegmentCatalog.pathOf(dir), maxDbs: 8 });
    await env.openDB('catalog-meta', {}).drop();
    await env.close();
    const checksum = fs.readFileSync(`${SegmentCatalog.pathOf(dir)}/closed-checksum.json`, 'utf8');
    const dataBefore = fs.readFileSync(`${SegmentCatalog.pathOf(dir)}/data.mdb`);
    const reader = await Log.open(dir, { ...OPTIONS, readOnly: true });
    expect((await reader.get(12))?.payload).toEqual(payloadFor(12));
    await reader.close();
    expect(fs.readFileSync(`${SegmentCatalog.pathOf(dir)}/data.mdb`).equals(dataBefore)).toBe(true);
    expect(fs.readFileSync(`${SegmentCatalog.pathOf(dir)}/closed-checksum.json`, 'utf8')).toBe(checksum);
  });
});

describe('syncs at open (docs/DURABILITY.md, "After a crash")', () => {
  it('a reopen after a clean close syncs nothing (its marker stays until an append writes over it); one after a crash fdatasyncs what it found and fsyncs segments/', async () => {
    const { dir } = await closedLog();
    const clean = new CountingFs();
    const cleanly = await Log.open(dir, { ...OPTIONS, fs: clean });
    expect(cleanly.openReport.recovery).toMatchObject({ cleanClose: true, scanned: false });
    expect(clean.calls.get('datasync') ?? 0).toBe(0);
    expect(clean.calls.get('truncate') ?? 0).toBe(0);
    expect(clean.calls.get('syncDir') ?? 0).toBe(0);
    await cleanly.close();

    // A copy of a log whose writer never closed: no clean-close marker.
    const live = await openLog(dir, OPTIONS);
    await live.append(payloadFor(53));
    await live.flush();
    const crashed = `${dir}-crashed`;
    fs.cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('LOCK') });
    await live.close();
    const counting = new CountingFs();
    const reopened = await Log.open(crashed, { ...OPTIONS, fs: counting });
    expect(reopened.openReport.recovery?.cleanClose).toBe(false);
    expect(counting.calls.get('datasync')).toBeGreaterThanOrEqual(2); // the last sealed segment and the active one
    expect(counting.calls.get('syncDir')).toBeGreaterThanOrEqual(1);
    await reopened.close();
  });
});
