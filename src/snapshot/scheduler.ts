/**
 * The snapshot scheduler: restores the newest snapshot when it starts, then
 * takes snapshots of the application's state every N records and/or every T
 * ms, on request, and on close; one at a time, further requests queued
 * (bounded) or rejected, by configuration. The application supplies the
 * state functions; the contract is in docs/SNAPSHOTS.md.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { AofError, BehindRetentionError, ClosedError, InvalidArgumentError, SnapshotBusyError, SnapshotFailedError, toAofError } from '../errors.js';
import type { Log } from '../log.js';
import type { LogRecord } from '../read/record.js';
import { abortError, isAbortError } from './abort.js';
import type { SnapshotData } from './pipeline.js';
import type { Snapshot, SnapshotInfo, SnapshotStore } from './store.js';

/** Why a snapshot was taken. */
export type SnapshotReason = 'request' | 'records' | 'interval' | 'close';

/** What the application's `produce` returns: its state at `seq`. */
export interface SnapshotState {
  /** The first record the state does not reflect (the state folds `[firstSeq, seq)`); a restore replays from here. */
  seq: number;
  /** The state's bytes (not modified until the snapshot settles), or an (async) iterable of chunks, streamed with bounded memory. */
  data: SnapshotData;
}

/** What `produce` is told. */
export interface ProduceContext {
  reason: SnapshotReason;
  /** Aborts when the snapshot is cancelled; an iterable of chunks may stop on it. */
  signal: AbortSignal;
}

/** Options of {@link SnapshotScheduler.start}. */
export interface SnapshotSchedulerOptions {
  /** The log whose state is snapshotted (appends drive `everyRecords`; `replay` reads it). */
  log: Log;
  /** Where snapshots go. The scheduler does not close it. */
  store: SnapshotStore;
  /**
   * Captures the state. Called on the main thread when the snapshot starts:
   * a request made while none is in flight calls it before `snapshot()`
   * returns, so a synchronous `produce` captures exactly the state as of the
   * request; a queued request calls it when its turn comes.
   */
  produce: (context: ProduceContext) => SnapshotState | Promise<SnapshotState>;
  /** Restores the state from a snapshot (at start). Not called when there is no snapshot: the state stays as it is (empty). */
  apply?: (snapshot: Snapshot) => void | Promise<void>;
  /** Folds one record into the state: at start, every record from the snapshot's `seq` (or the log's first) to the watermark. */
  replay?: (record: LogRecord) => void | Promise<void>;
  /** Restore at start (default: true when `apply` or `replay` is given). */
  restoreOnStart?: boolean;
  /** Take a snapshot once this many records were appended since the last one started. */
  everyRecords?: number;
  /** Take a snapshot every this many ms (a timer that does not hold the process open). */
  everyMs?: number;
  /** Take a final snapshot in `close()` (default true). */
  onClose?: boolean;
  /** A request while one is in flight: `queue` it (default) or `reject` it with `AOF_SNAPSHOT_BUSY`. */
  whenBusy?: 'queue' | 'reject';
  /** Bound of the queue (default 1); a request beyond it rejects with `AOF_SNAPSHOT_BUSY`. */
  maxQueued?: number;
  /** `close()` during a snapshot: `wait` for it (default) or `cancel` it. */
  closeMode?: 'wait' | 'cancel';
}

/** Options of {@link SnapshotScheduler.snapshot}. */
export interface SnapshotRequestOptions {
  /** Cancels the request: queued, it leaves the queue; running, the worker stops and the temporary file is removed. The promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Pin the snapshot in the store. */
  pinned?: boolean;
}

/** What the restore at start did. */
export interface RestoreReport {
  /** The snapshot applied, if any. */
  snapshot: SnapshotInfo | undefined;
  /** Where replay started (the snapshot's seq, or the log's first record). */
  from: number;
  /** Records replayed. */
  replayed: number;
}

/** Counters. */
export interface SchedulerStats {
  taken: number;
  failed: number;
  cancelled: number;
  rejected: number;
  /** Triggers (records, interval) that found a snapshot in flight and were skipped. */
  skipped: number;
}

