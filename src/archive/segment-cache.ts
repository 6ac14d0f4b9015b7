import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { assert } from '../assert.js';
import { CorruptionError } from '../errors.js';
import { pathExists, unlinkIfExists } from '../fs/io.js';
import type { FileSystem } from '../fs/types.js';
import type { HandlePool } from '../segment/handle-pool.js';
import { readSegmentEnvelope, sealedFigures, type HeaderCheck, type SealedFigures } from '../segment/load.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import type { Segment } from '../segment/segment.js';
import { segmentFileName } from '../segment/names.js';
import { segmentKey, type SegmentArchive } from './archive.js';

/** Default bound of the local cache of segments fetched back from the archive. */
export const ARCHIVE_CACHE_MAX_BYTES_DEFAULT = 256 * 1024 * 1024;

/**
 * A bounded local cache (LRU by bytes) of segments fetched back from the
 * archive, so that reads of evicted segments work transparently. Each fetch
 * is verified (the tier checks our CRC-32; the footer and salt are checked
 * here) before any reader sees it. One fetch per segment at a time.
 */
export class SegmentCache {
  private readonly cached = new Map<number, { file: string; bytes: number; seg: Segment }>();
  private readonly fetching = new Map<number, Promise<void>>();
  private bytes = 0;
  /** Segments fetched from the archive since open. */
  fetches = 0;
  /** Refuses a fetched segment of another log (set by the log that owns the cache). */
  guard: HeaderCheck | undefined;

  constructor(
    /** The log's adapter: the cache's directory, its files and their checks go through it. */
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly archive: SegmentArchive,
    /** Bound of the cache in bytes (the segment being read is kept even if it alone exceeds it). */
    readonly maxBytes: number,
    /** The log's descriptor budget: a fetch holds one slot of it while it writes and checks its file. */
    private readonly files: HandlePool,
    /** A cached file was removed: readers must close their handles of it, or its disk space stays in use. */
    private readonly removed: (file: string) => void = () => undefined,
  ) {
    assert(maxBytes > 0, 'archive cache bound is positive');
  }

  /** Bytes held now. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Makes an archived segment readable locally: fetches it if it is not cached, fills in what only its file says. */
  async ensure(seg: Segment): Promise<void> {
    if (seg.location !== 'archive') return;
    const hit = this.cached.get(seg.baseSeq);
    if (hit !== undefined && (await pathExists(this.fs, hit.file))) {
      this.cached.delete(seg.baseSeq); // re-insert: LRU order
      this.cached.set(seg.baseSeq, hit);
      return;
    }
    let pending = this.fetching.get(seg.baseSeq);
    if (pending === undefined) {
      pending = this.fetch(seg).finally(() => this.fetching.delete(seg.baseSeq));
      this.fetching.set(seg.baseSeq, pending);
    }
    await pending;
  }

  /** Removes every cached file. */
  async clear(): Promise<void> {
    for (const [base, entry] of this.cached) await this.drop(base, entry);
  }

  private async fetch(seg: Segment): Promise<void> {
    await this.fs.mkdir(this.dir, 0o700);
    const file = path.join(this.dir, segmentFileName(seg.baseSeq));
    const tmp = `${file}.fetch-${randomBytes(4).toString('hex')}`;
    let figures: SealedFigures;
    try {
      // One descriptor at a time: the archive writes the file, then it is checked.
      figures = await this.files.withSlot(async () => {
        await this.archive.fetch(segmentKey(seg.baseSeq), tmp);
        return this.check(seg, tmp);
      });
      await this.fs.rename(tmp, file);
    } catch (err) {
      // Only a failed fetch leaves its temporary file; the removal's own failure must not hide the cause.
      await unlinkIfExists(this.fs, tmp).catch(() => undefined);
      throw err;
    }
    this.fetches++;
    const bytes = (await this.fs.stat(file)).size;
    seg.fetched(file, figures);
    this.cached.set(seg.baseSeq, { file, bytes, seg });
    this.bytes += bytes;
    await this.evictBeyondBound(seg.baseSeq);
  }

  /** Checks the fetched file is the sealed segment expected; resolves its salt, index and figures. */
  private async check(seg: LoadedSegment, tmp: string): Promise<SealedFigures> {
    const handle = await this.fs.open(tmp, 'read');
    try {
      const envelope = await readSegmentEnvelope(handle, seg.baseSeq, this.guard);
      if (envelope.kind !== 'sealed') throw new CorruptionError('a segment fetched from the archive has no valid footer', { file: tmp });
      const s = envelope.summary;
      if (!seg.needsFetch && s.nextSeq !== seg.nextSeq) throw new CorruptionError(`archived segment ends before ${s.nextSeq}, the catalog says ${seg.nextSeq}`, { file: tmp });
      return sealedFigures(envelope);
    } finally {
      await handle.close();
    }
  }

  private async evictBeyondBound(keep: number): Promise<void> {
    for (const [base, entry] of [...this.cached]) {
      if (this.bytes <= this.maxBytes) return;
      // A failed unlink leaves a stray file (a later fetch of that segment replaces it): the read that fetched goes on.
      if (base !== keep) await this.drop(base, entry).catch(() => undefined);
    }
  }

  private async drop(base: number, entry: { file: string; bytes: number }): Promise<void> {
    // Forgotten first: a failed unlink leaves a stray file in the cache directory, never an entry for a file that is gone.
    this.cached.delete(base);
    this.bytes -= entry.bytes;
    this.removed(entry.file);
    // A reader holding the file open keeps reading it: POSIX unlink leaves open files intact.
    await unlinkIfExists(this.fs, entry.file);
  }
}
