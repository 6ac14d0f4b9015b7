import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from '../record/crc.js';

/** LMDB's meta-page magic, little-endian at {@link LMDB_MAGIC_OFFSET} of pages 0 and 1. */
const LMDB_MAGIC = 0xbeefc0de;
/** After the 16-byte page header and 8 bytes of page flags and padding (lmdb-js's build). */
const LMDB_MAGIC_OFFSET = 24;
/** How long the probe may take before the catalog is taken to be unusable. */
export const CATALOG_PROBE_TIMEOUT_MS = 30_000;

const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');

/**
 * LMDB trusts its memory map: a damaged data file crashes the process that
 * reads it (segfault, bus error) instead of raising an error. So before the
 * log opens its catalog, a child process reads every record of it; if the
 * child dies, the catalog is damaged and is rebuilt from the files, and the
 * log's own process never touches it. A cheap check of the two meta pages
 * comes first.
 */
export async function catalogReadable(indexDir: string): Promise<boolean> {
  const data = path.join(indexDir, 'data.mdb');
  if (!metaPagesLookValid(data)) return false;
  if (matchesCloseChecksum(indexDir)) return true;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, lmdbEntry, indexDir], { stdio: 'ignore', timeout: CATALOG_PROBE_TIMEOUT_MS });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/**
 * Key of the msgpack structures shared by every catalog entry: entries then
 * decode without each carrying its own field names, several times faster
 * (an open reads them all). Entries written without it still decode.
 */
export const SEGMENTS_STRUCTURES_KEY = 'aof.catalog.structures';

// Reads every record and commits a write transaction, on a copy of the files: some damage only
// shows when LMDB writes (an assertion aborts the process), and the original must stay untouched.
const PROBE_SCRIPT = `
const { open } = require(process.argv[1]);
const fs = require('node:fs'), os = require('node:os'), path = require('node:path');
const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'aof-catalog-probe-'));
process.on('exit', () => fs.rmSync(copy, { recursive: true, force: true }));
fs.copyFileSync(path.join(process.argv[2], 'data.mdb'), path.join(copy, 'data.mdb'));
const env = open({ path: copy, maxDbs: 8 });
for (const name of ['segments']) { const db = env.openDB(name, { sharedStructuresKey: Symbol.for('${SEGMENTS_STRUCTURES_KEY}') }); let n = 0; for (const { key, value } of db.getRange()) { if (value === undefined) process.exit(3); n++; } }
// The event store's stream index (src/stream/stream-index.ts), where it exists.
for (const name of ['es-streams', 'es-events', 'es-meta']) { const db = env.openDB(name, name === 'es-meta' ? {} : { keyEncoding: 'binary' }); if (db === undefined) continue; for (const { value } of db.getRange()) if (value === undefined) process.exit(3); }
const probeDb = env.openDB('segments', { sharedStructuresKey: Symbol.for('${SEGMENTS_STRUCTURES_KEY}') });
probeDb.transactionSync(() => { probeDb.putSync(-1, { probe: true }); probeDb.removeSync(-1); });
env.close().then(() => process.exit(0), () => process.exit(4));
`;

/** File beside the LMDB files recording the checksum of `data.mdb` as the last writer closed it. */
const CLOSE_CHECKSUM_FILE = 'closed-checksum.json';

/**
 * Records the checksum of `data.mdb` after the writer closed the catalog: an
 * open that finds the file byte for byte as it was left needs no probe.
 */
export function recordCloseChecksum(indexDir: string): void {
  const data = fs.readFileSync(path.join(indexDir, 'data.mdb'));
  const tmp = path.join(indexDir, `${CLOSE_CHECKSUM_FILE}.tmp`);
  try {
    fs.writeFileSync(tmp, JSON.stringify({ size: data.length, crc: crc32(data) }), { mode: 0o600 });
    fs.renameSync(tmp, path.join(indexDir, CLOSE_CHECKSUM_FILE));
  } catch (err) {
    // A full disk: no half-written record left behind (the next open probes the catalog instead).
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function matchesCloseChecksum(indexDir: string): boolean {
  try {
    const recorded = JSON.parse(fs.readFileSync(path.join(indexDir, CLOSE_CHECKSUM_FILE), 'utf8')) as { size?: unknown; crc?: unknown };
    const data = fs.readFileSync(path.join(indexDir, 'data.mdb'));
    return recorded.size === data.length && recorded.crc === crc32(data);
  } catch {
    return false;
  }
}

function metaPagesLookValid(data: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(data, 'r');
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(LMDB_MAGIC_OFFSET + 4);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length || head.readUInt32LE(LMDB_MAGIC_OFFSET) !== LMDB_MAGIC) return false;
    // The second meta page follows at one page size; LMDB's page size is the OS page size, 4 KiB here, 16 KiB on some.
    for (const pageSize of [4096, 8192, 16384, 65536]) {
      if (pageSize + head.length > size) break;
      if (fs.readSync(fd, head, 0, head.length, pageSize) === head.length && head.readUInt32LE(LMDB_MAGIC_OFFSET) === LMDB_MAGIC) return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
