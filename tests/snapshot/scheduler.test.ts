/**
 * The seed scenarios (shared/seeds/000, 001) against a small event-sourced
 * application: a real log with its LMDB catalog, a real snapshot store with
 * its worker thread, real files in temp dirs. Waits are on events and
 * promises, never on sleeps.
 */
import { once } from 'node:events';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { SnapshotScheduler, type SnapshotReason } from '../../src/snapshot/scheduler.js';
import type { SnapshotInfo, SnapshotStore } from '../../src/snapshot/store.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { Bank, closeLater, deposit, foldLog, openLog, openStore, processResources, rejection, seededBytes, startApp, temporaries, tempDir } from './helpers.js';

function dirs(): { logDir: string; snapDir: string } {
  const root = tempDir();
  return { logDir: path.join(root, 'log'), snapDir: path.join(root, 'snapshots') };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The state a snapshot holds, decoded. */
async function stateIn(store: SnapshotStore, info: SnapshotInfo): Promise<Bank> {
  const chunks: Buffer[] = [];
  for await (const c of store.read(info.name)) chunks.push(c);
  return Bank.decode(Buffer.concat(chunks));
}

describe('persistence across restarts (seed 001)', () => {
  it('full snapshot/restore cycle: 1000 records, snapshot, shutdown, restart: the state is identical and nothing is replayed', async () => {
    const { logDir, snapDir } = dirs();
    const a = await startApp(logDir, snapDir, { onClose: false });
    for (let i = 0; i < 10; i++) await a.append(i * 100, 100);
    const info = await a.scheduler.snapshot();
    expect(info.seq).toBe(1000);
    const expected = a.app.bank.view();
    expect(Object.keys(expected.balances)).toHaveLength(17);
    await a.stop();

    const b = await startApp(logDir, snapDir);
    expect(b.app.applied).toBe(1);
    expect(b.scheduler.restored).toEqual({ snapshot: { ...info, pinned: false }, from: 1000, replayed: 0 });
    expect(b.app.bank.view()).toEqual(expected);
    expect(b.app.bank.view()).toEqual((await foldLog(b.log, b.log.nextSeq)).view()); // and it is what the log says
  });

  it('several restarts in a row: each cycle adds records; every restart restores the previous shutdown snapshot', async () => {
    const { logDir, snapDir } = dirs();
    for (let cycle = 0; cycle < 4; cycle++) {
      const app = await startApp(logDir, snapDir);
      expect(app.scheduler.restored?.from).toBe(cycle * 100);
      expect(app.scheduler.restored?.replayed).toBe(0);
      expect(app.app.bank.view()).toEqual((await foldLog(app.log, app.log.nextSeq)).view());
      await app.append(cycle * 100, 100);
      await app.stop(); // graceful: takes the shutdown snapshot
    }
    const last = await startApp(logDir, snapDir);
    expect(last.app.bank.seq).toBe(400);
    expect(last.app.bank.view()).toEqual((await foldLog(last.log, 400)).view());
    expect((await last.store.list()).map((i) => i.seq)).toEqual([200, 300, 400]); // keep 3
  });

  it('snapshot on graceful shutdown: close() takes a final snapshot of everything up to shutdown', async () => {
    const { logDir, snapDir } = dirs();
    const a = await startApp(logDir, snapDir);
    const reasons: SnapshotReason[] = [];
    a.scheduler.on('snapshot', (_info, reason) => reasons.push(reason));
    await a.append(0, 100);
    const expected = a.app.bank.view();
    await a.stop();
    expect(reasons).toEqual(['close']);

    const b = await startApp(logDir, snapDir);
    expect(b.scheduler.restored?.snapshot?.seq).toBe(100);
    expect(b.scheduler.restored?.replayed).toBe(0);
    expect(b.app.bank.view()).toEqual(expected);
  });

  it('restore on startup: empty without a snapshot; snapshot plus the records after it; a corrupt newest snapshot is skipped for the one before', async () => {
    const { logDir, snapDir } = dirs();
    // Nothing at all: apply is not called, the state stays empty.
    const empty = await startApp(logDir, snapDir, { onClose: false });
    expect(empty.app.applied).toBe(0);
    expect(empty.scheduler.restored).toEqual({ snapshot: undefined, from: 0, replayed: 0 });
    expect(empty.app.bank.view()).toEqual({ seq: 0, balances: {} });
    // Records but no snapshot: all replayed.
    await empty.append(0, 50);
    await empty.stop();
    const replayAll = await startApp(logDir, snapDir, { onClose: false });
    expect(replayAll.scheduler.restored).toEqual({ snapshot: undefined, from: 0, replayed: 50 });
    const first = await replayAll.scheduler.snapshot(); // at 50
    await replayAll.append(50, 30);
    const second = await replayAll.scheduler.snapshot(); // at 80
    await replayAll.append(80, 20); // after the last snapshot: replayed at the next start
    const expected = replayAll.app.bank.view();
    await replayAll.stop();
    const tail = await startApp(logDir, snapDir, { onClose: false });
    expect(tail.scheduler.restored).toEqual({ snapshot: { ...second, pinned: false }, from: 80, replayed: 20 });
    expect(tail.app.bank.view()).toEqual(expected);
    await tail.stop();

    // The newest snapshot is damaged on disk: the store reports it and the one before is restored, with a longer replay.
    const { truncateSync } = await import('node:fs');
    truncateSync(second.file, 100);
    const log = await openLog(logDir);
    const store = await openStore(snapDir, { log });
    const corrupt: string[] = [];
    store.on('corrupt', (err) => corrupt.push(err.snapshot));
    let bank = new Bank();
    const scheduler = closeLater(
      await SnapshotScheduler.start({ log, store, onClose: false, produce: () => ({ seq: bank.seq, data: bank.encode() }), apply: (s) => void (bank = Bank.decode(s.data)), replay: (r) => bank.apply(r) }),
    );
    expect(corrupt).toEqual([second.name]);
    expect(scheduler.restored).toEqual({ snapshot: { ...first, pinned: false }, from: 50, replayed: 50 });
    expect(bank.view()).toEqual(expected);
  });
});

describe('scheduling (seeds 000, 001)', () => {
  it('periodic snapshots under append load: every snapshot is exactly the fold of the log up to its seq, and none is lost', async () => {
    const { logDir, snapDir } = dirs();
    const a = await startApp(logDir, snapDir, { everyRecords: 100, onClose: false }, { keep: 1000 });
    const taken: SnapshotInfo[] = [];
    a.scheduler.on('snapshot', (info, reason) => {
      expect(reason).toBe('records');
      taken.push(info);
    });
    // Four producers, never waiting for the snapshots.
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let k = 0; k < 25; k++) {
          const from = next;
          next += 25;
          await a.append(from, 25);
        }
      }),
    );
    await a.scheduler.idle();
    expect(a.log.nextSeq).toBe(2500);
    expect(a.scheduler.stats.failed).toBe(0);
    // How many depends on timing; at least one during the load, and another for what came meanwhile.
    expect(taken.length).toBeGreaterThanOrEqual(2);
    // The rule holds at rest: fewer than everyRecords appended since the last one started (plus the one
    // group commit, at most 4 batches of 25, that was being acknowledged when it started).
    expect(a.log.nextSeq - taken[taken.length - 1]!.seq).toBeLessThan(100 + 100);
    for (const info of taken) {
      expect((await stateIn(a.store, info)).view()).toEqual((await foldLog(a.log, info.seq)).view());
    }
    await a.stop();
    const b = await startApp(logDir, snapDir);
    expect(b.scheduler.restored?.snapshot?.name).toBe(taken[taken.length - 1]!.name);
    expect(b.app.bank.view()).toEqual((await foldLog(b.log, 2500)).view());
  });

  it('periodic snapshots by time: the interval trigger takes them while appends go on', async () => {
    const { logDir, snapDir } = dirs();
    const a = await startApp(logDir, snapDir, { everyMs: 5, onClose: false }, { keep: 1000 });
    const two = deferred();
    const taken: SnapshotInfo[] = [];
    a.scheduler.on('snapshot', (info, reason) => {
      expect(reason).toBe('interval');
      taken.push(info);
      if (taken.length === 2) two.resolve();
    });
    let i = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) await a.append((i += 5) - 5, 5);
    })();
    await two.promise;
    stop = true;
    await load;
    await a.scheduler.idle();
    for (const info of taken) expect((await stateIn(a.store, info)).view()).toEqual((await foldLog(a.log, info.seq)).view());
  });

  it('concurrent requests queued: one in flight, maxQueued waiting (each produced when its turn comes), the rest rejected with AOF_SNAPSHOT_BUSY', async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir, { keep: 100 });
    let calls = 0;
    const scheduler = closeLater(await SnapshotScheduler.start({ log, store, whenBusy: 'queue', maxQueued: 2, onClose: false, produce: () => ({ seq: 0, data: Buffer.from(`call ${++calls}`) }) }));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => scheduler.snapshot()));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    for (const r of results.slice(3)) {
      const err = (r as PromiseRejectedResult).reason as { code: string; queued: number };
      expect(err.code).toBe(ErrorCode.SNAPSHOT_BUSY);
      expect(err.queued).toBe(2);
    }
    expect(calls).toBe(3);
    const infos = results.slice(0, 3).map((r) => (r as PromiseFulfilledResult<SnapshotInfo>).value);
    expect(infos.map((i) => i.name)).toEqual([...infos.map((i) => i.name)].sort()); // taken one after the other
    const texts = [];
    for (const info of infos) {
      const chunks: Buffer[] = [];
      for await (const c of store.read(info.name)) chunks.push(c);
      texts.push(Buffer.concat(chunks).toString());
    }
    expect(texts).toEqual(['call 1', 'call 2', 'call 3']);
    expect(scheduler.stats).toMatchObject({ taken: 3, rejected: 2 });
  });

  it('concurrent requests rejected: with whenBusy reject, every request while one is in flight is refused; a trigger while busy is skipped', async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir);
    const gate = deferred();
    let calls = 0;
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store, whenBusy: 'reject', everyMs: 2, onClose: false,
        produce: async ({ reason }) => {
          calls++;
          if (reason === 'request') await gate.promise; // hold the first request in flight
          return { seq: 0, data: Buffer.from(reason) };
        },
      }),
    );
    const first = scheduler.snapshot();
    const refused = await Promise.allSettled([scheduler.snapshot(), scheduler.snapshot()]);
    for (const r of refused) expect(((r as PromiseRejectedResult).reason as { code: string }).code).toBe(ErrorCode.SNAPSHOT_BUSY);
    await once(scheduler, 'skipped'); // the interval fired while busy
    expect(calls).toBe(1);
    gate.resolve();
    await first;
    expect(scheduler.stats.rejected).toBe(2);
    expect(scheduler.stats.skipped).toBeGreaterThanOrEqual(1);
  });
});

