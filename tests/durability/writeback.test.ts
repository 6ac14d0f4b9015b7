import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { FileHandle, FileSystem } from '../../src/fs/types.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { tempLogDir } from '../helpers/tmp.js';

type FlushInfo = { records: number; bytes: number; durationMs: number };

/** Holds the next fdatasync of a segment file until the test lets it go (every other call passes straight through). */
class GatedSyncFs extends PassThroughFs {
  waiting = 0;
  writesWaiting = 0;
  private holdNext = false;
  private failHeld: Error | undefined;
  private holdWrite = false;
  private writeGate: Promise<void> = Promise.resolve();
  private releaseWrite: () => void = () => undefined;
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  /** With `instantOtherSyncs`, the fdatasyncs not held resolve at once without reaching the disk (for tests of ordering, not durability). */
  constructor(
    inner: FileSystem,
    private readonly instantOtherSyncs = false,
  ) {
    super(inner);
  }

  /** Holds the next segment fdatasync; with `failWith`, it then fails instead of syncing. */
  hold(failWith?: Error): void {
    this.holdNext = true;
    this.failHeld = failWith;
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  /** Holds the next asynchronous write to a segment until {@link letGoWrite}. */
  holdNextWrite(): void {
    this.holdWrite = true;
    this.writeGate = new Promise((resolve) => (this.releaseWrite = resolve));
  }

  letGoWrite(): void {
    this.releaseWrite();
  }

  letGo(): void {
    this.release();
  }

  protected override wrapHandle(h: FileHandle): FileHandle {
    const gated: FileHandle = Object.create(h) as FileHandle;
    const segment = h.path.endsWith('.seg');
    Object.assign(gated, {
      // Every fdatasync goes through the gate: none on the calling thread.
      datasyncSync: undefined,
      datasync: async () => {
        if (segment && this.holdNext) {
          this.holdNext = false;
          this.waiting++;
          await this.gate;
          this.waiting--;
          if (this.failHeld !== undefined) throw this.failHeld;
        } else if (this.instantOtherSyncs) {
          return;
        }
        return h.datasync();
      },
    });
    Object.assign(gated, {
      write: async (...args: Parameters<FileHandle['write']>) => {
        if (segment && this.holdWrite) {
          this.holdWrite = false;
          this.writesWaiting++;
          await this.writeGate;
          this.writesWaiting--;
        }
        return h.write(...args);
      },
    });
    for (const name of ['read', 'readSync', 'writeSync', 'sync', 'truncate', 'size', 'close'] as const) {
      const f = h[name] as ((...args: unknown[]) => unknown) | undefined;
      if (f !== undefined) Object.assign(gated, { [name]: (...args: unknown[]) => f.apply(h, args) });
    }
    return gated;
  }
}

const KIB = 1024;

/** Lets the event loop turn until `done()` holds, at most `turns` times (no clock involved). */
async function turnsUntil(done: () => boolean, turns: number): Promise<void> {
  for (let turn = 0; turn < turns && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}
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

  it('never starts one with writebackBytes 0', async () => {
    const log = await Log.open(tempLogDir(), { fs: new FaultFs(), flush: { strategy: 'none' }, writebackBytes: 0 });
    for (let i = 0; i < 32; i++) await log.append(record(i));
    expect(log.metrics().fsyncs).toBe(0);
    await log.close();
  });

  it('what a finished writeback covered survives a power loss under none', async () => {
    // Nothing unsynced survives: only what an fdatasync covered can be found after.
    const faults = new FaultFs({ seed: 3, unsyncedSurvival: 'none' });
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
    const gated = new GatedSyncFs(new FaultFs(), true);
    const log = await Log.open(tempLogDir(), { fs: gated, flush: { strategy: 'none' }, writebackBytes: 4 * KIB });
    const events: FlushInfo[] = [];
    log.on('flush', (e: FlushInfo) => events.push(e));
    gated.hold();
    for (let i = 0; i < 8; i++) await log.append(record(i));
    expect(gated.waiting).toBe(1);
    // Sealing must sync the segment while the writeback still holds part of it. Its own fdatasync would resolve at
    // once: were it not waiting for the writeback, its flush event would come within these turns of the event loop.
    const rolled = log.roll();
    await turnsUntil(() => events.length > 0, 10);
    expect(events).toEqual([]);
    gated.letGo();
    await rolled;
    // The writeback's part, then the rest at sealing (and the footer's own sync, with no records).
    expect(events[0]!.records).toBeGreaterThanOrEqual(4);
    expect(events[0]!.records).toBeLessThan(8);
    expect(events.reduce((n, e) => n + e.records, 0)).toBe(8);
    expect(log.segments()).toHaveLength(2);
    await log.close();
  });

  it('an append being written when a writeback fails is rejected with the failure, never acknowledged', async () => {
    const gated = new GatedSyncFs(new FaultFs());
    // syncIoMaxBytes 0: every write goes through the thread pool, so one can be under way when the failure lands.
    const log = await Log.open(tempLogDir(), { fs: gated, flush: { strategy: 'none' }, writebackBytes: 4 * KIB, syncIoMaxBytes: 0 });
    const failed = new Promise<Error>((resolve) => log.once('error', resolve));
    gated.hold(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    for (let i = 0; i < 4; i++) await log.append(record(i));
    expect(gated.waiting).toBe(1);
    gated.holdNextWrite();
    const inFlight = log.append(record(4));
    const outcome = inFlight.then(() => 'acknowledged', (err: { code?: string }) => err.code);
    await turnsUntil(() => gated.writesWaiting > 0, 100);
    expect(gated.writesWaiting).toBe(1);
    gated.letGo();
    expect(await failed).toMatchObject({ code: 'AOF_LOG_FAILED' });
    gated.letGoWrite();
    expect(await outcome).toBe('AOF_LOG_FAILED');
    await log.close();
  });
});
