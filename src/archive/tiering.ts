import { readClock } from '../write/clock.js';
import * as path from 'node:path';
import type { SegmentCatalog } from '../catalog/catalog.js';
import type { CatalogEntry } from '../catalog/entry.js';
import { toAofError, type AofError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import type { SegmentState } from '../segment/loaded-segment.js';
import type { SegmentList } from '../segment/segment-list.js';
import { segmentFileName, segmentPath } from '../segment/names.js';
import { parseSegmentKey, segmentKey, type SegmentArchive } from './archive.js';
import { Archiver, emptyArchiveMetrics, type ArchiveMetrics } from './archiver.js';
import type { BackoffOptions } from './backoff.js';
import { planArchiveRetention, planRetention, type RetentionOptions } from './retention.js';
import { SegmentCache } from './segment-cache.js';

/** What tiering tells the log. */
export interface TieringEvents {
  archived(entry: CatalogEntry): void;
  failed(err: AofError, baseSeq: number, retryInMs: number | undefined): void;
  /** The writer waits before sealing: segments not yet archived hold `queuedBytes`, at least the bound. */
  writerWaiting(queuedBytes: number, maxQueuedBytes: number): void;
}

/** Settings of the tiers. */
export interface TieringSettings {
  /** The log's adapter: every removal and fetch goes through it. */
  fs: FileSystem;
  dir: string;
  archive: SegmentArchive | undefined;
  retention: RetentionOptions | undefined;
  archiveRetention: RetentionOptions | undefined;
  cacheDir: string;
  cacheMaxBytes: number;
  /** Local bytes of sealed segments not yet archived at which the writer waits before sealing another. */
  maxQueuedBytes: number;
  backoff: BackoffOptions;
  lowestPinnedSeq: () => number | undefined;
  clock: () => number;
}

/**
 * Wires the archive tier, local retention and the cache of fetched segments
 * to a writer's log. Retention runs after every seal and upload, one pass at
 * a time, and removes nothing that is active, pinned, or (with an archive)
 * not yet archived and verified.
 */
export class Tiering {
  readonly archiver: Archiver | undefined;
  readonly cache: SegmentCache | undefined;
  private retentionPass: Promise<void> = Promise.resolve();
  private roomWaiters: Array<() => void> = [];
  private closed = false;
  private writerReleased = false;
  private writerWaits = 0;
  private writerWaitMs = 0;

  constructor(
    private readonly settings: TieringSettings,
    private readonly catalog: SegmentCatalog,
    private readonly segments: SegmentList,
    private readonly events: TieringEvents,
  ) {
    const { archive } = settings;
    if (archive !== undefined) {
      this.cache = new SegmentCache(settings.fs, settings.cacheDir, archive, settings.cacheMaxBytes, segments.files, (file) => void segments.files.forget(file));
      this.archiver = new Archiver(settings.fs, settings.dir, catalog, archive, settings.backoff, {
        archived: (entry) => {
          events.archived(entry);
          this.retain();
          for (const wake of this.roomWaiters.splice(0)) wake();
        },
        failed: events.failed,
      }, (slots, use) => segments.files.withSlot(use, slots));
    }
  }

  /** Starts the archiver (settling interrupted uploads) and a first retention pass; never blocks the open. */
  start(): void {
    void this.archiver?.start().catch((err: AofError) => {
      this.events.failed(err, -1, undefined);
      // No upload will run until the log is reopened: holding the writer at the bound would hold it for good.
      this.releaseWriter();
    });
    this.retain();
  }

  /** A segment was sealed: queue it for upload, and see whether retention has work. */
  sealed(): void {
    this.archiver?.trigger();
    this.retain();
  }

  /**
   * The local-disk bound: resolves once the sealed segments waiting for the
   * archive hold fewer than `maxQueuedBytes`. The writer awaits this before
   * sealing a segment, so appends wait (and then back-pressure through
   * `maxPendingBytes`) only while an archive that fell that far behind
   * catches up. Closing releases the wait.
   */
  async waitForArchiveRoom(): Promise<void> {
    if (this.archiver === undefined) return;
    let since: number | undefined;
    for (let queued = this.unarchivedBytes(); !this.writerReleased && queued >= this.settings.maxQueuedBytes; queued = this.unarchivedBytes()) {
      if (since === undefined) {
        since = performance.now();
        this.writerWaits++;
        this.events.writerWaiting(queued, this.settings.maxQueuedBytes);
      }
      // No trigger here: sealing already queued these uploads, and a retry keeps its backoff.
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (since !== undefined) this.writerWaitMs += performance.now() - since;
  }

  private unarchivedBytes(): number {
    let bytes = 0;
    for (const e of this.catalog.all()) if (e.status === 'sealed' || e.status === 'archiving') bytes += e.bytes;
    return bytes;
  }

  /** Uploads everything queued now, then applies retention. */
  async archiveNow(): Promise<void> {
    await this.archiver?.drainNow();
    this.retain();
    await this.retentionPass;
  }

  /** Resolves when no upload or retention pass is running or scheduled. */
  async idle(): Promise<void> {
    await this.archiver?.whenIdle();
    await this.retentionPass;
  }

  /** Archiver counters, zero without an archive. */
  metrics(): ArchiveMetrics {
    return { ...(this.archiver?.metrics ?? emptyArchiveMetrics()), writerWaits: this.writerWaits, writerWaitMs: Math.round(this.writerWaitMs) };
  }

  /** The log is closing: a writer waiting for archive room goes on (whatever it still holds is written). */
  releaseWriter(): void {
    this.writerReleased = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseWriter();
    await this.archiver?.close();
    await this.retentionPass.catch(() => undefined);
  }

  /** Schedules one retention pass after the current one. */
  private retain(): void {
    if (this.closed || (this.settings.retention === undefined && this.settings.archiveRetention === undefined)) return;
    // A failed removal (EIO, EACCES through the adapter) is reported typed; the next pass tries again.
    this.retentionPass = this.retentionPass.then(() => this.applyRetention()).catch((err: unknown) => this.events.failed(toAofError(err, 'retention pass failed'), -1, undefined));
  }

  private async applyRetention(): Promise<void> {
    if (this.settings.retention !== undefined) await this.applyLocalRetention(this.settings.retention);
    if (this.settings.archiveRetention !== undefined && this.settings.archive !== undefined) await this.applyArchiveRetention(this.settings.archiveRetention, this.settings.archive);
  }

  private async applyArchiveRetention(options: RetentionOptions, archive: SegmentArchive): Promise<void> {
    for (const baseSeq of planArchiveRetention(this.catalog.all(), options, this.settings.lowestPinnedSeq(), readClock(this.settings.clock))) {
      await archive.delete(segmentKey(baseSeq));
      await this.catalog.transition(baseSeq, 'deleted');
      await this.segments.removeLocal(baseSeq, 'delete', segmentPath(this.settings.dir, baseSeq));
    }
  }

  private async applyLocalRetention(options: RetentionOptions): Promise<void> {
    const steps = planRetention(this.catalog.all(), options, this.settings.lowestPinnedSeq(), this.settings.archive !== undefined, readClock(this.settings.clock));
    for (const step of steps) {
      // Catalog first: a crash before the unlink leaves a file the catalog calls gone, which is harmless;
      // the other order would leave an entry whose file is missing.
      await this.catalog.transition(step.baseSeq, step.action === 'evict' ? 'evicted' : 'deleted');
      await this.segments.removeLocal(step.baseSeq, step.action, segmentPath(this.settings.dir, step.baseSeq));
    }
  }
}

/** Options of `Log.openArchive`. */
export interface ArchiveReadOptions {
  /** Local directory for segments fetched from the archive (created if needed). */
  cacheDir: string;
  /** Bound of that cache in bytes (default 256 MiB). */
  cacheMaxBytes?: number;
  readAheadBytes?: number;
  maxOpenFiles?: number;
}

/**
 * The segments an archive holds, known by key alone until fetched: each ends
 * where the next begins; the last one is fetched at open to learn its end.
 * The archive must hold a contiguous run of segments.
 */
export async function archivedSegments(archive: SegmentArchive, cacheDir: string): Promise<SegmentState[]> {
  const bases: number[] = [];
  for await (const key of archive.list()) {
    const base = parseSegmentKey(key);
    if (base !== undefined) bases.push(base);
  }
  bases.sort((a, b) => a - b);
  return bases.map((base, i) => {
    const next = bases[i + 1] ?? base;
    return {
      baseSeq: base, version: 0, positionsBytes: 0, file: path.join(cacheDir, segmentFileName(base)), salt: Buffer.alloc(8), createdMs: 0, sealed: true,
      nextSeq: next, recordCount: next - base, dataEnd: 0, firstTimestamp: 0, lastTimestamp: 0, index: [], gaps: [], damage: undefined,
      footerCrc: undefined, footerBytes: 0, location: 'archive' as const, needsFetch: true,
    };
  });
}

/** Placeholders for segments the catalog says were evicted: readable through the archive once fetched. */
export function evictedPlaceholders(dir: string, entries: readonly CatalogEntry[]): SegmentState[] {
  return entries
    .filter((e) => e.status === 'evicted')
    .map((e) => ({
      baseSeq: e.baseSeq, version: 0, positionsBytes: 0, file: segmentPath(dir, e.baseSeq), salt: Buffer.alloc(8), createdMs: e.createdMs, sealed: true,
      nextSeq: e.nextSeq, recordCount: e.recordCount, dataEnd: 0, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp,
      index: [], gaps: [], damage: undefined, footerCrc: e.footerCrc ?? undefined, footerBytes: 0, location: 'archive' as const, needsFetch: true,
    }));
}
