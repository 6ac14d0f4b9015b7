/**
 * log.backup(dest) and the store's backups, on real files and a real LMDB
 * catalog: point-in-time copies taken while appends go on, that open as logs
 * and verify clean.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { Log } from '../../src/log.js';
import type { LogRecord } from '../../src/read/record.js';
import type { BackupReport } from '../../src/snapshot/backup.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { entries, openLog, openStore, rejection, temporaries, tempDir } from './helpers.js';

async function collect(log: Log): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of log.read()) out.push(r);
  return out;
}

const payload = (i: number): string => `record ${i} ${'x'.repeat(i % 50)}`;

/** Pins the log holds, by reason (peeked at: the log has no public listing of its pins yet). */
function pinsOf(log: Log): Array<{ fromSeq: number; reason: string }> {
  return (log as unknown as { pins: { list(): Array<{ fromSeq: number; reason: string }> } }).pins.list();
}

describe('log.backup', () => {
  it('backup during appends opens and verifies: exactly the records acknowledged before the call, sealed segments linked', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'), { segment: { maxBytes: 16 * 1024 } });
    for (let i = 0; i < 400; i++) await log.append(payload(i)); // several sealed segments
    // Appends keep going while the backup runs; the backup is requested from inside the stream of acknowledgements.
    let backup: Promise<BackupReport> | undefined;
    let watermarkAtCall = -1;
    let pinnedDuringRun: Array<{ fromSeq: number; reason: string }> = [];
    log.on('append', () => {
      if (backup === undefined && log.nextSeq >= 700) {
        watermarkAtCall = log.nextSeq;
        backup = log.backup(path.join(root, 'copy'));
        pinnedDuringRun = pinsOf(log);
      }
    });
    const producers = Array.from({ length: 4 }, async (_, p) => {
      for (let i = 400 + p; i < 1200; i += 4) await log.append(payload(i));
    });
    await Promise.all(producers);
    const report = await backup!;
    expect(pinnedDuringRun).toEqual([{ fromSeq: 0, reason: `backup to ${path.join(root, 'copy')}` }]);
    expect(pinsOf(log)).toEqual([]); // released when done

    expect(report.nextSeq).toBe(watermarkAtCall);
    expect(report.firstSeq).toBe(0);
    expect(log.nextSeq).toBe(1200); // the log went on
    expect(report.segments.length).toBeGreaterThanOrEqual(3);
    expect(report.segments.slice(0, -1).every((s) => s.how === 'link')).toBe(true);
    expect(report.segments[report.segments.length - 1]!.how).toBe('prefix');
    expect(report.cleanClose).toBe(true);
    // Hard links share the log's files; the active segment is a copy.
    for (const s of report.segments) {
      const name = `${String(s.baseSeq).padStart(20, '0')}.seg`;
      const same = fs.statSync(path.join(root, 'copy', 'segments', name)).ino === fs.statSync(path.join(root, 'log', 'segments', name)).ino;
      expect(same).toBe(s.how === 'link');
      expect(fs.statSync(path.join(root, 'copy', 'segments', name)).size).toBe(s.bytes);
    }
    // Only segments: no catalog, lock or watermark copied, and no temporary directory left.
    expect(entries(path.join(root, 'copy'))).toEqual(['segments']);
    expect(temporaries(root)).toEqual([]);

    const verify = await Log.verify(path.join(root, 'copy'));
    expect(verify.problems).toEqual([]);
    expect(verify.ok).toBe(true);
    expect(verify.cleanClose).toBe(true);
    expect(verify.nextSeq).toBe(watermarkAtCall);

    const copy = await openLog(path.join(root, 'copy'));
    // It opens as a cleanly closed log: nothing torn, nothing cut.
    expect(copy.openReport.recovery?.cleanClose).toBe(true);
    expect(copy.openReport.recovery?.tornTail).toBeUndefined();
    const records = await collect(copy);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: watermarkAtCall }, (_, i) => i));
    const original = await collect(log);
    for (const r of records) expect(r.payload.equals(original[r.seq]!.payload)).toBe(true);
    // The copy is a working log of its own: it takes appends, and the original does not see them.
    expect(await copy.append('after the backup')).toBe(watermarkAtCall);
    await copy.close();
    expect(log.nextSeq).toBe(1200);
    expect((await Log.verify(path.join(root, 'log'))).problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('point-in-time consistency: appends issued right after the call are not in the backup', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'));
    for (let i = 0; i < 50; i++) await log.append(payload(i));
    const taking = log.backup(path.join(root, 'copy'));
    const later = Promise.all(Array.from({ length: 50 }, (_, i) => log.append(payload(50 + i))));
    const report = await taking;
    await later;
    expect(report.nextSeq).toBe(50);
    const copy = await openLog(path.join(root, 'copy'), { readOnly: true });
    expect((await collect(copy)).length).toBe(50);
  });

  it('link: false copies every byte; an empty log backs up to an empty log', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'), { segment: { maxBytes: 4096 } });
    const empty = await log.backup(path.join(root, 'empty'));
    expect(empty.nextSeq).toBe(0);
    expect((await Log.verify(path.join(root, 'empty'))).ok).toBe(true);
    for (let i = 0; i < 200; i++) await log.append(payload(i));
    const report = await log.backup(path.join(root, 'copy'), { link: false });
    expect(report.segments.every((s) => s.how !== 'link')).toBe(true);
    expect(report.bytesCopied).toBe(report.bytes);
    const v = await Log.verify(path.join(root, 'copy'));
    expect([v.ok, v.nextSeq, v.records]).toEqual([true, 200, 200]);
  });

  it('a read-only handle backs up what the writer had published', async () => {
    const root = tempDir();
    const writer = await openLog(path.join(root, 'log'), { segment: { maxBytes: 8192 } });
    for (let i = 0; i < 300; i++) await writer.append(payload(i));
    const reader = await openLog(path.join(root, 'log'), { readOnly: true });
    const report = await reader.backup(path.join(root, 'copy'));
    expect(report.nextSeq).toBe(300);
    const v = await Log.verify(path.join(root, 'copy'));
    expect([v.ok, v.records]).toEqual([true, 300]);
  });

  it('cancellation and write errors leave neither the destination nor a temporary directory', async () => {
    const root = tempDir();
    const faultFs = new FaultFs();
    const log = await openLog(path.join(root, 'log'), { fs: faultFs, segment: { maxBytes: 8192 } });
    for (let i = 0; i < 300; i++) await log.append(payload(i));
    // Copies, not links, so that there are writes to fail (links go through the adapter too: tests/durability/fault-reach.test.ts).
    faultFs.failNext('write', 'ENOSPC', { path: 'copy', skip: 3 });
    const err = await rejection(log.backup(path.join(root, 'copy'), { link: false }));
    expect([err.code, err.errno]).toEqual([ErrorCode.IO, 'ENOSPC']);
    expect(fs.existsSync(path.join(root, 'copy'))).toBe(false);
    expect(temporaries(root)).toEqual([]);

    const controller = new AbortController();
    const taking = log.backup(path.join(root, 'copy'), { signal: controller.signal });
    controller.abort();
    expect((await rejection(taking)).name).toBe('AbortError');
    expect(fs.existsSync(path.join(root, 'copy'))).toBe(false);
    expect(temporaries(root)).toEqual([]);
    expect(pinsOf(log)).toEqual([]);

    // The log is untouched, and once reopened on the real file system the next backup works.
    // (FaultFs models files only: it cannot rename the finished backup directory into place.)
    expect(await log.append('still going')).toBe(300);
    await log.close();
    const reopened = await openLog(path.join(root, 'log'));
    const report = await reopened.backup(path.join(root, 'copy'));
    expect((await Log.verify(path.join(root, 'copy'))).records).toBe(301);
    expect(report.nextSeq).toBe(301);
  });

  it('refuses a destination that is not empty or lies inside the log, and a closed log', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'));
    await log.append('a');
    fs.mkdirSync(path.join(root, 'busy'));
    fs.writeFileSync(path.join(root, 'busy', 'file'), 'x');
    expect((await rejection(log.backup(path.join(root, 'busy')))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await rejection(log.backup(path.join(root, 'log', 'inside')))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await rejection(log.backup(''))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    fs.mkdirSync(path.join(root, 'empty-dir'));
    expect((await log.backup(path.join(root, 'empty-dir'))).nextSeq).toBe(1); // an empty directory is fine
    await log.close();
    expect((await rejection(log.backup(path.join(root, 'late')))).code).toBe(ErrorCode.CLOSED);
  });
});

