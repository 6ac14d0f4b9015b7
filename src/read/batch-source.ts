import type { LogRecord } from './record.js';

/**
 * Where a read loop takes its records from, a stored frame's worth at a time.
 * Most frames are already in memory (the read-ahead window holds dozens) or
 * readable on this thread, so the next batch is asked for without waiting
 * first: only when that cannot be done does the loop await `fill()`. A
 * sequential read then costs no promise, generator step or handle lease per
 * frame, only per window read through the thread pool.
 */
export interface BatchSource {
  /**
   * The next non-empty batch, if it can be had on this thread now; `null` at
   * the end (a following scan's: of what is published now; a later call
   * reads on); `undefined` when `fill()` must run first (a read through the
   * thread pool, a handle to lease, a segment to prepare, a turn of the event
   * loop to give). Throws where the data is damaged.
   */
  nextSync(): readonly LogRecord[] | null | undefined;
  /** Does the waiting work the last `nextSync` returned `undefined` for. */
  fill(): Promise<void>;
  /** The consumer stopped early: release whatever is held (a source holds no handle between calls). */
  close(): Promise<void>;
}

/** A source over an async generator of batches (one promise per batch: for sources that are generators anyway). */
export function generatorSource(batches: AsyncGenerator<readonly LogRecord[]>): BatchSource {
  let ready: readonly LogRecord[] | null | undefined;
  return {
    nextSync() {
      const got = ready;
      if (got !== null) ready = undefined;
      return got;
    },
    async fill() {
      for (;;) {
        const step = await batches.next();
        if (step.done === true) ready = null;
        else if (step.value.length === 0) continue;
        else ready = step.value;
        return;
      }
    },
    async close() {
      ready = null;
      await batches.return(undefined);
    },
  };
}

/** Takes the next batch of `source`, waiting where it must. */
export async function nextBatch(source: BatchSource): Promise<readonly LogRecord[] | null> {
  for (;;) {
    const got = source.nextSync();
    if (got !== undefined) return got;
    await source.fill();
  }
}
