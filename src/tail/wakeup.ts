import * as fs from 'node:fs';
import { assert } from '../assert.js';

/**
 * One wake-up path shared by every tail reader of a log handle: readers
 * await `next()`, a shared promise that settles at the next notification.
 * Wake-ups carry no data and coalesce freely; a reader always re-reads the
 * watermark after waking, so a missed or merged wake-up can delay it but
 * never make it skip. No per-reader listener or timer.
 */
export class Wakeup {
  private waiting: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readers = 0;

  /** Settles at the next `notify()`. */
  next(): Promise<void> {
    this.waiting ??= new Promise<void>((resolve) => (this.wake = resolve));
    return this.waiting;
  }

  /** Wakes every current waiter. */
  notify(): void {
    const wake = this.wake;
    this.waiting = undefined;
    this.wake = undefined;
    wake?.();
  }

  /** A tail reader starts following (the first one starts any watching). */
  retain(): void {
    if (this.readers++ === 0) this.onFirstReader();
  }

  /** A tail reader stops following (the last one stops any watching). */
  release(): void {
    assert(this.readers > 0, 'wake-up released as often as retained');
    if (--this.readers === 0) this.onLastReader();
  }

  /** Tail readers following now. */
  get readerCount(): number {
    return this.readers;
  }

  /** Hook: the first reader started following. */
  protected onFirstReader(): void {}

  /** Hook: the last reader stopped. */
  protected onLastReader(): void {}
}

/**
 * Wake-ups for readers in another process than the writer: `fs.watch` on the
 * watermark file, with a polling fallback (some file systems deliver no
 * events). Watches and polls only while a tail reader follows; the poll
 * timer keeps the process alive meanwhile, as a follower (`aof tail -f`)
 * expects.
 */
export class FileWakeup extends Wakeup {
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    /** Period of the polling fallback in ms. */
    private readonly pollIntervalMs: number,
  ) {
    super();
    assert(pollIntervalMs > 0, 'poll interval is positive');
  }

  protected override onFirstReader(): void {
    try {
      this.watcher = fs.watch(this.file, { persistent: false }, () => this.notify());
      this.watcher.on('error', () => this.stopWatching());
    } catch {
      this.watcher = undefined; // no watch here: polling alone
    }
    this.poll = setInterval(() => this.notify(), this.pollIntervalMs);
  }

  protected override onLastReader(): void {
    this.stopWatching();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Stops watching for good. */
  close(): void {
    this.stopWatching();
    this.notify();
  }
}
