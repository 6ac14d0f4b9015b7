/**
 * Adapters: each engine (aof and its peers) behind the few calls the
 * workloads make, at its documented durable or non-durable setting.
 */
import * as path from 'node:path';
import { Log, type LogOptions } from 'aof';

/** What a workload can ask of an engine. Engines implement what their API offers. */
export interface Adapter {
  /** One record, asynchronously (many may be in flight). */
  put?(seq: number, rec: Buffer): Promise<unknown>;
  /** One record, synchronously. */
  putSync?(seq: number, rec: Buffer): void;
  /** Records `[first, first + recs.length)` as one atomic batch. */
  putMany?(first: number, recs: Buffer[]): Promise<unknown> | void;
  /** Makes everything written durable (used where a workload ends with a flush). */
  sync?(): Promise<void> | void;
  /** Every record in order, until `visit` returns false; returns how many were visited. */
  scan?(visit: (payload: Uint8Array) => boolean | void): Promise<number> | number;
  /** The record `seq`. */
  get?(seq: number): Promise<Uint8Array | null | undefined> | Uint8Array | null | undefined;
  /** Extra facts for the report (e.g. aof's average frame size). */
  info?(): Record<string, number | string>;
  close(): Promise<void>;
}

/** Durable: every acknowledged write survives a power loss (per the engine's documentation). */
export type Durability = 'durable' | 'non-durable';

// ---- aof ----

/** aof with the given options. */
export async function openAof(dir: string, options: LogOptions): Promise<Adapter & { log: Log }> {
  const log = await Log.open(path.join(dir, 'log'), options);
  return {
    log,
    put: (_seq, rec) => log.append(rec),
    putMany: (_first, recs) => log.appendBatch(recs),
    sync: () => log.flush(),
    scan: async (visit) => {
      let n = 0;
      for await (const r of log.read({ from: 0 })) {
        n++;
        if (visit(r.payload) === false) break;
      }
      return n;
    },
    get: async (seq) => (await log.get(seq))?.payload,
    info: () => {
      const m = log.metrics();
      const info: Record<string, number> = { writes: m.writes, bytesWritten: m.bytesWritten, fsyncs: m.fsyncs, recordsPerFsync: round(m.recordsPerFsync), appendsPerWrite: round(m.appendsPerWrite) };
      if (m.fsyncs > 2) Object.assign(info, { fsyncP50Ms: round(m.fsyncLatencyMs.p50 * 10) / 10, fsyncP99Ms: round(m.fsyncLatencyMs.p99 * 10) / 10 });
      return info;
    },
    close: () => log.close(),
  };
}

