import * as path from 'node:path';
import { errnoOf } from '../errors.js';
import { readFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/**
 * The commit watermark, published by the writer for readers in other
 * processes: a 16-byte file `watermark` in the log directory holding the
 * sequence number after the last acknowledged record and its CRC. Rewritten
 * in place (no fsync: readers on this host share the page cache, and after a
 * crash the files are re-verified anyway), one write in flight at a time.
 *
 * @module
 */

/** Name of the watermark file in a log directory. */
export const WATERMARK_FILE = 'watermark';
/** Bytes of the watermark file. */
export const WATERMARK_BYTES = 16;
const MAGIC = 0x4b524d57; // "WMRK"

function encode(nextSeq: number): Buffer {
  const out = Buffer.alloc(WATERMARK_BYTES);
  out.writeUInt32LE(MAGIC, 0);
  writeU64(out, 4, nextSeq);
  out.writeUInt32LE(crc32(out.subarray(0, 12)), 12);
  return out;
}

/** The watermark in `buf`, or undefined when it is not a whole, checksummed one (a torn read: try again). */
export function decodeWatermark(buf: Buffer): number | undefined {
  if (buf.length < WATERMARK_BYTES || buf.readUInt32LE(0) !== MAGIC) return undefined;
  if (crc32(buf.subarray(0, 12)) !== buf.readUInt32LE(12)) return undefined;
  const seq = readU64(buf, 4);
  return seq < 0 ? undefined : seq;
}

/** The writer's side: publishes each new watermark, coalescing while a write is in flight. */
export class WatermarkPublisher {
  private inFlight = false;
  private pending: number | undefined;
  private published = -1;
  /** Failed publishes (never fatal: readers in other processes lag until the next one succeeds). */
  errors = 0;

  private constructor(private readonly file: FileHandle) {}

  /** Opens (creating if needed) the watermark file of `dir` and publishes `nextSeq`. */
  static async open(fs: FileSystem, dir: string, nextSeq: number, fileMode: number): Promise<WatermarkPublisher> {
    const p = path.join(dir, WATERMARK_FILE);
    let file: FileHandle;
    try {
      file = await fs.open(p, 'createNew', fileMode);
      await fs.syncDir(dir);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      file = await fs.open(p, 'readWrite');
    }
    const publisher = new WatermarkPublisher(file);
    await file.write(encode(nextSeq), 0, WATERMARK_BYTES, 0);
    publisher.published = nextSeq;
    return publisher;
  }

  /** Publishes `nextSeq` (only the newest value matters). */
  publish(nextSeq: number): void {
    if (nextSeq <= this.published && this.pending === undefined) return;
    if (this.file.writeSync !== undefined && !this.inFlight) {
      // 16 bytes into the page cache: cheaper done here than through a thread-pool round trip.
      try {
        this.file.writeSync(encode(nextSeq), 0, WATERMARK_BYTES, 0);
        this.published = nextSeq;
      } catch {
        this.errors++;
      }
      return;
    }
    this.pending = nextSeq;
    if (!this.inFlight) void this.drain();
  }

  /** Waits for the last publish and closes the file. */
  async close(): Promise<void> {
    while (this.inFlight || this.pending !== undefined) await new Promise((resolve) => setImmediate(resolve));
    await this.file.close();
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.pending !== undefined) {
        const seq = this.pending;
        this.pending = undefined;
        try {
          await this.file.write(encode(seq), 0, WATERMARK_BYTES, 0);
          this.published = seq;
        } catch {
          this.errors++;
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}

/** Attempts at reading a whole watermark before giving up on this round. */
const READ_ATTEMPTS = 3;

/** The readers' side: the published watermark of `dir`, or undefined when there is none (no writer ever published one). */
export async function readWatermark(fs: FileSystem, dir: string): Promise<number | undefined> {
  let file: FileHandle;
  try {
    file = await fs.open(path.join(dir, WATERMARK_FILE), 'read');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(WATERMARK_BYTES);
    for (let i = 0; i < READ_ATTEMPTS; i++) {
      await readFully(file, buf, 0, WATERMARK_BYTES, 0);
      const seq = decodeWatermark(buf);
      if (seq !== undefined) return seq;
    }
    return undefined;
  } finally {
    await file.close();
  }
}
