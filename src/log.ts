import { checkPath } from './validate.js';
import { EventEmitter } from 'node:events';
import type { FileHandle } from './fs/types.js';
import { ArchiveError, ClosedError, ErrorCode, InvalidArgumentError, LogFailedError, ReadOnlyError, toAofError, type AofError } from './errors.js';
import { acquireWriterLock, type WriterLock } from './lock/writer-lock.js';
import { prepareLogDir } from './log/prepare-dir.js';
import { infoFromEntry, toSegmentInfo, type SegmentInfo } from './log/segment-info.js';
import { SegmentCatalog } from './catalog/catalog.js';
import { activeEntryCurrent, entryFromSegment, type CatalogEntry } from './catalog/entry.js';
import type { SealedFigures } from './segment/load.js';
import { openWritableCatalog, reconcileCatalog, type CatalogReport, type OpenedCatalog } from './catalog/reconcile.js';
import { cleanCloseRecord, loadDeferredSegment, trustedSealedEntries } from './log/deferred-segment.js';
import { batchPayloads, checkSeq } from './log/validate-input.js';
import { normalizeOptions, type LogOptions, type NormalizedOptions } from './options.js';
import type { HandlePool } from './segment/handle-pool.js';
import { SegmentList } from './segment/segment-list.js';
import type { LogRecord } from './read/record.js';
import { SegmentReader } from './read/segment-reader.js';
import { seekTime } from './read/seek-time.js';
import { Follower } from './tail/follow.js';
import { TailIterator, type TailOptions, type TailSource } from './tail/tail.js';
import { FileWakeup, Wakeup } from './tail/wakeup.js';
import { WATERMARK_FILE, WatermarkPublisher } from './tail/watermark.js';
import * as path from 'node:path';
import { toPayloadBytes, type Payload } from './record/payload.js';
import { loadSegments } from './recovery/load-segments.js';
import type { TailRecovery } from './recovery/recover-active.js';
import { repairLog, type RepairOptions, type RepairReport } from './recovery/repair.js';
import { verifyLog, type VerifyOptions, type VerifyReport } from './recovery/verify.js';
import type { LoadedSegment } from './segment/loaded-segment.js';
import { emptyMetrics, type LogMetrics } from './write/metrics.js';
import { finishRetentionRemovals, openCatalogForReading, settleInterruptedRepair, startFirstSegment, syncAdoptedState } from './log/open-helpers.js';
import { BatchIterator, RecordIterator } from './read/record-iterator.js';
import { ViewSource } from './read/view-source.js';
import { Pins } from './log/pins.js';
import { archivedSegments, evictedPlaceholders, Tiering, type ArchiveReadOptions } from './archive/tiering.js';
import { emptyArchiveMetrics } from './archive/archiver.js';
import type { SegmentArchive } from './archive/archive.js';
import { SegmentCache } from './archive/segment-cache.js';
import { Writer } from './write/writer.js';
import { backupLog, type BackupOptions, type BackupReport } from './snapshot/backup.js';
import { sweepKilledBackups } from './snapshot/backup-pending.js';
import { IdentityGuard } from './log/identity-guard.js';
import { announceStrategy, checkEndAfterOpen, checkWriterEnd, endCheck, identityAtOpen, recordCleanClose, writerCommitPoint, type OpenedIdentity } from './log/open-identity.js';
import { durableWatermark } from './log/recorded-commit-points.js';

/** Events a {@link Log} emits. */
export interface LogEvents {
  /** Records `[from, to)` were acknowledged and are readable. Carries no data: read them. */
  append: [range: { from: number; to: number }];
  /** An fsync made `records` records (`bytes` bytes) durable in `durationMs`. */
  flush: [info: { records: number; bytes: number; durationMs: number }];
  /** A new active segment was started. */
  roll: [segment: SegmentInfo];
  /** A segment was sealed with its footer. */
  seal: [segment: SegmentInfo];
  /** The log entered the failed state (an fsync failed); emitted only when someone listens. */
  error: [err: Error];
  /** A segment's archived copy was verified, an upload failed and will be retried, or the writer waits for the archive. */
  archive: [event: ArchiveEvent];
}

/** The `archive` event. */
export type ArchiveEvent =
  /** A segment's archived copy was verified and the catalog says so. */
  | { status: 'archived'; segment: SegmentInfo }
  /** An upload failed; retried after `retryInMs` (undefined: at the next seal or `archiveNow`). */
  | { status: 'failed'; baseSeq: number; error: AofError; retryInMs: number | undefined }
  /** Segments not yet archived hold `queuedBytes` ≥ `archiveMaxQueuedBytes`: the writer waits before sealing another. */
  | { status: 'writer-waiting'; queuedBytes: number; maxQueuedBytes: number };