describe('cancellation, failures and close (seed 000)', () => {
  it('cancellation: an aborted request stops the worker, removes the temporary file, and the previous snapshot stays the latest; a queued one leaves the queue', async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir, { sliceBytes: 64 * 1024, memoryBytes: 128 * 1024 });
    const halfway = deferred();
    let produced = 0;
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store, onClose: false,
        produce: ({ signal }) => {
          produced++;
          if (produced === 1) return { seq: 0, data: Buffer.from('first') };
          async function* big(): AsyncGenerator<Uint8Array> {
            for (let i = 0; !signal.aborted; i++) {
              if (i === 4) halfway.resolve();
              yield seededBytes(64 * 1024, i);
            }
          }
          return { seq: 0, data: big() };
        },
      }),
    );
    const first = await scheduler.snapshot();
    const controller = new AbortController();
    const queuedController = new AbortController();
    const failures: Error[] = [];
    scheduler.on('failed', (err) => failures.push(err));
    const running = rejection(scheduler.snapshot({ signal: controller.signal }));
    const queued = rejection(scheduler.snapshot({ signal: queuedController.signal }));
    expect(scheduler.queued).toBe(1);
    queuedController.abort();
    expect((await queued).name).toBe('AbortError');
    expect(scheduler.queued).toBe(0);
    await halfway.promise;
    expect(temporaries(snapDir)).toHaveLength(1); // being written
    controller.abort();
    expect((await running).name).toBe('AbortError');
    expect(failures.map((e) => e.name)).toEqual(['AbortError']);
    expect(temporaries(snapDir)).toEqual([]);
    expect((await store.latest())?.info.name).toBe(first.name);
    expect(produced).toBe(2); // the queued request never produced
    expect(scheduler.stats).toMatchObject({ taken: 1, cancelled: 2, failed: 0 });
  });

  it('failure isolation: a throwing state function, a full disk and a crashed worker fail that snapshot only; the log and the next snapshot go on', async () => {
    const { logDir, snapDir } = dirs();
    const faultFs = new FaultFs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir, { fs: faultFs, sliceBytes: 64 * 1024, memoryBytes: 128 * 1024 });
    let mode: 'ok' | 'throw' | 'crash' = 'ok';
    let bank = new Bank();
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store, onClose: false,
        produce: () => {
          if (mode === 'throw') throw new Error('state is inconsistent');
          if (mode === 'crash') {
            async function* crashing(): AsyncGenerator<Uint8Array> {
              for (let i = 0; ; i++) {
                if (i === 2) store.crashWorkerForTesting();
                yield seededBytes(64 * 1024, i);
              }
            }
            return { seq: bank.seq, data: crashing() };
          }
          return { seq: bank.seq, data: bank.encode() };
        },
      }),
    );
    const failures: Array<[string | undefined, string | undefined]> = [];
    scheduler.on('failed', (err) => failures.push([(err as { code?: string }).code, (err as { stage?: string }).stage ?? (err as { errno?: string }).errno]));
    const append = async (i: number): Promise<void> => bank.apply({ seq: await log.append(deposit(i)), timestamp: 0, payload: Buffer.from(deposit(i)) });

    await append(0);
    const good = await scheduler.snapshot();

    await append(1);
    mode = 'throw';
    const thrown = await rejection(scheduler.snapshot());
    expect([thrown.code, thrown.stage, thrown.message]).toEqual([ErrorCode.SNAPSHOT_FAILED, 'produce', 'the state function failed: state is inconsistent']);

    await append(2);
    mode = 'ok';
    faultFs.failNext('write', 'ENOSPC', { path: '.tmp-' });
    const full = await rejection(scheduler.snapshot());
    expect([full.code, full.errno]).toEqual([ErrorCode.IO, 'ENOSPC']);

    await append(3);
    mode = 'crash';
    const crashed = await rejection(scheduler.snapshot());
    expect([crashed.code, crashed.stage]).toEqual([ErrorCode.SNAPSHOT_FAILED, 'worker']);

    expect(failures).toEqual([[ErrorCode.SNAPSHOT_FAILED, 'produce'], [ErrorCode.IO, 'ENOSPC'], [ErrorCode.SNAPSHOT_FAILED, 'worker']]);
    // Each time, the previous snapshot remained the latest and nothing half-written was left.
    expect((await store.latest())?.info.name).toBe(good.name);
    expect(temporaries(snapDir)).toEqual([]);
    // The log and the application went on, and the next snapshot works.
    await append(4);
    mode = 'ok';
    const after = await scheduler.snapshot();
    expect(after.seq).toBe(5);
    expect(Bank.decode((await store.latest())!.data).view()).toEqual((await foldLog(log, 5)).view());
    expect(scheduler.stats).toMatchObject({ taken: 2, failed: 3 });
  });

  it('a failing triggered snapshot is reported through the event only, and the next trigger works', async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir);
    let fail = true;
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store, everyRecords: 10, onClose: false,
        produce: () => {
          if (fail) throw new Error('not now');
          return { seq: log.nextSeq, data: Buffer.from('ok') };
        },
      }),
    );
    const failed = once(scheduler, 'failed');
    for (let i = 0; i < 10; i++) await log.append(deposit(i));
    const [err, reason] = (await failed) as [{ code: string }, SnapshotReason];
    expect([err.code, reason]).toEqual([ErrorCode.SNAPSHOT_FAILED, 'records']);
    fail = false;
    const taken = once(scheduler, 'snapshot');
    for (let i = 10; i < 20; i++) await log.append(deposit(i));
    const [info] = (await taken) as [SnapshotInfo];
    expect(info.seq).toBe(20);
  });

  it('point-in-time consistency: changes made after the request are not in the snapshot, however long it takes to write', async () => {
    const { logDir, snapDir } = dirs();
    const a = await startApp(logDir, snapDir, { onClose: false }, { sliceBytes: 64 * 1024, memoryBytes: 128 * 1024 });
    await a.append(0, 500);
    // A large state, so that the save spans many turns of the event loop.
    a.app.bank.balances.set('padding', Number.parseInt('1'.repeat(15), 10));
    for (let i = 0; i < 60_000; i++) a.app.bank.balances.set(`big-${i}`, i);
    const atRequest = a.app.bank.view();
    const taking = a.scheduler.snapshot();
    // Right after the request, in the same turn and while it is written: the state moves on.
    a.app.bank.balances.set('acct-0', -1);
    let turns = 0;
    let done = false;
    void taking.then(() => (done = true));
    for (let i = 500; !done; i += 10) {
      await a.append(i, 10);
      turns++;
    }
    const info = await taking;
    expect(turns).toBeGreaterThan(1); // appends went on while it was written
    expect(info.seq).toBe(500);
    expect((await stateIn(a.store, info)).view()).toEqual(atRequest);
  });

  it("closing during a snapshot, closeMode 'wait': the snapshot in flight completes, queued ones are refused, then the shutdown snapshot", async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    const store = await openStore(snapDir, { keep: 10 });
    const gate = deferred();
    const scheduler = closeLater(
      await SnapshotScheduler.start({
        log, store,
        produce: async ({ reason }) => {
          if (reason === 'request') await gate.promise;
          return { seq: 0, data: Buffer.from(reason) };
        },
      }),
    );
    const reasons: SnapshotReason[] = [];
    scheduler.on('snapshot', (_i, reason) => reasons.push(reason));
    const inFlight = scheduler.snapshot();
    const queued = rejection(scheduler.snapshot());
    const closing = scheduler.close();
    expect((await queued).code).toBe(ErrorCode.CLOSED);
    gate.resolve();
    await closing;
    expect((await inFlight).seq).toBe(0);
    expect(reasons).toEqual(['request', 'close']);
    expect((await rejection(scheduler.snapshot())).code).toBe(ErrorCode.CLOSED);
  });

  it("closing during a snapshot, closeMode 'cancel': the snapshot in flight is cancelled, the shutdown snapshot taken, and no worker or file handle is left", async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    await log.append('x');
    const baseline = processResources();
    const store = await openStore(snapDir, { sliceBytes: 64 * 1024, memoryBytes: 128 * 1024 });
    const started = deferred();
    const scheduler = await SnapshotScheduler.start({
      log, store, closeMode: 'cancel',
      produce: ({ reason, signal }) => {
        if (reason === 'close') return { seq: 1, data: Buffer.from('final') };
        async function* endless(): AsyncGenerator<Uint8Array> {
          for (let i = 0; !signal.aborted; i++) {
            if (i === 3) started.resolve();
            yield seededBytes(64 * 1024, i);
          }
        }
        return { seq: 1, data: endless() };
      },
    });
    const inFlight = rejection(scheduler.snapshot());
    await started.promise;
    await scheduler.close();
    expect((await inFlight).name).toBe('AbortError');
    const latest = await store.latest();
    expect(Buffer.from(latest!.data).toString()).toBe('final');
    expect(temporaries(snapDir)).toEqual([]);
    await store.close();
    expect(processResources()).toEqual(baseline);
  });

  it('restore fails loudly when a snapshot is ahead of the log, or apply throws', async () => {
    const { logDir, snapDir } = dirs();
    const log = await openLog(logDir);
    await log.append('only one');
    const store = await openStore(snapDir);
    await store.save(1, Buffer.from('{}'));
    await store.close();
    await log.close();
    // The log lost records the snapshot had folded (say, restored from an older backup): refuse rather than go on wrong.
    const root = tempDir();
    const other = await openLog(path.join(root, 'empty'));
    const store2 = await openStore(snapDir);
    const ahead = await rejection(SnapshotScheduler.start({ log: other, store: store2, produce: () => ({ seq: 0, data: new Uint8Array() }), apply: () => undefined }));
    expect([ahead.code, ahead.stage]).toEqual([ErrorCode.SNAPSHOT_FAILED, 'restore']);
    const log2 = await openLog(logDir);
    const bad = await rejection(SnapshotScheduler.start({ log: log2, store: store2, produce: () => ({ seq: 0, data: new Uint8Array() }), apply: () => { throw new Error('cannot decode'); } }));
    expect([bad.code, bad.stage]).toEqual([ErrorCode.SNAPSHOT_FAILED, 'apply']);
  });
});
