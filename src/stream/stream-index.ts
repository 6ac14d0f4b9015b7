import * as path from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { assert } from '../assert.js';
import { IoError } from '../errors.js';
import { CATALOG_RESERVE_BYTES, lmdbWrite } from '../catalog/lmdb-write.js';
import { crc32 } from '../record/crc.js';

/**
 * Format of what the stream index stores; another value makes the next open
 * rebuild it. 2: positions packed {@link POSITIONS_PER_ENTRY} versions to a
 * value, a stream's last (tail) chunk kept with its head in `es-streams`
 * (1 held one version per key: a 10-event load was a cursor over 10 keys,
 * 5-8 times the cost of one get, and an append wrote two keys).
 */
export const STREAM_INDEX_FORMAT = 2;
/**
 * Versions whose positions share one LMDB value: a load of a stream of up to
 * this many events is one LMDB get; an append rewrites at most this many
 * positions (8 bytes each) of its stream's tail chunk.
 */
export const POSITIONS_PER_ENTRY = 64;
const POSITION_BYTES = 8;
/**
 * Space kept allocated for a commit (see lmdbWrite), by its size: a batch of
 * {@link INDEX_COMMIT_BATCH_ENTRIES} entries takes about 1 MiB, and gets
 * {@link STREAM_INDEX_RESERVE_BYTES}; a commit of a few entries (the state
 * written at open, the appends of a quiet store) gets the catalog's reserve
 * plus 1 KiB per entry (about 20 times what an entry takes). A fixed 4 MiB
 * made an event store unable to open on a volume with less free space (and
 * its failed reserve filled that volume).
 */
export const STREAM_INDEX_RESERVE_BYTES = 4 * 1024 * 1024;
const STREAM_INDEX_RESERVE_PER_ENTRY = 1024;

/** The reserve for an index commit of `entries` entries. */
export function streamIndexReserve(entries: number): number {
  return Math.min(STREAM_INDEX_RESERVE_BYTES, CATALOG_RESERVE_BYTES + entries * STREAM_INDEX_RESERVE_PER_ENTRY);
}

/** Named databases of the stream index, beside the segment catalog in the log's LMDB environment (`<dir>/index/`). */
export const STREAM_INDEX_DBS = { streams: 'es-streams', events: 'es-events', meta: 'es-meta' } as const;
/**
 * How long durable events wait in memory before their index commit: one LMDB
 * transaction (and one LMDB fsync) per interval rather than per group commit
 * of the log, so the index does not compete with the log for the disk.
 */
export const INDEX_COMMIT_INTERVAL_MS = 50;
/** Entries waiting that trigger a commit at once, whatever the interval. */
export const INDEX_COMMIT_BATCH_ENTRIES = 20_000;
/** After a failed index commit, how long before it is tried again. */
export const INDEX_RETRY_DELAY_MS = 100;
const STATE_KEY = 'state';

/**
 * What the index covers: every event at a log position below `indexedTo` is
 * in it, and `lastCrc` is the CRC-32 of the log record at `indexedTo - 1`
 * (null when there is none), so that an open can tell the log it indexed
 * from one that was cut back or replaced.
 */
export interface IndexState {
  format: number;
  indexedTo: number;
  lastCrc: number | null;
}

/** A stream's last event: its version and log position. */
export interface StreamHead {
  version: number;
  position: number;
}

/** Where a stream's events are: what reads need of an index, a writer's or a reader's. */
export interface StreamPositions {
  /** The stream's last event, or undefined when it has none. */
  head(stream: string, streamBytes: Buffer): StreamHead | undefined;
  /** Positions of the stream's events `[from, to]` (versions, inclusive), in order; versions the index does not hold are absent. */
  positions(stream: string, streamBytes: Buffer, from: number, to: number): Array<{ version: number; position: number }>;
}

/** Events of one append (or of one stream within a scan) waiting for their index commit. */
export interface PendingRun {
  stream: string;
  streamBytes: Buffer;
  firstVersion: number;
  firstPosition: number;
  count: number;
}

/** Events in memory not yet committed to LMDB, per stream: contiguous versions from `base`. */
interface Overlay {
  base: number;
  positions: number[];
}

