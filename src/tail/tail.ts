import { BehindRetentionError } from '../errors.js';
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
  /** Brings the view up to date (readers in other processes); resolves at once for the writer. */
  catchUp(): Promise<void>;
  /** True once the log handle is closed: the tail ends after delivering up to the final watermark. */
  closed(): boolean;
  /** Records in `[from, to)`. */
  read(from: number, to: number): AsyncGenerator<LogRecord>;
  /** The shared wake-up path. */
  wakeup: Wakeup;
}

/**
 * Yields every record from `from` on, in order and without gaps, then waits
 * for new ones. After each wake-up it re-reads the watermark and pulls from
 * the files, so a missed or merged wake-up delays it but never makes it skip
 * or stall. It holds only its read-ahead; the writer never buffers for it.
 */
export async function* tailRecords(source: TailSource, from: number, signal: AbortSignal | undefined): AsyncGenerator<LogRecord> {
  source.wakeup.retain();
  try {
    let seq = from;
    for (;;) {
      throwIfAborted(signal);
      // Take the wake-up promise before looking at the watermark: an append in between still wakes us.
      const woken = source.wakeup.next();
      await source.catchUp();
      const first = source.firstSeq();
      if (seq < first) throw new BehindRetentionError(seq, first);
      const watermark = source.watermark();
      if (seq < watermark) {
        for await (const record of source.read(seq, watermark)) {
          yield record;
          seq = record.seq + 1;
          throwIfAborted(signal);
        }
        continue;
      }
      if (source.closed()) return;
      await untilAborted(woken, signal);
    }
  } finally {
    source.wakeup.release();
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
