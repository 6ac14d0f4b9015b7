import { assert } from '../assert.js';
import type { SegmentCatalog } from '../catalog/catalog.js';
import type { CatalogEntry } from '../catalog/entry.js';
import { ArchiveError, AofError, ErrorCode } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { segmentPath } from '../segment/names.js';
import { segmentKey, type SegmentArchive } from './archive.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { fileCrc } from './file-crc.js';

/** What the archiver tells the log. */
export interface ArchiverEvents {
  /** A segment's archived copy was verified and the catalog says so. */
  archived(entry: CatalogEntry): void | Promise<void>;
  /** An upload failed; it will be retried after `retryInMs` (undefined: not retried until the next trigger). */
  failed(err: AofError, baseSeq: number, retryInMs: number | undefined): void;
}

/** Archiver counters for `log.metrics()`. */
export interface ArchiveMetrics {
  /** Sealed segments waiting for upload (the queue, kept in the catalog). */
  queuedSegments: number;
  /** Their bytes. */
  queuedBytes: number;
  /** Segments archived since open. */
  archived: number;
  /** Failed attempts since open. */
  failures: number;
  /** Bytes uploaded since open (original sizes). */
  bytesArchived: number;
  /** Times the writer waited for the archive since open: the queue had reached `archiveMaxQueuedBytes` when a segment was to be sealed. */
  writerWaits: number;
  /** Milliseconds the writer spent waiting for the archive since open. */
  writerWaitMs: number;
}

/** Archive metrics of a log without an archive. */
export function emptyArchiveMetrics(): ArchiveMetrics {
  return { queuedSegments: 0, queuedBytes: 0, archived: 0, failures: 0, bytesArchived: 0, writerWaits: 0, writerWaitMs: 0 };
}

/**
 * Uploads sealed segments to an archive tier in the background, oldest
 * first, one at a time. The queue is the catalog itself (segments in status
 * `sealed`), so it survives restarts. A segment becomes `archived` only after
 * the tier verified the stored copy; a failed or interrupted upload goes back
 * to `sealed` and is retried with exponential backoff and jitter. The writer
 * never waits for it, until the queue reaches its local-disk bound (see
 * `Tiering.waitForArchiveRoom`).
 */
export class Archiver {
  readonly metrics: ArchiveMetrics = emptyArchiveMetrics();
  private running: Promise<void> | undefined;
  private started: Promise<void> | undefined;
  private settled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private idleWaiters: Array<() => void> = [];

  constructor(
    /** The log's adapter: the whole-file checksum reads the segment through it. */
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly catalog: SegmentCatalog,
    private readonly archive: SegmentArchive,
    private readonly backoff: BackoffOptions,
    private readonly events: ArchiverEvents,
  ) {}

  /**
   * Settles uploads a crash interrupted (status `archiving`): a verified copy
   * in the archive makes them `archived`, anything else returns them to the
   * queue. Then starts draining.
   */
  start(): Promise<void> {
    this.started ??= this.settleInterrupted().then(() => {
      this.settled = true;
      this.trigger();
    });
    return this.started;
  }

  private async settleInterrupted(): Promise<void> {
    // Multipart uploads a crash abandoned cost storage until aborted (S3 tiers).
    const tier = this.archive as SegmentArchive & { abortStaleMultipartUploads?: () => Promise<number> };
    await tier.abortStaleMultipartUploads?.().catch(() => undefined);
    for (const entry of this.catalog.all().filter((e) => e.status === 'archiving')) {
      const verified = await this.archive.verify(segmentKey(entry.baseSeq), { bytes: entry.bytes, crc: await this.crcOf(entry) }).catch(() => undefined);
      if (verified === undefined) await this.catalog.transition(entry.baseSeq, 'sealed');
      else await this.markArchived(entry, verified.location);
    }
  }

  /** A segment was sealed (or something else may be queued): drain soon. */
  trigger(): void {
    // Until interrupted uploads are settled, a drain could race that settling on the same segment.
    if (this.stopped || !this.settled || this.running !== undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.running = this.drain().then(() => undefined).finally(() => {
      this.running = undefined;
      if (this.retryTimer === undefined) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Uploads everything queued now, retries included; rejects with the last failure if the queue could not be emptied. */
  async drainNow(): Promise<void> {
    await this.start();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // Wait for any drain under way, then run ours as *the* drain, so a retry timer
    // firing meanwhile never starts a second one on the same segments.
    while (this.running !== undefined) await this.running;
    this.attempt = 0;
    const drained = this.drain();
    this.running = drained.then(() => undefined).finally(() => {
      this.running = undefined;
      if (this.retryTimer === undefined) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    const failure = await drained;
    if (failure !== undefined) throw failure;
  }

  /** Resolves when no upload runs and none is scheduled (tests, `aof archive --now`). */
  whenIdle(): Promise<void> {
    if (this.running === undefined && this.retryTimer === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: cancels a running upload (its segment goes back to the queue) and any retry. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Uploads queued segments oldest first; resolves the failure that stopped it, if one did. */
  private async drain(): Promise<AofError | undefined> {
    for (let next = this.nextQueued(); next !== undefined && !this.stopped; next = this.nextQueued()) {
      try {
        await this.upload(next);
        this.attempt = 0;
      } catch (err) {
        const failure = err instanceof AofError ? err : new ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, 'archive upload failed', {}, { cause: err });
        await this.catalog.transition(next.baseSeq, 'sealed').catch(() => undefined);
        this.metrics.failures++;
        this.scheduleRetry(failure, next.baseSeq);
        return failure;
      }
    }
    return undefined;
  }

  private async upload(entry: CatalogEntry): Promise<void> {
    await this.catalog.transition(entry.baseSeq, 'archiving');
    const source = { path: segmentPath(this.dir, entry.baseSeq), ...(await fileCrc(this.fs, segmentPath(this.dir, entry.baseSeq))) };
    assert(source.bytes === entry.bytes, `segment ${entry.baseSeq} has the size its catalog entry records`);
    const stored = await this.archive.put(segmentKey(entry.baseSeq), source, { signal: this.abort.signal });
    await this.markArchived(entry, stored.location);
    this.metrics.archived++;
    this.metrics.bytesArchived += entry.bytes;
  }

  private async markArchived(entry: CatalogEntry, location: string): Promise<void> {
    const next = await this.catalog.transition(entry.baseSeq, 'archived', { archive: { location, archivedMs: Date.now() } });
    await this.events.archived(next);
  }

  private scheduleRetry(failure: AofError, baseSeq: number): void {
    if (this.stopped) return;
    this.attempt++;
    const delayMs = backoffDelayMs(this.attempt, this.backoff);
    this.events.failed(failure, baseSeq, delayMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.trigger();
    }, delayMs);
    this.retryTimer.unref();
  }

  private nextQueued(): CatalogEntry | undefined {
    const queued = this.catalog.all().filter((e) => e.status === 'sealed');
    this.metrics.queuedSegments = queued.length;
    this.metrics.queuedBytes = queued.reduce((n, e) => n + e.bytes, 0);
    return queued[0];
  }

  private async crcOf(entry: CatalogEntry): Promise<number> {
    return (await fileCrc(this.fs, segmentPath(this.dir, entry.baseSeq))).crc;
  }
}
