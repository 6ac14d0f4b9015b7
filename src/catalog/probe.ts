import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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

/** Work directories of probes, beside `index/` in the log directory (never in the system temp directory). */
export const PROBE_DIR_PREFIX = '.catalog-probe-';

/** What to check beyond reading every record. */
export interface ProbeOptions {
  /**
   * Also commit a write, on a compacted copy: some damage only shows when
   * LMDB writes (an assertion aborts the process). For writers and repair,
   * who will write to the catalog; readers never do.
   */
  writeTest: boolean;
}

/**
 * LMDB trusts its memory map: a damaged data file crashes the process that
 * reads it (SIGBUS, SIGSEGV, an assertion's SIGABRT) instead of raising an
 * error. So before a process opens the catalog, a child process reads all of
 * it; if the child dies or finds damage, the catalog is damaged (and is
 * rebuilt from the files by a writer) and the caller's process never touched
 * it. Resolves undefined for a healthy catalog, else what is wrong.
 *
 * The child opens the environment read-only and reads every key and value of
 * every database it holds (their names are the main database's keys: nothing
 * is hard-coded), then has LMDB write a compacted copy, which walks every page
 * of every tree, the free-page database included, and fails on a page of the
 * wrong type or a page leak; with `writeTest`, it commits a write on that
 * copy. The copy lives in a work directory beside `index/`, removed when the
 * child ends (a probe whose own process was killed leaves one, removed by the
 * next probe once it is stale); where the log directory is not writable, the
 * reads alone are done. A cheap check of the two meta pages comes first, and a
 * catalog that is byte for byte as the last writer's clean close left it
 * (`closed-checksum.json`) needs no probe.
 */
export async function catalogDamage(indexDir: string, options: ProbeOptions = { writeTest: false }): Promise<string | undefined> {
  const data = path.join(indexDir, 'data.mdb');
  if (!metaPagesLookValid(data)) return 'its meta pages are not LMDB meta pages';
  if (matchesCloseChecksum(indexDir)) return undefined;
  const workDir = makeWorkDir(path.dirname(indexDir));
  try {
    return await runProbe(indexDir, workDir, options.writeTest);
  } finally {
    if (workDir !== undefined) fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** True when the catalog in `indexDir` is healthy (see {@link catalogDamage}). */
export async function catalogReadable(indexDir: string, options?: ProbeOptions): Promise<boolean> {
  return (await catalogDamage(indexDir, options)) === undefined;
}

/** What the probe's exit codes mean. */
const PROBE_EXIT: Record<number, string> = {
  3: 'a record cannot be decoded',
  5: 'LMDB found a damaged page walking every tree',
  6: 'a write to a copy of it failed',
};

function runProbe(indexDir: string, workDir: string | undefined, writeTest: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, lmdbEntry, indexDir, workDir ?? '', writeTest ? 'write' : 'read'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: CATALOG_PROBE_TIMEOUT_MS });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(0, 2000)));
    child.on('error', (err) => resolve(`the probe process could not run (${err.message})`));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const said = stderr.trim().split('\n')[0];
      const what = signal !== null ? `reading it killed the probe process with ${signal}` : (PROBE_EXIT[code ?? -1] ?? `the probe process failed (exit ${code})`);
      resolve(said === undefined || said === '' ? what : `${what}: ${said}`);
    });
  });
}

