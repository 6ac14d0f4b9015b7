import { assert } from '../assert.js';
import type { FileHandle } from '../fs/types.js';
import { FOOTER_FIXED_BYTES, INDEX_ENTRY_BYTES, TRAILER_BYTES, type IndexEntry } from './footer.js';
import type { HandlePool } from './handle-pool.js';
import type { SealedFigures } from './load.js';
import type { Gap, LoadedSegment, SegmentState } from './loaded-segment.js';
import type { Positions } from './positions.js';
import { SparseIndexBuilder } from './sparse-index.js';

/** Writes to a segment's own fields: only methods of {@link Segment} use it. */
type Own = { -readonly [K in keyof Segment]: Segment[K] };

/** A frame as the bookkeeping needs it (a frame header, or the writer's record of a frame it wrote). */
export interface PublishedFrame {
  readonly firstSeq: number;
  readonly count: number;
  readonly frameBytes: number;
  readonly timestamp: number;
  /** 0 (or absent) for records; gap frames and close markers carry other flags and no records. */
  readonly flags?: number;
}

/**
 * One segment and everything the log knows about it, with a single owner, as
 * Kafka's `LogSegment`: the fields are readonly to everyone (the compiler
 * proves nothing else writes them), and change only through the methods
 * below, each a move of the segment's life: frames published while active,
 * sealed once, a deferred header and footer loaded, evicted to the archive
 * and fetched back, damage found. Plain fields, so reads of `dataEnd` and
 * `nextSeq` on the data path cost what they cost before.
 */
export class Segment implements LoadedSegment {
  readonly baseSeq: number;
  readonly version: number;
  readonly positionsBytes: number;
  readonly positions: Positions | undefined;
  readonly file: string;
  readonly salt: Buffer;
  readonly createdMs: number;
  readonly sealed: boolean;
  readonly nextSeq: number;
  readonly recordCount: number;
  readonly dataEnd: number;
  readonly firstTimestamp: number;
  readonly lastTimestamp: number;
  readonly index: readonly IndexEntry[];
  readonly gaps: readonly Gap[];
  readonly footerCrc: number | undefined;
  readonly footerBytes: number;
  readonly location: 'local' | 'archive';
  readonly deferred: boolean;
  readonly needsFetch: boolean;
  readonly damage: { readonly offset: number; readonly reason: string } | undefined;
  /** Builds the index while frames are published (active segments). */
  private indexBuilder: SparseIndexBuilder | undefined;
  /** The deferred load under way, shared by concurrent readers. */
  private loading: Promise<void> | undefined;
  /**
   * The writer's handle of the active segment: the one read-write descriptor
   * of a segment, outside the read budget. Taken out before it is closed, so
   * it is closed exactly once (a second close would close a descriptor number
   * that by then may belong to another file of the process).
   */
  private append: FileHandle | undefined;

  constructor(state: SegmentState) {
    this.baseSeq = state.baseSeq;
    this.version = state.version;
    this.positionsBytes = state.positionsBytes;
    this.positions = state.positions;
    this.file = state.file;
    this.salt = state.salt;
    this.createdMs = state.createdMs;
    this.sealed = state.sealed;
    this.nextSeq = state.nextSeq;
    this.recordCount = state.recordCount;
    this.dataEnd = state.dataEnd;
    this.firstTimestamp = state.firstTimestamp;
    this.lastTimestamp = state.lastTimestamp;
    this.index = state.index;
    this.gaps = state.gaps;
    this.footerCrc = state.footerCrc;
    this.footerBytes = state.footerBytes;
    this.location = state.location;
    this.deferred = state.deferred === true;
    this.needsFetch = state.needsFetch;
    this.damage = state.damage;
  }

  private get own(): Own {
    return this as Own;
  }

