import { BehindRetentionError } from '../errors.js';
import type { BatchSource } from '../read/batch-source.js';
import type { LogRecord } from '../read/record.js';
import type { Wakeup } from './wakeup.js';

/** Options of `log.tail()`. */
export interface TailOptions {
  /** First sequence number to yield (default: the commit watermark when `tail` is called: only new records). */
  from?: number;
  /** Ends the iteration with an `AbortError`, as Node's `events.on` does. */
  signal?: AbortSignal;
}

/** What a tail reader follows. */
export interface TailSource {
  /** Sequence number after the last acknowledged record. */
  watermark(): number;
  /** First sequence number still held. */
  firstSeq(): number;
  /** Brings the view up to date (readers in other processes); undefined when it is current already (the writer's own handle). */
  catchUp(): Promise<void> | undefined;
  /** True once the log handle is closed: the tail ends after delivering up to the final watermark. */
  closed(): boolean;
  /** Records from `from` on, as a source stepped through on this thread where it can; null from it means none more yet. */
  follow(from: number): BatchSource;
  /** The shared wake-up path. */
  wakeup: Wakeup;
}

/**
 * Yields every record from `from` on, in order and without gaps, then waits
 * for new ones. After each wake-up it re-reads the watermark and pulls from
 * the files, so a missed or merged wake-up delays it but never makes it skip
 * or stall. It holds only its read-ahead; the writer never buffers for it.
 *
 * An iterator object rather than an async generator: a record already read
 * costs one resolved promise, and a wake-up reaches the consumer in a few
 * microtask steps instead of a chain through nested generators (the
 * append-to-reader latency). `from` is taken at the first `next()`, after the
 * first catch-up; errors other than an `AbortError` pass through `mapError`.
 */
export class TailIterator implements AsyncIterableIterator<LogRecord> {
  private seq = 0;
  private batch: readonly LogRecord[] = [];
  private index = 0;
  /** One scan for the whole tail, created at the first pull: each wake-up reads on from where the last one stopped. */
  private scan: BatchSource | undefined;
  private started = false;
  private done = false;
  private retained = false;
  /** The pull under way: later calls wait for it, in order, as with an async generator. */
  private pulling: Promise<unknown> | undefined;

  constructor(
    private readonly source: TailSource,
    /** The first sequence number, once caught up (default: the watermark then). */
    private readonly from: () => number,
    private readonly signal: AbortSignal | undefined,
    private readonly mapError: (err: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LogRecord, undefined>> {
    if (this.pulling !== undefined) return this.pulling.then(() => this.next());
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (this.index < this.batch.length) {
      if (this.signal?.aborted === true) return Promise.reject(this.stop(abortError(this.signal)));
      return Promise.resolve(this.took(this.batch[this.index++]!));
    }
    const pull = this.pull();
    const settled = pull.then(() => undefined, () => undefined);
    this.pulling = settled;
    void settled.then(() => {
      if (this.pulling === settled) this.pulling = undefined;
    });
    return pull;
  }

  /** The consumer stopped early: stop following. */
  async return(): Promise<IteratorResult<LogRecord, undefined>> {
    await this.finish();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<LogRecord, undefined>> {
    await this.finish();
    throw err;
  }

  private took(record: LogRecord): IteratorResult<LogRecord, undefined> {
    this.seq = record.seq + 1;
    return { value: record, done: false };
  }

  private async pull(): Promise<IteratorResult<LogRecord, undefined>> {
    try {
      if (!this.started) await this.start();
      for (;;) {
        throwIfAborted(this.signal);
        const scan = (this.scan ??= this.source.follow(this.seq));
        const batch = scan.nextSync();
        if (batch === undefined) {
          await scan.fill();
          continue;
        }
        if (batch !== null) {
          this.batch = batch;
          this.index = 1;
          return this.took(batch[0]!);
        }
        // Take the wake-up promise before looking at the watermark: an append in between still wakes us.
        const woken = this.source.wakeup.next();
        const catchingUp = this.source.catchUp();
        if (catchingUp !== undefined) await catchingUp;
        const first = this.source.firstSeq();
        if (this.seq < first) throw new BehindRetentionError(this.seq, first);
        // Published since the scan stopped: it reads on from where it is (the same window, no index lookup).
        if (this.seq < this.source.watermark()) continue;
        if (this.source.closed()) {
          await this.finish();
          return { value: undefined, done: true };
        }
        await untilAborted(woken, this.signal);
      }
    } catch (err) {
      const mapped = (err as Error | undefined)?.name === 'AbortError' ? err : this.mapError(err);
      throw this.stop(mapped);
    }
  }

  private async start(): Promise<void> {
    this.started = true;
    this.source.wakeup.retain();
    this.retained = true;
    const catchingUp = this.source.catchUp();
    if (catchingUp !== undefined) await catchingUp;
    this.seq = this.from();
  }

  /** Ends the iteration with `err` (returned for the caller to throw). */
  private stop(err: unknown): unknown {
    void this.finish();
    return err;
  }

  private async finish(): Promise<void> {
    this.done = true;
    this.batch = [];
    this.index = 0;
    if (this.retained) {
      this.retained = false;
      this.source.wakeup.release();
    }
    const scan = this.scan;
    this.scan = undefined;
    await scan?.close();
  }
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function untilAborted(woken: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return woken;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    void woken.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