/** A fresh work directory for the probe's copy, or undefined where the log directory takes none (a reader without write access). */
function makeWorkDir(logDir: string): string | undefined {
  removeStaleWorkDirs(logDir);
  try {
    const dir = path.join(logDir, `${PROBE_DIR_PREFIX}${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

/** Work directories left by probes whose process was killed: older than any live probe can be. */
function removeStaleWorkDirs(logDir: string): void {
  try {
    for (const name of fs.readdirSync(logDir)) {
      if (!name.startsWith(PROBE_DIR_PREFIX)) continue;
      const dir = path.join(logDir, name);
      if (Date.now() - fs.statSync(dir).mtimeMs > 2 * CATALOG_PROBE_TIMEOUT_MS) fs.rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // Nothing to clean, or no right to: a later probe tries again.
  }
}

/**
 * Key of the msgpack structures shared by every catalog entry: entries then
 * decode without each carrying its own field names, several times faster
 * (an open reads them all). Entries written without it still decode.
 */
export const SEGMENTS_STRUCTURES_KEY = 'aof.catalog.structures';

// argv: lmdb entry, index dir, work dir ('' for none), 'write' or 'read'. Exit codes: see PROBE_EXIT.
// A system error while copying (a full disk) is no sign of damage: the reads alone then decide.
const PROBE_SCRIPT = `
const { open } = require(process.argv[1]);
const fs = require('node:fs'), path = require('node:path');
const [indexDir, workDir, mode] = process.argv.slice(2);
(async () => {
  const env = open({ path: indexDir, readOnly: true, maxDbs: 64, compression: false });
  const names = [...env.getKeys()];
  for (const name of names) {
    if (typeof name !== 'string') process.exit(3);
    const db = env.openDB(name, { encoding: 'binary', keyEncoding: 'binary' });
    for (const { key, value } of db.getRange()) if (key.length === 0 || value === undefined) process.exit(3);
  }
  if (names.includes('segments')) {
    const db = env.openDB('segments', { sharedStructuresKey: Symbol.for('${SEGMENTS_STRUCTURES_KEY}') });
    for (const { key, value } of db.getRange()) if (value === undefined || value === null || typeof value !== 'object' || value.baseSeq !== key) process.exit(3);
  }
  if (workDir === '') return env.close();
  const copy = path.join(workDir, 'copy');
  try {
    fs.mkdirSync(copy);
    await env.backup(copy, true);
  } catch (err) {
    if (typeof err.code === 'number' && err.code < 0) { console.error(err.message); process.exit(5); }
    return env.close();
  }
  await env.close();
  if (mode !== 'write') return;
  let written;
  try {
    written = open({ path: copy, maxDbs: 64, compression: false });
    const db = written.openDB('segments', { sharedStructuresKey: Symbol.for('${SEGMENTS_STRUCTURES_KEY}') });
    db.transactionSync(() => { db.putSync(-1, { probe: true }); db.removeSync(-1); });
  } catch (err) {
    const systemError = (typeof err.code === 'string' && err.code.startsWith('E')) || (typeof err.code === 'number' && err.code > 0);
    if (!systemError) { console.error(err.message); process.exit(6); }
  }
  await written?.close();
})().then(() => process.exit(0), (err) => { console.error(String(err && err.message)); process.exit(4); });
`;

/** File beside the LMDB files recording the checksum of `data.mdb` as the last writer closed it. */
const CLOSE_CHECKSUM_FILE = 'closed-checksum.json';

/**
 * Records the checksum of `data.mdb` after the writer closed the catalog: an
 * open that finds the file byte for byte as it was left needs no probe.
 */
export function recordCloseChecksum(indexDir: string): void {
  const sum = checksumOf(path.join(indexDir, 'data.mdb'));
  const tmp = path.join(indexDir, `${CLOSE_CHECKSUM_FILE}.tmp`);
  try {
    fs.writeFileSync(tmp, JSON.stringify(sum), { mode: 0o600 });
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
    const data = checksumOf(path.join(indexDir, 'data.mdb'));
    return recorded.size === data.size && recorded.crc === data.crc;
  } catch {
    return false;
  }
}

/** Bytes read at a time when checksumming `data.mdb`. */
const CHECKSUM_CHUNK_BYTES = 1024 * 1024;

/**
 * Size and CRC-32 of a file, read a chunk at a time into one buffer: the
 * catalog holds the event store's stream index too (tens of MiB), and one
 * buffer of the whole file cost the open its page faults (issue 19).
 */
function checksumOf(file: string): { size: number; crc: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHECKSUM_CHUNK_BYTES);
    let size = 0;
    let crc = 0;
    for (let n = fs.readSync(fd, chunk, 0, chunk.length, 0); n > 0; n = fs.readSync(fd, chunk, 0, chunk.length, size)) {
      crc = crc32(chunk.subarray(0, n), crc);
      size += n;
    }
    return { size, crc };
  } finally {
    fs.closeSync(fd);
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
