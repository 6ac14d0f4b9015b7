import * as path from 'node:path';
import { assert } from '../assert.js';
import { unlinkIfExists } from '../fs/io.js';
import type { FileSystem } from '../fs/types.js';
import { lastWhere } from './bisect.js';
import { HandlePool } from './handle-pool.js';
import type { LoadedSegment, SegmentState } from './loaded-segment.js';
import { Segment } from './segment.js';

/**
 * The segments of one log handle, oldest first, and their descriptor budget:
 * the one owner of the set. Segments join without holes; a segment is added
 * only after the last one was sealed (a roll), removed only from the local
 * tier in the order retention decided (evict, delete), and every handle of a
 * removed file is forgotten before the file goes. Readers see the set
 * through {@link view}: readonly segments that only their owner changes.
 */
export class SegmentList {
  private readonly list: Segment[];
  /** Every read descriptor of a segment file this log handle opens comes from here (`maxOpenFiles`). */
  readonly files: HandlePool;

  constructor(
    private readonly fs: FileSystem,
    maxOpenFiles: number,
    segments: readonly SegmentState[] = [],
  ) {
    this.files = new HandlePool(fs, maxOpenFiles);
    this.list = [];
    for (const s of segments) this.append(new Segment(s));
  }

  /** The segments, oldest first, read-only (the same array: it follows rolls and removals). */
  get view(): readonly LoadedSegment[] {
    return this.list;
  }

  get length(): number {
    return this.list.length;
  }

  get first(): Segment | undefined {
    return this.list[0];
  }

  get last(): Segment | undefined {
    return this.list[this.list.length - 1];
  }

  /** The writer's active segment: the last, unsealed. */
  get active(): Segment {
    const last = this.last;
    assert(last !== undefined && !last.sealed, 'a writer always has an unsealed last segment');
    return last;
  }

  /** The segment whose range starts at or before `seq`. */
  find(seq: number): Segment | undefined {
    return lastWhere(this.list, (s) => s.baseSeq <= seq);
  }

  /** The owner of a segment seen through the view: the same object, typed for the moves only the log makes (a deferred load, a fetch). */
  own(seg: LoadedSegment): Segment {
    assert(seg instanceof Segment, `segment ${seg.baseSeq} is owned by a segment list`);
    return seg;
  }

  /** Adds the next segment: the first, or one starting where the sealed last one ends (a roll). */
  append(seg: Segment): void {
    const last = this.last;
    assert(last === undefined || (last.sealed && last.nextSeq === seg.baseSeq), `segment ${seg.baseSeq} follows a sealed segment ending at ${last?.nextSeq}`);
    this.list.push(seg);
  }

  /** Segments evicted before this handle opened, known from the catalog (which open checked): they come before every local one. */
  prepend(states: readonly SegmentState[]): void {
    this.list.unshift(...states.map((s) => new Segment(s)));
  }

  /** A sealed last segment without records (left by repair) was moved aside: the new active segment takes its name. */
  dropEmptyLast(): void {
    const last = this.last;
    assert(last !== undefined && last.sealed && last.nextSeq === last.baseSeq, 'only an empty sealed last segment is dropped');
    this.list.pop();
  }

  /**
   * Removes the local file of `baseSeq` once the catalog says it is evicted
   * or deleted: handles of it are forgotten first, the file unlinked and its
   * directory fsynced; an evicted segment stays readable through the archive,
   * a deleted one leaves the list. The catalog goes first (a crash before the
   * unlink leaves a file the catalog calls gone, which is harmless).
   */
  async removeLocal(baseSeq: number, action: 'evict' | 'delete', file: string): Promise<void> {
    await this.files.forget(file);
    await unlinkIfExists(this.fs, file);
    await this.fs.syncDir(path.dirname(file));
    const index = this.list.findIndex((s) => s.baseSeq === baseSeq);
    if (index < 0) return;
    const seg = this.list[index]!;
    if (action === 'delete') this.list.splice(index, 1);
    else if (seg.location === 'local') seg.evict();
  }

  /** Closes every descriptor; resolves once none is open. */
  close(): Promise<void> {
    return this.files.close();
  }
}
