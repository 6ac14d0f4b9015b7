import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArchiveError, EventStore, FsArchive, Log, type LogOptions, type SegmentArchive } from '../../src/index.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { segmentKey } from '../../src/archive/archive.js';
import { tempDir } from '../helpers/tmp.js';

function dirs(): { dir: string; archiveDir: string } {
  const root = tempDir();
  return { dir: path.join(root, 'log'), archiveDir: path.join(root, 'archive') };
}

async function fill(log: Log, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) await log.append(`record-${i}-${'x'.repeat(i % 50)}`);
}

/** A real FsArchive whose `put` fails while `failing` is set: fault injection on top of a real tier. */
function flaky(inner: SegmentArchive, failing: boolean): SegmentArchive & { attempts: number; failing: boolean } {
  const wrapper = {
    attempts: 0,
    failing,
    description: inner.description,
    put: async (...args: Parameters<SegmentArchive['put']>) => {
      wrapper.attempts++;
      if (wrapper.failing) throw new ArchiveError('AOF_ARCHIVE_UNAVAILABLE', 'injected: server unavailable');
      return inner.put(...args);
    },
    verify: inner.verify.bind(inner),
    fetch: inner.fetch.bind(inner),
    delete: inner.delete.bind(inner),
    list: inner.list.bind(inner),
  };
  return wrapper;
}

const SMALL: LogOptions = { segment: { maxRecords: 20 }, archiveRetry: { baseMs: 1, maxMs: 5 } };

