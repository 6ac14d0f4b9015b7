import { assert } from '../assert.js';

/** Taken items after which the admitted array is compacted (when they are at least half of it). */
const COMPACT_AFTER_ITEMS = 1024;

/** An append waiting to be written: whole payloads that must land in one frame. */
export interface PendingAppend {
  kind: 'append';
  /** One payload (a single `append`, kept without an array around it) or a batch's, in order. */
  payloads: Uint8Array | readonly Uint8Array[];
  /** Records in it. */
  count: number;
  /** Bytes this append adds to a frame of format version 3 (payloads plus their 8-byte record headers; see the writer's `recordBytes` for older segments). */
  frameBytes: number;
  resolve: (firstSeq: number) => void;
  reject: (err: Error) => void;
}

/** A control request that runs in order with the appends around it. */
export interface PendingControl {
  kind: 'roll' | 'flush';
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Anything the writer processes in order. */
export type PendingItem = PendingAppend | PendingControl;

/**
 * The writer's FIFO with back-pressure: appends are admitted while the bytes
 * admitted but not yet written stay within `maxPendingBytes`; later ones wait
 * in arrival order (one that finds the queue empty is always admitted, so a
 * record larger than the bound still gets through alone). Order is never
 * changed: an append that waits holds back every append after it.
 */
export class AppendQueue {
  /** Admitted items from index `head` on: taking from the front moves `head` instead of shifting the array. */
  private admitted: PendingItem[] = [];
  private head = 0;
  private readonly waiting: PendingItem[] = [];
  private admittedBytes = 0;

  constructor(private readonly maxPendingBytes: number) {
    assert(maxPendingBytes > 0, 'maxPendingBytes is positive');
  }

  /** Bytes admitted and not yet taken by the writer. */
  get pendingBytes(): number {
    return this.admittedBytes;
  }

  /** Items waiting for room (back-pressure). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Items admitted and not yet taken. */
  get admittedCount(): number {
    return this.admitted.length - this.head;
  }

  /** True when nothing is admitted or waiting. */
  get isEmpty(): boolean {
    return this.admittedCount === 0 && this.waiting.length === 0;
  }

  /** Adds an item at the back. */
  push(item: PendingItem): void {
    if (this.waiting.length > 0 || !this.fits(item)) this.waiting.push(item);
    else this.admit(item);
  }

  /** The next admitted item, without taking it. */
  peek(): PendingItem | undefined {
    return this.admitted[this.head];
  }

  /** Takes the next admitted item and lets waiting ones in as room frees up. */
  shift(): PendingItem | undefined {
    const item = this.admitted[this.head];
    if (item !== undefined) this.admitted[this.head++] = undefined as unknown as PendingItem;
    if (this.head === this.admitted.length) {
      this.admitted.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER_ITEMS && this.head * 2 >= this.admitted.length) {
      this.admitted = this.admitted.slice(this.head);
      this.head = 0;
    }
    if (item?.kind === 'append') this.admittedBytes -= item.frameBytes;
    assert(this.admittedBytes >= 0, 'pending bytes never go negative');
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!)) this.admit(this.waiting.shift()!);
    return item;
  }

  /** Removes and returns everything, admitted first. */
  drain(): PendingItem[] {
    const all = [...this.admitted.slice(this.head), ...this.waiting];
    this.admitted = [];
    this.head = 0;
    this.waiting.length = 0;
    this.admittedBytes = 0;
    return all;
  }

  private fits(item: PendingItem): boolean {
    if (item.kind !== 'append' || this.admittedCount === 0) return true;
    return this.admittedBytes + item.frameBytes <= this.maxPendingBytes;
  }

  private admit(item: PendingItem): void {
    this.admitted.push(item);
    if (item.kind === 'append') this.admittedBytes += item.frameBytes;
  }
}
