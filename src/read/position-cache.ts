import { assert } from '../assert.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import type { Positions } from '../segment/positions.js';
import { DEFAULTS } from '../options.js';


/**
 * The position tables of sealed version-3 segments, read from their files on
 * first use and kept, least recently used first out, within `maxBytes` of
 * memory. A table larger than the bound is still used for the get that read
 * it, then dropped. Keyed by segment object: a segment that left the log
 * (retention) stops being asked for and ages out.
 */
export class PositionCache {
  private readonly tables = new Map<LoadedSegment, Positions>();
  private held = 0;
  /** The most recently used segment: a run of gets in one segment skips the Map's re-insertion. */
  private latest: LoadedSegment | undefined;

  /** `maxBytes`: the `positionCacheBytes` option. */
  constructor(readonly maxBytes: number = DEFAULTS.positionCacheBytes) {
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, `position cache bound ${maxBytes} is a byte count`);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }

  /** Tables held. */
  get size(): number {
    return this.tables.size;
  }

  /** The table of `seg`, if held; marks it most recently used. */
  get(seg: LoadedSegment): Positions | undefined {
    const table = this.tables.get(seg);
    if (table === undefined || seg === this.latest) return table;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
    this.tables.delete(seg);
    this.tables.set(seg, table);
    this.latest = seg;
    return table;
  }

  /** Keeps `table` for `seg`, evicting the least recently used tables beyond the bound. */
  put(seg: LoadedSegment, table: Positions): void {
    const old = this.tables.get(seg);
    if (old !== undefined) {
      this.tables.delete(seg);
      this.held -= old.bytes;
    }
    if (table.bytes > this.maxBytes) return;
    this.tables.set(seg, table);
    this.latest = seg;
    this.held += table.bytes;
    for (const [key, t] of this.tables) {
      if (this.held <= this.maxBytes) break;
      this.tables.delete(key);
      this.held -= t.bytes;
      if (key === this.latest) this.latest = undefined;
    }
  }
}
