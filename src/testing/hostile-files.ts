import * as fs from 'node:fs';
import * as path from 'node:path';
import { Log } from '../log.js';
import { seededBytes } from './arbitraries.js';

/**
 * What the hostile commands do to a closed log's files behind the engine's
 * back. These helpers touch the real file system on purpose (`node:fs`, not
 * the adapter): they play an operator, a restored disk snapshot or another
 * program, not the engine.
 *
 * @module
 */

/** Size of an LMDB page on the platforms the engine runs on. */
export const LMDB_PAGE_BYTES = 4096;

/** Copies the whole log directory beside it; resolves the copy's path. */
export function snapshotDir(dir: string): string {
  const copy = `${dir}.hostile-snapshot`;
  fs.rmSync(copy, { recursive: true, force: true });
  fs.cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Puts the log directory back exactly as {@link snapshotDir} copied it, and removes the copy. */
export function restoreDir(copy: string, dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(copy, dir, { recursive: true });
  fs.rmSync(copy, { recursive: true, force: true });
}

/** Segment files of a log directory, oldest first. */
export function segmentFiles(dir: string): string[] {
  const segDir = path.join(dir, 'segments');
  if (!fs.existsSync(segDir)) return [];
  return fs
    .readdirSync(segDir)
    .filter((n) => /^\d{20}\.seg$/.test(n))
    .sort()
    .map((n) => path.join(segDir, n));
}

/** The base sequence number in a segment file's name. */
export function baseOfSegmentFile(file: string): number {
  return Number(path.basename(file, '.seg'));
}

/** Which page of the catalog's `data.mdb` gets garbage. */
export type CatalogPage = 'meta' | 'main-root' | 'last' | 'any';

/**
 * Page number of the main database's root, from the newer of the two meta
 * pages (LMDB's layout: a 16-byte page header, then magic, version,
 * address, map size, the free and main databases' records of 48 bytes each
 * with the root page last, the last page and the transaction id).
 */
function mainRootPage(data: Buffer): number | undefined {
  const metaAt = (page: number): { root: number; txn: number } | undefined => {
    const at = page * LMDB_PAGE_BYTES;
    if (data.length < at + 160 || data.readUInt32LE(at + 16) !== 0xbeefc0de) return undefined;
    const root = Number(data.readBigUInt64LE(at + 16 + 24 + 48 + 40));
    const txn = Number(data.readBigUInt64LE(at + 16 + 24 + 96 + 8));
    return { root, txn };
  };
  const metas = [metaAt(0), metaAt(1)].filter((m) => m !== undefined);
  if (metas.length === 0) return undefined;
  const newest = metas.reduce((a, b) => (b.txn > a.txn ? b : a));
  return Number.isSafeInteger(newest.root) && newest.root > 1 ? newest.root : undefined;
}

/**
 * Overwrites one page of `index/data.mdb` with seeded garbage. Resolves the
 * page number, or undefined when the log has no catalog.
 */
export function damageCatalogPage(dir: string, which: CatalogPage, pick: number, seed: number): number | undefined {
  const file = path.join(dir, 'index', 'data.mdb');
  if (!fs.existsSync(file)) return undefined;
  const data = fs.readFileSync(file);
  const pages = Math.floor(data.length / LMDB_PAGE_BYTES);
  if (pages === 0) return undefined;
  let page: number;
  if (which === 'meta') page = pick % Math.min(2, pages);
  else if (which === 'last') page = pages - 1;
  else if (which === 'main-root') page = Math.min(mainRootPage(data) ?? pages - 1, pages - 1);
  else page = pick % pages;
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, seededBytes(seed, LMDB_PAGE_BYTES), 0, LMDB_PAGE_BYTES, page * LMDB_PAGE_BYTES);
  } finally {
    fs.closeSync(fd);
  }
  return page;
}

/**
 * Writes another log (in `scratch`) whose segment starting at `base` holds
 * `records` records of its own, sealed or not, and resolves that segment's
 * file: a file with the same name as one of ours, from a log that is not
 * ours (the records before `base` are empty batches).
 */
export async function foreignSegment(scratch: string, base: number, records: number, sealed: boolean, seed: number): Promise<string> {
  fs.rmSync(scratch, { recursive: true, force: true });
  const log = await Log.open(scratch, { flush: { strategy: 'none' } });
  try {
    for (let done = 0; done < base; ) {
      const n = Math.min(1000, base - done);
      await log.appendBatch(Array.from({ length: n }, () => new Uint8Array(0)));
      done += n;
    }
    if (base > 0) await log.roll();
    for (let i = 0; i < records; i++) await log.append(seededBytes(seed + i, 8 + (i % 24)));
    if (sealed) await log.roll();
  } finally {
    await log.close();
  }
  return path.join(scratch, 'segments', `${String(base).padStart(20, '0')}.seg`);
}

/**
 * How many descriptors this process holds on files under `dir/segments/`
 * (from `/proc/self/fd`), or undefined where there is no `/proc`.
 */
export function openSegmentDescriptors(dir: string): number | undefined {
  const fdDir = '/proc/self/fd';
  if (!fs.existsSync(fdDir)) return undefined;
  const segDir = path.resolve(dir, 'segments') + path.sep;
  let n = 0;
  for (const fd of fs.readdirSync(fdDir)) {
    try {
      if (fs.readlinkSync(path.join(fdDir, fd)).startsWith(segDir)) n++;
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return n;
}
