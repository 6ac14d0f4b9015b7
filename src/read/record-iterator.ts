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

  constructor(
    private readonly batches: AsyncGenerator<readonly LogRecord[]>,
    private readonly mapError: (err: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LogRecord, undefined>> {
    if (this.next_ < this.batch.length) return Promise.resolve({ value: this.batch[this.next_++]!, done: false });
    return this.refill();
  }

  /** The consumer stopped early (`break`, `return`): the source releases its files. */
  async return(): Promise<IteratorResult<LogRecord, undefined>> {
    this.batch = [];
    await this.batches.return(undefined);
    return { value: undefined, done: true };
  }

  private async refill(): Promise<IteratorResult<LogRecord, undefined>> {
    try {
      for (;;) {
        const step = await this.batches.next();
        if (step.done === true) {
          this.batch = [];
          return { value: undefined, done: true };
        }
        if (step.value.length === 0) continue;
        this.batch = step.value;
        this.next_ = 1;
        return { value: step.value[0]!, done: false };
      }
    } catch (err) {
      this.batch = [];
      throw this.mapError(err);
    }
  }
}
