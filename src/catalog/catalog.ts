import { LOG_ID_BYTES } from '../segment/header.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { assert } from '../assert.js';
import { CorruptionError, InvariantError } from '../errors.js';
import { lmdbWrite, writesSettled } from './lmdb-write.js';
import { catalogReadable, recordCloseChecksum, SEGMENTS_STRUCTURES_KEY } from './probe.js';
import type { CatalogEntry } from './entry.js';
import { assertTransition, type SegmentStatus } from './status.js';

/**
 * LMDB must not open one environment twice in a process: handles of the same
 * catalog in one process (a writer and readers, several readers) share one
 * environment, closed with its last user.
 */
const openEnvironments = new Map<string, { env: RootDatabase; users: number }>();

/**
 * Opens the environment for reading and writing where the process may, so
 * that a writer opening later in this process can share it; read-only where
 * it may not (the catalog handle itself still never writes when read-only).
 */
function openEnvironment(where: string, readOnly: boolean): RootDatabase {
  // A failed commit (ENOSPC) must cost nothing but that commit. With event-turn batching, lmdb-js starts each batch
  // with a write of its own whose promise nobody holds: the failure rejects it unhandled, killing the process. With
  // overlapping sync, the flush promise of a failed commit never settles and env.close() waits on it for ever.
  // Without them writes still commit in order, each synced before its promise resolves.
  const settings = { path: where, maxDbs: CATALOG_MAX_DBS, compression: false, eventTurnBatching: false, overlappingSync: false };
  if (!readOnly) return open(settings);
  try {
    fs.accessSync(where, fs.constants.W_OK);
    return open(settings);
  } catch {
    return open({ ...settings, readOnly: true });
  }
}

/** The catalog's meta database; undefined in a read-only environment that has none yet. */
function openMeta(env: RootDatabase, readOnly: boolean): Database<boolean, string> | undefined {
  try {
    // A read-only handle must not create the database (a write, from a reader): it opens it only if a writer made it.
    if (readOnly && ![...env.getKeys({ limit: 1000 })].includes(META_DB)) return undefined;
    return env.openDB<boolean, string>(META_DB, {});
  } catch {
    return undefined;
  }
}

/** Subdirectory of the log directory holding the LMDB environment. */
export const CATALOG_DIR = 'index';
const SEGMENTS_DB = 'segments';
/** The catalog's own state: whether a writer's clean close left the entries as the files say. */
const META_DB = 'catalog-meta';
const CLOSED_CLEANLY_KEY = 'closedCleanly';
/** Meta keys of the log's identity as the writer last adopted it: a second witness beside the identity file. */
const LOG_ID_KEY = 'logId';
const LOG_ID_SINCE_KEY = 'logIdSince';
/** Databases in the environment: segments now; room for the stream index of the event store. */
const CATALOG_MAX_DBS = 8;

/**
 * The segment catalog: one LMDB record per segment, keyed by base sequence
 * number. An index, never the truth: every field but `status` and `archive`
 * is rebuilt from the segment files when the two disagree. Status only moves
 * forward ({@link assertTransition}); `replace` exists for reconciliation and
 * repair alone, where the files overrule the catalog.
 */
export class SegmentCatalog {
  private cleanMarkCleared = false;

  private constructor(
    private readonly path: string,
    private readonly env: RootDatabase,
    private readonly db: Database<CatalogEntry, number>,
    private readonly meta: Database<boolean, string> | undefined,
    /** True when opened read-only (readers in other processes). */
    readonly readOnly: boolean,
  ) {}

  /**
   * True when the last writer closed cleanly and nothing changed the catalog
   * since (any write clears it first): its sealed entries then agree with
   * their files, and an open may take them instead of reading every footer.
   */
  get closedCleanly(): boolean {
    if (this.readOnly) this.env.resetReadTxn();
    return this.meta?.get(CLOSED_CLEANLY_KEY) === true;
  }

