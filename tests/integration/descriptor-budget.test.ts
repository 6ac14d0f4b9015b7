/**
 * Break 4 of issue 18: paused tail and read iterators each held a segment
 * descriptor of their own (200 paused tails with `maxOpenFiles` 16: 206
 * descriptors; EMFILE then failed the writer). Open segment descriptors stay
 * at most `maxOpenFiles` plus the writer's active segment at every moment,
 * whatever readers do, and none is left after `close()`. Counted from
 * `/proc/self/fd` on real files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsArchive, Log, type LogOptions } from '../../src/index.js';
import type { FileHandle, FileSystem } from '../../src/fs/types.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { seededRandom } from '../helpers/rng.js';
import { tempDir } from '../helpers/tmp.js';

const procFdAvailable = fs.existsSync('/proc/self/fd');

/** Descriptors of this process open on segment files under `dir` (the log's own or fetched copies). */
function segmentDescriptors(dir: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the readdir's own descriptor)
    }
    if (target.startsWith(dir + path.sep) && /\.seg(\.fetch-[0-9a-f]+)?( \(deleted\))?$/.test(target)) n++;
  }
  return n;
}

/** Checks the bound after every open through the adapter: the moments the count can grow. */
class BudgetWatchFs extends PassThroughFs {
  max = 0;
  constructor(
    private readonly dir: string,
    inner?: FileSystem,
  ) {
    super(inner);
  }
  protected override wrapHandle(handle: FileHandle): FileHandle {
    this.max = Math.max(this.max, segmentDescriptors(this.dir));
    return handle;
  }
}

async function pullOnce<T>(iterable: AsyncIterable<T>): Promise<{ it: AsyncIterator<T>; first: T }> {
  const it = iterable[Symbol.asyncIterator]();
  const step = await it.next();
  expect(step.done).toBe(false);
  return { it, first: step.value as T };
}

const MAX_OPEN = 16;
const SMALL_SEGMENTS: LogOptions = { maxOpenFiles: MAX_OPEN, segment: { maxRecords: 10 }, flush: { strategy: 'none' } };

