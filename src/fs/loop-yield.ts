/**
 * Small writes and reads run on the event loop's thread (`syncIoMaxBytes`),
 * so a producer awaiting each append, or a reader iterating a log, can go on
 * for a long time without ever letting timers and I/O callbacks run: every
 * await resolves in the same turn. A `LoopYield` notices that and asks for a
 * macrotask boundary once the current turn has lasted `YIELD_AFTER_MS`.
 */

/** Longest run of work on the event loop's thread, without a turn, before a yield (ms). */
export const YIELD_AFTER_MS = 4;

export class LoopYield {
  /** When this turn's watcher was armed; cleared by the watcher, which runs at the next turn. */
  private armedAt: number | undefined;

  /** True when the current turn has lasted too long: await {@link wait} before more work. */
  due(): boolean {
    const now = performance.now();
    if (this.armedAt === undefined) {
      this.armedAt = now;
      setImmediate(() => {
        this.armedAt = undefined;
      });
      return false;
    }
    return now - this.armedAt > YIELD_AFTER_MS;
  }

  /** Resolves in a later turn of the event loop, after pending timers and I/O callbacks. */
  wait(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }
}