  /**
   * Takes the clean-close mark back before something other than a writer
   * changes segment files (repair): until the catalog is synced with them
   * again, an open must read every footer.
   */
  static async forgetCleanClose(dir: string): Promise<void> {
    if (!SegmentCatalog.exists(dir)) return;
    let catalog: SegmentCatalog | undefined;
    try {
      catalog = await SegmentCatalog.open(dir, false);
    } catch {
      return; // a damaged catalog is rebuilt from the files at the next open
    }
    try {
      if (catalog?.meta !== undefined && catalog.meta.get(CLOSED_CLEANLY_KEY) === true) await catalog.write(() => catalog!.meta!.put(CLOSED_CLEANLY_KEY, false), 'clearing the clean-close mark');
    } finally {
      await catalog?.close();
    }
  }

  /**
   * The log's identity as a writer recorded it (hex id and the first base that
   * must carry it), or undefined. A second witness beside the identity file:
   * with that file deleted, segments are checked against this, not against
   * whichever header is read first. Only a healthy catalog is a witness.
   */
  get recordedLogId(): { logId: Buffer; since: number } | undefined {
    if (this.meta === undefined) return undefined;
    if (this.readOnly) this.env.resetReadTxn();
    const meta = this.meta as unknown as Database<unknown, string>;
    const id = meta.get(LOG_ID_KEY);
    const since = meta.get(LOG_ID_SINCE_KEY);
    if (typeof id !== 'string' || id.length !== LOG_ID_BYTES * 2 || !/^[0-9a-f]+$/.test(id) || typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) return undefined;
    return { logId: Buffer.from(id, 'hex'), since };
  }

  /**
   * Records a writer's clean close: called after its last catalog write. With
   * `identity`, the log's identity is recorded in the same commit (see
   * {@link recordedLogId}); no extra commit when it already is.
   */
  async markClosedCleanly(identity?: { logId: Buffer; since: number }): Promise<void> {
    if (this.readOnly) throw new InvariantError('catalog opened read-only was written');
    if (this.meta === undefined) return;
    const current = identity === undefined ? undefined : this.recordedLogId;
    const needId = identity !== undefined && !(current !== undefined && current.logId.equals(identity.logId) && current.since === identity.since);
    const needMark = this.cleanMarkCleared || this.meta.get(CLOSED_CLEANLY_KEY) !== true;
    const meta = this.meta as unknown as Database<unknown, string>;
    if (needId || needMark) {
      await this.write(() => meta.transaction(() => {
        if (needId) {
          void meta.put(LOG_ID_KEY, identity.logId.toString('hex'));
          void meta.put(LOG_ID_SINCE_KEY, identity.since);
        }
        void meta.put(CLOSED_CLEANLY_KEY, true);
      }), 'recording the clean close');
    }
    this.cleanMarkCleared = false;
  }


  /** True when log directory `dir` has a catalog. */
  static exists(dir: string): boolean {
    return fs.existsSync(path.join(SegmentCatalog.pathOf(dir), 'data.mdb'));
  }

  /** Path of the catalog of log directory `dir`. */
  static pathOf(dir: string): string {
    return path.join(dir, CATALOG_DIR);
  }

  /**
   * Opens the catalog of `dir`. Read-only handles resolve undefined when the
   * catalog does not exist (a log written before it, or never opened by a
   * writer): the caller then reads the files alone.
   */
  static async open(dir: string, readOnly: boolean, modes: { fileMode: number; dirMode: number } = { fileMode: 0o600, dirMode: 0o700 }): Promise<SegmentCatalog | undefined> {
    const where = SegmentCatalog.pathOf(dir);
    if (readOnly && !fs.existsSync(path.join(where, 'data.mdb'))) return undefined;
    if (!readOnly) fs.mkdirSync(where, { recursive: true, mode: modes.dirMode });
    const shared = openEnvironments.get(path.resolve(where));
    if (shared === undefined && fs.existsSync(path.join(where, 'data.mdb')) && !(await catalogReadable(where, { writeTest: !readOnly }))) {
      throw new CorruptionError('the LMDB catalog is damaged', { file: path.join(where, 'data.mdb') });
    }
    const env = shared?.env ?? openEnvironment(where, readOnly);
    if (!readOnly) for (const name of fs.readdirSync(where)) fs.chmodSync(path.join(where, name), modes.fileMode);
    const entry = shared ?? { env, users: 0 };
    entry.users++;
    openEnvironments.set(path.resolve(where), entry);
    const db = env.openDB<CatalogEntry, number>(SEGMENTS_DB, { sharedStructuresKey: Symbol.for(SEGMENTS_STRUCTURES_KEY) });
    return new SegmentCatalog(where, env, db, openMeta(env, readOnly), readOnly);
  }