describe.skipIf(!procFdAvailable)('segment descriptors stay within maxOpenFiles', () => {
  it('hundreds of paused tail() and read() iterators and random gets: at most maxOpenFiles + the active segment at every step, zero after close', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const watch = new BudgetWatchFs(dir);
    const log = await Log.open(dir, { ...SMALL_SEGMENTS, fs: watch });
    const records = 600; // 60 segments
    for (let i = 0; i < records; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => log.append(`r${i + k}`)));
    const bound = MAX_OPEN + 1;
    const rnd = seededRandom(418);
    const paused: Array<AsyncIterator<{ seq: number }>> = [];
    for (let i = 0; i < 200; i++) {
      const from = Math.floor(rnd() * records);
      const { it, first } = await pullOnce(log.tail({ from }));
      expect(first.seq).toBe(from);
      paused.push(it);
      expect(segmentDescriptors(dir)).toBeLessThanOrEqual(bound);
    }
    for (let i = 0; i < 200; i++) {
      const from = Math.floor(rnd() * records);
      const { it, first } = await pullOnce(i % 2 === 0 ? log.read({ from }) : log.read({ from, to: records }));
      expect(first.seq).toBe(from);
      paused.push(it);
      const seq = Math.floor(rnd() * records);
      expect((await log.get(seq))?.payload.toString()).toBe(`r${seq}`);
      expect(segmentDescriptors(dir)).toBeLessThanOrEqual(bound);
    }
    // The writer never met EMFILE: it still appends and rolls.
    for (let i = 0; i < 30; i++) expect(await log.append(`r${records + i}`)).toBe(records + i);
    expect(log.metrics().failed).toBe(false);
    // Paused iterators were never failed for want of a descriptor: each goes on where it was.
    for (const it of paused.slice(0, 40)) {
      const a = await it.next();
      const b = await it.next();
      expect(b.done === true || (b.value as { seq: number }).seq === (a.value as { seq: number }).seq + 1).toBe(true);
      expect(segmentDescriptors(dir)).toBeLessThanOrEqual(bound);
    }
    expect(watch.max).toBeLessThanOrEqual(bound);
    await log.close();
    expect(segmentDescriptors(dir)).toBe(0);
    for (const it of paused) await it.return?.();
    expect(segmentDescriptors(dir)).toBe(0);
  });

  it('a read-only handle with paused tails and reads, a backup, and seekTime stays within maxOpenFiles; zero after close', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const writer = await Log.open(dir, SMALL_SEGMENTS);
    for (let i = 0; i < 400; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => writer.append(`r${i + k}`)));
    const watch = new BudgetWatchFs(dir);
    const reader = await Log.open(dir, { ...SMALL_SEGMENTS, readOnly: true, fs: watch });
    const bound = MAX_OPEN + 1; // the writer's active segment, in this same process
    const rnd = seededRandom(419);
    const paused: Array<AsyncIterator<{ seq: number }>> = [];
    for (let i = 0; i < 150; i++) {
      const from = Math.floor(rnd() * 400);
      paused.push((await pullOnce(i % 2 === 0 ? reader.tail({ from }) : reader.read({ from }))).it);
      expect(segmentDescriptors(dir)).toBeLessThanOrEqual(bound);
    }
    const backup = await reader.backup(path.join(root, 'backup'));
    expect(backup.nextSeq).toBe(400);
    expect(await reader.seekTime(0)).toBe(0);
    expect(watch.max).toBeLessThanOrEqual(bound);
    await reader.close();
    await writer.close();
    expect(segmentDescriptors(dir)).toBe(0);
    for (const it of paused) await it.return?.();
  });

  it('reads of segments evicted to the archive fetch within the budget too', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const archive = new FsArchive(path.join(root, 'archive'));
    const maxOpenFiles = 4;
    const options: LogOptions = { maxOpenFiles, segment: { maxRecords: 10 }, archive, retention: { maxSegments: 2 }, archiveRetry: { baseMs: 1, maxMs: 5 } };
    const log = await Log.open(dir, options);
    for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => log.append(`r${i + k}`)));
    await log.archiveNow();
    expect(log.segments().filter((s) => s.status === 'evicted').length).toBeGreaterThan(10);
    const rnd = seededRandom(420);
    const paused: Array<AsyncIterator<{ seq: number }>> = [];
    for (let i = 0; i < 60; i++) {
      const from = Math.floor(rnd() * 200);
      paused.push((await pullOnce(log.read({ from }))).it);
      expect(segmentDescriptors(dir)).toBeLessThanOrEqual(maxOpenFiles + 1);
    }
    await log.close();
    expect(segmentDescriptors(dir)).toBe(0);
    for (const it of paused) await it.return?.();
  });

  it('a reader paused in a segment that retention evicts reads on from the archive; one paused in a deleted segment is told it fell behind', async () => {
    const root = tempDir();
    const archive = new FsArchive(path.join(root, 'archive'));
    const evicting = await Log.open(path.join(root, 'evict'), { maxOpenFiles: 2, segment: { maxRecords: 10 }, archive, retention: { maxSegments: 2 }, archiveRetry: { baseMs: 1, maxMs: 5 } });
    const deleting = await Log.open(path.join(root, 'delete'), { maxOpenFiles: 2, segment: { maxRecords: 10 }, retention: { maxSegments: 2 } });
    for (const log of [evicting, deleting]) for (let i = 0; i < 20; i++) await log.append(`r${i}`);
    const fromArchive = (await pullOnce(evicting.read({ from: 0 }))).it;
    const deleted = (await pullOnce(deleting.read({ from: 0 }))).it;
    for (const log of [evicting, deleting]) {
      for (let i = 20; i < 60; i++) await log.append(`r${i}`);
      await log.archiveNow();
    }
    expect(evicting.segments()[0]!.status).toBe('evicted');
    expect(deleting.firstSeq).toBeGreaterThan(0);
    const seqs: number[] = [];
    for (let step = await fromArchive.next(); step.done !== true; step = await fromArchive.next()) seqs.push((step.value as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 19 }, (_, i) => i + 1)); // a read ends at the watermark of its call
    await expect(deleted.next()).rejects.toMatchObject({ code: 'AOF_BEHIND_RETENTION' });
    await evicting.close();
    await deleting.close();
  });

  it('readers running at once over the budget wait their turn: every one completes, never more than maxOpenFiles open', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const watch = new BudgetWatchFs(dir);
    const maxOpenFiles = 2;
    const log = await Log.open(dir, { maxOpenFiles, segment: { maxRecords: 10 }, flush: { strategy: 'none' }, fs: watch });
    for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => log.append(`r${i + k}`)));
    const rnd = seededRandom(421);
    const scans = Array.from({ length: 40 }, async () => {
      const from = Math.floor(rnd() * 300);
      let expected = from;
      for await (const r of log.read({ from })) expect(r.seq).toBe(expected++);
      return expected;
    });
    const gets = Array.from({ length: 200 }, async () => {
      const seq = Math.floor(rnd() * 300);
      return (await log.get(seq))?.payload.toString() === `r${seq}`;
    });
    const appends = Array.from({ length: 50 }, (_, i) => log.append(`r${300 + i}`));
    expect(await Promise.all(scans)).toEqual(Array.from({ length: 40 }, () => 300));
    expect((await Promise.all(gets)).every(Boolean)).toBe(true);
    expect(await Promise.all(appends)).toEqual(Array.from({ length: 50 }, (_, i) => 300 + i));
    expect(watch.max).toBeLessThanOrEqual(maxOpenFiles + 1);
    await log.close();
    expect(segmentDescriptors(dir)).toBe(0);
  });
});
