import * as path from 'node:path';
import { errnoOf } from '../errors.js';
import { readFully, writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/**
 * The commit watermark, published by the writer for readers in other
 * processes: a 16-byte file `watermark` in the log directory holding the
 * sequence number after the last acknowledged record and its CRC. Rewritten
 * in place (no fsync: readers on this host share the page cache, and after a
 * crash the files are re-verified anyway), one write in flight at a time.
 * The CRC covers magic and value, so a torn or damaged write never reads as
 * a value. A file that was deleted, replaced or damaged behind the writer's
 * back is found by a check every {@link WATERMARK_CHECK_MS} and written anew.
 *
 * @module
 */

/** Name of the watermark file in a log directory. */
export const WATERMARK_FILE = 'watermark';
/** Bytes of the watermark file. */
export const WATERMARK_BYTES = 16;
/** How often a writer checks that the file still holds what it last published (and puts it back if not). */
export const WATERMARK_CHECK_MS = 1000;
const MAGIC = 0x4b524d57; // "WMRK"
/** Beside the watermark while it is created: renamed over it, so a reader never finds a short new file. */
const TEMP_FILE = 'watermark.new';

function encode(nextSeq: number): Buffer {
  const out = Buffer.alloc(WATERMARK_BYTES);
  out.writeUInt32LE(MAGIC, 0);
  writeU64(out, 4, nextSeq);
  out.writeUInt32LE(crc32(out.subarray(0, 12)), 12);
  return out;
}

/** Why `buf` is not a whole, checksummed watermark, or undefined when it is one. */
function defect(buf: Buffer, length: number): string | undefined {
  if (length < WATERMARK_BYTES) return `${length} of ${WATERMARK_BYTES} bytes`;
  if (buf.readUInt32LE(0) !== MAGIC) return 'bad magic';
  if (crc32(buf.subarray(0, 12)) !== buf.readUInt32LE(12)) return 'checksum mismatch';
  if (readU64(buf, 4) < 0) return 'value out of range';
  return undefined;
}

/** The watermark in `buf`, or undefined when it is not a whole, checksummed one (a torn read: try again). */
export function decodeWatermark(buf: Buffer): number | undefined {
  return defect(buf, buf.length) === undefined ? readU64(buf, 4) : undefined;
}

/** What a reader found in the watermark file. */
export type WatermarkState =
  | { kind: 'valid'; nextSeq: number; file: string }
  | { kind: 'missing'; file: string }
  | { kind: 'damaged'; reason: string; file: string };

/** Attempts at reading a whole watermark before calling it damaged (a read racing the writer's pwrite may see part of it). */
const READ_ATTEMPTS = 3;

/** The readers' side: what the watermark file of `dir` holds. */
export async function readWatermarkState(fs: FileSystem, dir: string): Promise<WatermarkState> {
  const file = path.join(dir, WATERMARK_FILE);
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'read');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { kind: 'missing', file };
    throw err;
  }
  try {
    const buf = Buffer.alloc(WATERMARK_BYTES);
    let reason = '';
    for (let i = 0; i < READ_ATTEMPTS; i++) {
      const got = await readFully(handle, buf, 0, WATERMARK_BYTES, 0);
      const found = defect(buf, got);
      if (found === undefined) return { kind: 'valid', nextSeq: readU64(buf, 4), file };
      reason = found;
    }
    return { kind: 'damaged', reason, file };
  } finally {
    await handle.close();
  }
}

/** The published watermark of `dir`, or undefined when there is no valid one (for `aof stat`). */
export async function readWatermark(fs: FileSystem, dir: string): Promise<number | undefined> {
  const state = await readWatermarkState(fs, dir);
  return state.kind === 'valid' ? state.nextSeq : undefined;
}