/** A scan through `log.readBatches()`: a stored frame's records at a time. */
export function scanBatches(log: Log): (visit: (payload: Buffer) => boolean | void) => Promise<number> {
  return async (visit) => {
    let n = 0;
    for await (const records of log.readBatches({ from: 0 })) {
      for (const r of records) {
        n++;
        if (visit(r.payload) === false) return n;
      }
    }
    return n;
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

// ---- lmdb (lmdb-js) ----

/**
 * lmdb-js, keys uint32, values binary. Durable: the default synced commits
 * with `overlappingSync: false`, so that a write's promise resolves only once
 * its commit is flushed (with overlapping sync, the default on Linux, it
 * resolves at commit and `db.flushed` later). Non-durable: `noSync: true`.
 */
export async function openLmdb(dir: string, durability: Durability): Promise<Adapter> {
  const { open } = await import('lmdb');
  const db = open({
    path: path.join(dir, 'lmdb'),
    keyEncoding: 'uint32',
    encoding: 'binary',
    ...(durability === 'durable' ? { overlappingSync: false } : { noSync: true }),
  });
  return {
    put: (seq, rec) => db.put(seq, rec),
    putSync: (seq, rec) => void db.putSync(seq, rec),
    putMany: (first, recs) =>
      db.transaction(() => {
        for (let i = 0; i < recs.length; i++) db.putSync(first + i, recs[i]!);
      }),
    sync: () => db.flushed as unknown as Promise<void>,
    scan: (visit) => {
      let n = 0;
      for (const { value } of db.getRange({ start: 0 })) {
        n++;
        if (visit(value as Uint8Array) === false) break;
      }
      return n;
    },
    get: (seq) => db.get(seq) as Uint8Array | undefined,
    close: () => db.close(),
  };
}

// ---- better-sqlite3 ----

/**
 * better-sqlite3 in WAL mode, one table of blobs keyed by sequence number.
 * Durable: `synchronous = FULL` (in WAL mode, NORMAL can lose the last
 * commits on power loss). Non-durable: `synchronous = OFF`. Its API is
 * synchronous: `putSync` is one autocommit insert, `putMany` one transaction.
 */
export async function openSqlite(dir: string, durability: Durability): Promise<Adapter> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(dir, 'log.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'durable' ? 'FULL' : 'OFF'}`);
  db.exec('CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO log (seq, payload) VALUES (?, ?)');
  const insertMany = db.transaction((first: number, recs: Buffer[]) => {
    for (let i = 0; i < recs.length; i++) insert.run(first + i, recs[i]);
  });
  const all = db.prepare('SELECT payload FROM log ORDER BY seq').pluck();
  const one = db.prepare('SELECT payload FROM log WHERE seq = ?').pluck();
  return {
    putSync: (seq, rec) => void insert.run(seq, rec),
    putMany: (first, recs) => insertMany(first, recs),
    scan: (visit) => {
      let n = 0;
      for (const p of all.iterate()) {
        n++;
        if (visit(p as Uint8Array) === false) break;
      }
      return n;
    },
    get: (seq) => one.get(seq) as Uint8Array | undefined,
    close: async () => db.close(),
  };
}

// ---- classic-level (LevelDB) ----

function levelKey(seq: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeUInt32BE(Math.floor(seq / 2 ** 32), 0);
  k.writeUInt32BE(seq >>> 0, 4);
  return k;
}

/**
 * classic-level (LevelDB), 8-byte big-endian keys (so key order is sequence
 * order), buffer values. Durable: writes with `{ sync: true }`. Non-durable:
 * the default `{ sync: false }`.
 */
export async function openLevel(dir: string, durability: Durability): Promise<Adapter> {
  const { ClassicLevel } = await import('classic-level');
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const sync = durability === 'durable';
  return {
    put: (seq, rec) => db.put(levelKey(seq), rec, { sync }),
    putMany: (first, recs) => db.batch(recs.map((value, i) => ({ type: 'put' as const, key: levelKey(first + i), value })), { sync }),
    scan: async (visit) => {
      let n = 0;
      const it = db.values();
      try {
        for (let more = true; more; ) {
          const chunk = await it.nextv(1000);
          if (chunk.length === 0) break;
          for (const v of chunk) {
            n++;
            if (visit(v) === false) {
              more = false;
              break;
            }
          }
        }
      } finally {
        await it.close();
      }
      return n;
    },
    get: (seq) => db.get(levelKey(seq)),
    close: () => db.close(),
  };
}

// ---- hypercore ----

/**
 * hypercore 11 (each append hashed into a Merkle tree and signed; stored in
 * RocksDB through hypercore-storage). It documents no durable setting: its
 * writes are not fsynced, so it runs in the non-durable workloads only.
 */
export async function openHypercore(dir: string): Promise<Adapter> {
  const { default: Hypercore } = await import('hypercore');
  const core = new Hypercore(path.join(dir, 'hypercore'));
  await core.ready();
  return {
    put: (_seq, rec) => core.append(rec),
    putMany: (_first, recs) => core.append(recs),
    scan: async (visit) => {
      let n = 0;
      for await (const b of core.createReadStream({ start: 0, end: core.length })) {
        n++;
        if (visit(b) === false) break;
      }
      return n;
    },
    get: (seq) => core.get(seq),
    close: () => core.close(),
  };
}
