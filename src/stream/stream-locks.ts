/**
 * One queue per stream: appends to a stream decide their versions one after
 * another, each after the previous one's log append settled, in call order.
 * Appends to different streams never wait for each other. Holds an entry
 * only for streams with an append in progress; a promise only for callers
 * that actually wait.
 */
export class StreamLocks {
  /** Held streams, each with the callers waiting for it, first come first served. */
  private readonly held = new Map<string, Array<(release: () => void) => void>>();

  /** The release function when nobody holds `stream`; undefined (taking nothing) when someone does. */
  tryAcquire(stream: string): (() => void) | undefined {
    if (this.held.has(stream)) return undefined;
    this.held.set(stream, []);
    return this.releaser(stream);
  }

  /** Resolves, once every earlier holder of `stream` released it, to the function that releases it. */
  acquire(stream: string): Promise<() => void> {
    const waiting = this.held.get(stream);
    if (waiting === undefined) return Promise.resolve(this.tryAcquire(stream)!);
    return new Promise((resolve) => waiting.push(resolve));
  }

  /** Streams with an append in progress or waiting. */
  get size(): number {
    return this.held.size;
  }

  private releaser(stream: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const waiting = this.held.get(stream)!;
      const next = waiting.shift();
      if (next === undefined) this.held.delete(stream);
      else next(this.releaser(stream));
    };
  }
}