/** Events of a {@link SnapshotScheduler}. */
export interface SnapshotSchedulerEvents {
  /** A snapshot was saved. */
  snapshot: [info: SnapshotInfo, reason: SnapshotReason];
  /** A snapshot failed (`produce` threw, I/O error, crashed worker) or was cancelled; the previous snapshot remains the latest. */
  failed: [err: Error, reason: SnapshotReason];
  /** A trigger fired while a snapshot was in flight or queued, and was skipped. */
  skipped: [reason: SnapshotReason];
  /** The restore at start finished. */
  restored: [report: RestoreReport];
}

interface Request {
  reason: SnapshotReason;
  pinned: boolean;
  signal: AbortSignal | undefined;
  resolve: (info: SnapshotInfo) => void;
  reject: (err: Error) => void;
  /** Removes the abort listener of a queued request. */
  unlisten?: () => void;
}

interface Running {
  request: Request;
  controller: AbortController;
  settled: Promise<void>;
}

const noop = (): void => undefined;

/**
 * Takes snapshots of an application's state on a schedule. See
 * {@link SnapshotSchedulerOptions} and docs/SNAPSHOTS.md.
 *
 * ```ts
 * const scheduler = await SnapshotScheduler.start({
 *   log, store,
 *   produce: () => ({ seq: state.seq, data: encode(state) }),
 *   apply: (snap) => { state = decode(snap.data); },
 *   replay: (rec) => fold(state, rec),
 *   everyRecords: 10_000,
 * });
 * ...
 * await scheduler.close();   // final snapshot
 * await store.close();
 * await log.close();
 * ```
 */
export class SnapshotScheduler extends EventEmitter<SnapshotSchedulerEvents> {
  /** What the restore at start did (undefined when it did not restore). */
  restored: RestoreReport | undefined;
  readonly stats: SchedulerStats = { taken: 0, failed: 0, cancelled: 0, rejected: 0, skipped: 0 };
  private running: Running | undefined;
  private readonly queue: Request[] = [];
  private recordsSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly onAppend = (range: { from: number; to: number }): void => {
    this.recordsSince += range.to - range.from;
    this.checkRecords();
  };

  private constructor(private readonly opts: Required<Pick<SnapshotSchedulerOptions, 'onClose' | 'whenBusy' | 'maxQueued' | 'closeMode'>> & SnapshotSchedulerOptions) {
    super();
  }

  /** Restores (if configured), then arms the triggers. Rejects with `AOF_SNAPSHOT_FAILED` if `apply` or `replay` throws. */
  static async start(options: SnapshotSchedulerOptions): Promise<SnapshotScheduler> {
    const scheduler = new SnapshotScheduler(normalize(options));
    const restore = options.restoreOnStart ?? (options.apply !== undefined || options.replay !== undefined);
    if (restore) await scheduler.restore();
    scheduler.arm();
    return scheduler;
  }

