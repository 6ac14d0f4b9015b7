import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { FileHandle, FileSystem, OpenMode } from '../../src/fs/types.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { tempLogDir } from '../helpers/tmp.js';

type FlushInfo = { records: number; bytes: number; durationMs: number };

/** Holds the next fdatasync of a segment file until the test lets it go (every other call passes straight through). */
class GatedSyncFs implements FileSystem {
  waiting = 0;
  private holdNext = false;
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  constructor(private readonly inner: FileSystem) {}

  hold(): void {
    this.holdNext = true;
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  open(path: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    return this.inner.open(path, how, mode).then((h) => this.wrap(h));
  }

  letGo(): void {
    this.release();
  }

  readdir(p: string): Promise<string[]> {
    return this.inner.readdir(p);
  }
  mkdir(p: string, mode?: number): Promise<void> {
    return this.inner.mkdir(p, mode);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(p: string): Promise<void> {
    return this.inner.unlink(p);
  }
  stat(p: string): ReturnType<FileSystem['stat']> {
    return this.inner.stat(p);
  }
  syncDir(p: string): Promise<void> {
    return this.inner.syncDir(p);
  }

  private wrap(h: FileHandle): FileHandle {
    const gated: FileHandle = Object.create(h) as FileHandle;
    const segment = h.path.endsWith('.seg');
    Object.assign(gated, {
      datasync: async () => {
        if (segment && this.holdNext) {
          this.holdNext = false;
          this.waiting++;
          await this.gate;
          this.waiting--;
        }
        return h.datasync();
      },
    });
    for (const name of ['read', 'write', 'readSync', 'writeSync', 'sync', 'truncate', 'size', 'close'] as const) {
      const f = h[name] as ((...args: unknown[]) => unknown) | undefined;
      if (f !== undefined) Object.assign(gated, { [name]: (...args: unknown[]) => f.apply(h, args) });
    }
    return gated;
  }
}

const KIB = 1024;
const record = (i: number): Buffer => Buffer.alloc(KIB, i & 0xff);

describe('writeback ahead of sealing (writebackBytes, flush none and interval)', () => {
  it('starts an fdatasync in the background once writebackBytes are unsynced, and appends do not wait for it', async () => {
    const gated = new GatedSyncFs(new FaultFs());
    const log = await Log.open(tempLogDir(), { fs: gated, flush: { strategy: 'none' }, writebackBytes: 16 * KIB });
    const events: FlushInfo[] = [];
    log.on('flush', (e: FlushInfo) => events.push(e));
    gated.hold();
    // 64 KiB awaited one by one: every append resolves while the writeback's fdatasync is held.
    for (let i = 0; i < 64; i++) await log.append(record(i));
    expect(gated.waiting).toBe(1);
    expect(events).toEqual([]);
    gated.letGo();
    await log.flush();
    expect(events.length).toBe(2);
    // The writeback covered what was written when it started; flush() the rest.
    expect(events[0]!.bytes).toBeGreaterThanOrEqual(16 * KIB);
    expect(events[0]!.records + events[1]!.records).toBe(64);
    expect(log.metrics().fsyncs).toBe(2);
    await log.close();
  });

  it('never starts one with writebackBytes 0, nor under the strategies that sync before acknowledging', async () => {
    for (const [flush, writebackBytes] of [[{ strategy: 'none' }, 0], [{ strategy: 'always' }, 4 * KIB]] as const) {
      const faults = new FaultFs();
      const log = await Log.open(tempLogDir(), { fs: faults, flush, writebackBytes });
      const before = log.metrics().fsyncs;
      for (let i = 0; i < 32; i++) await log.append(record(i));
      // always: one fsync per awaited append, none from writeback.
      expect(log.metrics().fsyncs - before).toBe(flush.strategy === 'always' ? 32 : 0);
      await log.close();
    }
  });

  it('what a finished writeback covered survives a power loss under none', async () => {
    const faults = new FaultFs({ seed: 3 });
    const dir = tempLogDir();
    const log = await Log.open(dir, { fs: faults, flush: { strategy: 'none' }, writebackBytes: 8 * KIB });
    const durable = new Promise<FlushInfo>((resolve) => log.once('flush', resolve));
    for (let i = 0; i < 12; i++) await log.append(record(i));
    const covered = (await durable).records;
    expect(covered).toBeGreaterThanOrEqual(8);
    for (let i = 12; i < 20; i++) await log.append(record(i));
    await faults.powerLoss();
    await log.close().catch(() => undefined);
    const after = await Log.open(dir);
    expect(after.nextSeq).toBeGreaterThanOrEqual(covered);
    for (let i = 0; i < covered; i++) expect((await after.get(i))?.payload).toEqual(record(i));
    await after.close();
  });

  it('a failed writeback fdatasync puts the log in the failed state, naming the file', async () => {
    const faults = new FaultFs();
    const log = await Log.open(tempLogDir(), { fs: faults, flush: { strategy: 'none' }, writebackBytes: 4 * KIB });
    faults.failNext('datasync', 'EIO', { path: /\.seg$/ });
    const failed = new Promise<Error>((resolve) => log.once('error', resolve));
    for (let i = 0; i < 8; i++) await log.append(record(i)).catch(() => undefined);
    const err = await failed;
    expect(err).toMatchObject({ code: 'AOF_LOG_FAILED', file: expect.stringMatching(/\.seg$/) });
    await expect(log.append('after')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await log.close();
  });

  it('a sync that finds a writeback running waits for it: each record is counted as made durable once', async () => {
    const gated = new GatedSyncFs(new FaultFs());
    const dir = tempLogDir();
    const log = await Log.open(dir, { fs: gated, flush: { strategy: 'none' }, writebackBytes: 4 * KIB });
    const events: FlushInfo[] = [];
    log.on('flush', (e: FlushInfo) => events.push(e));
    gated.hold();
    for (let i = 0; i < 8; i++) await log.append(record(i));
    expect(gated.waiting).toBe(1);
    // Sealing syncs the segment while the writeback still holds part of it; the sealing's own fdatasync is not held.
    const rolled = log.roll();
    gated.letGo();
    await rolled;
    // The writeback's part, then the rest at sealing (and the footer's own sync, with no records).
    expect(events[0]!.records).toBeGreaterThanOrEqual(4);
    expect(events[0]!.records).toBeLessThan(8);
    expect(events.reduce((n, e) => n + e.records, 0)).toBe(8);
    expect(log.segments()).toHaveLength(2);
    await log.close();
    const again = await Log.open(dir);
    expect(again.nextSeq).toBe(8);
    await again.close();
  });
});