describe('FsArchive tier', () => {
  it.each(['none', 'gzip', 'brotli'] as const)('archives sealed segments in the background, verified, and records where (%s)', async (compress) => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir, { compress });
    const log = await Log.open(dir, { ...SMALL, archive });
    const events: string[] = [];
    log.on('archive', (e) => events.push(e.status === 'archived' ? `archived ${e.segment.baseSeq}` : e.status));
    await fill(log, 0, 65);
    await log.archiveNow();
    const segs = log.segments();
    expect(segs.map((s) => s.status)).toEqual(['archived', 'archived', 'archived', 'active']);
    expect(events).toEqual(['archived 0', 'archived 20', 'archived 40']);
    for (const s of segs.slice(0, 3)) {
      expect(s.archive?.location).toBe(`fs:${path.resolve(archiveDir)}/${segmentKey(s.baseSeq)}`);
      const out = path.join(tempDir(), 'fetched.seg');
      await archive.fetch(segmentKey(s.baseSeq), out);
      expect(fs.readFileSync(out).equals(fs.readFileSync(s.file))).toBe(true);
    }
    await log.close();
  });

  it('a failed upload goes back to sealed and is retried with backoff until verified', async () => {
    const { dir, archiveDir } = dirs();
    const archive = flaky(new FsArchive(archiveDir), true);
    const log = await Log.open(dir, { ...SMALL, archive });
    const failures: number[] = [];
    log.on('archive', (e) => {
      if (e.status === 'failed') failures.push(e.retryInMs ?? -1);
    });
    await fill(log, 0, 25);
    await expect(log.archiveNow()).rejects.toMatchObject({ code: 'AOF_ARCHIVE_UNAVAILABLE' });
    expect(log.segments()[0]!.status).toBe('sealed');
    await fill(log, 25, 1); // the writer never waits for the archive
    archive.failing = false;
    await log.archiveNow();
    expect(archive.attempts).toBeGreaterThanOrEqual(2);
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.every((ms) => ms >= 1 && ms <= 5)).toBe(true);
    expect(log.segments()[0]!.status).toBe('archived');
    await log.close();
  });

  describe('the local-disk bound (archiveMaxQueuedBytes)', () => {
    /** A log whose archive fails until told otherwise, with retries far apart, bounded at `maxQueued` bytes not yet archived. */
    async function behindArchive(maxQueued: number) {
      const { dir, archiveDir } = dirs();
      const archive = flaky(new FsArchive(archiveDir), true);
      const log = await Log.open(dir, { segment: { maxRecords: 10 }, archive, archiveMaxQueuedBytes: maxQueued, archiveRetry: { baseMs: 3_600_000, maxMs: 3_600_000 } });
      const waiting = new Promise<{ queuedBytes: number; maxQueuedBytes: number }>((resolve) =>
        log.on('archive', (e) => {
          if (e.status === 'writer-waiting') resolve(e);
        }),
      );
      return { dir, archive, log, waiting };
    }

    it('below the bound, appends never wait for a failing archive', async () => {
      const { archive, log } = await behindArchive(1024 * 1024);
      await fill(log, 0, 95);
      expect(log.segments().filter((s) => s.status === 'sealed')).toHaveLength(9);
      expect(log.metrics().archive).toMatchObject({ writerWaits: 0, archived: 0 });
      archive.failing = false;
      await log.close();
    });

    it('at the bound the writer waits before sealing, says so, and resumes once uploads catch up', async () => {
      const { archive, log, waiting } = await behindArchive(1);
      await fill(log, 0, 20); // segment 0 sealed (queue now over the bound), segment 10 full
      let acknowledged = false;
      const blocked = log.append('needs a new segment').then((seq) => {
        acknowledged = true;
        return seq;
      });
      const event = await waiting;
      expect(event.maxQueuedBytes).toBe(1);
      expect(event.queuedBytes).toBe(log.segments()[0]!.bytes);
      expect(acknowledged).toBe(false);
      expect(log.segments().map((s) => s.status)).toEqual(['sealed', 'active']);
      expect(log.metrics().archive).toMatchObject({ writerWaits: 1, queuedSegments: 1 });
      archive.failing = false;
      await log.archiveNow();
      expect(await blocked).toBe(20);
      await log.archiveNow();
      expect(log.segments().map((s) => s.status)).toEqual(['archived', 'archived', 'active']);
      expect(log.metrics().archive).toMatchObject({ writerWaits: 1, queuedBytes: 0 });
      await log.close();
    });

    it('under interval, what was acknowledged is made durable before the writer starts waiting', async () => {
      const { dir, archiveDir } = dirs();
      const faults = new FaultFs({ seed: 4, unsyncedSurvival: 'none' });
      const archive = flaky(new FsArchive(archiveDir), true);
      const log = await Log.open(dir, { fs: faults, flush: { strategy: 'interval', intervalMs: 3_600_000 }, segment: { maxRecords: 10 }, archive, archiveMaxQueuedBytes: 1, archiveRetry: { baseMs: 3_600_000, maxMs: 3_600_000 } });
      const waiting = new Promise<void>((resolve) => log.on('archive', (e) => e.status === 'writer-waiting' && resolve()));
      await fill(log, 0, 20); // acknowledged after write(2) only
      void log.append('waits').catch(() => undefined);
      await waiting;
      await faults.powerLoss();
      await log.close().catch(() => undefined);
      const reopened = await Log.open(dir);
      expect(reopened.nextSeq).toBe(20);
      await reopened.close();
    });

    it('an event store closes while its writer waits for the archive', async () => {
      const { dir, archiveDir } = dirs();
      const archive = flaky(new FsArchive(archiveDir), true);
      const es = await EventStore.open(dir, { segment: { maxRecords: 10 }, archive, archiveMaxQueuedBytes: 1, archiveRetry: { baseMs: 3_600_000, maxMs: 3_600_000 } });
      const waiting = new Promise<void>((resolve) => es.log.on('archive', (e) => e.status === 'writer-waiting' && resolve()));
      const appended = Array.from({ length: 25 }, (_, i) => es.appendToStream(`s-${i}`, [{ type: 'happened', data: { i } }]));
      await waiting;
      await es.close();
      expect((await Promise.allSettled(appended)).every((r) => r.status === 'fulfilled')).toBe(true);
    });

    it('closing releases a waiting writer: everything accepted is written, and readable after reopening', async () => {
      const { dir, archive, log, waiting } = await behindArchive(1);
      await fill(log, 0, 20);
      const blocked = log.append('accepted while waiting');
      await waiting;
      await log.close();
      expect(await blocked).toBe(20);
      archive.failing = false;
      const reopened = await Log.open(dir);
      expect((await reopened.get(20))?.payload.toString()).toBe('accepted while waiting');
      expect(reopened.segments().map((s) => s.status)).toEqual(['sealed', 'sealed', 'active']);
      await reopened.close();
    });
  });

  it('the upload queue lives in the catalog and survives a restart', async () => {
    const { dir, archiveDir } = dirs();
    let log = await Log.open(dir, SMALL);
    await fill(log, 0, 45);
    await log.close();
    log = await Log.open(dir, { ...SMALL, archive: new FsArchive(archiveDir) });
    await log.archiveNow();
    expect(log.segments().map((s) => s.status)).toEqual(['archived', 'archived', 'active']);
    await log.close();
  });

  it('a crash between upload and catalog update is reconciled at open', async () => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir);
    let log = await Log.open(dir, { ...SMALL, archive });
    await fill(log, 0, 45);
    await log.archiveNow();
    await log.close();
    // Segment 0: uploaded and verified, but the catalog still says archiving. Segment 20: archiving, object never stored.
    const catalog = (await SegmentCatalog.open(dir, false))!;
    await catalog.replace({ ...catalog.get(0)!, status: 'archiving', archive: null });
    await catalog.replace({ ...catalog.get(20)!, status: 'archiving', archive: null });
    await catalog.close();
    await archive.delete(segmentKey(20));
    log = await Log.open(dir, { ...SMALL, archive });
    await log.archiveNow();
    const [s0, s20] = log.segments();
    expect(s0).toMatchObject({ status: 'archived', archive: { location: expect.stringContaining(segmentKey(0)) } });
    expect(s20).toMatchObject({ status: 'archived' });
    await log.close();
  });

  it('retention evicts archived local copies; reads fetch them back transparently into a bounded cache', async () => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir, { compress: 'gzip' });
    const options: LogOptions = { ...SMALL, archive, retention: { maxSegments: 2 }, archiveCacheMaxBytes: 1 };
    const log = await Log.open(dir, options);
    await fill(log, 0, 100);
    await log.archiveNow();
    const statuses = log.segments().map((s) => s.status);
    expect(statuses).toEqual(['evicted', 'evicted', 'evicted', 'archived', 'active']);
    expect(fs.existsSync(log.segments()[0]!.file)).toBe(false);
    expect((await log.get(5))?.payload.toString()).toBe(`record-5-${'x'.repeat(5)}`);
    const all: number[] = [];
    for await (const r of log.read()) all.push(r.seq);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await log.seekTime(0)).toBe(0);
    const tailed: number[] = [];
    for await (const r of log.tail({ from: 10 })) {
      tailed.push(r.seq);
      if (r.seq === 99) break;
    }
    expect(tailed).toHaveLength(90);
    await log.close();
    // After a restart the evicted segments are still readable through the archive.
    const again = await Log.open(dir, options);
    expect((await again.get(15))?.payload.toString()).toBe(`record-15-${'x'.repeat(15)}`);
    expect(again.firstSeq).toBe(0);
    await again.close();
  });

  it('a segment dropped from the fetch-back cache is fetched again, never read from the removed file, and the cache stays within its bound', async () => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir);
    const log = await Log.open(dir, { ...SMALL, archive, retention: { maxSegments: 1 }, archiveCacheMaxBytes: 1 });
    await fill(log, 0, 70);
    await log.archiveNow();
    expect(log.segments().map((s) => s.status)).toEqual(['evicted', 'evicted', 'evicted', 'active']);
    const cacheFiles = (): string[] => fs.readdirSync(path.join(dir, 'cache')).filter((f) => f.endsWith('.seg'));
    for (let round = 0; round < 3; round++) {
      for (const seq of [5, 25, 45]) {
        const fetchesBefore = log.metrics().archive!.fetches;
        expect((await log.get(seq))?.payload.toString()).toBe(`record-${seq}-${'x'.repeat(seq % 50)}`);
        expect((await log.get(seq + 1))?.payload.toString()).toBe(`record-${seq + 1}-${'x'.repeat((seq + 1) % 50)}`);
        // Each get moved to another segment: the one cached before was dropped, this one fetched (once for both gets).
        expect(log.metrics().archive!.fetches).toBe(fetchesBefore + 1);
        expect(cacheFiles()).toHaveLength(1);
        expect(log.metrics().archive!.cacheBytes).toBe(fs.statSync(path.join(dir, 'cache', cacheFiles()[0]!)).size);
      }
    }
    await log.close();
  });

  it('nothing is evicted before it is archived, and nothing pinned is removed', async () => {
    const { dir, archiveDir } = dirs();
    const archive = flaky(new FsArchive(archiveDir), true);
    const log = await Log.open(dir, { ...SMALL, archive, retention: { maxSegments: 1 } });
    await fill(log, 0, 70);
    await log.archiveNow().catch(() => undefined);
    // Uploads keep failing (a retry may be in flight): nothing was evicted, every local file is there.
    for (const s of log.segments().slice(0, 3)) {
      expect(['sealed', 'archiving']).toContain(s.status);
      expect(fs.existsSync(s.file)).toBe(true);
    }
    await log.close();
    const pinnedLog = await Log.open(dir, { ...SMALL, archive: new FsArchive(archiveDir), retention: { maxSegments: 1 } });
    const release = pinnedLog.pin(25, 'test backup');
    await pinnedLog.archiveNow();
    expect(pinnedLog.segments().map((s) => s.status)).toEqual(['evicted', 'archived', 'archived', 'active']);
    release();
    await fill(pinnedLog, 70, 1);
    await pinnedLog.archiveNow();
    expect(pinnedLog.segments().map((s) => s.status)).toEqual(['evicted', 'evicted', 'evicted', 'active']);
    await pinnedLog.close();
  });

  it('without an archive, retention deletes (the user asked for it), and a reader behind it is told where the log now starts', async () => {
    const { dir } = dirs();
    const log = await Log.open(dir, { ...SMALL, retention: { maxSegments: 2 } });
    await fill(log, 0, 65);
    await log.archiveNow();
    expect(log.segments().map((s) => [s.baseSeq, s.status])).toEqual([[0, 'deleted'], [20, 'deleted'], [40, 'sealed'], [60, 'active']]);
    expect(log.firstSeq).toBe(40);
    expect(await log.get(3)).toBeUndefined();
    const reader = log.tail({ from: 3 })[Symbol.asyncIterator]();
    await expect(reader.next()).rejects.toMatchObject({ code: 'AOF_BEHIND_RETENTION', firstAvailable: 40 });
    await log.close();
    const reopened = await Log.open(dir, SMALL);
    expect(reopened.firstSeq).toBe(40);
    await reopened.close();
  });

  it('an archived object changed behind our back is detected when fetched back', async () => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir);
    const log = await Log.open(dir, { ...SMALL, archive, retention: { maxSegments: 1 } });
    await fill(log, 0, 45);
    await log.archiveNow();
    const stored = path.join(archiveDir, segmentKey(0));
    const bytes = fs.readFileSync(stored);
    bytes[200] = (bytes[200] ?? 0) ^ 0x01;
    fs.writeFileSync(stored, bytes);
    await expect(log.get(1)).rejects.toMatchObject({ code: 'AOF_ARCHIVE_CORRUPT' });
    expect((await log.get(21))?.seq).toBe(21);
    await log.close();
  });
});