/**
 * The stream index: stream → version → log position, in three named LMDB
 * databases of the log's environment:
 * - `es-streams`: key = name (UTF-8) → the stream's last version, then the
 *   positions of the versions of its tail chunk (from the last multiple of
 *   {@link POSITIONS_PER_ENTRY} to the last version), each a float64 LE
 *   (exact below 2^53; NaN for a version the index does not hold, before
 *   the first it holds of a stream whose start retention removed): a short
 *   stream's head and positions in one get;
 * - `es-events`: key = u16 BE name length, name (UTF-8), u64 BE chunk number
 *   `c` → the positions of versions `c * POSITIONS_PER_ENTRY` to
 *   `(c + 1) * POSITIONS_PER_ENTRY - 1`: the stream's complete chunks only;
 * - `es-meta`: `state` → {@link IndexState}.
 *
 * Entries are written only after the events' append is durable, each batch
 * in one LMDB transaction together with the new {@link IndexState}, so the
 * index on disk is always exactly "every event below `indexedTo`". Until its
 * commit, an entry is served from memory (the overlay): decisions and reads
 * never wait for LMDB. The log is the truth; the index is rebuilt from it
 * when it is missing, behind or inconsistent (see `reconcileIndex`).
 */
export class StreamIndex implements StreamPositions {
  private readonly overlay = new Map<string, Overlay>();
  private queue: PendingRun[] = [];
  private queuedTo: number;
  private queuedCrcOf: Uint8Array | undefined;
  private pending = 0;
  private writing: Promise<void> | undefined;
  /** The commit (or retry) waiting to run; `timerNow` when it runs at the next turn. */
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private timerNow = false;
  private roomWaiters: Array<{ below: number; resolve: () => void; reject: (err: Error) => void }> = [];
  /** The last commit failure, until a commit succeeds again. */
  failure: Error | undefined;
  /** Index commits that failed (each was retried). */
  readonly errors: Error[] = [];

  private constructor(
    private readonly streams: Database<Buffer, Buffer>,
    private readonly events: Database<Buffer, Buffer>,
    private readonly meta: Database<IndexState, string>,
    /** The environment (a failed commit stops its writes: see lmdbWrite) and its data file, named by write errors. */
    private readonly env: RootDatabase,
    private readonly file: string,
  ) {
    this.queuedTo = 0;
  }

  /**
   * Opens the index databases of `env` for reading only, or resolves
   * undefined when no writer has created them (a reader must not create them:
   * that would be a write). Never written through.
   */
  static openExisting(env: RootDatabase): StreamIndex | undefined {
    const names = new Set<unknown>();
    for (const k of env.getKeys({ limit: 1000 })) names.add(k);
    if (!names.has(STREAM_INDEX_DBS.events) || !names.has(STREAM_INDEX_DBS.streams) || !names.has(STREAM_INDEX_DBS.meta)) return undefined;
    return StreamIndex.open(env);
  }

  /** Opens (creating if needed) the index databases in `env`. */
  static open(env: RootDatabase): StreamIndex {
    const streams = env.openDB<Buffer, Buffer>(STREAM_INDEX_DBS.streams, { keyEncoding: 'binary', encoding: 'binary' });
    const events = env.openDB<Buffer, Buffer>(STREAM_INDEX_DBS.events, { keyEncoding: 'binary', encoding: 'binary' });
    const meta = env.openDB<IndexState, string>(STREAM_INDEX_DBS.meta, {});
    return new StreamIndex(streams, events, meta, env, path.join(String((env as unknown as { path?: unknown }).path ?? ''), 'data.mdb'));
  }

  /** The state recorded with the last commit, or undefined when the index was never written. */
  readState(): IndexState | undefined {
    const s = this.meta.get(STATE_KEY);
    if (s === undefined || typeof s !== 'object' || s === null) return undefined;
    if (typeof s.format !== 'number' || !Number.isSafeInteger(s.indexedTo) || s.indexedTo < 0) return undefined;
    return s;
  }

  /** Where appends continue from: `indexedTo` of the state on disk (or of a finished scan). */
  startAt(indexedTo: number): void {
    this.queuedTo = indexedTo;
  }

  /** The stream's last event, counting events not yet committed to LMDB. */
  head(stream: string, streamBytes: Buffer): StreamHead | undefined {
    const o = this.overlay.get(stream);
    if (o !== undefined) return { version: o.base + o.positions.length - 1, position: o.positions[o.positions.length - 1]! };
    return headOf(this.streams.getBinaryFast(streamBytes));
  }