/** Writes `nextSeq` into a new file renamed over the watermark: readers see the old file or the whole new one. */
async function createWatermarkFile(fs: FileSystem, dir: string, nextSeq: number, fileMode: number): Promise<FileHandle> {
  const temp = path.join(dir, TEMP_FILE);
  await fs.unlink(temp).catch((err: unknown) => {
    if (errnoOf(err) !== 'ENOENT') throw err;
  });
  const file = await fs.open(temp, 'createNew', fileMode);
  try {
    await writeFully(file, encode(nextSeq), 0, WATERMARK_BYTES, 0);
    await fs.rename(temp, path.join(dir, WATERMARK_FILE));
    await fs.syncDir(dir);
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
  return file;
}

/** The writer's side: publishes each new watermark, coalescing while a write is in flight. */
export class WatermarkPublisher {
  /** A write or a check runs: publishes wait in `pending`. */
  private busy = false;
  private pending: number | undefined;
  private published: number;
  private closed = false;
  /** Set when the writer lost its lock: nothing is written any more. */
  private abandoned = false;
  private readonly timer: NodeJS.Timeout;
  /** Failed publishes (never fatal: readers in other processes lag until the next one succeeds). */
  errors = 0;
  /** Times the file was found deleted, replaced or damaged and written anew. */
  rewrites = 0;

  private constructor(
    private file: FileHandle,
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly fileMode: number,
    nextSeq: number,
  ) {
    this.published = nextSeq;
    this.timer = setInterval(() => this.startCheck(), WATERMARK_CHECK_MS).unref();
  }

  /** Opens (creating if needed) the watermark file of `dir` and publishes `nextSeq`. */
  static async open(fs: FileSystem, dir: string, nextSeq: number, fileMode: number): Promise<WatermarkPublisher> {
    let file: FileHandle;
    try {
      file = await fs.open(path.join(dir, WATERMARK_FILE), 'readWrite');
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      return new WatermarkPublisher(await createWatermarkFile(fs, dir, nextSeq, fileMode), fs, dir, fileMode, nextSeq);
    }
    try {
      await writeFully(file, encode(nextSeq), 0, WATERMARK_BYTES, 0);
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
    return new WatermarkPublisher(file, fs, dir, fileMode, nextSeq);
  }

  /** Publishes `nextSeq` (only the newest value matters). */
  publish(nextSeq: number): void {
    if (this.abandoned) return;
    if (nextSeq <= this.published && this.pending === undefined) return;
    if (this.file.writeSync !== undefined && !this.busy) {
      // 16 bytes into the page cache: cheaper done here than through a thread-pool round trip.
      try {
        // A short write leaves a torn value the CRC rejects: finish it on the asynchronous path.
        if (this.file.writeSync(encode(nextSeq), 0, WATERMARK_BYTES, 0) === WATERMARK_BYTES) {
          this.published = nextSeq;
          return;
        }
      } catch {
        this.errors++;
        return;
      }
    }
    this.pending = nextSeq;
    if (!this.busy) this.runExclusive(() => this.drain());
  }

  /**
   * Stops writing the file for good (the writer lost its lock: the file may
   * be another writer's now). Later publishes and the close write nothing.
   */
  abandon(): void {
    this.abandoned = true;
    this.closed = true;
    this.pending = undefined;
    clearInterval(this.timer);
  }

  /** Waits for the last publish, makes sure the file holds it, and closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.busy || this.pending !== undefined) await new Promise((resolve) => setImmediate(resolve));
    // The last value is the commit point readers keep after this writer: it must be there, whole.
    if (!this.abandoned) await this.checkFile().catch(() => this.errors++);
    await this.file.close();
  }

  /** Runs `task` with publishes held back, then writes any that came meanwhile. */
  private runExclusive(task: () => Promise<void>): void {
    this.busy = true;
    void task()
      .catch(() => this.errors++)
      .finally(() => {
        this.busy = false;
        if (this.pending !== undefined) this.runExclusive(() => this.drain());
      });
  }

  private startCheck(): void {
    if (!this.busy && !this.closed) this.runExclusive(() => this.checkFile());
  }

  /** Puts the watermark back when the file no longer holds the last value published (deleted, replaced, damaged). */
  private async checkFile(): Promise<void> {
    const found = await readWatermarkState(this.fs, this.dir);
    if (this.abandoned || (found.kind === 'valid' && found.nextSeq === this.published)) return;
    const fresh = await createWatermarkFile(this.fs, this.dir, this.published, this.fileMode);
    const old = this.file;
    this.file = fresh;
    this.rewrites++;
    await old.close();
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined) {
      const seq = this.pending;
      this.pending = undefined;
      if (this.abandoned) return;
      try {
        await writeFully(this.file, encode(seq), 0, WATERMARK_BYTES, 0);
        this.published = seq;
      } catch {
        this.errors++;
      }
    }
  }
}
