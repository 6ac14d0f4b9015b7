import type { LogRecord } from './record.js';

/**
 * Iterates records that arrive in batches (a frame's worth at a time) with
 * one cheap, already-resolved promise per record, where an async generator
 * costs a chain of promises per record and per nesting level. Errors of the
 * batch source pass through `mapError` once, at the boundary.
 */
export class RecordIterator implements AsyncIterableIterator<LogRecord> {
  private batch: readonly LogRecord[] = [];
  private next_ = 0;
  private done = false;
  private refilling: Promise<void> | undefined;

  constructor(
    private readonly batches: AsyncGenerator<readonly LogRecord[]>,
    private readonly mapError: (err: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LogRecord, undefined>> {
    // Calls made while a batch is being fetched wait for it, in order, as with an async generator.
    if (this.refilling !== undefined) return this.refilling.then(() => this.next());
    if (this.next_ < this.batch.length) return Promise.resolve({ value: this.batch[this.next_++]!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
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
    await this.batches.return(undefined);
    return { value: undefined, done: true };
  }

  /** The consumer failed (`yield*` delegation passes it on): the source releases its files, and the error goes back. */
  async throw(err?: unknown): Promise<IteratorResult<LogRecord, undefined>> {
    this.finish();
    await this.batches.return(undefined);
    throw err;
  }

  private finish(): void {
    this.batch = [];
    this.next_ = 0;
    this.done = true;
  }

  private async refill(): Promise<IteratorResult<LogRecord, undefined>> {
    try {
      for (;;) {
        const step = await this.batches.next();
        if (step.done === true) {
          this.finish();
          return { value: undefined, done: true };
        }
        if (step.value.length === 0) continue;
        this.batch = step.value;
        this.next_ = 1;
        return { value: step.value[0]!, done: false };
      }
    } catch (err) {
      this.finish();
      throw this.mapError(err);
    }
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