/** What `Log.open` found and did. */
export interface OpenReport {
  /** Recovery of the active segment (writers only). */
  recovery: TailRecovery | undefined;
  /** A segment file with no header, left by a crash at creation, moved to `recovery/`. */
  unbornMovedTo: string | undefined;
  /** What reconciling the LMDB catalog with the files found (writers only). */
  catalog: CatalogReport | undefined;
}

/** Options of {@link Log.read}. */
export interface ReadOptions {
  /** First sequence number, inclusive (default: the first in the log). */
  from?: number;
  /** Sequence number to stop before, exclusive (default: the commit watermark when `read` is called; for a read-only handle, when iteration starts). */
  to?: number;
}

/**
 * A segmented append-only log in one directory. One writer per directory
 * (across processes); any number of read-only handles.
 *
 * ```ts
 * const log = await Log.open(dir);
 * const seq = await log.append('hello');   // durable when it resolves (flush strategy 'always')
 * const rec = await log.get(seq);
 * for await (const r of log.read({ from: 0 })) console.log(r.seq, r.payload.toString());
 * await log.close();
 * ```
 */
export class Log extends EventEmitter<LogEvents> {
  /** What recovery did at open. */
  readonly openReport: OpenReport;
  /** Pins that keep retention from deleting records a backup, snapshot or consumer still needs. */
  private readonly pins = new Pins();
  /** Catalog writes that failed (never fatal: the next open reconciles the catalog with the files). */
  readonly catalogErrors: Error[] = [];
  private state: 'open' | 'closing' | 'closed' = 'open';
  private readonly reader: SegmentReader;
  /** Wakes tail readers: on acknowledgement for the writer, on the watermark file for read-only handles. */
  private readonly wakeup: Wakeup;
  /** Read-only handles: follows the writer's files up to its published watermark. */
  private follower: Follower | undefined;
  /** Writers: publishes the watermark for readers in other processes. */
  private watermark: WatermarkPublisher | undefined;
  /** Archive tier, retention and uploads (writers). */
  private tiering: Tiering | undefined;
  /** Segments fetched back from the archive (handles opened with an archive). */
  private fetched: SegmentCache | undefined;
  /** Refuses segments of another log (issue 18, break 8); set right after construction by `open`. */
  private guard: IdentityGuard | undefined;
  /** Writers: the identity file's record, rewritten with the new commit point at clean close. */
  private identity: OpenedIdentity | undefined;

  private constructor(
    /** The log directory. */
    readonly dir: string,
    private readonly opts: NormalizedOptions,
    /** The segments and their descriptor budget: the one owner of segment state. */
    private readonly segs: SegmentList,
    private readonly writer: Writer | undefined,
    private readonly lock: WriterLock | undefined,
    private readonly catalog: SegmentCatalog | undefined,
    openReport: OpenReport,
  ) {
    super();
    this.openReport = openReport;
    this.reader = new SegmentReader(() => this.segmentList, this.files, opts.readAheadBytes, (seg) => this.prepareSegment(seg), opts.syncIoMaxBytes, opts.positionCacheBytes);
    if (opts.archive !== undefined) this.fetched = new SegmentCache(opts.fs, opts.archiveCacheDir ?? path.join(dir, 'cache'), opts.archive, opts.archiveCacheMaxBytes, this.files, (file) => void this.files.forget(file));
    if (writer === undefined) {
      this.wakeup = new FileWakeup(path.join(dir, WATERMARK_FILE), opts.tailPollIntervalMs);
      this.follower = new Follower(opts.fs, dir, segs, { indexIntervalBytes: opts.segment.indexIntervalBytes, readAheadBytes: opts.readAheadBytes, guard: { check: (h, f) => this.guard?.check(h, f) } });
    } else {
      this.wakeup = new Wakeup();
    }
  }