  /** Positions of the stream's events `[from, to]` (versions, inclusive), in order; versions the index does not hold are absent. */
  positions(stream: string, streamBytes: Buffer, from: number, to: number): Array<{ version: number; position: number }> {
    const out: Array<{ version: number; position: number }> = [];
    if (to < from) return out;
    const o = this.overlay.get(stream);
    const stored = o === undefined ? to : Math.min(to, o.base - 1);
    if (from <= stored) {
      // The tail chunk first (getBinaryFast's buffer is reused by the next get: it is read at once), then complete chunks before it.
      const tailValue = this.streams.getBinaryFast(streamBytes);
      if (tailValue !== undefined) {
        const tailBase = tailBaseOf(tailValue);
        const tail: Array<{ version: number; position: number }> = [];
        unpackPositions(tailValue, POSITION_BYTES, tailBase, from, stored, tail);
        const hi = Math.min(stored, tailBase - 1);
        if (from <= hi) {
          const first = Math.floor(from / POSITIONS_PER_ENTRY);
          const last = Math.floor(hi / POSITIONS_PER_ENTRY);
          if (first === last) {
            const value = this.events.getBinaryFast(eventKey(streamBytes, first));
            if (value !== undefined) unpackPositions(value, 0, first * POSITIONS_PER_ENTRY, from, hi, out);
          } else {
            for (const { key, value } of this.events.getRange({ start: eventKey(streamBytes, first), end: eventKey(streamBytes, last + 1) })) {
              unpackPositions(value, 0, versionOfKey(key) * POSITIONS_PER_ENTRY, from, hi, out);
            }
          }
        }
        for (const t of tail) out.push(t);
      }
    }
    if (o !== undefined) {
      for (let v = Math.max(from, o.base); v <= to && v - o.base < o.positions.length; v++) out.push({ version: v, position: o.positions[v - o.base]! });
    }
    return out;
  }

  /**
   * Records durable events: `count` versions from `firstVersion` of
   * `stream` at positions from `firstPosition`, `lastPayload` being the
   * record at the last of them. Served from memory at once; committed to
   * LMDB with the next batch.
   */
  record(stream: string, streamBytes: Buffer, firstVersion: number, firstPosition: number, count: number, lastPayload: Uint8Array): void {
    if (firstPosition < this.queuedTo) assert(false, `index entries arrive in log order (${firstPosition} after ${this.queuedTo})`);
    let o = this.overlay.get(stream);
    if (o === undefined) {
      o = { base: firstVersion, positions: [] };
      this.overlay.set(stream, o);
    }
    if (o.base + o.positions.length !== firstVersion) assert(false, `stream versions are contiguous in the index (${firstVersion} after ${o.base + o.positions.length - 1})`);
    for (let i = 0; i < count; i++) o.positions.push(firstPosition + i);
    this.queue.push({ stream, streamBytes, firstVersion, firstPosition, count });
    this.pending += count;
    this.queuedTo = firstPosition + count;
    this.queuedCrcOf = lastPayload;
    this.schedule();
  }

  /** Entries waiting for their LMDB commit. */
  get pendingEntries(): number {
    return this.pending;
  }

  /** True when fewer than `below` entries wait for their commit. */
  hasRoom(below: number): boolean {
    return this.pending < below;
  }

  /**
   * Resolves once fewer than `below` entries wait for their commit; rejects
   * with `AOF_IO` while commits fail and the bound is reached.
   */
  waitForRoom(below: number): Promise<void> | undefined {
    if (this.pending < below) return undefined;
    if (this.failure !== undefined) return Promise.reject(new IoError('the stream index cannot be written, and its in-memory bound is reached', this.failure));
    return new Promise((resolve, reject) => this.roomWaiters.push({ below, resolve, reject }));
  }

