import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, expect } from 'vitest';
import { Log } from '../../src/log.js';
import type { LogOptions } from '../../src/options.js';
import type { LogRecord } from '../../src/read/record.js';
import { SnapshotStore, type SnapshotStoreOptions } from '../../src/snapshot/store.js';
import { SnapshotScheduler } from '../../src/snapshot/scheduler.js';

export { tempDir } from '../helpers/tmp.js';

const opened: Array<{ close(): Promise<void> }> = [];

/** A log closed after the test (if the test did not close it). */
export async function openLog(dir: string, options?: LogOptions): Promise<Log> {
  const log = await Log.open(dir, options);
  opened.push(log);
  return log;
}

/** A store closed after the test (if the test did not close it). */
export async function openStore(dir: string, options?: SnapshotStoreOptions): Promise<SnapshotStore> {
  const store = await SnapshotStore.open(dir, options);
  opened.push(store);
  return store;
}

/** Registers a scheduler to close after the test. */
export function closeLater<T extends { close(): Promise<void> }>(thing: T): T {
  opened.push(thing);
  return thing;
}

afterEach(async () => {
  // Schedulers first (they were registered after their stores and logs), then stores, then logs.
  for (const thing of opened.splice(0).reverse()) await thing.close().catch(() => undefined);
});

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic pseudo-random bytes (xorshift), so a failing run replays exactly. */
export function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; errno?: string; stage?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  return expect.fail('expected the promise to reject');
}

/** Entries of a directory (empty when it does not exist). */
export function entries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** Temporary entries (`.tmp-...`) left in a directory. */
export function temporaries(dir: string): string[] {
  return entries(dir).filter((n) => n.startsWith('.tmp-'));
}

/** Open file descriptors and OS threads of this process: what a leak of a handle or a worker would raise. */
export function processResources(): { fds: number; threads: number } {
  return { fds: fs.readdirSync('/proc/self/fd').length, threads: fs.readdirSync('/proc/self/task').length };
}

// --- the application under test: accounts folded from the log -------------------------------------

/** The state of a small event-sourced application: balances by account, folded from `deposit` records. */
export class Bank {
  balances = new Map<string, number>();
  /** The first record not folded in. */
  seq = 0;

  apply(record: LogRecord): void {
    expect(record.seq).toBe(this.seq); // folded in order, without gaps
    const { account, amount } = JSON.parse(record.payload.toString()) as { account: string; amount: number };
    this.balances.set(account, (this.balances.get(account) ?? 0) + amount);
    this.seq = record.seq + 1;
  }

  /** The state as bytes: a copy, so that later changes never reach a snapshot in flight. */
  encode(): Uint8Array {
    return Buffer.from(JSON.stringify({ seq: this.seq, balances: [...this.balances] }));
  }

  static decode(data: Uint8Array): Bank {
    const raw = JSON.parse(Buffer.from(data).toString()) as { seq: number; balances: Array<[string, number]> };
    const bank = new Bank();
    bank.seq = raw.seq;
    bank.balances = new Map(raw.balances);
    return bank;
  }

  /** A plain view for deep equality. */
  view(): { seq: number; balances: Record<string, number> } {
    return { seq: this.seq, balances: Object.fromEntries([...this.balances].sort(([a], [b]) => a.localeCompare(b))) };
  }
}

export function deposit(i: number): string {
  return JSON.stringify({ account: `acct-${i % 17}`, amount: (i % 7) + 1 });
}

/** The state a fold of every record of the log in `[from, to)` gives, read back from the log itself. */
export async function foldLog(log: Log, to: number): Promise<Bank> {
  const bank = new Bank();
  bank.seq = log.firstSeq;
  for await (const r of log.read({ from: log.firstSeq, to })) bank.apply(r);
  return bank;
}

/** An application over `logDir` with snapshots in `snapDir`: the log, the store, the scheduler and the live state. */
export async function startApp(logDir: string, snapDir: string, schedulerOptions: Partial<Parameters<typeof SnapshotScheduler.start>[0]> = {}, storeOptions: SnapshotStoreOptions = {}) {
  const log = await openLog(logDir);
  const store = await openStore(snapDir, { log, ...storeOptions });
  const app = { bank: new Bank(), applied: 0 };
  // The live state follows the log: each acknowledged append is folded in.
  const scheduler = closeLater(
    await SnapshotScheduler.start({
      log,
      store,
      produce: () => ({ seq: app.bank.seq, data: app.bank.encode() }),
      apply: (snap) => {
        app.applied++;
        app.bank = Bank.decode(snap.data);
        expect(app.bank.seq).toBe(snap.seq);
      },
      replay: (record) => app.bank.apply(record),
      ...schedulerOptions,
    }),
  );
  /**
   * Appends records and folds them into the live state once acknowledged, as
   * an application would: synchronously in the continuation, which runs in
   * acknowledgement order (the fold checks that it sees every seq in order).
   */
  const append = async (from: number, count: number): Promise<void> => {
    const payloads = Array.from({ length: count }, (_, k) => deposit(from + k));
    const first = await log.appendBatch(payloads);
    payloads.forEach((p, k) => app.bank.apply({ seq: first + k, timestamp: 0, payload: Buffer.from(p) }));
  };
  const stop = async (): Promise<void> => {
    await scheduler.close();
    await store.close();
    await log.close();
  };
  return { log, store, scheduler, app, append, stop };
}

/** The path of a store's file. */
export function fileIn(dir: string, name: string): string {
  return path.join(dir, name);
}
