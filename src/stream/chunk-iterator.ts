import { toAofError } from '../errors.js';

/**
 * Steps through values fetched a chunk (an array) at a time: one `await` per
 * chunk, then each value of it from memory. Hand-written rather than an
 * async generator because a `yield` through nested async generators costs a
 * few hundred nanoseconds per level and value, as much as decoding a small
 * event. Raw system errors of `fetch` become `AOF_IO` with `message`; an
 * `AbortError` and our own errors pass unchanged.
 */
export class ChunkIterator<T> implements AsyncIterableIterator<T> {
  private chunk: readonly T[] = [];
  private at = 0;
  private done = false;

  constructor(
    /** The next chunk, or undefined at the end. An empty chunk is not the end: it is skipped. */
    private readonly fetch: () => Promise<readonly T[] | undefined>,
    private readonly message: string,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    while (this.at >= this.chunk.length) {
      if (this.done) return { done: true, value: undefined };
      let next: readonly T[] | undefined;
      try {
        next = await this.fetch();
      } catch (err) {
        this.finish();
        throw (err as Error | undefined)?.name === 'AbortError' ? err : toAofError(err, this.message);
      }
      if (next === undefined) {
        this.finish();
        return { done: true, value: undefined };
      }
      this.chunk = next;
      this.at = 0;
    }
    return { done: false, value: this.chunk[this.at++]! };
  }

  /** A consumer that stops early (`break`): nothing more is fetched. */
  async return(): Promise<IteratorResult<T, undefined>> {
    this.finish();
    return { done: true, value: undefined };
  }

  private finish(): void {
    this.done = true;
    this.chunk = [];
    this.at = 0;
  }
}