  /** Resolves once everything recorded so far is committed; rejects with the failure if a commit fails. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.writing !== undefined) {
        await this.writing;
        if (this.failure !== undefined) throw this.failure;
        continue;
      }
      if (this.queue.length === 0) return;
      this.cancelTimer();
      this.flush();
    }
  }

  /** Stops a waiting commit (the caller commits now, or the store is closing and the next open catches up). */
  private cancelTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
    this.timerNow = false;
  }

  /** Commits after {@link INDEX_COMMIT_INTERVAL_MS}, or at the next turn once {@link INDEX_COMMIT_BATCH_ENTRIES} wait. */
  private schedule(): void {
    if (this.writing !== undefined) return;
    if (this.pending >= INDEX_COMMIT_BATCH_ENTRIES) {
      if (this.timerNow) return;
      this.cancelTimer();
      this.timerNow = true;
      this.timer = setImmediate(() => this.fire());
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.fire(), INDEX_COMMIT_INTERVAL_MS);
    // A store that is never closed does not keep the process alive for its index: the next open catches up.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerNow = false;
    if (this.writing === undefined) this.flush();
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const state: IndexState = { format: STREAM_INDEX_FORMAT, indexedTo: this.queuedTo, lastCrc: this.queuedCrcOf === undefined ? null : crc32(this.queuedCrcOf) };
    this.writing = this.commit(batch, state).then(
      () => {
        this.writing = undefined;
        this.failure = undefined;
        this.committed(batch);
        if (this.queue.length > 0) this.schedule();
      },
      (err: unknown) => {
        this.writing = undefined;
        const failure = err instanceof Error ? err : new Error(String(err));
        this.failure = failure;
        this.errors.push(failure);
        // Nothing of the batch was written (one transaction): put it back in front, in order, and try again.
        this.queue = batch.concat(this.queue);
        for (const w of this.roomWaiters.splice(0)) w.reject(new IoError('the stream index cannot be written', failure));
        this.cancelTimer();
        this.timer = setTimeout(() => this.fire(), INDEX_RETRY_DELAY_MS);
        this.timer.unref();
      },
    );
  }

  /** Writes runs of events and the new state in one LMDB transaction. */
  private commit(runs: readonly PendingRun[], state: IndexState): Promise<unknown> {
    let entries = 0;
    for (const r of runs) entries += r.count;
    // Through lmdbWrite: a failed commit (ENOSPC) must not leave an unhandled rejection behind (lmdb-js#368).
    return lmdbWrite(this.env, () => this.meta.transaction(() => {
      // Each stream's tail chunk is read once (unless the batch starts a new one), extended by every run of the batch, and written once;
      // a chunk that fills goes to es-events, where it stays.
      const tails = new Map<string, { key: Buffer; lastVersion: number; positions: number[] }>();
      for (const r of runs) {
        let t = tails.get(r.stream);
        if (t === undefined) {
          const stored = r.firstVersion % POSITIONS_PER_ENTRY === 0 ? undefined : this.streams.getBinary(r.streamBytes);
          t = { key: r.streamBytes, lastVersion: r.firstVersion - 1, positions: [] };
          if (stored !== undefined) {
            t.lastVersion = stored.readDoubleLE(0);
            const n = (stored.length - POSITION_BYTES) / POSITION_BYTES;
            for (let k = 0; k < n; k++) t.positions.push(stored.readDoubleLE(POSITION_BYTES + k * POSITION_BYTES));
          } else {
            // A stream new to the index may begin past version 0 (a rebuild of a log whose start retention removed): the
            // versions before it in its chunk are absent, NaN, so that every value starts at a multiple of POSITIONS_PER_ENTRY.
            for (let k = r.firstVersion % POSITIONS_PER_ENTRY; k > 0; k--) t.positions.push(Number.NaN);
          }
          tails.set(r.stream, t);
        }
        assert(t.lastVersion === r.firstVersion - 1 && (r.firstVersion % POSITIONS_PER_ENTRY === 0 || t.positions.length === r.firstVersion % POSITIONS_PER_ENTRY), `stream versions are contiguous in the index (${r.stream}@${r.firstVersion} after ${t.lastVersion}, ${t.positions.length} in its tail)`);
        for (let i = 0; i < r.count; i++) {
          const version = r.firstVersion + i;
          if (version % POSITIONS_PER_ENTRY === 0) t.positions = [];
          t.positions.push(r.firstPosition + i);
          t.lastVersion = version;
          if (t.positions.length === POSITIONS_PER_ENTRY) this.events.putSync(eventKey(r.streamBytes, Math.floor(version / POSITIONS_PER_ENTRY)), packPositions(undefined, t.positions));
        }
      }
      for (const t of tails.values()) this.streams.putSync(t.key, packPositions(t.lastVersion, t.positions));
      this.meta.putSync(STATE_KEY, state);
    }), 'the stream index cannot be written', this.file, streamIndexReserve(entries));
  }

  /** After a commit: what LMDB now holds leaves the overlay. */
  private committed(runs: readonly PendingRun[]): void {
    for (const r of runs) {
      this.pending -= r.count;
      const o = this.overlay.get(r.stream);
      assert(o !== undefined && o.base === r.firstVersion && o.positions.length >= r.count, 'committed index entries are the oldest in memory');
      o.positions.splice(0, r.count);
      o.base += r.count;
      if (o.positions.length === 0) this.overlay.delete(r.stream);
    }
    this.roomWaiters = this.roomWaiters.filter((w) => {
      if (this.pending >= w.below) return true;
      w.resolve();
      return false;
    });
  }

  // --- scans at open ------------------------------------------------------

  /** Removes every entry (before a rebuild). The state goes first: a crash halfway leaves an index that says it is missing. */
  async clear(): Promise<void> {
    assert(this.pending === 0 && this.writing === undefined, 'the index is cleared only before appends start');
    await lmdbWrite(this.env, () => this.meta.remove(STATE_KEY), 'the stream index cannot be cleared', this.file);
    await lmdbWrite(this.env, () => this.events.clearAsync(), 'the stream index cannot be cleared', this.file);
    await lmdbWrite(this.env, () => this.streams.clearAsync(), 'the stream index cannot be cleared', this.file);
  }

  /** The stream's last event as committed to LMDB (scans at open, where nothing is in memory). */
  storedHead(streamBytes: Buffer): StreamHead | undefined {
    return headOf(this.streams.getBinaryFast(streamBytes));
  }

  /** Commits a chunk of a scan and the state it reaches, and waits for it. */
  async commitScan(runs: readonly PendingRun[], state: IndexState): Promise<void> {
    assert(this.pending === 0 && this.writing === undefined, 'scans commit before appends start');
    await this.commit(runs, state);
    this.queuedTo = state.indexedTo;
  }
}

