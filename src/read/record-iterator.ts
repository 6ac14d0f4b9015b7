import { generatorSource, type BatchSource } from './batch-source.js';
import type { LogRecord } from './record.js';

/**
 * Iterates records that arrive in batches (a frame's worth at a time) with
 * one cheap, already-resolved promise per record, where an async generator
 * costs a chain of promises per record and per nesting level. The next batch
 * is taken on this thread when the source has it (see {@link BatchSource}),
 * so a sequential read awaits only where the source must read through the
 * thread pool. Errors of the source pass through `mapError` once, at the
 * boundary.
 */
export class RecordIterator implements AsyncIterableIterator<LogRecord> {
  private readonly source: BatchSource;
  private batch: readonly LogRecord[] = [];
  private next_ = 0;
  private done = false;
  private refilling: Promise<void> | undefined;

  constructor(
    source: BatchSource | AsyncGenerator<readonly LogRecord[]>,
    private readonly mapError: (err: unknown) => unknown,
  ) {
    this.source = isBatchSource(source) ? source : generatorSource(source);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LogRecord, undefined>> {
    // Calls made while a batch is being fetched wait for it, in order, as with an async generator.
    if (this.refilling !== undefined) return this.refilling.then(() => this.next());
    if (this.next_ < this.batch.length) return Promise.resolve({ value: this.batch[this.next_++]!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    let batch: readonly LogRecord[] | null | undefined;
    try {
      batch = this.source.nextSync();
    } catch (err) {
      this.finish();
      return Promise.reject(this.mapError(err));
    }
    if (batch !== undefined) return Promise.resolve(this.took(batch));
    const refill = this.refill();
    // Settles either way (the caller gets the error); cleared before any waiter resumes, as it is registered first.
    const settled = refill.then(() => undefined, () => undefined);
    this.refilling = settled;
    void settled.then(() => {
      if (this.refilling === settled) this.refilling = undefined;
    });
    return refill;
  }

  /** The consumer stopped early (`break`, `return`): the source releases its files. */
  async return(): Promise<IteratorResult<LogRecord, undefined>> {
    this.finish();
    await this.source.close();
    return { value: undefined, done: true };
  }

  /** The consumer failed (`yield*` delegation passes it on): the source releases its files, and the error goes back. */
  async throw(err?: unknown): Promise<IteratorResult<LogRecord, undefined>> {
    this.finish();
    await this.source.close();
    throw err;
  }

  private finish(): void {
    this.batch = [];
    this.next_ = 0;
    this.done = true;
  }

  /** The first record of a batch the source gave (null: its end). */
  private took(batch: readonly LogRecord[] | null): IteratorResult<LogRecord, undefined> {
    if (batch === null) {
      this.finish();
      return { value: undefined, done: true };
    }
    this.batch = batch;
    this.next_ = 1;
    return { value: batch[0]!, done: false };
  }

  private async refill(): Promise<IteratorResult<LogRecord, undefined>> {
    try {
      for (;;) {
        await this.source.fill();
        const batch = this.source.nextSync();
        if (batch !== undefined) return this.took(batch);
      }
    } catch (err) {
      this.finish();
      throw this.mapError(err);
    }
  }
}

/**
 * Iterates the batches of `source` (never an empty one), its errors each
 * once through `mapError`; a consumer that stops early (`break`) makes the
 * source release its files. One already-resolved promise per batch where the
 * source has it on this thread.
 */
export class BatchIterator implements AsyncIterableIterator<readonly LogRecord[]> {
  private done = false;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly source: BatchSource,
    private readonly mapError: (err: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<readonly LogRecord[], undefined>> {
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    const result = this.pending.then(() => this.step());
    this.pending = result.then(() => undefined, () => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<readonly LogRecord[], undefined>> {
    this.done = true;
    await this.source.close();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<readonly LogRecord[], undefined>> {
    this.done = true;
    await this.source.close();
    throw err;
  }

  private async step(): Promise<IteratorResult<readonly LogRecord[], undefined>> {
    if (this.done) return { value: undefined, done: true };
    try {
      for (;;) {
        const batch = this.source.nextSync();
        if (batch === null) break;
        if (batch !== undefined) return { value: batch, done: false };
        await this.source.fill();
      }
    } catch (err) {
      this.done = true;
      throw this.mapError(err);
    }
    this.done = true;
    return { value: undefined, done: true };
  }
}

/**
 * Passes the batches of `source` through, its errors each once through
 * `mapError`; a consumer that stops early (`break`) makes the source release
 * its files.
 */
export async function* mapErrors<T>(source: AsyncGenerator<T>, mapError: (err: unknown) => unknown): AsyncGenerator<T, undefined> {
  try {
    for (;;) {
      let step: IteratorResult<T>;
      try {
        step = await source.next();
      } catch (err) {
        throw mapError(err);
      }
      if (step.done === true) return undefined;
      yield step.value;
    }
  } finally {
    await source.return(undefined);
  }
}

function isBatchSource(source: BatchSource | AsyncGenerator<readonly LogRecord[]>): source is BatchSource {
  return typeof (source as Partial<BatchSource>).nextSync === 'function';
}
