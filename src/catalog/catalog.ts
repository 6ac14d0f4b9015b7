import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { assert } from '../assert.js';
import { InvariantError } from '../errors.js';
import type { CatalogEntry } from './entry.js';
import { assertTransition, type SegmentStatus } from './status.js';

/** Subdirectory of the log directory holding the LMDB environment. */
export const CATALOG_DIR = 'index';
const SEGMENTS_DB = 'segments';
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
  private constructor(
    private readonly env: RootDatabase,
    private readonly db: Database<CatalogEntry, number>,
    /** True when opened read-only (readers in other processes). */
    readonly readOnly: boolean,
  ) {}

  /** Path of the catalog of log directory `dir`. */
  static pathOf(dir: string): string {
    return path.join(dir, CATALOG_DIR);
  }

  /**
   * Opens the catalog of `dir`. Read-only handles resolve undefined when the
   * catalog does not exist (a log written before it, or never opened by a
   * writer): the caller then reads the files alone.
   */
  static open(dir: string, readOnly: boolean, modes: { fileMode: number; dirMode: number } = { fileMode: 0o600, dirMode: 0o700 }): SegmentCatalog | undefined {
    const where = SegmentCatalog.pathOf(dir);
    if (readOnly && !fs.existsSync(path.join(where, 'data.mdb'))) return undefined;
    if (!readOnly) fs.mkdirSync(where, { recursive: true, mode: modes.dirMode });
    const env = open({ path: where, maxDbs: CATALOG_MAX_DBS, readOnly, compression: false });
    // lmdb-js creates its files world-readable; the log's files are owner-only unless widened.
    if (!readOnly) for (const name of fs.readdirSync(where)) fs.chmodSync(path.join(where, name), modes.fileMode);
    const db = env.openDB<CatalogEntry, number>(SEGMENTS_DB, {});
    return new SegmentCatalog(env, db, readOnly);
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
    const out: CatalogEntry[] = [];
    for (const { key, value } of this.db.getRange()) {
      if (value?.baseSeq !== key) throw new InvariantError(`catalog record ${String(key)} does not describe its own segment`);
      out.push(value);
    }
    return out;
  }

  /** Adds the entry of a new segment. */
  async add(entry: CatalogEntry): Promise<void> {
    this.writable();
    assert(this.db.get(entry.baseSeq) === undefined, `segment ${entry.baseSeq} is added to the catalog once`);
    await this.db.put(entry.baseSeq, entry);
  }

  /** Moves segment `baseSeq` to `to` (a legal move only), updating `changes` with it. */
  async transition(baseSeq: number, to: SegmentStatus, changes: Partial<Omit<CatalogEntry, 'baseSeq' | 'status'>> = {}): Promise<CatalogEntry> {
    this.writable();
    const current = this.db.get(baseSeq);
    if (current === undefined) throw new InvariantError(`segment ${baseSeq} is not in the catalog`);
    assertTransition(baseSeq, current.status, to);
    const next: CatalogEntry = { ...current, ...changes, status: to };
    await this.db.put(baseSeq, next);
    return next;
  }

  /** Overwrites an entry with facts from the files: reconciliation and repair only. */
  async replace(entry: CatalogEntry): Promise<void> {
    this.writable();
    await this.db.put(entry.baseSeq, entry);
  }

  /** Removes an entry (its file moved to `recovery/` by repair). */
  async remove(baseSeq: number): Promise<void> {
    this.writable();
    await this.db.remove(baseSeq);
  }

  /** Closes the environment. */
  async close(): Promise<void> {
    await this.env.close();
  }

  private writable(): void {
    if (this.readOnly) throw new InvariantError('catalog opened read-only was written');
  }
}
