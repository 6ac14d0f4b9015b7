/**
 * The snapshot store: application state at a sequence number, kept as
 * checksummed files written atomically (tmp file → fdatasync → rename →
 * directory fsync), with keep-N pruning that spares pinned snapshots, and
 * `latest()` that skips (and quarantines) damaged ones. Also keeps the
 * store's backups of a log. See docs/SNAPSHOTS.md.
 *
 * @module
 */
import { checkPath } from '../validate.js';
import { EventEmitter } from 'node:events';
import { constants as bufferConstants } from 'node:buffer';
import * as path from 'node:path';
import {
  AofError,
  ClosedError,
  errnoOf,
  InvalidArgumentError,
  IoError,
  SnapshotCorruptError,
  SnapshotFailedError,
  toAofError,
} from '../errors.js';
import { nodeFs } from '../fs/node-fs.js';
import { pathExists } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import type { Log } from '../log.js';
import { abortError, isAbortError, throwIfAborted } from './abort.js';
import { removeTree, type BackupOptions, type BackupReport } from './backup.js';
import { BACKUP_SUFFIX, entryName, FLAG_DEFLATE, monotonicMicros, parseBackupName, parseSnapshotName, SNAPSHOT_SUFFIX, TMP_PREFIX } from './format.js';
import { readEnvelope, readSnapshotBody, writeSnapshotBody, type OpenedSnapshot, type PipelineSettings, type SnapshotData } from './pipeline.js';
import { SnapshotWorker, WorkerJobError } from './worker-pool.js';

export type { SnapshotData } from './pipeline.js';

/** Subdirectory of damaged snapshots moved aside by `latest()`. */
export const SNAPSHOT_RECOVERY_DIR = 'recovery';
/** Subdirectory of pin markers (one empty file per pinned snapshot or kept backup). */
export const PINS_DIR = 'pins';
/** Subdirectory of backups. */
export const BACKUPS_DIR = 'backups';

/** Options of {@link SnapshotStore.open}. */
export interface SnapshotStoreOptions {
  /** Snapshots `prune()` keeps: the newest `keep`, plus every pinned one (default 3, at least 1). */
  keep?: number;
  /** Backups `prune()` keeps: the newest `keepBackups`, plus every kept one (default 3, at least 1). */
  keepBackups?: number;
  /** Prune after every successful save, backup and unpin (default true). */
  autoPrune?: boolean;
  /** The file-system adapter (default: the real one). */
  fs?: FileSystem;
  /** Attach to this log: the newest snapshot and every pinned one pin the log from their sequence number (see {@link SnapshotStore.attach}). */
  log?: Log;
  /** `deflate` compresses each block in the worker (default `none`). */
  compression?: 'none' | 'deflate';
  /** Deflate level 1-9 (default 1: fast). */
  compressionLevel?: number;
  /** Bytes handed to the worker at a time, between two turns of the event loop (default 1 MiB; 4 KiB to 64 MiB). */
  sliceBytes?: number;
  /** Bound on the shared memory of one save or read in flight (default 4 MiB; at least two slices). */
  memoryBytes?: number;
  /** Permission bits of new files (default 0o600). */
  fileMode?: number;
  /** Permission bits of new directories (default 0o700). */
  dirMode?: number;
}

/** What the store knows about one snapshot. */
export interface SnapshotInfo {
  /** `<seq 20 digits>-<created µs 16 digits>.snap`: unique, sorted by sequence number then time. */
  name: string;
  /** Path of the file. */
  file: string;
  /** The sequence number the state is at: the first record the state does not reflect (replay from here). */
  seq: number;
  /** Bytes of the state. */
  bytes: number;
  /** Bytes of the file (header, body, trailer). */
  storedBytes: number;
  /** `sha256:<hex>` of the state. */
  checksum: string;
  /** Creation time in µs since the epoch (unique within a process). */
  createdMicros: number;
  /** Creation time in ms since the epoch. */
  createdMs: number;
  /** Stored as deflate blocks. */
  compressed: boolean;
  /** Pinned: `prune()` never removes it. */
  pinned: boolean;
}

