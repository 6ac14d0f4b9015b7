import { assert } from '../assert.js';
import { lastWhere } from './bisect.js';
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
  return lastWhere(entries, (e) => e.seq <= seq);
}

/** The last entry whose timestamp is below `ms`, or undefined: the frame to start a time search from. */
export function floorBeforeTime(entries: readonly IndexEntry[], ms: number): IndexEntry | undefined {
  return lastWhere(entries, (e) => e.timestamp < ms);
}
