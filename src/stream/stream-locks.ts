/**
 * One queue per stream: appends to a stream decide their versions one after
 * another, each after the previous one's log append settled, in call order.
 * Appends to different streams never wait for each other. Holds an entry
 * only for streams with an append in progress.
 */
export class StreamLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Resolves, once every earlier holder of `stream` released it, to the function that releases it. */
  acquire(stream: string): Promise<() => void> {
    const previous = this.tails.get(stream);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(stream, mine);
    const done = (): void => {
      release();
      if (this.tails.get(stream) === mine) this.tails.delete(stream);
    };
    return previous === undefined ? Promise.resolve(done) : previous.then(() => done);
  }

  /** Streams with an append in progress or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