/** The newest valid snapshot, from {@link SnapshotStore.latest}. */
export interface Snapshot {
  seq: number;
  data: Uint8Array;
  info: SnapshotInfo;
}

/** Options of {@link SnapshotStore.save}. */
export interface SaveOptions {
  /** Cancels the save: the worker stops, the temporary file is removed, the promise rejects with an `AbortError`. Too late once the file is renamed into place (the save then resolves). */
  signal?: AbortSignal;
  /** Pin the snapshot: pruning never removes it, and an attached log keeps every record from its `seq` on. */
  pinned?: boolean;
}

/** A backup kept by the store. */
export interface BackupInfo {
  /** `<seq 20 digits>-<created µs 16 digits>.backup`. */
  name: string;
  /** The backup's log directory. */
  dir: string;
  /** The log's commit watermark when the backup was requested. */
  seq: number;
  createdMicros: number;
  createdMs: number;
  /** Marked kept (pinned): `prune()` never removes it. */
  kept: boolean;
  /** What `log.backup` reported (only on the info `backup()` resolves). */
  report?: BackupReport;
}

/** What {@link SnapshotStore.prune} removed. */
export interface PruneReport {
  snapshots: string[];
  backups: string[];
}

/** Events of a {@link SnapshotStore}. */
export interface SnapshotStoreEvents {
  /** A snapshot was saved (renamed into place and its directory fsynced). */
  saved: [info: SnapshotInfo];
  /** A damaged or truncated snapshot was found; `latest()` moved it to `recovery/` (`err.movedTo`). */
  corrupt: [err: SnapshotCorruptError];
  /** A save, backup or automatic prune failed (the promise, if any, rejects with the same error). */
  failed: [err: Error, op: 'save' | 'backup' | 'prune'];
  /** `prune()` removed these. */
  pruned: [report: PruneReport];
  /** A backup was made. */
  backup: [info: BackupInfo];
}

/** Temporary paths being written by this process, which no store's open may remove. */
const inProgress = new Set<string>();

const MiB = 1024 * 1024;

interface NormalizedStoreOptions {
  keep: number;
  keepBackups: number;
  autoPrune: boolean;
  fs: FileSystem;
  level: number;
  sliceBytes: number;
  slots: number;
  fileMode: number;
  dirMode: number;
}

/**
 * Snapshots of application state in one directory.
 *
 * ```ts
 * const store = await SnapshotStore.open('/var/lib/app/snapshots', { keep: 3, log });
 * await store.save(log.nextSeq, serialize(state));
 * const snap = await store.latest();        // { seq, data, info } or undefined
 * ```
 *
 * Checksumming (and compression) run in a worker thread; the main thread
 * only copies one slice (default 1 MiB) per turn of the event loop, so a
 * large save never stalls it. One store per directory at a time.
 */
