import { assert } from '../assert.js';
import { CorruptionError } from '../errors.js';
import type { FileHandle } from '../fs/types.js';
import { frameCrcSeed } from '../record/frame.js';
import { scanActiveFrames, type ActiveScan } from './active-scan.js';
import { FOOTER_FIXED_BYTES, INDEX_ENTRY_BYTES, TRAILER_BYTES, type IndexEntry } from './footer.js';
import type { HandlePool } from './handle-pool.js';
import type { SealedFigures } from './load.js';
import type { Gap, LoadedSegment, SegmentState, UncheckedFrames } from './loaded-segment.js';
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
 * sealed once, a deferred header and footer loaded, the frames of a cleanly
 * closed active segment checked, evicted to the archive and fetched back,
 * damage found. Plain fields, so reads of `dataEnd` and
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
  readonly uncheckedFrames: Readonly<UncheckedFrames> | undefined;
  /** What the check of the unchecked frames found wrong: every later check (each read, a seal) rejects with it. */
  private framesDamage: CorruptionError | undefined;
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
    this.uncheckedFrames = state.uncheckedFrames;
    assert(state.uncheckedFrames === undefined || (!state.sealed && state.deferred === true), 'only an active segment has unchecked frames, and it is read only once they are checked');
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
    assert(this.uncheckedFrames === undefined, 'a footer indexes every frame: the frames a clean close left are checked before a seal');
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
    if (!this.deferred || !this.sealed) return Promise.resolve();
    this.loading ??= files
      .withHandle(this.file, (handle) => read(handle, this))
      .then((figures) => this.adoptSealed(figures))
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /**
   * Reads and checks the frames a cleanly closed active segment held at
   * open (see {@link UncheckedFrames}), through a handle from `files`, and
   * builds their sparse index: before the first read of the segment, and
   * before it is sealed (its footer indexes every frame). Concurrent callers
   * share one check. The frames must end exactly where the close marker was,
   * at the sequence number it recorded; otherwise the data below that
   * recorded commit point is damaged: this rejects with `AOF_CORRUPT` naming
   * the file and the offset of the first bad frame, now and on every later
   * call (reads of the segment, a seal), and nothing is cut: `Log.repair`
   * deals with it. Frames published since the open are kept as they are.
   */
  checkFrames(files: HandlePool): Promise<void> {
    if (this.framesDamage !== undefined) return Promise.reject(this.framesDamage);
    const pending = this.uncheckedFrames;
    if (pending === undefined) return Promise.resolve();
    this.loading ??= files
      .withHandle(this.file, (handle) => scanActiveFrames(handle, this.baseSeq, frameCrcSeed(this.salt), pending.end, this.version, pending))
      .then((scan) => this.adoptCheckedFrames(pending, scan))
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  private adoptCheckedFrames(pending: Readonly<UncheckedFrames>, scan: ActiveScan): void {
    if (scan.stop !== undefined || scan.nextSeq !== pending.nextSeq || scan.dataEnd !== pending.end) {
      const at = scan.stop?.offset ?? scan.dataEnd;
      const why = scan.stop?.reason ?? `the frames end at sequence ${scan.nextSeq}, offset ${scan.dataEnd}`;
      this.framesDamage = new CorruptionError(
        `${why}: the clean close recorded records up to ${pending.nextSeq - 1} ending at offset ${pending.end}; the segment cannot be read or sealed (run Log.verify, then Log.repair)`,
        { file: this.file, offset: at },
      );
      throw this.framesDamage;
    }
    const own = this.own;
    // Frames published since the open follow the checked ones: their index entries and gaps come after.
    own.index = [...scan.index, ...this.index];
    if (this.indexBuilder !== undefined) {
      this.indexBuilder = new SparseIndexBuilder(pending.indexIntervalBytes, this.index);
      own.index = this.indexBuilder.entries;
    }
    own.gaps = [...scan.gaps, ...this.gaps];
    // Version 3: the checked frames' positions, then those of the frames appended since the open.
    if (scan.positions !== undefined && this.positions !== undefined) {
      scan.positions.appendTable(this.positions);
      own.positions = scan.positions;
    } else own.positions = undefined;
    // The frames are the truth where the catalog's figures of them differ (they agree unless the catalog was damaged).
    own.recordCount = this.recordCount - pending.recordCount + scan.recordCount;
    if (scan.recordCount > 0) own.firstTimestamp = scan.firstTimestamp;
    if (this.dataEnd === pending.end) own.lastTimestamp = scan.lastTimestamp;
    own.uncheckedFrames = undefined;
    own.deferred = false;
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
