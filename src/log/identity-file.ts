import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { assert } from '../assert.js';
import { errnoOf } from '../errors.js';
import { readFully, unlinkIfExists } from '../fs/io.js';
import { replaceFileDurably } from '../fs/durable-file.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';
import { isAllZero, LOG_ID_BYTES } from '../segment/header.js';

/**
 * The `identity` file of a log directory (docs/FORMAT.md, "Log identity"):
 * the log's random id, from which segment on every header must carry it, and
 * the last commit point a writer recorded durably (its clean close, or a
 * repair). Unlike the catalog it is not derived from the segments, so it
 * witnesses what they held even when they are rolled back, cut or deleted.
 * Replaced whole (temporary file, fsync, rename, directory fsync), never
 * changed in place.
 *
 * @module
 */

/** Name of the identity file in a log directory. */
export const IDENTITY_FILE = 'identity';
/** Bytes of the identity file. */
export const IDENTITY_BYTES = 48;
/** Its first eight bytes. */
export const IDENTITY_MAGIC = Buffer.from('AOFIDNT1', 'latin1');

/** What the identity file says. */
export interface IdentityRecord {
  /** The log's identity, carried at offset 48 of every version-2 segment header. */
  logId: Buffer;
  /** Segments whose base sequence number is at least this must carry `logId` (older ones may be version 1, written before the log had one). */
  since: number;
  /** The log's `nextSeq` at the last clean close or repair: every record below it was acknowledged and durable. */
  committedSeq: number;
  /** {@link WATERMARK_DURABLE} or 0. */
  flags: number;
}

/**
 * Flag bit: the writer that last opened the log acknowledges only after an
 * fdatasync (strategies `always`, `batch`, `adaptive`), so its published
 * watermark never runs ahead of durable data and counts as a commit point.
 * Cleared (durably, before its first acknowledgement) by a writer under
 * `interval` or `none`, whose watermark a power loss may leave ahead.
 */
export const WATERMARK_DURABLE = 1;

/** Encodes the 48-byte identity file. */
export function encodeIdentity(r: IdentityRecord): Buffer {
  assert(r.logId.length === LOG_ID_BYTES && !isAllZero(r.logId), 'a log identity is 12 bytes, not all zero');
  const out = Buffer.alloc(IDENTITY_BYTES);
  IDENTITY_MAGIC.copy(out, 0);
  r.logId.copy(out, 8);
  writeU64(out, 24, r.since);
  writeU64(out, 32, r.committedSeq);
  out.writeUInt32LE(r.flags, 40);
  out.writeUInt32LE(crc32(out.subarray(0, 44)), 44);
  return out;
}

/** Decodes an identity file; undefined when it is not a whole, checksummed one. */
export function decodeIdentity(buf: Buffer): IdentityRecord | undefined {
  if (buf.length !== IDENTITY_BYTES || !buf.subarray(0, 8).equals(IDENTITY_MAGIC)) return undefined;
  if (crc32(buf.subarray(0, 44)) !== buf.readUInt32LE(44)) return undefined;
  const logId = Buffer.from(buf.subarray(8, 8 + LOG_ID_BYTES));
  const since = readU64(buf, 24);
  const committedSeq = readU64(buf, 32);
  const flags = buf.readUInt32LE(40);
  if (isAllZero(logId) || since < 0 || committedSeq < 0) return undefined;
  return { logId, since, committedSeq, flags };
}

/** A fresh random identity (never all zero: zero bytes mean "none" in a header). */
export function newLogId(): Buffer {
  for (;;) {
    const id = randomBytes(LOG_ID_BYTES);
    if (!isAllZero(id)) return id;
  }
}

/** The identity file of `dir`: `missing`, `damaged` (present but not a valid one), or its record. */
export async function readIdentity(fs: FileSystem, dir: string): Promise<{ state: 'missing' } | { state: 'damaged'; file: string } | { state: 'ok'; record: IdentityRecord }> {
  const file = path.join(dir, IDENTITY_FILE);
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'read');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  try {
    const size = await handle.size();
    if (size !== IDENTITY_BYTES) return { state: 'damaged', file };
    const buf = Buffer.alloc(IDENTITY_BYTES);
    await readFully(handle, buf, 0, IDENTITY_BYTES, 0);
    const record = decodeIdentity(buf);
    return record === undefined ? { state: 'damaged', file } : { state: 'ok', record };
  } finally {
    await handle.close();
  }
}

/** Replaces the identity file of `dir` atomically and durably: a crash leaves the old one or the new one, never a mix. */
export async function writeIdentity(fs: FileSystem, dir: string, record: IdentityRecord, fileMode: number): Promise<void> {
  const file = path.join(dir, IDENTITY_FILE);
  // One fixed temporary name: only a lock holder writes the file, and a copy a crash left is removed first.
  const tmp = `${file}.tmp`;
  await unlinkIfExists(fs, tmp);
  await replaceFileDurably(fs, file, tmp, encodeIdentity(record), fileMode);
}