describe('Log.openArchive', () => {
  it('another host reads the whole archived history read-only, with get, read and seekTime, writing nothing to the archive', async () => {
    const { dir, archiveDir } = dirs();
    let now = 1_000;
    const archive = new FsArchive(archiveDir, { compress: 'brotli' });
    const log = await Log.open(dir, { ...SMALL, archive, clock: () => (now += 10) });
    await fill(log, 0, 80);
    await log.roll();
    await log.archiveNow();
    const written = new Map<number, string>();
    for await (const r of log.read()) written.set(r.seq, r.payload.toString());
    const times = new Map<number, number>();
    for await (const r of log.read()) times.set(r.seq, r.timestamp);
    await log.close();
    const before = fs.readdirSync(path.join(archiveDir, 'segments')).map((n) => [n, fs.statSync(path.join(archiveDir, 'segments', n)).mtimeMs]);

    const remote = await Log.openArchive(new FsArchive(archiveDir), { cacheDir: path.join(tempDir(), 'cache'), cacheMaxBytes: 2048 });
    expect(remote.readOnly).toBe(true);
    expect(remote.firstSeq).toBe(0);
    expect(remote.nextSeq).toBe(80);
    const read: string[] = [];
    for await (const r of remote.read()) read.push(r.payload.toString());
    expect(read).toEqual([...written.values()]);
    expect((await remote.get(57))?.payload.toString()).toBe(written.get(57));
    expect(await remote.seekTime(times.get(33)!)).toBe(33);
    expect(await remote.seekTime(times.get(79)! + 1)).toBeUndefined();
    await expect(remote.append('x')).rejects.toMatchObject({ code: 'AOF_READ_ONLY' });
    await remote.close();
    const after = fs.readdirSync(path.join(archiveDir, 'segments')).map((n) => [n, fs.statSync(path.join(archiveDir, 'segments', n)).mtimeMs]);
    expect(after).toEqual(before);
  });
});