  /**
   * Opens (creating if needed) the log in `dir`. A writer takes the
   * directory's lock (`AOF_LOCKED` if another writer holds it) and recovers
   * the active segment: a torn tail is kept under `recovery/` and cut off;
   * corruption followed by valid frames rejects with `AOF_CORRUPT` (run
   * {@link Log.repair}). Sealed segments are opened from their catalog
   * entries, or their footers where the catalog has none; a header and
   * footer are read, and checked against the catalog, on first use.
   */
  static async open(dir: string, options?: LogOptions): Promise<Log> {
    checkPath('log directory', dir);
    const opts = normalizeOptions(options);
    await prepareLogDir(opts.fs, dir, opts.readOnly, opts.dirMode);
    let lock: WriterLock | undefined;
    let writer: Writer | undefined;
    let created: Log | undefined;
    let lockLost = false;
    // A lost lock (removed or replaced under us: another writer may take it) puts the writer in its failed state
    // and stops whatever else this handle writes to files another writer now shares (the watermark, tiering).
    const onLockLost = (err: Error): void => {
      lockLost = true;
      writer?.poison(new LogFailedError(`the writer lock was lost: ${err.message}`, err, { file: dir }));
      created?.stopSharedWrites();
    };
    if (!opts.readOnly) lock = await acquireWriterLock(dir, onLockLost, opts.dirMode, opts.fileMode);
    let opened: OpenedCatalog | undefined;
    let list: SegmentList | undefined;
    /** The active segment's write handle until the writer takes it over (and with it the duty to close it). */
    let active: FileHandle | undefined;
    let readCatalog: SegmentCatalog | undefined;
    try {
      const target = { fs: opts.fs, dir, fileMode: opts.fileMode, dirMode: opts.dirMode };
      const settings = { indexIntervalBytes: opts.segment.indexIntervalBytes, readAheadBytes: opts.readAheadBytes };
      await settleInterruptedRepair(target, opts.readOnly, opts.readAheadBytes);
      if (!opts.readOnly) await sweepKilledBackups(opts.fs, dir);
      // The catalog first: sealed segments it vouches for are opened from their entries, not read.
      // (A writer creates a missing catalog only after loading: an open that fails leaves the directory as it found it.)
      if (opts.readOnly) readCatalog = await openCatalogForReading(dir);
      else if (SegmentCatalog.exists(dir)) opened = await openWritableCatalog(dir, opts);
      const entries = opened?.entries ?? readCatalog?.all() ?? [];
      // A writer first finishes a removal retention began but did not end (a crash or a failed unlink after the catalog said so).
      if (opened !== undefined) await finishRetentionRemovals(opts.fs, dir, entries);
      const trusted = (opened?.catalog ?? readCatalog)?.closedCleanly === true ? trustedSealedEntries(entries) : undefined;
      // A catalog that opened is healthy (a damaged one is set aside, or not used by a reader): its recorded identity is a witness.
      const found = await identityAtOpen(opts.fs, dir, (opened?.catalog ?? readCatalog)?.recordedLogId);
      const guard = new IdentityGuard(found.known);
      // A writer's data must reach what the log recorded: checked by recovery before it cuts anything, and again after loading.
      const committed = opts.readOnly ? undefined : await writerCommitPoint(opts, dir, entries, found.record);
      // A reader takes the watermark as a witness under the writer's rule, read before the segments: it covers only records already on disk.
      const readerWatermark = opts.readOnly ? await durableWatermark(opts.fs, dir, found.record) : undefined;
      // After a clean close the active segment opens from its close marker when the catalog's entry of it and the commit points agree.
      const cleanClose = opened?.catalog.closedCleanly === true ? cleanCloseRecord(entries, committed) : undefined;
      const scan = opts.readOnly ? settings : { ...settings, checkEnd: endCheck(dir, entries, committed), cleanClose };
      const loaded = await loadSegments(opts.fs, dir, opts.readOnly, target, scan, trusted, guard);
      list = new SegmentList(opts.fs, opts.maxOpenFiles, loaded.segments);
      active = loaded.activeHandle;
      const report: OpenReport = { recovery: loaded.recovery, unbornMovedTo: loaded.unbornMovedTo, catalog: undefined };
      if (opts.readOnly) {
        if (opts.archive !== undefined) list.prepend(evictedPlaceholders(dir, entries));
        const reader = new Log(dir, opts, list, undefined, undefined, readCatalog, report);
        reader.guard = guard;
        try {
          await reader.follower!.catchUp();
          // Served only if it reaches what the log recorded: a reader must not end silently before acknowledged records.
          await checkEndAfterOpen(opts, dir, list.view, entries, found.record, settings, readerWatermark);
        } catch (err) {
          await reader.close().catch(() => undefined);
          readCatalog = undefined; // closed with the reader
          throw err;
        }
        return reader;
      }
      // Before anything is created or acknowledged on top: data ending before a recorded commit point is loss, not a fresh end.
      await checkWriterEnd(committed, dir, list.view, entries, active);
      // After a clean close everything found was already made durable by that close.
      const cleanlyClosed = loaded.recovery?.cleanClose === true && loaded.recovery.zeroTailBytes === 0 && loaded.recovery.tornTail === undefined;
      if (!cleanlyClosed) await syncAdoptedState(opts.fs, dir, list.view, active);
      const identity = await found.adopt(opts, list.view, guard, active);
      active ??= await startFirstSegment(opts, dir, list, identity.record.logId);
      const reconciled = opened ?? (await openWritableCatalog(dir, opts));
      opened = undefined; // reconcileCatalog closes it on failure
      const { catalog, report: catalogReport } = await reconcileCatalog(dir, reconciled, list.view, { dropMissing: false });
      report.catalog = catalogReport;
      const unchanged = catalogReport.added.length === 0 && catalogReport.corrected.length === 0 && catalogReport.dropped.length === 0 && !catalogReport.rebuilt;
      list.prepend(evictedPlaceholders(dir, unchanged ? reconciled.entries : catalog.all()));
      let log: Log | undefined;
      writer = new Writer(opts.fs, dir, opts, list, active, {
        appended: (from, to) => log?.acknowledged(from, to),
        flushed: (records, bytes, durationMs) => log?.emit('flush', { records, bytes, durationMs }),
        sealed: async (s) => {
          await log?.recordInCatalog(() => catalog.transition(s.baseSeq, 'sealed', entryFromSegment(s, s.dataEnd + s.footerBytes)));
          log?.emit('seal', log.segmentInfo(s));
          log?.tiering?.sealed();
        },
        beforeSeal: async () => {
          // A roll writes a footer and creates a segment file, as a writer that took the lock over would: the lock is checked first.
          await lock!.check().catch((err: unknown) => {
            throw writer?.failedWith ?? err;
          });
          await log?.tiering?.waitForArchiveRoom();
          // A footer indexes every frame: those a clean close left, not read at open, are checked first.
          await list!.last?.checkFrames(list!.files);
        },
        rolled: async (s) => {
          await log?.recordInCatalog(() => catalog.add(entryFromSegment(s, s.dataEnd)));
          log?.emit('roll', log.segmentInfo(s));
        },
        failed: (err) => log?.reportError(err),
      }, identity.record.logId);
      active = undefined; // the writer's now
      log = new Log(dir, opts, list, writer, lock, catalog, report);
      log.guard = new IdentityGuard(identity.record);
      log.identity = identity;
      log.watermark = await WatermarkPublisher.open(opts.fs, dir, log.nextSeq, opts.fileMode);
      await announceStrategy(opts, dir, identity);
      log.startTiering(catalog);
      created = log;
      if (lockLost) log.stopSharedWrites();
      return log;
    } catch (err) {
      // The active segment's handle has one owner, which closes it once: the writer from its construction on, this open before.
      if (writer !== undefined) await writer.abandon().catch(() => undefined);
      else await active?.close().catch(() => undefined);
      await list?.close();
      await opened?.catalog.close().catch(() => undefined);
      await readCatalog?.close().catch(() => undefined);
      await lock?.release();
      throw toAofError(err, 'cannot open the log', dir);
    }
  }