/** The positions of versions `[from, to]` in `value` (from byte `at` on, the first being version `base`), appended to `out`. */
function unpackPositions(value: Buffer, at: number, base: number, from: number, to: number, out: Array<{ version: number; position: number }>): void {
  const n = Math.floor((value.length - at) / POSITION_BYTES);
  const hi = Math.min(to - base, n - 1);
  for (let i = Math.max(0, from - base); i <= hi; i++) {
    const position = value.readDoubleLE(at + i * POSITION_BYTES);
    // NaN: a version before the first the index holds of this stream (see commit).
    if (!Number.isNaN(position)) out.push({ version: base + i, position });
  }
}

/** An `es-streams` value (the last version, then the tail chunk's positions), or an `es-events` one (`lastVersion` undefined). */
function packPositions(lastVersion: number | undefined, positions: readonly number[]): Buffer {
  const at = lastVersion === undefined ? 0 : POSITION_BYTES;
  const out = Buffer.allocUnsafe(at + positions.length * POSITION_BYTES);
  if (lastVersion !== undefined) out.writeDoubleLE(lastVersion, 0);
  for (let i = 0; i < positions.length; i++) out.writeDoubleLE(positions[i]!, at + i * POSITION_BYTES);
  return out;
}

/** The head an `es-streams` value records: its last version and that version's position. */
function headOf(value: Buffer | undefined): StreamHead | undefined {
  if (value === undefined || value.length < 2 * POSITION_BYTES) return undefined;
  return { version: value.readDoubleLE(0), position: value.readDoubleLE(value.length - POSITION_BYTES) };
}

/** The first version of the tail chunk an `es-streams` value holds. */
function tailBaseOf(value: Buffer): number {
  const lastVersion = value.readDoubleLE(0);
  return lastVersion + 1 - (value.length - POSITION_BYTES) / POSITION_BYTES;
}

/** The `es-events` key of chunk `version` (a chunk number: see {@link POSITIONS_PER_ENTRY}) of the stream named by `streamBytes`. */
export function eventKey(streamBytes: Buffer, version: number): Buffer {
  const key = Buffer.allocUnsafe(2 + streamBytes.length + 8);
  key.writeUInt16BE(streamBytes.length, 0);
  streamBytes.copy(key, 2);
  key.writeUInt32BE(Math.floor(version / 0x1_0000_0000), 2 + streamBytes.length);
  key.writeUInt32BE(version % 0x1_0000_0000, 2 + streamBytes.length + 4);
  return key;
}

function versionOfKey(key: Buffer): number {
  const at = key.length - 8;
  return key.readUInt32BE(at) * 0x1_0000_0000 + key.readUInt32BE(at + 4);
}