describe('archive retention', () => {
  it('deletes the oldest archived segments from the archive and the log, never a pinned one', async () => {
    const { dir, archiveDir } = dirs();
    const archive = new FsArchive(archiveDir);
    const log = await Log.open(dir, { ...SMALL, archive, retention: { maxSegments: 1 }, archiveRetention: { maxSegments: 2 } });
    const release = log.pin(10, 'slow consumer');
    await fill(log, 0, 100);
    await log.archiveNow();
    // The pin holds the local copies too (a backup hard-links them) and the archived objects.
    expect(log.segments().map((s) => s.status)).toEqual(['archived', 'archived', 'archived', 'archived', 'active']);
    release();
    await fill(log, 100, 1);
    await log.archiveNow();
    // Record 100 rolled a new segment: 80 is sealed, archived and evicted too.
    expect(log.segments().map((s) => [s.baseSeq, s.status])).toEqual([[0, 'deleted'], [20, 'deleted'], [40, 'deleted'], [60, 'evicted'], [80, 'evicted'], [100, 'active']]);
    const keys: string[] = [];
    for await (const k of archive.list()) keys.push(k);
    expect(keys.sort()).toEqual([segmentKey(60), segmentKey(80)]);
    expect(log.firstSeq).toBe(60);
    expect((await log.get(65))?.seq).toBe(65);
    expect(await log.get(45)).toBeUndefined();
    await log.close();
  });
});
