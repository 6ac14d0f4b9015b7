import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import type { VerifyReport } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { aof, copyFixture, requireBuilt, seg, snapshotFiles, type FixtureName, parseJson } from './run.js';
import type { StatReport } from '../../src/cli/commands/stat.js';

beforeAll(requireBuilt);

/** What `verify` and `stat` say about each fixture: exit statuses and the first problem. */
const EXPECTED: Record<FixtureName, { verify: number; stat: number; problem?: { code: string; file: string; offset: number } }> = {
  valid: { verify: 0, stat: 0 },
  'torn-tail': { verify: 0, stat: 0, problem: { code: 'AOF_TORN_TAIL', file: seg(20), offset: 269 } },
  'zero-tail': { verify: 0, stat: 0 },
  'garbage-tail': { verify: 0, stat: 0, problem: { code: 'AOF_TORN_TAIL', file: seg(20), offset: 320 } },
  'flipped-sealed': { verify: 1, stat: 0, problem: { code: 'AOF_CORRUPT', file: seg(0), offset: 146 } },
  'flipped-active-middle': { verify: 1, stat: 1, problem: { code: 'AOF_CORRUPT', file: seg(20), offset: 131 } },
  'damaged-footer': { verify: 1, stat: 1, problem: { code: 'AOF_CORRUPT', file: seg(6), offset: 272 } },
  'damaged-header': { verify: 1, stat: 1, problem: { code: 'AOF_CORRUPT', file: seg(6), offset: 0 } },
  'huge-length': { verify: 1, stat: 1, problem: { code: 'AOF_CORRUPT', file: seg(20), offset: 131 } },
  'unsupported-version': { verify: 1, stat: 1, problem: { code: 'AOF_UNSUPPORTED_FORMAT', file: seg(0), offset: 8 } },
};