  /** True while a snapshot is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Requests waiting for their turn. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Takes a snapshot now, or queues it (or rejects it with
   * `AOF_SNAPSHOT_BUSY`) if one is in flight, per `whenBusy`. Resolves the
   * saved snapshot's info; rejects with the failure (also emitted as
   * `failed`), an `AbortError` if cancelled, `AOF_CLOSED` after close.
   */
  snapshot(options: SnapshotRequestOptions = {}): Promise<SnapshotInfo> {
    if (typeof options !== 'object' || options === null) return Promise.reject(new InvalidArgumentError('snapshot options must be an object'));
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) return Promise.reject(new InvalidArgumentError('snapshot option signal must be an AbortSignal'));
    if (this.state !== 'open') return Promise.reject(new ClosedError('snapshot scheduler'));
    if (options.signal?.aborted === true) return Promise.reject(abortError(options.signal));
    return new Promise<SnapshotInfo>((resolve, reject) => {
      const request: Request = { reason: 'request', pinned: options.pinned === true, signal: options.signal, resolve, reject };
      if (this.running === undefined) return this.begin(request);
      if (this.opts.whenBusy === 'reject' || this.queue.length >= this.opts.maxQueued) {
        this.stats.rejected++;
        const why = this.opts.whenBusy === 'reject' ? 'a snapshot is in flight' : `a snapshot is in flight and the queue is full (maxQueued ${this.opts.maxQueued})`;
        return reject(new SnapshotBusyError(why, this.queue.length));
      }
      const signal = options.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.queue.indexOf(request);
          if (i < 0) return;
          this.queue.splice(i, 1);
          this.stats.cancelled++;
          reject(abortError(signal));
          this.wakeIdle();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        request.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(request);
    });
  }

  /** Resolves once no snapshot is in flight or queued. */
  idle(): Promise<void> {
    if (this.running === undefined && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops the triggers; rejects queued requests with `AOF_CLOSED`; waits for
   * the snapshot in flight (`closeMode: 'wait'`) or cancels it (`'cancel'`);
   * then, with `onClose`, takes a final snapshot. Rejects with the final
   * snapshot's failure, if it fails (the scheduler is closed either way).
   * Does not close the store or the log: close them after it. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.state = 'closing';
    this.disarm();
    for (const request of this.queue.splice(0)) {
      request.unlisten?.();
      request.reject(new ClosedError('snapshot scheduler'));
    }
    const running = this.running;
    if (running !== undefined) {
      if (this.opts.closeMode === 'cancel') running.controller.abort(new ClosedError('snapshot scheduler'));
      await running.settled;
    }
    try {
      if (this.opts.onClose) {
        await new Promise<SnapshotInfo>((resolve, reject) => this.begin({ reason: 'close', pinned: false, signal: undefined, resolve, reject }));
      }
    } finally {
      this.state = 'closed';
      this.wakeIdle();
    }
  }

  // --- internals ----------------------------------------------------------------

  private async restore(): Promise<void> {
    const { log, store, apply, replay } = this.opts;
    const snapshot = await store.latest();
    if (snapshot !== undefined) {
      if (snapshot.seq > log.nextSeq) {
        throw new SnapshotFailedError('restore', `the newest snapshot ${snapshot.info.name} is at seq ${snapshot.seq}, past the log's watermark ${log.nextSeq}: it belongs to another log, or the log lost records`, { file: snapshot.info.file });
      }
      if (replay !== undefined && snapshot.seq < log.firstSeq) throw new BehindRetentionError(snapshot.seq, log.firstSeq);
      try {
        await apply?.(snapshot);
      } catch (err) {
        throw new SnapshotFailedError('apply', `applying snapshot ${snapshot.info.name} failed: ${describe(err)}`, { cause: err, file: snapshot.info.file });
      }
    }
    const from = snapshot?.seq ?? log.firstSeq;
    let replayed = 0;
    if (replay !== undefined) {
      for await (const record of log.read({ from })) {
        try {
          await replay(record);
        } catch (err) {
          throw new SnapshotFailedError('replay', `replaying record ${record.seq} failed: ${describe(err)}`, { cause: err });
        }
        replayed++;
      }
    }
    this.restored = { snapshot: snapshot?.info, from, replayed };
    this.emit('restored', this.restored);
  }

  private arm(): void {
    if (this.opts.everyRecords !== undefined) this.opts.log.on('append', this.onAppend);
    if (this.opts.everyMs !== undefined) {
      this.timer = setInterval(() => this.trigger('interval'), this.opts.everyMs);
      this.timer.unref();
    }
  }

  private disarm(): void {
    this.opts.log.off('append', this.onAppend);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private checkRecords(): void {
    if (this.opts.everyRecords !== undefined && this.recordsSince >= this.opts.everyRecords) this.trigger('records');
  }

  /** A trigger: starts a snapshot unless one is in flight or queued (then it is skipped; a records trigger fires again when that one ends). */
  private trigger(reason: 'records' | 'interval'): void {
    if (this.state !== 'open') return;
    if (this.running !== undefined || this.queue.length > 0) {
      if (reason === 'interval') {
        this.stats.skipped++;
        this.emit('skipped', reason);
      }
      return;
    }
    // Nobody awaits a triggered snapshot: its failure is reported through the `failed` event only.
    this.begin({ reason, pinned: false, signal: undefined, resolve: noop, reject: noop });
  }

  /** Starts `request` now: calls `produce` in this turn, then saves what it returns. */
  private begin(request: Request): void {
    request.unlisten?.();
    const controller = new AbortController();
    const outer = request.signal;
    const forward = (): void => controller.abort(outer?.reason);
    if (outer !== undefined) {
      if (outer.aborted) forward();
      else outer.addEventListener('abort', forward, { once: true });
    }
    this.recordsSince = 0;
    let produced: SnapshotState | Promise<SnapshotState>;
    try {
      produced = this.opts.produce({ reason: request.reason, signal: controller.signal });
    } catch (err) {
      produced = Promise.reject(err);
    }
    const work = this.save(request, produced, controller.signal);
    const running: Running = { request, controller, settled: Promise.resolve() };
    // Done: no longer in flight before anyone hears of it, so that a caller resuming on the result finds the scheduler idle.
    const finish = (): void => {
      outer?.removeEventListener('abort', forward);
      if (this.running === running) this.running = undefined;
    };
    running.settled = work.then(
      (info) => {
        finish();
        this.stats.taken++;
        this.emit('snapshot', info, request.reason);
        request.resolve(info);
        this.next();
      },
      (err: Error) => {
        finish();
        if (isAbortError(err)) this.stats.cancelled++;
        else this.stats.failed++;
        this.emit('failed', err, request.reason);
        request.reject(err);
        this.next();
      },
    );
    this.running = running;
  }

  private async save(request: Request, produced: SnapshotState | Promise<SnapshotState>, signal: AbortSignal): Promise<SnapshotInfo> {
    let state: SnapshotState;
    try {
      state = await produced;
      if (typeof state !== 'object' || state === null) throw new InvalidArgumentError(`produce must return { seq, data }, got ${state === null ? 'null' : typeof state}`);
    } catch (err) {
      throw new SnapshotFailedError('produce', `the state function failed: ${describe(err)}`, { cause: err });
    }
    if (signal.aborted) throw abortError(signal);
    try {
      return await this.opts.store.save(state.seq, state.data, { signal, pinned: request.pinned });
    } catch (err) {
      if (isAbortError(err) || err instanceof AofError) throw err;
      throw toAofError(err, 'snapshot failed');
    }
  }

  /** After a snapshot: the next queued request, or a records trigger that came due meanwhile. */
  private next(): void {
    const request = this.queue.shift();
    if (request !== undefined) return this.begin(request);
    if (this.state === 'open') this.checkRecords();
    if (this.running === undefined) this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.running !== undefined || this.queue.length > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function normalize(o: SnapshotSchedulerOptions): Required<Pick<SnapshotSchedulerOptions, 'onClose' | 'whenBusy' | 'maxQueued' | 'closeMode'>> & SnapshotSchedulerOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('snapshot scheduler options must be an object');
  if (o.log === undefined || typeof o.log.append !== 'function') throw new InvalidArgumentError('snapshot scheduler option log must be a Log');
  if (o.store === undefined || typeof o.store.save !== 'function') throw new InvalidArgumentError('snapshot scheduler option store must be a SnapshotStore');
  if (typeof o.produce !== 'function') throw new InvalidArgumentError('snapshot scheduler option produce must be a function');
  for (const k of ['apply', 'replay'] as const) if (o[k] !== undefined && typeof o[k] !== 'function') throw new InvalidArgumentError(`snapshot scheduler option ${k} must be a function`);
  const positive = (name: string, v: number | undefined): void => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new InvalidArgumentError(`snapshot scheduler option ${name} must be a positive integer, got ${String(v)}`);
  };
  positive('everyRecords', o.everyRecords);
  positive('everyMs', o.everyMs);
  if (o.maxQueued !== undefined && (!Number.isSafeInteger(o.maxQueued) || o.maxQueued < 0)) throw new InvalidArgumentError(`snapshot scheduler option maxQueued must be a non-negative integer, got ${String(o.maxQueued)}`);
  if (o.whenBusy !== undefined && o.whenBusy !== 'queue' && o.whenBusy !== 'reject') throw new InvalidArgumentError(`snapshot scheduler option whenBusy must be 'queue' or 'reject', got ${String(o.whenBusy)}`);
  if (o.closeMode !== undefined && o.closeMode !== 'wait' && o.closeMode !== 'cancel') throw new InvalidArgumentError(`snapshot scheduler option closeMode must be 'wait' or 'cancel', got ${String(o.closeMode)}`);
  for (const k of ['onClose', 'restoreOnStart'] as const) if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new InvalidArgumentError(`snapshot scheduler option ${k} must be a boolean`);
  return { ...o, onClose: o.onClose ?? true, whenBusy: o.whenBusy ?? 'queue', maxQueued: o.maxQueued ?? 1, closeMode: o.closeMode ?? 'wait' };
}