describe('SnapshotStore backups', () => {
  it('unique names within the same millisecond; keep-N pruning spares backups marked kept; each opens as a log', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'), { segment: { maxBytes: 8192 } });
    for (let i = 0; i < 100; i++) await log.append(payload(i));
    const store = await openStore(path.join(root, 'snapshots'), { keepBackups: 1 });
    const kept = await store.backup(log, { keep: true });
    const a = await store.backup(log);
    await log.append('one more');
    const b = await store.backup(log);
    expect(new Set([kept.name, a.name, b.name]).size).toBe(3);
    expect(kept.name).toMatch(/^00000000000000000100-\d{16}\.backup$/);
    expect(b.seq).toBe(101);
    expect(b.report?.nextSeq).toBe(101);
    // Newest one plus the kept one; `a` was pruned automatically.
    expect((await store.listBackups()).map((i) => [i.name, i.kept])).toEqual([[kept.name, true], [b.name, false]]);
    expect(fs.existsSync(a.dir)).toBe(false);
    expect(temporaries(path.join(root, 'snapshots', 'backups'))).toEqual([]);
    for (const info of [kept, b]) {
      const v = await Log.verify(info.dir);
      expect([v.ok, v.cleanClose, v.records]).toEqual([true, true, info.seq]);
    }
    // Unmarked, the kept one goes (autoPrune after unpin).
    await store.unpin(kept.name);
    expect((await store.listBackups()).map((i) => i.name)).toEqual([b.name]);
    expect(fs.existsSync(kept.dir)).toBe(false);
  });
});