export class SnapshotStore extends EventEmitter<SnapshotStoreEvents> {
  private readonly worker = new SnapshotWorker();
  private readonly pinned = new Set<string>();
  /** Log pins held for snapshots (by name), when attached. */
  private readonly logPins = new Map<string, () => void>();
  private log: Log | undefined;
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;
  private pinSync: Promise<void> = Promise.resolve();
  private pruning: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The store's directory. */
    readonly dir: string,
    private readonly opts: NormalizedStoreOptions,
  ) {
    super();
  }

  /**
   * Opens (creating if needed) the store in `dir`: removes temporary files
   * left by a crashed save (never a snapshot), reads the pins, and attaches
   * to `options.log` if given.
   */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    checkPath('snapshot store directory', dir);
    const opts = normalizeStoreOptions(options);
    const store = new SnapshotStore(path.resolve(dir), opts);
    try {
      await store.prepare();
    } catch (err) {
      throw toAofError(err, 'cannot open the snapshot store', dir);
    }
    if (options.log !== undefined) await store.attach(options.log);
    return store;
  }

  private get fs(): FileSystem {
    return this.opts.fs;
  }

  private get settings(): PipelineSettings {
    return { sliceBytes: this.opts.sliceBytes, slots: this.opts.slots, level: this.opts.level };
  }

  private async prepare(): Promise<void> {
    const created = !(await pathExists(this.fs, this.dir));
    await this.fs.mkdir(this.dir, this.opts.dirMode);
    if (created) await this.fs.syncDir(path.dirname(this.dir));
    await this.removeStaleTemporaries(this.dir, false);
    await this.removeStaleTemporaries(path.join(this.dir, BACKUPS_DIR), true);
    for (const name of await readdirOrEmpty(this.fs, path.join(this.dir, PINS_DIR))) {
      if (parseSnapshotName(name) !== undefined || parseBackupName(name) !== undefined) this.pinned.add(name);
    }
  }

  /** Removes `.tmp-<pid>-...` entries of processes that are gone (or of this one, when no save of it is writing them). */
  private async removeStaleTemporaries(dir: string, directories: boolean): Promise<void> {
    for (const name of await readdirOrEmpty(this.fs, dir)) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const full = path.join(dir, name);
      const pid = Number(/^\.tmp-(\d+)-/.exec(name)?.[1]);
      if (inProgress.has(full) || (pid !== process.pid && processAlive(pid))) continue;
      if (directories) await removeTree(this.fs, full);
      else await this.fs.unlink(full).catch((err: unknown) => (errnoOf(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    }
  }

  /**
   * Attaches the store to a log: the newest snapshot, and every pinned one,
   * pin the log from their `seq`, so that retention never removes records a
   * restore from them would replay. Pins are in memory and end with the
   * store (or the log handle).
   */
  async attach(log: Log): Promise<void> {
    this.checkOpen();
    this.log = log;
    await this.syncLogPins();
  }

  /**
   * Saves `data` as the state at `seq` (the first record the state does not
   * reflect). `data` is a `Uint8Array` (do not modify it until the promise
   * resolves) or an (async) iterable of chunks, streamed with bounded memory.
   * Resolves once the snapshot is durable and visible.
   */
  save(seq: number, data: SnapshotData, options: SaveOptions = {}): Promise<SnapshotInfo> {
    try {
      this.checkOpen();
      checkSaveArgs(seq, data, options);
      if (this.log !== undefined && !this.log.readOnly && seq > this.log.nextSeq) throw new InvalidArgumentError(`snapshot seq ${seq} is past the log's commit watermark ${this.log.nextSeq}`);
      if (options.signal?.aborted === true) throw abortError(options.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(this.saveNow(seq, data, options));
  }

  private async saveNow(seq: number, data: SnapshotData, options: SaveOptions): Promise<SnapshotInfo> {
    const createdMicros = monotonicMicros();
    const name = entryName(seq, createdMicros, SNAPSHOT_SUFFIX);
    const file = path.join(this.dir, name);
    const tmp = path.join(this.dir, `${TMP_PREFIX}${process.pid}-${name}`);
    const signal = options.signal;
    inProgress.add(tmp);
    let handle: FileHandle | undefined;
    let marker = false;
    let renamed = false;
    try {
      handle = await this.fs.open(tmp, 'createNew', this.opts.fileMode);
      const written = await writeSnapshotBody(handle, this.worker, { seq, createdMicros }, data, this.settings, signal);
      const h = handle;
      handle = undefined;
      await h.close();
      throwIfAborted(signal);
      if (options.pinned === true) {
        await this.writePinMarker(name);
        marker = true;
      }
      if (await pathExists(this.fs, file)) throw new IoError(`a snapshot named ${name} already exists (another process saving to this store in the same microsecond); not overwritten`, Object.assign(new Error('EEXIST'), { code: 'EEXIST' }), { file });
      await this.fs.rename(tmp, file);
      renamed = true;
      if (options.pinned === true) this.pinned.add(name);
      await this.fs.syncDir(this.dir);
      const info: SnapshotInfo = {
        name, file, seq, bytes: written.dataBytes, storedBytes: written.fileBytes, checksum: `sha256:${written.digest.toString('hex')}`,
        createdMicros, createdMs: Math.floor(createdMicros / 1000), compressed: this.opts.level >= 0, pinned: options.pinned === true,
      };
      await this.syncLogPins();
      this.emit('saved', info);
      if (this.opts.autoPrune) await this.autoPrune();
      return info;
    } catch (err) {
      if (renamed) {
        // Visible already: only the directory fsync failed. The file is whole; report the failure, keep the file.
        const failure = toAofError(err, 'snapshot written but its directory could not be fsynced', this.dir);
        this.emit('failed', failure, 'save');
        throw failure;
      }
      await handle?.close().catch(() => undefined);
      await this.fs.unlink(tmp).catch(() => undefined);
      if (marker) await this.removePinMarker(name).catch(() => undefined);
      const failure = saveError(err, signal, tmp);
      this.emit('failed', failure, 'save');
      throw failure;
    } finally {
      inProgress.delete(tmp);
    }
  }

  /**
   * The newest valid snapshot (highest `seq`, then newest), read whole and
   * checked against its SHA-256, or undefined when there is none. A damaged
   * or truncated snapshot is skipped: reported through the `corrupt` event
   * (an `AOF_SNAPSHOT_CORRUPT` error with file, offset and reason), moved to
   * `recovery/`, and the next newest is tried.
   */
  latest(options: { signal?: AbortSignal } = {}): Promise<Snapshot | undefined> {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(this.latestNow(options.signal));
  }

  private async latestNow(signal: AbortSignal | undefined): Promise<Snapshot | undefined> {
    const names = (await this.snapshotNames()).reverse();
    for (const name of names) {
      try {
        return await this.readWhole(name, signal);
      } catch (err) {
        if (err instanceof SnapshotCorruptError) {
          await this.quarantine(name, err);
          continue;
        }
        if (errnoOf(err) === 'ENOENT') continue; // pruned meanwhile
        if (isAbortError(err)) throw err;
        throw toAofError(err, `cannot read snapshot ${name}`, path.join(this.dir, name));
      }
    }
    return undefined;
  }

  private async readWhole(name: string, signal: AbortSignal | undefined): Promise<Snapshot> {
    const file = path.join(this.dir, name);
    const handle = await this.fs.open(file, 'read');
    try {
      const opened = await this.envelope(handle, name);
      const bytes = opened.trailer.dataBytes;
      if (bytes > bufferConstants.MAX_LENGTH) throw new InvalidArgumentError(`snapshot ${name} holds ${bytes} bytes, more than one buffer can: stream it with read()`);
      const data = Buffer.allocUnsafe(bytes);
      let at = 0;
      for await (const chunk of readSnapshotBody(handle, name, opened, this.worker, this.settings, signal, data)) {
        // Uncompressed, the chunks were read in place already; inflated ones are copied.
        if (chunk.buffer !== data.buffer || chunk.byteOffset !== data.byteOffset + at) data.set(chunk, at);
        at += chunk.byteLength;
      }
      return { seq: opened.header.seq, data, info: this.infoOf(name, opened) };
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * Streams the state of snapshot `name` in chunks (each a copy the caller
   * owns), for states too large to hold at once. The checksum is checked at
   * the end: the iteration rejects with `AOF_SNAPSHOT_CORRUPT` after the last
   * chunk if it does not match, so apply nothing until it completes.
   */
  async *read(name: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    this.checkOpen();
    if (parseSnapshotName(name) === undefined) throw new InvalidArgumentError(`${String(name)} is not a snapshot name`);
    const file = path.join(this.dir, name);
    let handle: FileHandle;
    try {
      handle = await this.fs.open(file, 'read');
    } catch (err) {
      throw toAofError(err, `cannot read snapshot ${name}`, file);
    }
    try {
      const opened = await this.envelope(handle, name);
      for await (const chunk of readSnapshotBody(handle, name, opened, this.worker, this.settings, options.signal)) yield Buffer.from(chunk);
    } catch (err) {
      if (err instanceof AofError || isAbortError(err)) throw err;
      throw toAofError(err, `cannot read snapshot ${name}`, file);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Every well-formed snapshot (header and trailer intact), oldest first. Malformed ones are reported through `corrupt`, not listed (`latest()` moves them aside). */
  async list(): Promise<SnapshotInfo[]> {
    this.checkOpen();
    const out: SnapshotInfo[] = [];
    for (const name of await this.snapshotNames()) {
      const file = path.join(this.dir, name);
      let handle: FileHandle;
      try {
        handle = await this.fs.open(file, 'read');
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue;
        throw toAofError(err, `cannot read snapshot ${name}`, file);
      }
      try {
        out.push(this.infoOf(name, await this.envelope(handle, name)));
      } catch (err) {
        if (!(err instanceof SnapshotCorruptError)) throw toAofError(err, `cannot read snapshot ${name}`, file);
        this.emit('corrupt', err);
      } finally {
        await handle.close().catch(() => undefined);
      }
    }
    return out;
  }

  /** The store's backups, oldest first. */
  async listBackups(): Promise<BackupInfo[]> {
    this.checkOpen();
    return (await this.backupNames()).map((name) => this.backupInfo(name));
  }

  /**
   * Removes every snapshot but the newest `keep` and the pinned ones, and
   * every backup but the newest `keepBackups` and the kept ones. Judged by
   * name (sequence number, then time); files are not read.
   */
  prune(): Promise<PruneReport> {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(this.pruneNow());
  }

  /** One prune at a time: concurrent saves each prune after themselves. */
  private pruneNow(): Promise<PruneReport> {
    const run = this.pruning.then(() => this.pruneOnce());
    this.pruning = run.catch(() => undefined);
    return run;
  }

  private async pruneOnce(): Promise<PruneReport> {
    const report: PruneReport = { snapshots: [], backups: [] };
    const names = await this.snapshotNames();
    for (const name of names.slice(0, Math.max(0, names.length - this.opts.keep))) {
      if (this.pinned.has(name)) continue;
      await this.fs.unlink(path.join(this.dir, name)).catch((err: unknown) => (errnoOf(err) === 'ENOENT' ? undefined : Promise.reject(err)));
      report.snapshots.push(name);
    }
    if (report.snapshots.length > 0) await this.fs.syncDir(this.dir);
    const backups = await this.backupNames();
    const backupsDir = path.join(this.dir, BACKUPS_DIR);
    for (const name of backups.slice(0, Math.max(0, backups.length - this.opts.keepBackups))) {
      if (this.pinned.has(name)) continue;
      // Out of sight at once (one rename), then removed.
      const doomed = path.join(backupsDir, `${TMP_PREFIX}${process.pid}-${name}-pruned`);
      await this.fs.rename(path.join(backupsDir, name), doomed);
      report.backups.push(name);
      await removeTree(this.fs, doomed);
    }
    if (report.backups.length > 0) await this.fs.syncDir(backupsDir);
    await this.syncLogPins();
    if (report.snapshots.length + report.backups.length > 0) this.emit('pruned', report);
    return report;
  }

  private async autoPrune(): Promise<void> {
    try {
      await this.pruneNow();
    } catch (err) {
      // The save or backup itself succeeded; the next prune tries again.
      this.emit('failed', toAofError(err, 'automatic prune failed', this.dir), 'prune');
    }
  }

  /**
   * Pins snapshot (or backup) `name`: `prune()` never removes it, and an
   * attached log keeps every record from its `seq` on. Durable: the pin is a
   * marker file under `pins/`, fsynced.
   */
  async pin(name: string): Promise<void> {
    this.checkOpen();
    const where = this.pathOf(name);
    if (!(await pathExists(this.fs, where))) throw new InvalidArgumentError(`no snapshot or backup named ${name} in ${this.dir}`);
    await this.writePinMarker(name);
    this.pinned.add(name);
    await this.syncLogPins();
  }

  /** Removes the pin of `name` (no-op if not pinned); with `autoPrune`, then prunes. */
  async unpin(name: string): Promise<void> {
    this.checkOpen();
    this.pathOf(name);
    await this.removePinMarker(name);
    this.pinned.delete(name);
    await this.syncLogPins();
    if (this.opts.autoPrune) await this.autoPrune();
  }

  /**
   * Backs `log` up into `backups/<seq>-<µs>.backup` (see `log.backup`):
   * a uniquely named, point-in-time copy that opens as a log. `keep: true`
   * marks it kept (pinned), so that pruning spares it.
   */
  backup(log: Log, options: BackupOptions & { keep?: boolean } = {}): Promise<BackupInfo> {
    try {
      this.checkOpen();
      if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('backup options must be an object');
      if (options.keep !== undefined && typeof options.keep !== 'boolean') throw new InvalidArgumentError('backup option keep must be a boolean');
    } catch (err) {
      return Promise.reject(err);
    }
    // The name's seq is the watermark now, in the turn `log.backup` takes its view.
    const createdMicros = monotonicMicros();
    const name = entryName(log.nextSeq, createdMicros, BACKUP_SUFFIX);
    const dir = path.join(this.dir, BACKUPS_DIR, name);
    const { keep, ...backupOptions } = options;
    const running = log.backup(dir, backupOptions);
    return this.track(this.finishBackup(name, running, keep === true));
  }

  private async finishBackup(name: string, running: Promise<BackupReport>, keep: boolean): Promise<BackupInfo> {
    try {
      const report = await running;
      if (keep) {
        await this.writePinMarker(name);
        this.pinned.add(name);
      }
      const info: BackupInfo = { ...this.backupInfo(name), report };
      this.emit('backup', info);
      if (this.opts.autoPrune) await this.autoPrune();
      return info;
    } catch (err) {
      const failure = isAbortError(err) ? (err as Error) : toAofError(err, 'backup failed', path.join(this.dir, BACKUPS_DIR, name));
      this.emit('failed', failure, 'backup');
      throw failure;
    }
  }

  /** The id of the worker thread, or undefined when none runs (it starts on first use and ends with `close()` or a crash). */
  get workerThreadId(): number | undefined {
    return this.worker.threadId;
  }

  /**
   * Waits for the saves, reads, prunes and backups in flight (cancel them
   * with their signals to stop them sooner), releases the log pins and
   * terminates the worker thread. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    for (const release of this.logPins.values()) release();
    this.logPins.clear();
    this.log = undefined;
    await this.worker.close();
  }

  /** `await using store = await SnapshotStore.open(dir)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ----------------------------------------------------------------

  private track<T>(promise: Promise<T>): Promise<T> {
    this.running.add(promise);
    const done = (): void => {
      this.running.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('snapshot store');
  }

  /** The envelope of snapshot `name`, checked against its name. */
  private async envelope(handle: FileHandle, name: string): Promise<OpenedSnapshot> {
    const opened = await readEnvelope(handle, name);
    const parsed = parseSnapshotName(name)!;
    if (opened.header.seq !== parsed.seq || opened.header.createdMicros !== parsed.createdMicros) {
      throw new SnapshotCorruptError(name, `header says seq ${opened.header.seq} at ${opened.header.createdMicros} µs, the name says seq ${parsed.seq} at ${parsed.createdMicros} µs`, { file: handle.path, offset: 16 });
    }
    return opened;
  }

  private infoOf(name: string, opened: OpenedSnapshot): SnapshotInfo {
    return {
      name, file: path.join(this.dir, name), seq: opened.header.seq, bytes: opened.trailer.dataBytes, storedBytes: opened.fileBytes,
      checksum: `sha256:${opened.trailer.digest.toString('hex')}`, createdMicros: opened.header.createdMicros,
      createdMs: Math.floor(opened.header.createdMicros / 1000), compressed: (opened.header.flags & FLAG_DEFLATE) !== 0, pinned: this.pinned.has(name),
    };
  }

  private backupInfo(name: string): BackupInfo {
    const parsed = parseBackupName(name)!;
    return { name, dir: path.join(this.dir, BACKUPS_DIR, name), seq: parsed.seq, createdMicros: parsed.createdMicros, createdMs: Math.floor(parsed.createdMicros / 1000), kept: this.pinned.has(name) };
  }

  /** Snapshot names, oldest first. */
  private async snapshotNames(): Promise<string[]> {
    return (await readdirOrEmpty(this.fs, this.dir)).filter((n) => parseSnapshotName(n) !== undefined).sort();
  }

  private async backupNames(): Promise<string[]> {
    return (await readdirOrEmpty(this.fs, path.join(this.dir, BACKUPS_DIR))).filter((n) => parseBackupName(n) !== undefined).sort();
  }

  private pathOf(name: string): string {
    if (typeof name === 'string' && parseSnapshotName(name) !== undefined) return path.join(this.dir, name);
    if (typeof name === 'string' && parseBackupName(name) !== undefined) return path.join(this.dir, BACKUPS_DIR, name);
    throw new InvalidArgumentError(`${String(name)} is not a snapshot or backup name`);
  }

  /** Moves a damaged snapshot to `recovery/` (unpinning it) and reports it. */
  private async quarantine(name: string, err: SnapshotCorruptError): Promise<void> {
    const recovery = path.join(this.dir, SNAPSHOT_RECOVERY_DIR);
    await this.fs.mkdir(recovery, this.opts.dirMode);
    let target = path.join(recovery, name);
    if (await pathExists(this.fs, target)) target = path.join(recovery, `${name}.${monotonicMicros()}`);
    try {
      await this.fs.rename(path.join(this.dir, name), target);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return; // moved or pruned meanwhile (another latest(), a prune)
      throw e;
    }
    await this.fs.syncDir(recovery);
    await this.fs.syncDir(this.dir);
    err.movedTo = target;
    if (this.pinned.delete(name)) await this.removePinMarker(name).catch(() => undefined);
    await this.syncLogPins();
    this.emit('corrupt', err);
  }

  private async writePinMarker(name: string): Promise<void> {
    const dir = path.join(this.dir, PINS_DIR);
    const created = !(await pathExists(this.fs, dir));
    await this.fs.mkdir(dir, this.opts.dirMode);
    if (created) await this.fs.syncDir(this.dir);
    try {
      const handle = await this.fs.open(path.join(dir, name), 'createNew', this.opts.fileMode);
      await handle.close();
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    await this.fs.syncDir(dir);
  }

  private async removePinMarker(name: string): Promise<void> {
    const dir = path.join(this.dir, PINS_DIR);
    try {
      await this.fs.unlink(path.join(dir, name));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    await this.fs.syncDir(dir);
  }

  /** Brings the log pins in line with the snapshots: the newest and every pinned one hold the log from their seq. */
  private syncLogPins(): Promise<void> {
    const run = this.pinSync.then(async () => {
      const log = this.log;
      if (log === undefined) return;
      const names = await this.snapshotNames();
      const wanted = new Set(names.filter((n) => this.pinned.has(n)));
      const newest = names[names.length - 1];
      if (newest !== undefined) wanted.add(newest);
      for (const [name, release] of this.logPins) {
        if (!wanted.has(name)) {
          release();
          this.logPins.delete(name);
        }
      }
      for (const name of wanted) {
        if (this.logPins.has(name)) continue;
        try {
          this.logPins.set(name, log.pin(parseSnapshotName(name)!.seq, `snapshot ${name}`));
        } catch (err) {
          if (err instanceof ClosedError) return; // the log handle is closed: its pins are gone with it
          throw err;
        }
      }
    });
    this.pinSync = run.catch(() => undefined);
    return run;
  }

  /** @internal Tests: makes the worker thread crash (an uncaught exception in it), as a bug would. */
  crashWorkerForTesting(): void {
    this.worker.crash();
  }

  /** @internal Tests: stops the worker thread (it answers nothing, as behind a stalled disk) until the returned function is called. */
  holdWorkerForTesting(): () => void {
    return this.worker.hold();
  }
}

function saveError(err: unknown, signal: AbortSignal | undefined, tmp: string): Error {
  if (signal?.aborted === true || isAbortError(err)) return signal === undefined ? (err as Error) : abortError(signal);
  if (err instanceof WorkerJobError) return new SnapshotFailedError('worker', `the snapshot worker failed: ${err.message}`, { cause: err, file: tmp });
  return toAofError(err, 'cannot save the snapshot', tmp);
}

function checkSaveArgs(seq: number, data: SnapshotData, options: SaveOptions): void {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidArgumentError(`snapshot seq must be a non-negative safe integer, got ${String(seq)}`);
  const iterable = data !== null && typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data);
  if (!(data instanceof Uint8Array) && !iterable) throw new InvalidArgumentError('snapshot data must be a Uint8Array or an (async) iterable of Uint8Array chunks');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('save options must be an object');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('save option signal must be an AbortSignal');
  if (options.pinned !== undefined && typeof options.pinned !== 'boolean') throw new InvalidArgumentError('save option pinned must be a boolean');
}

function normalizeStoreOptions(o: SnapshotStoreOptions): NormalizedStoreOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('snapshot store options must be an object');
  const int = (name: string, v: number | undefined, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidArgumentError(`snapshot store option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
    return v;
  };
  const keep = int('keep', o.keep, 3, 1, Number.MAX_SAFE_INTEGER);
  const keepBackups = int('keepBackups', o.keepBackups, 3, 1, Number.MAX_SAFE_INTEGER);
  const sliceBytes = int('sliceBytes', o.sliceBytes, MiB, 4096, 64 * MiB);
  const memoryBytes = int('memoryBytes', o.memoryBytes, Math.max(4 * MiB, 2 * sliceBytes), 2 * sliceBytes, Number.MAX_SAFE_INTEGER);
  if (o.compression !== undefined && o.compression !== 'none' && o.compression !== 'deflate') throw new InvalidArgumentError(`snapshot store option compression must be 'none' or 'deflate', got ${String(o.compression)}`);
  const level = int('compressionLevel', o.compressionLevel, 1, 1, 9);
  if (o.autoPrune !== undefined && typeof o.autoPrune !== 'boolean') throw new InvalidArgumentError('snapshot store option autoPrune must be a boolean');
  const fs = o.fs ?? nodeFs;
  for (const m of ['open', 'readdir', 'mkdir', 'rename', 'unlink', 'rmdir', 'stat', 'syncDir'] as const) {
    if (typeof (fs as unknown as Record<string, unknown>)[m] !== 'function') throw new InvalidArgumentError(`snapshot store option fs must implement ${m}`);
  }
  return {
    keep, keepBackups, autoPrune: o.autoPrune ?? true, fs, level: o.compression === 'deflate' ? level : -1, sliceBytes,
    slots: Math.floor(memoryBytes / sliceBytes), fileMode: int('fileMode', o.fileMode, 0o600, 0, 0o777), dirMode: int('dirMode', o.dirMode, 0o700, 0, 0o777),
  };
}


async function readdirOrEmpty(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}