describe('aof verify', () => {
  it.each(Object.keys(EXPECTED) as FixtureName[])('%s: exit status, JSON report and text, without changing a byte', async (name) => {
    const dir = copyFixture(name);
    const before = snapshotFiles(dir);
    const expected = EXPECTED[name];
    const json = await aof(['verify', dir, '--json']);
    expect(json.code, json.stderr).toBe(expected.verify);
    expect(json.stderr).toBe(''); // no progress bar: stderr is not a terminal
    const report = parseJson<VerifyReport>(json);
    // The same shape as the library's VerifyReport.
    expect(report).toEqual(await Log.verify(dir));
    expect(Object.keys(report).sort()).toEqual(['cleanClose', 'dir', 'gaps', 'nextSeq', 'ok', 'problems', 'records', 'segments']);
    expect(report.ok).toBe(expected.verify === 0);
    if (expected.problem !== undefined) {
      expect(report.problems[0]).toMatchObject({ code: expected.problem.code, file: path.join(dir, expected.problem.file), offset: expected.problem.offset });
    } else {
      expect(report.problems).toEqual([]);
    }
    const text = await aof(['verify', dir]);
    expect(text.code, text.stderr).toBe(expected.verify);
    expect(text.stdout.trim().split('\n').at(-1)).toBe(expected.verify === 0 ? 'OK' : 'DAMAGED: run `aof repair DIR` (it keeps every byte it cuts under DIR/recovery/)');
    if (expected.problem !== undefined) expect(text.stdout).toContain(`${expected.problem.code} ${path.join(dir, expected.problem.file)} @${expected.problem.offset}`);
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('the valid fixture: 26 records in 4 segments, closed cleanly', async () => {
    const r = await aof(['verify', copyFixture('valid')]);
    expect(r.stdout).toMatch(/: 4 segment\(s\), 26 record\(s\), next sequence 26, closed cleanly\nOK\n$/);
  });
});

describe('aof stat', () => {
  it.each(Object.keys(EXPECTED) as FixtureName[])('%s: exit status and JSON shape, without changing a byte', async (name) => {
    const dir = copyFixture(name);
    const before = snapshotFiles(dir);
    const r = await aof(['stat', dir, '--json']);
    expect(r.code, r.stderr).toBe(EXPECTED[name].stat);
    const report = parseJson<StatReport>(r);
    expect(Object.keys(report).sort()).toEqual(['active', 'activeEnd', 'bytes', 'catalog', 'dir', 'fileErrors', 'firstSeq', 'nextSeq', 'ok', 'openError', 'publishedWatermark', 'records', 'segments', 'writer']);
    expect(report.ok).toBe(EXPECTED[name].stat === 0);
    expect(report.writer).toBeNull();
    expect(report.catalog.state).toBe('absent'); // fixtures have no catalog: the next writer open builds it
    expect(report.segments.map((s) => s.baseSeq)).toEqual([0, 6, 16, 20]);
    expect(report.bytes).toBe(Object.values(Object.fromEntries(before)).reduce((n, b) => n + b.length, 0));
    expect(snapshotFiles(dir)).toEqual(before);
    const text = await aof(['stat', dir]);
    expect(text.code, text.stderr).toBe(EXPECTED[name].stat);
    expect(text.stdout).toContain(`log ${dir}`);
  });

  it('valid: segments with ranges, times and sizes, the active tail and a clean close', async () => {
    const dir = copyFixture('valid');
    const report = parseJson<StatReport>(await aof(['stat', dir, '--json']));
    expect(report).toMatchObject({ firstSeq: 0, nextSeq: 26, records: 26, publishedWatermark: null, openError: null, fileErrors: [] });
    // `bytes` is what the log knows (for the active segment: up to its last record); `onDisk.bytes`, the file's size.
    expect(report.segments.map((s) => [s.status, s.baseSeq, s.nextSeq, s.recordCount, s.onDisk?.bytes])).toEqual([
      ['sealed', 0, 6, 6, 392], ['sealed', 6, 16, 10, 400], ['sealed', 16, 20, 4, 445], ['active', 20, 26, 6, 352],
    ]);
    expect(report.segments[0]).toMatchObject({ firstTimestamp: Date.parse('2024-01-01T00:00:01Z'), lastTimestamp: Date.parse('2024-01-01T00:00:04Z'), onDisk: { sealed: true, bytes: 392 } });
    expect(report.active).toEqual({ baseSeq: 20, nextSeq: 26, records: 6, bytes: 352, file: path.join(dir, seg(20)) });
    expect(report.activeEnd).toMatchObject({ state: 'closed', offset: 320 });
    const text = (await aof(['stat', dir])).stdout;
    expect(text).toContain('records    26 (sequence 0..25), 1.6 KiB in 4 segment(s)');
    expect(text).toContain('watermark  26');
    expect(text).toContain('writer     none (the lock is free)');
    expect(text).toMatch(/00000000000000000000\.seg {2}sealed {2}0\.\.5 +6 +392 B {2}2024-01-01T00:00:01\.000Z {2}2024-01-01T00:00:04\.000Z/);
    expect(text).toContain('end of the active segment (offset 320): ends with the clean-close marker');
  });

  it('tells how the active segment ends: torn tail, zero tail, corruption', async () => {
    const torn = parseJson<StatReport>(await aof(['stat', copyFixture('torn-tail'), '--json']));
    expect(torn.activeEnd).toMatchObject({ state: 'torn-tail', offset: 269, bytes: 40 });
    expect(torn.nextSeq).toBe(25);
    const zeros = parseJson<StatReport>(await aof(['stat', copyFixture('zero-tail'), '--json']));
    expect(zeros.activeEnd).toMatchObject({ state: 'zero-tail', offset: 320, bytes: 512 });
    const corrupt = await aof(['stat', copyFixture('flipped-active-middle')]);
    expect(corrupt.code, corrupt.stderr).toBe(1);
    expect(corrupt.stdout).toContain('! end of the active segment (offset 131): damaged frame (frame checksum mismatch) followed by valid frames from offset 173');
  });

  it('a log that cannot be opened: lists the files with what is wrong, exit 1', async () => {
    const dir = copyFixture('damaged-footer');
    const r = await aof(['stat', dir, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const report = parseJson<StatReport>(r);
    expect(report.openError).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, seg(6)), offset: 272 });
    expect(report.fileErrors).toEqual([expect.objectContaining({ file: path.join(dir, seg(6)), code: 'AOF_CORRUPT', offset: 272 })]);
    expect(report.segments.map((s) => s.status)).toEqual(['sealed', 'damaged', 'sealed', 'active']);
    const text = (await aof(['stat', dir])).stdout;
    expect(text).toContain('cannot open the log: AOF_CORRUPT: damaged footer');
    expect(text).toContain('run `aof verify DIR`');
  });

  it('a log written through the API: catalog statuses, the live writer and its watermark, catalog agreement', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 10 } });
    for (let i = 0; i < 25; i++) await log.append(`record ${i}`);
    const live = parseJson<StatReport>(await aof(['stat', dir, '--json']));
    expect(live.writer).toMatchObject({ pid: process.pid, running: true });
    expect(live.catalog).toEqual({ state: 'ok', agrees: true });
    expect(live.nextSeq).toBe(25);
    expect(live.publishedWatermark).toBe(25);
    expect(live.segments.map((s) => [s.baseSeq, s.status, s.onDisk?.nextSeq])).toEqual([[0, 'sealed', 10], [10, 'sealed', 20], [20, 'active', 25]]);
    expect(live.activeEnd.state).toBe('not-checked'); // a live writer's in-flight frames are not judged
    const text = (await aof(['stat', dir])).stdout;
    expect(text).toContain(`writer     pid ${process.pid} on `);
    expect(text).toContain('catalog    agrees with the segment files');
    await log.close();

    const closed = await aof(['stat', dir, '--json']);
    expect(closed.code, closed.stderr).toBe(0);
    const report = parseJson<StatReport>(closed);
    expect(report.writer).toBeNull();
    expect(report.activeEnd.state).toBe('closed');
    expect(report.segments.every((s) => s.inCatalog && s.disagreement === null)).toBe(true);
  });

  it('a catalog that disagrees with the files: exit 1, naming the segment and the field', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 10 } });
    for (let i = 0; i < 15; i++) await log.append(`record ${i}`);
    await log.close();
    // Damage the index (not the truth): segment 0's entry claims a record count its footer does not hold.
    const catalog = (await SegmentCatalog.open(dir, false))!;
    await catalog.replace({ ...catalog.get(0)!, recordCount: 7 });
    await catalog.close();
    const r = await aof(['stat', dir, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const report = parseJson<StatReport>(r);
    expect(report.catalog).toEqual({ state: 'ok', agrees: false });
    expect(report.segments[0]!.disagreement).toBe('the catalog disagrees with the footer on recordCount (7 vs 10)');
    expect((await aof(['stat', dir])).stdout).toContain('catalog    DISAGREES with the segment files');
    // The next writer open reconciles it.
    await (await Log.open(dir)).close();
    expect((await aof(['stat', dir])).code).toBe(0);
  });

  it('an empty log', async () => {
    const dir = tempLogDir();
    await (await Log.open(dir)).close();
    const r = await aof(['stat', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r)).toMatchObject({ firstSeq: 0, nextSeq: 0, records: 0, active: { baseSeq: 0, records: 0 } });
    expect((await aof(['stat', dir])).stdout).toContain('no records yet, next sequence 0');
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });
});
