/**
 * Snapshots and backups against real retention and a real archive tier:
 * pinned snapshots keep the log segments they need; a backup holds the local
 * part of a log whose oldest segments were evicted to the archive.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsArchive } from '../../src/archive/fs-archive.js';
import { Log } from '../../src/log.js';
import { SnapshotScheduler } from '../../src/snapshot/scheduler.js';
import { Bank, closeLater, deposit, openLog, openStore, tempDir } from './helpers.js';

describe('snapshots, backups and retention', () => {
  it('pruning with pinned snapshots: retention deletes only the segments no snapshot needs, and a restore still replays', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'), { segment: { maxRecords: 10 }, retention: { maxSegments: 1 } });
    const store = await openStore(path.join(root, 'snapshots'), { log, keep: 1 });
    const bank = new Bank();
    const save = async (pinned = false) => store.save(bank.seq, bank.encode(), { pinned });
    const appendTo = async (n: number): Promise<void> => {
      while (bank.seq < n) bank.apply({ seq: await log.append(deposit(bank.seq)), timestamp: 0, payload: Buffer.from(deposit(bank.seq)) });
    };

    const first = await save(true); // pinned at 0: retention may delete nothing
    await appendTo(45); // segments [0,10) [10,20) [20,30) [30,40), active [40,45)
    await log.archiveNow(); // runs a retention pass now
    expect(log.firstSeq).toBe(0);

    const middle = await save(); // at 45, the newest; `first` survives keep 1 because it is pinned
    expect((await store.list()).map((i) => i.seq)).toEqual([0, 45]);
    await log.archiveNow();
    expect(log.firstSeq).toBe(0);

    await store.unpin(first.name); // unpinned, it is pruned (keep 1); now only the newest snapshot holds the log, from 45
    expect((await store.list()).map((i) => i.name)).toEqual([middle.name]);
    await log.archiveNow();
    expect(log.firstSeq).toBe(40); // everything before the segment holding 45 went; the active one always stays
    await appendTo(60);

    // A restart restores from the newest snapshot and replays the rest: every record it needs is still there.
    let restored = new Bank();
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store, onClose: false,
        produce: () => ({ seq: restored.seq, data: restored.encode() }),
        apply: (snap) => void (restored = Bank.decode(snap.data)),
        replay: (r) => restored.apply(r),
      }),
    );
    expect(scheduler.restored).toMatchObject({ from: 45, replayed: 15 });
    expect(restored.view()).toEqual(bank.view());
  });

  it('a backup of a log whose oldest segments were evicted to the archive holds the local part and says what is archived', async () => {
    const root = tempDir();
    const log = await openLog(path.join(root, 'log'), { segment: { maxRecords: 10 }, archive: new FsArchive(path.join(root, 'archive')), retention: { maxSegments: 1 } });
    for (let i = 0; i < 35; i++) await log.append(deposit(i));
    await log.archiveNow(); // uploads [0,10) [10,20) [20,30), then evicts their local copies
    expect(log.segments().filter((s) => s.status === 'evicted').map((s) => s.baseSeq)).toEqual([0, 10, 20]);

    const report = await log.backup(path.join(root, 'copy'));
    expect(report.archived).toEqual({ from: 0, to: 30 });
    expect([report.firstSeq, report.nextSeq, report.segments.length]).toEqual([30, 35, 1]);
    const v = await Log.verify(path.join(root, 'copy'));
    expect([v.ok, v.records, v.nextSeq]).toEqual([true, 5, 35]);
    const copy = await openLog(path.join(root, 'copy'));
    expect(copy.firstSeq).toBe(30);
    const seqs: number[] = [];
    for await (const r of copy.read()) seqs.push(r.seq);
    expect(seqs).toEqual([30, 31, 32, 33, 34]);
  });
});