  /**
   * Makes one frame of the active segment part of what readers see: the one
   * place frame bookkeeping is written (the writer after its fsync, a
   * read-only handle's follower up to the published watermark). Frames come
   * in file and sequence order, contiguous.
   */
  publishFrame(f: PublishedFrame, offset: number, indexIntervalBytes: number): void {
    assert(!this.sealed, 'frames are published only to an unsealed segment');
    assert(f.firstSeq === this.nextSeq, `sequence numbers strictly increase: ${f.firstSeq} follows ${this.nextSeq}`);
    assert(offset === this.dataEnd, 'frames are published in file order');
    const own = this.own;
    if (f.count > 0) {
      if (this.indexBuilder === undefined) {
        this.indexBuilder = new SparseIndexBuilder(indexIntervalBytes, this.index);
        own.index = this.indexBuilder.entries;
      }
      this.indexBuilder.add(f.firstSeq, offset, f.timestamp);
    }
    if (f.flags === undefined || f.flags === 0) {
      if (this.recordCount === 0) own.firstTimestamp = f.timestamp;
      own.recordCount = this.recordCount + f.count;
      own.lastTimestamp = f.timestamp;
    }
    own.nextSeq = f.firstSeq + f.count;
    own.dataEnd = offset + f.frameBytes;
    // Whoever keeps positions adds each frame's records before publishing it; a frame published without them (a follower) makes the table useless.
    if (this.positions !== undefined && (this.positions.nextSeq !== this.nextSeq || this.positions.end !== this.dataEnd)) own.positions = undefined;
  }

  /** The writer takes this unsealed segment over with its read-write handle. */
  attachAppendHandle(handle: FileHandle): void {
    assert(!this.sealed && this.append === undefined, 'an unsealed segment gets one write handle');
    this.append = handle;
  }

  /** The write handle, while open. */
  get appendHandle(): FileHandle {
    assert(this.append !== undefined, 'the write handle is never used after it was closed');
    return this.append;
  }

  /** Closes the write handle, if still open: once, whoever asks again. */
  async closeAppendHandle(): Promise<void> {
    const handle = this.append;
    this.append = undefined;
    await handle?.close();
  }

  /** The footer written at `dataEnd` is durable: the file never changes again. */
  seal(footerBytes: number, footerCrc: number): void {
    assert(!this.sealed, `a segment is sealed once (${this.file})`);
    const own = this.own;
    own.sealed = true;
    own.footerBytes = footerBytes;
    own.footerCrc = footerCrc;
    // Sealed: its table is on disk now, and read through the bounded position cache.
    own.positionsBytes = this.version >= 3 ? footerBytes - (FOOTER_FIXED_BYTES + this.index.length * INDEX_ENTRY_BYTES + TRAILER_BYTES) : 0;
    assert(this.positionsBytes >= 0, `the footer of ${this.file} holds its position table`);
    own.positions = undefined;
    this.indexBuilder = undefined;
  }

  /** What a sealed segment's header and footer say, once read (a deferred load, a seal seen by a follower, a fetched copy). */
  adoptSealed(figures: SealedFigures, location: 'local' | 'archive' = this.location): void {
    // Sealed: a follower's table of the once-active segment gives way to the one on disk (read through the position cache).
    Object.assign(this.own, figures, { location, deferred: false, needsFetch: false, positions: undefined });
    this.indexBuilder = undefined;
  }

  /**
   * Reads a deferred segment's header and footer (checked by `check`, which
   * throws on any difference from what the catalog said) through a handle
   * from `files`. Concurrent callers share one load.
   */
  loadDeferred(files: HandlePool, read: (handle: FileHandle, seg: LoadedSegment) => Promise<SealedFigures>): Promise<void> {
    if (!this.deferred) return Promise.resolve();
    this.loading ??= files
      .withHandle(this.file, (handle) => read(handle, this))
      .then((figures) => this.adoptSealed(figures))
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Retention removed the local file after its archived copy was verified: reads fetch it back. */
  evict(): void {
    assert(this.sealed && this.location === 'local', `only a sealed local segment is evicted (${this.file})`);
    this.own.location = 'archive';
  }

  /** A verified copy fetched from the archive is at `file`, with these figures. */
  fetched(file: string, figures: SealedFigures): void {
    assert(this.location === 'archive', `only an evicted segment is fetched back (${this.file})`);
    this.own.file = file;
    this.adoptSealed(figures, 'archive');
  }

  /** Bytes that are not a frame, with valid frames after them, past `dataEnd`: reads past it reject with this. */
  markDamaged(offset: number, reason: string): void {
    if (this.damage === undefined) this.own.damage = { offset, reason };
  }
}
