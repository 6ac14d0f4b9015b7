import { assert } from '../assert.js';
import type { IndexEntry } from './footer.js';

/**
 * Builds a sparse index: one entry for the first frame at or after every
 * `intervalBytes` of data. Lookups bisect it and then scan at most one
 * interval of frames.
 */
export class SparseIndexBuilder {
  readonly entries: IndexEntry[] = [];
  private nextOffset = 0;

  constructor(
    private readonly intervalBytes: number,
    initial: readonly IndexEntry[] = [],
  ) {
    assert(intervalBytes > 0, 'index interval is positive');
    this.entries.push(...initial);
    const last = initial[initial.length - 1];
    if (last !== undefined) this.nextOffset = last.offset + intervalBytes;
  }

  /** Offers a frame; it is indexed if it starts a new interval. */
  add(seq: number, offset: number, timestamp: number): void {
    if (offset < this.nextOffset) return;
    const last = this.entries[this.entries.length - 1];
    assert(last === undefined || (seq > last.seq && offset > last.offset), `index entries strictly increase (seq ${seq} after ${last?.seq})`);
    this.entries.push({ seq, offset, timestamp });
    this.nextOffset = offset + this.intervalBytes;
  }
}

/** The last entry whose seq is at most `seq`, or undefined if `seq` precedes them all. */
export function floorBySeq(entries: readonly IndexEntry[], seq: number): IndexEntry | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  let found: IndexEntry | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid]!;
    if (e.seq <= seq) {
      found = e;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The last entry whose timestamp is below `ms`, or undefined: the frame to start a time search from. */
export function floorBeforeTime(entries: readonly IndexEntry[], ms: number): IndexEntry | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  let found: IndexEntry | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid]!;
    if (e.timestamp < ms) {
      found = e;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