  /**
   * Opens the history stored in an archive, read-only, from any host: every
   * archived segment is readable with `get`, `read`, `tail` (up to the end of
   * the archive) and `seekTime`, fetched on demand into a bounded cache in
   * `cacheDir`. Never writes to the archive.
   */
  static async openArchive(archive: SegmentArchive, options: ArchiveReadOptions): Promise<Log> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('openArchive needs options with a cacheDir');
    checkPath('openArchive option cacheDir', options.cacheDir);
    const opts = normalizeOptions({ readOnly: true, archive, archiveCacheDir: options.cacheDir, archiveCacheMaxBytes: options.cacheMaxBytes, readAheadBytes: options.readAheadBytes, maxOpenFiles: options.maxOpenFiles });
    try {
      const segments = new SegmentList(opts.fs, opts.maxOpenFiles, await archivedSegments(archive, options.cacheDir));
      const log = new Log(options.cacheDir, opts, segments, undefined, undefined, undefined, { recovery: undefined, unbornMovedTo: undefined, catalog: undefined });
      log.follower = undefined; // nothing to follow: the archive holds sealed segments only
      const last = segments.last;
      if (last !== undefined) await log.prepareSegment(last);
      return log;
    } catch (err) {
      throw toAofError(err, 'cannot open the archive', options.cacheDir);
    }
  }

  /** Checks every frame and footer of the log in `dir` without changing anything. See {@link VerifyReport}. */
  static verify(dir: string, options?: VerifyOptions): Promise<VerifyReport> {
    try {
      checkPath('log directory', dir);
    } catch (err) {
      return Promise.reject(err);
    }
    return verifyLog(dir, options).catch((err: unknown) => {
      throw toAofError(err, 'cannot verify the log', dir);
    });
  }

  /**
   * Repairs the log in `dir` (taking its writer lock): cuts it at the first
   * damaged frame, or with `mode: 'skip'` keeps the valid frames after the
   * damage and records the lost range as a gap. Every byte removed is kept
   * under `recovery/`. See {@link RepairReport}.
   */
  static repair(dir: string, options?: RepairOptions): Promise<RepairReport> {
    try {
      checkPath('log directory', dir);
    } catch (err) {
      return Promise.reject(err);
    }
    return repairLog(dir, options).catch((err: unknown) => {
      throw toAofError(err, 'cannot repair the log', dir);
    });
  }

  /** The segments, oldest first, as readers see them: readonly. */
  private get segmentList(): readonly LoadedSegment[] {
    return this.segs.view;
  }

  /** The descriptor budget (`maxOpenFiles`): every read descriptor of a segment file is leased from it. */
  private get files(): HandlePool {
    return this.segs.files;
  }

  /** True when opened with `readOnly`. */
  get readOnly(): boolean {
    return this.writer === undefined;
  }

  /** Sequence number of the first record held (0 for a new log). */
  get firstSeq(): number {
    return this.segmentList[0]?.baseSeq ?? 0;
  }

  /**
   * The commit watermark: the sequence number after the last acknowledged
   * record. Readers never see records at or past it.
   */
  get nextSeq(): number {
    return this.segmentList[this.segmentList.length - 1]?.nextSeq ?? 0;
  }

  /**
   * Appends one record; resolves its sequence number once it is as durable as
   * the flush strategy promises (docs/DURABILITY.md). Appends issued without
   * awaiting each other share one write and one fsync.
   *
   * A `Uint8Array` payload is not copied at the call: its bytes are copied
   * into the write buffer just before the write, as with `fs.write`. Do not
   * modify it until the append resolves.
   */
  append(payload: Payload): Promise<number> {
    try {
      const writer = this.writable();
      return writer.append(toPayloadBytes(payload, this.opts.maxRecordBytes));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Appends records atomically (after a crash, all or none are there); resolves the first one's sequence number. */
  appendBatch(payloads: readonly Payload[]): Promise<number> {
    try {
      const writer = this.writable();
      return writer.append(batchPayloads(payloads, this.opts));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The record `seq`, or undefined if the log does not hold it. Rejects with `AOF_CORRUPT` or `AOF_GAP` rather than return damaged data. */
  get(seq: number): Promise<LogRecord | undefined> {
    let checked: number;
    try {
      this.checkOpen();
      checked = checkSeq('seq', seq);
    } catch (err) {
      return Promise.reject(err);
    }
    // What a read-only handle has seen is immutable: only a record past it needs a look at the writer's watermark.
    if (checked >= this.nextSeq) return this.getAfterCatchUp(checked);
    // Not an async function: a get served on this thread settles one promise here instead of an async function's several.
    return this.reader.get(checked).catch((err: unknown) => {
      throw toAofError(err, `cannot read record ${checked}`);
    });
  }

  private async getAfterCatchUp(checked: number): Promise<LogRecord | undefined> {
    try {
      await this.caughtUpTo(checked + 1);
      return await this.reader.get(checked);
    } catch (err) {
      throw toAofError(err, `cannot read record ${checked}`);
    }
  }

  /**
   * The records `seqs`, in the order asked (undefined for a number the log
   * does not hold), in one promise: the reads are issued in file order. For
   * loading a handful of scattered records at once, such as a stream's
   * events. Rejects as {@link get} does, for the first number that fails.
   */
  async getMany(seqs: readonly number[]): Promise<Array<LogRecord | undefined>> {
    this.checkOpen();
    if (!Array.isArray(seqs)) throw new InvalidArgumentError('seqs must be an array of sequence numbers');
    const checked = seqs.map((s, i) => checkSeq(`seqs[${i}]`, s));
    try {
      let highest = -1;
      for (const s of checked) if (s > highest) highest = s;
      if (highest >= this.nextSeq) await this.caughtUpTo(highest + 1);
      return await this.reader.getMany(checked);
    } catch (err) {
      throw toAofError(err, `cannot read records`);
    }
  }

  /** Records in `[from, to)` in order. Rejects mid-iteration with `AOF_CORRUPT` or `AOF_GAP` at damage, never skipping silently. */
  read(options: ReadOptions = {}): AsyncIterable<LogRecord> {
    const { from, to } = this.readRange(options);
    return new RecordIterator(this.readLatest(from, to), readError);
  }

  /**
   * As {@link read}, a stored frame's records at a time: the same records in
   * the same order, with the same checks and errors, in arrays that are never
   * empty (a frame holds one `appendBatch`, or single appends that group
   * commit wrote together, at most 4 KiB of them). One step per frame instead of
   * one per record: the faster way to scan when the consumer takes arrays.
   *
   * @example
   * for await (const records of log.readBatches({ from: 0 })) for (const r of records) sum += r.payload.length;
   */
  readBatches(options: ReadOptions = {}): AsyncIterable<readonly LogRecord[]> {
    const { from, to } = this.readRange(options);
    return new BatchIterator(this.readLatest(from, to), readError);
  }

  private readRange(options: ReadOptions): { from: number | undefined; to: number | undefined } {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('read options must be an object');
    const from = options.from === undefined ? undefined : checkSeq('from', options.from);
    // The writer's watermark is known now; a read-only handle learns it when it catches up, at the first pull.
    const to = options.to === undefined ? (this.follower === undefined ? this.nextSeq : undefined) : checkSeq('to', options.to);
    return { from, to };
  }

  /**
   * Read-only handles first catch up with the writer, so a read sees what was
   * acknowledged before it began. Raw system errors become `AOF_IO` in the
   * iterator around this.
   */
  private readLatest(from: number | undefined, to: number | undefined): ViewSource {
    const follower = this.follower;
    return new ViewSource(
      follower === undefined ? undefined : () => follower.catchUp(),
      () => this.reader.scan(from ?? this.firstSeq, to ?? this.nextSeq),
      // Records past the view that no watermark vouches for: say so rather than end as if there were none.
      () => {
        if (to === undefined || to > this.nextSeq) this.throwIfUnvouched();
      },
    );
  }

  /** A read-only handle catches up; rejects when records before `end` may exist but no watermark says whether they were acknowledged. */
  private async caughtUpTo(end: number): Promise<void> {
    if (this.follower === undefined) return;
    await this.follower.catchUp();
    if (end > this.nextSeq) this.throwIfUnvouched();
  }

  private throwIfUnvouched(): void {
    const refused = this.follower?.unavailable();
    if (refused !== undefined) throw refused;
  }

  /**
   * Follows the log: yields every record from `from` on, in order and without
   * gaps, then each new one once its append has resolved, across segment
   * rolls, until `signal` aborts (the loop ends with an `AbortError`), the
   * consumer breaks, or the log handle closes (after delivering everything up
   * to the final watermark). A read-only handle follows a writer in another
   * process, woken by `fs.watch` with a polling fallback. Falling behind the
   * start of the log rejects with `AOF_BEHIND_RETENTION`.
   */
  tail(options: TailOptions = {}): AsyncIterable<LogRecord> {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('tail options must be an object');
    const from = options.from === undefined ? undefined : checkSeq('from', options.from);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('tail option signal must be an AbortSignal');
    const follower = this.follower;
    const source: TailSource = {
      watermark: () => this.nextSeq,
      firstSeq: () => this.firstSeq,
      catchUp: follower === undefined ? () => undefined : () => follower.catchUp(),
      closed: () => this.state !== 'open',
      follow: (from) => this.reader.scan(from, Number.MAX_SAFE_INTEGER, true),
      wakeup: this.wakeup,
    };
    return new TailIterator(source, () => from ?? this.nextSeq, options.signal, tailError);
  }

  /** Starts uploads and retention in the background (writers with an archive or retention configured). */
  private startTiering(catalog: SegmentCatalog): void {
    if (this.opts.archive === undefined && this.opts.retention === undefined) return;
    // Archive retention alone also needs the tiering machinery; it is checked inside.
    this.tiering = new Tiering(
      {
        fs: this.opts.fs, dir: this.dir, archive: this.opts.archive, retention: this.opts.retention, archiveRetention: this.opts.archiveRetention, cacheDir: this.opts.archiveCacheDir ?? path.join(this.dir, 'cache'),
        cacheMaxBytes: this.opts.archiveCacheMaxBytes, maxQueuedBytes: this.opts.archiveMaxQueuedBytes, backoff: this.opts.archiveRetry, lowestPinnedSeq: () => this.pins.lowestPinnedSeq(), clock: this.opts.clock,
      },
      catalog,
      this.segs,
      {
        archived: (entry) => this.emit('archive', { status: 'archived', segment: infoFromEntry(entry, this.dir) }),
        failed: (error, baseSeq, retryInMs) => this.emit('archive', { status: 'failed', baseSeq, error, retryInMs }),
        writerWaiting: (queuedBytes, maxQueuedBytes) => this.emit('archive', { status: 'writer-waiting', queuedBytes, maxQueuedBytes }),
      },
    );
    this.tiering.start();
  }

  /** A deferred segment's header and footer (or, active, its frames) are read, an evicted one fetched back into the bounded cache, before it is read. */
  private async prepareSegment(seg: LoadedSegment): Promise<void> {
    if (seg.location === 'local' && !seg.sealed) return this.segs.own(seg).checkFrames(this.files);
    if (seg.location === 'local') return loadDeferredSegment(this.files, this.segs.own(seg), this.guard, (baseSeq, error, figures) => this.catalogMismatch(baseSeq, error, figures));
    const cache = this.tiering?.cache ?? this.fetched;
    if (cache === undefined) throw new ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, `segment ${seg.baseSeq} was evicted to the archive: open the log with its archive to read it`, { file: seg.file });
    cache.guard ??= this.guard;
    await cache.ensure(this.segs.own(seg));
  }

  /**
   * Uploads every sealed segment waiting for the archive now (retrying as
   * configured), then applies retention. Rejects with the archive's error if
   * the queue could not be emptied. `aof archive --now` runs this.
   */
  async archiveNow(): Promise<void> {
    this.checkOpen();
    await this.tiering?.archiveNow();
  }

  /**
   * After the writer lock was lost: another writer may hold the directory
   * now, so this handle stops writing the files the two would share. Its
   * watermark would roll the other writer's back (its periodic check puts
   * back its own last value), and retention could remove what it still needs.
   */
  private stopSharedWrites(): void {
    this.watermark?.abandon();
    this.tiering?.close().catch(() => undefined);
  }

  /** Records `[from, to)` were acknowledged: publish the watermark, wake tail readers, tell listeners. */
  private acknowledged(from: number, to: number): void {
    this.watermark?.publish(to);
    this.wakeup.notify();
    this.emit('append', { from, to });
  }

  /**
   * The first sequence number whose timestamp is at or after `ms` (ms since
   * the epoch), or undefined when every record is older. Bisects segments by
   * time, then the sparse time index, then scans at most one index interval.
   */
  async seekTime(ms: number): Promise<number | undefined> {
    this.checkOpen();
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError(`seekTime takes a time in ms since the epoch (a finite non-negative number), got ${String(ms)}`);
    try {
      return await seekTime(this.segmentList, this.files, ms, this.opts.readAheadBytes, (seg) => this.prepareSegment(seg));
    } catch (err) {
      throw toAofError(err, 'cannot search the log by time');
    }
  }

  /**
   * Keeps every record from `fromSeq` on out of retention's reach until the
   * returned function is called (a backup in progress, a snapshot that needs
   * the log after it, a slow consumer). Pins last as long as this handle.
   */
  pin(fromSeq: number, reason = 'pinned'): () => void {
    this.checkOpen();
    return this.pins.pin(checkSeq('fromSeq', fromSeq), reason);
  }

  /**
   * Copies the log as it is at this call into the new directory `dest`,
   * while appends go on: exactly the records acknowledged before the call
   * (`[firstSeq, nextSeq)` in the report). Sealed segments are hard-linked
   * where the file system allows, the active one is copied up to its
   * acknowledged end and given a clean-close marker; the catalog is rebuilt
   * by the copy's first open. `dest` appears whole or not at all. The
   * records are pinned while it runs. See docs/SNAPSHOTS.md.
   */
  backup(dest: string, options?: BackupOptions): Promise<BackupReport> {
    try {
      this.checkOpen();
      checkPath('backup destination', dest);
    } catch (err) {
      return Promise.reject(err);
    }
    const source = { dir: this.dir, fs: this.opts.fs, fileMode: this.opts.fileMode, dirMode: this.opts.dirMode, segments: this.segmentList, files: this.files, pin: (fromSeq: number, reason: string) => this.pin(fromSeq, reason), readOnly: this.readOnly };
    // A writer's view is current now: taking it in this same turn keeps later appends out of the copy.
    if (this.follower === undefined) return backupLog(source, dest, options);
    return this.caughtUpTo(Number.MAX_SAFE_INTEGER).then(() => backupLog(source, dest, options));
  }

  /** Seals the active segment and starts a new one (no-op on an empty segment). */
  roll(): Promise<void> {
    try {
      return this.writable().roll();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Resolves once everything appended before the call is on stable storage, whatever the strategy. */
  flush(): Promise<void> {
    try {
      return this.writable().flush();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The segments, oldest first, as the catalog records them (with their
   * status through archival and retention), the active one with its live
   * figures. Without a catalog (a read-only handle on a log that never had
   * one), as the files say.
   */
  segments(): SegmentInfo[] {
    this.checkOpen();
    if (this.catalog === undefined) return this.segmentList.map((s) => this.segmentInfo(s));
    // The writer's own active segment is ahead of its catalog entry (not written per append); a reader's view is not.
    const live = new Map(this.segmentList.filter((s) => !s.sealed && this.writer !== undefined).map((s) => [s.baseSeq, s]));
    return this.catalog.all().map((e) => {
      const active = live.get(e.baseSeq);
      return active === undefined ? infoFromEntry(e, this.dir) : this.segmentInfo(active);
    });
  }

  /** The public view of a segment the log holds in memory, with its catalog status. */
  private segmentInfo(s: LoadedSegment): SegmentInfo {
    const info = toSegmentInfo(s);
    const entry = this.catalog?.get(s.baseSeq);
    return entry === undefined ? info : { ...info, status: s.sealed ? entry.status : 'active', archive: entry.archive };
  }

  /** Runs a catalog write; a failure is counted, never fatal: the next open reconciles the catalog with the files. */
  /** A sealed segment's intact file disagreed with its catalog entry: the file wins, the error is counted and a writer corrects the entry. */
  private catalogMismatch(baseSeq: number, error: Error, figures: SealedFigures): void {
    this.catalogErrors.push(error);
    const catalog = this.catalog;
    if (catalog === undefined || this.writer === undefined) return;
    const stored = catalog.get(baseSeq);
    if (stored === undefined) return;
    const corrected: CatalogEntry = {
      ...stored, nextSeq: figures.nextSeq, recordCount: figures.recordCount, bytes: figures.dataEnd + figures.footerBytes,
      firstTimestamp: figures.firstTimestamp, lastTimestamp: figures.lastTimestamp, footerCrc: figures.footerCrc ?? null, createdMs: figures.createdMs,
    };
    void this.recordInCatalog(() => catalog.replace(corrected));
  }

  private async recordInCatalog(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.catalogErrors.push(toAofError(err, 'catalog write failed; the next open reconciles it with the files'));
    }
  }

  /** Counters: records, writes, fsyncs and their latency, group-commit sizes, back-pressure, failed state. */
  metrics(): LogMetrics {
    const base = this.writer === undefined ? emptyMetrics() : this.writer.metrics.snapshot(this.writer.failedWith !== undefined, this.writer.pendingBytes);
    const cache = this.tiering?.cache ?? this.fetched;
    if (this.tiering === undefined && cache === undefined) return base;
    const archived = this.tiering?.metrics() ?? emptyArchiveMetrics();
    return { ...base, archive: { ...archived, cacheBytes: cache?.sizeBytes ?? 0, fetches: cache?.fetches ?? 0 } };
  }

  /**
   * Lets a writer that waits for archive room (`archiveMaxQueuedBytes`) go
   * on, as `close()` does first: for owners that must see their appends
   * settle before they close the log (the event store).
   *
   * @internal
   */
  releaseArchiveWait(): void {
    this.tiering?.releaseWriter();
  }

  /**
   * Writes everything queued, marks the clean end of the data, releases the
   * lock. After a clean close, damage anywhere is reported as corruption,
   * never cut away as a torn tail. Idempotent.
   */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    // Whatever fails (a full disk at the close marker), everything is still released, and the rejection is typed.
    let failure: unknown;
    try {
      await this.tiering?.close();
      await this.writer?.close().catch((err: unknown) => (failure = err));
      await this.refreshActiveEntry();
      if (this.writer !== undefined && this.writer.failedWith === undefined && this.catalogErrors.length === 0 && failure === undefined) {
        // The log's identity goes into the catalog with the mark (one commit): with the identity file deleted, the next open still knows whose segments are its own.
        await this.recordInCatalog(() => this.catalog!.markClosedCleanly(this.identity?.record));
      }
      // A commit point outside the segments: a later open finds out if records below it went missing.
      if (this.writer !== undefined && this.writer.failedWith === undefined && this.identity !== undefined) await recordCleanClose(this.opts, this.dir, this.identity, this.nextSeq);
      // Publish once more: a write of the watermark that failed earlier would leave readers behind for good.
      this.watermark?.publish(this.nextSeq);
      await this.watermark?.close();
    } catch (err) {
      failure ??= err;
    } finally {
      this.wakeup.notify();
      if (this.wakeup instanceof FileWakeup) this.wakeup.close();
      await this.catalog?.close().catch(() => undefined);
      await this.segs.close().catch((err: unknown) => (failure ??= err));
      await this.lock?.release().catch((err: unknown) => (failure ??= err));
      this.state = 'closed';
    }
    if (failure !== undefined) throw toAofError(failure, 'close failed', this.dir);
  }

  /** `await using log = await Log.open(dir)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** At close, one catalog write brings the active segment's figures up to date for `aof stat` and readers. */
  private async refreshActiveEntry(): Promise<void> {
    const active = this.segmentList[this.segmentList.length - 1];
    if (this.catalog === undefined || this.catalog.readOnly || active === undefined || active.sealed || this.writer?.failedWith !== undefined) return;
    const entry = entryFromSegment(active, active.dataEnd);
    if (activeEntryCurrent(this.catalog.get(active.baseSeq), entry)) return;
    await this.recordInCatalog(() => this.catalog!.replace(entry));
  }

  private writable(): Writer {
    this.checkOpen();
    if (this.writer === undefined) throw new ReadOnlyError();
    const failure = this.writer.failedWith;
    if (failure !== undefined) throw failure;
    return this.writer;
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new ClosedError();
  }

  private reportError(err: LogFailedError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function readError(err: unknown): unknown {
  return toAofError(err, 'cannot read the log');
}

function tailError(err: unknown): unknown {
  return toAofError(err, 'cannot follow the log');
}