  /** The environment, for other indexes that live beside the catalog (the event store's stream index). */
  get environment(): RootDatabase {
    return this.env;
  }

  /** The entry of segment `baseSeq`. */
  get(baseSeq: number): CatalogEntry | undefined {
    return this.db.get(baseSeq);
  }

  /** Every entry, by base sequence number. Reads through every record, so a damaged environment shows here. */
  all(): CatalogEntry[] {
    // A reader in another process must see what the writer committed since: start a fresh read snapshot.
    if (this.readOnly) this.env.resetReadTxn();
    // Read to the end before judging: a range left open mid-way keeps its read transaction, and with it this environment, alive.
    const records = [...this.db.getRange()];
    const out: CatalogEntry[] = [];
    for (const { key, value } of records) {
      if (value?.baseSeq !== key) throw new InvariantError(`catalog record ${String(key)} does not describe its own segment`);
      out.push(value);
    }
    return out;
  }

  /** Adds the entry of a new segment. */
  async add(entry: CatalogEntry): Promise<void> {
    this.writable();
    assert(this.db.get(entry.baseSeq) === undefined, `segment ${entry.baseSeq} is added to the catalog once`);
    await this.write(() => this.db.put(entry.baseSeq, entry), `adding segment ${entry.baseSeq}`);
  }

  /** Moves segment `baseSeq` to `to` (a legal move only), updating `changes` with it. */
  async transition(baseSeq: number, to: SegmentStatus, changes: Partial<Omit<CatalogEntry, 'baseSeq' | 'status'>> = {}): Promise<CatalogEntry> {
    this.writable();
    const current = this.db.get(baseSeq);
    if (current === undefined) throw new InvariantError(`segment ${baseSeq} is not in the catalog`);
    assertTransition(baseSeq, current.status, to);
    const next: CatalogEntry = { ...current, ...changes, status: to };
    await this.write(() => this.db.put(baseSeq, next), `moving segment ${baseSeq} to ${to}`);
    return next;
  }

  /** Overwrites an entry with facts from the files: reconciliation and repair only. */
  async replace(entry: CatalogEntry): Promise<void> {
    this.writable();
    await this.write(() => this.db.put(entry.baseSeq, entry), `rewriting segment ${entry.baseSeq}`);
  }

  /** Removes an entry (its file moved to `recovery/` by repair). */
  async remove(baseSeq: number): Promise<void> {
    this.writable();
    await this.write(() => this.db.remove(baseSeq), `removing segment ${baseSeq}`);
  }

  /** Closes the environment; a writer records the checksum of what it leaves, so the next open can skip the probe. */
  async close(): Promise<void> {
    const key = path.resolve(this.path);
    const shared = openEnvironments.get(key);
    if (shared !== undefined && --shared.users > 0) return;
    openEnvironments.delete(key);
    // A correction written without waiting (a mismatch found on first read) still reaches the catalog before it closes.
    await writesSettled(this.env);
    await this.env.close();
    if (!this.readOnly) {
      try {
        recordCloseChecksum(this.path);
      } catch {
        // Without the record the next open probes the catalog: slower, never wrong.
      }
    }
  }

  /** Every write goes through here: the first one after open clears the clean-close mark, in order before it. */
  private writable(): void {
    if (this.readOnly) throw new InvariantError('catalog opened read-only was written');
    if (this.meta === undefined || this.cleanMarkCleared || this.meta.get(CLOSED_CLEANLY_KEY) !== true) return;
    this.cleanMarkCleared = true;
    // LMDB commits writes in order: the mark is gone before the change it no longer vouches for.
    void this.write(() => this.meta!.put(CLOSED_CLEANLY_KEY, false), 'clearing the clean-close mark').catch(() => undefined);
  }

  /** Every LMDB write settles through here: a failed commit rejects typed, and kills nothing (see {@link lmdbWrite}). */
  private write<T>(pending: () => Promise<T>, what: string): Promise<T> {
    return lmdbWrite(this.env, pending, `catalog write failed (${what})`, path.join(this.path, 'data.mdb'));
  }
}
