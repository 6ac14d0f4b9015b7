/**
 * The snapshot file format (docs/SNAPSHOTS.md): a 64-byte header, the body
 * (the state's bytes, or deflate blocks), a 64-byte trailer carrying the
 * lengths and the SHA-256 of the state. Names: `<seq, 20 digits>-<created µs,
 * 16 digits>.snap`, so that sorting names sorts by sequence number, then time.
 *
 * @module
 */
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/** Bytes of the header and of the trailer. */
export const SNAPSHOT_HEADER_BYTES = 64;
export const SNAPSHOT_TRAILER_BYTES = 64;
/** First 8 bytes of every snapshot file. */
export const SNAPSHOT_MAGIC = Buffer.from('AOFSNAPS', 'latin1');
/** First 8 bytes of the trailer. */
export const SNAPSHOT_TRAILER_MAGIC = Buffer.from('AOFSNEND', 'latin1');
/** The one format version this build writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Header flag: the body is a sequence of deflate blocks. */
export const FLAG_DEFLATE = 0x1;
/** Bytes before each deflate block: raw length (u32), compressed length (u32). */
export const BLOCK_HEADER_BYTES = 8;
/** Bytes of the SHA-256 digest in the trailer. */
export const DIGEST_BYTES = 32;

/** What the header says. */
export interface SnapshotHeader {
  version: number;
  flags: number;
  /** Largest raw block (the slice size the writer used). */
  blockBytes: number;
  seq: number;
  createdMicros: number;
  /** CRC-32 of the header's first 60 bytes (the trailer repeats it). */
  crc: number;
}

/** What the trailer says. */
export interface SnapshotTrailer {
  /** Bytes of the state (uncompressed). */
  dataBytes: number;
  /** Bytes of the body between header and trailer. */
  storedBytes: number;
  /** SHA-256 of the state. */
  digest: Buffer;
  /** The header's CRC, binding the trailer to its header. */
  headerCrc: number;
}

export function encodeHeader(h: Omit<SnapshotHeader, 'crc' | 'version'>): Buffer {
  const out = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  SNAPSHOT_MAGIC.copy(out, 0);
  out.writeUInt16LE(SNAPSHOT_FORMAT_VERSION, 8);
  out.writeUInt16LE(h.flags, 10);
  out.writeUInt32LE(h.blockBytes, 12);
  writeU64(out, 16, h.seq);
  writeU64(out, 24, h.createdMicros);
  out.writeUInt32LE(crc32(out.subarray(0, 60)), 60);
  return out;
}

/** The header's fields, or a reason why these bytes are not a valid header. */
export function decodeHeader(buf: Buffer): SnapshotHeader | string {
  if (buf.length < SNAPSHOT_HEADER_BYTES) return `header cut short (${buf.length} of ${SNAPSHOT_HEADER_BYTES} bytes)`;
  if (!buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) return 'bad magic: not a snapshot file';
  const crc = buf.readUInt32LE(60);
  if (crc32(buf.subarray(0, 60)) !== crc) return 'header checksum mismatch';
  const version = buf.readUInt16LE(8);
  if (version !== SNAPSHOT_FORMAT_VERSION) return `unsupported snapshot format version ${version}`;
  const flags = buf.readUInt16LE(10);
  if ((flags & ~FLAG_DEFLATE) !== 0) return `unknown header flags 0x${flags.toString(16)}`;
  const seq = readU64(buf, 16);
  const createdMicros = readU64(buf, 24);
  if (seq < 0 || createdMicros < 0) return 'header field out of range';
  return { version, flags, blockBytes: buf.readUInt32LE(12), seq, createdMicros, crc };
}

export function encodeTrailer(t: SnapshotTrailer): Buffer {
  const out = Buffer.alloc(SNAPSHOT_TRAILER_BYTES);
  SNAPSHOT_TRAILER_MAGIC.copy(out, 0);
  writeU64(out, 8, t.dataBytes);
  writeU64(out, 16, t.storedBytes);
  t.digest.copy(out, 24, 0, DIGEST_BYTES);
  out.writeUInt32LE(t.headerCrc, 56);
  out.writeUInt32LE(crc32(out.subarray(0, 60)), 60);
  return out;
}

/** The trailer's fields, or a reason why these bytes are not a valid trailer. */
export function decodeTrailer(buf: Buffer): SnapshotTrailer | string {
  if (buf.length < SNAPSHOT_TRAILER_BYTES) return 'trailer cut short';
  if (!buf.subarray(0, 8).equals(SNAPSHOT_TRAILER_MAGIC)) return 'no trailer at the end of the file (truncated or unfinished)';
  if (crc32(buf.subarray(0, 60)) !== buf.readUInt32LE(60)) return 'trailer checksum mismatch';
  const dataBytes = readU64(buf, 8);
  const storedBytes = readU64(buf, 16);
  if (dataBytes < 0 || storedBytes < 0) return 'trailer field out of range';
  return { dataBytes, storedBytes, digest: Buffer.from(buf.subarray(24, 24 + DIGEST_BYTES)), headerCrc: buf.readUInt32LE(56) };
}

/** Bound on a compressed block: deflate may grow incompressible data a little. */
export function maxStoredBlockBytes(blockBytes: number): number {
  return blockBytes + (blockBytes >>> 8) + 1024;
}

// --- names ---------------------------------------------------------------------

const SNAPSHOT_NAME = /^(\d{20})-(\d{16})\.snap$/;
const BACKUP_NAME = /^(\d{20})-(\d{16})\.backup$/;

/** Suffix of snapshot files and of backup directories. */
export const SNAPSHOT_SUFFIX = '.snap';
export const BACKUP_SUFFIX = '.backup';
/** Prefix of files and directories being written (never a snapshot or backup). */
export const TMP_PREFIX = '.tmp-';

let lastMicros = 0;

/**
 * Microseconds since the epoch, strictly increasing within this process
 * (shared by every store): two names made in the same microsecond, or the
 * same millisecond, still differ.
 */
export function monotonicMicros(): number {
  const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  lastMicros = now > lastMicros ? now : lastMicros + 1;
  return lastMicros;
}

/** Name of a snapshot (`.snap`) or backup (`.backup`) at `seq` made at `micros`. */
export function entryName(seq: number, micros: number, suffix: string): string {
  return `${String(seq).padStart(20, '0')}-${String(micros).padStart(16, '0')}${suffix}`;
}

/** Sequence number and creation time in a snapshot name, or undefined for any other name. */
export function parseSnapshotName(name: string): { seq: number; createdMicros: number } | undefined {
  return parseWith(SNAPSHOT_NAME, name);
}

/** Sequence number and creation time in a backup name, or undefined for any other name. */
export function parseBackupName(name: string): { seq: number; createdMicros: number } | undefined {
  return parseWith(BACKUP_NAME, name);
}

function parseWith(re: RegExp, name: string): { seq: number; createdMicros: number } | undefined {
  const m = re.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  const createdMicros = Number(m[2]);
  return Number.isSafeInteger(seq) && Number.isSafeInteger(createdMicros) ? { seq, createdMicros } : undefined;
}
