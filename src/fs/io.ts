import { assert } from '../assert.js';
import type { FileHandle, FileSystem } from './types.js';

/**
 * Writes all of `buffer[offset, offset+length)` at `position`, continuing
 * after short writes. A call that writes nothing fails rather than spin.
 */
export async function writeFully(file: FileHandle, buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await file.write(buffer, offset + done, length - done, position + done);
    if (n <= 0) throw Object.assign(new Error(`write of ${length - done} bytes wrote nothing`), { code: 'EIO' });
    done += n;
  }
  assert(done === length, 'writeFully wrote exactly the requested length');
}

/**
 * Writes all of `buffer[offset, offset + length)` at `position`: on the
 * calling thread when the handle can and the write is at most `syncMaxBytes`
 * (a page-cache write of a few KiB costs less than a thread-pool round trip),
 * else through the thread pool.
 */
export async function writeFullyPreferSync(file: FileHandle, buffer: Uint8Array, offset: number, length: number, position: number, syncMaxBytes: number): Promise<void> {
  if (file.writeSync === undefined || length > syncMaxBytes) return writeFully(file, buffer, offset, length, position);
  let done = 0;
  while (done < length) {
    const n = file.writeSync(buffer, offset + done, length - done, position + done);
    if (n <= 0) throw Object.assign(new Error(`write of ${length - done} bytes wrote nothing`), { code: 'EIO' });
    done += n;
  }
}

/**
 * Reads up to `length` bytes at `position`, continuing after short reads;
 * resolves the count read, which is less than `length` only at end of file.
 */
export async function readFully(file: FileHandle, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await file.read(buffer, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads exactly `length` bytes at `position` into a new buffer, or fewer at end of file. */
export async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  const n = await readFully(file, buffer, 0, length, position);
  return n === length ? buffer : buffer.subarray(0, n);
}

/** True when `p` exists; other errors than ENOENT propagate. */
export async function pathExists(fs: FileSystem, p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'ENOENT') return false;
    throw err;
  }
}

/** Removes file `p` through the adapter; an absent file is not an error (resolves false). */
export async function unlinkIfExists(fs: FileSystem, p: string): Promise<boolean> {
  try {
    await fs.unlink(p);
    return true;
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'ENOENT') return false;
    throw err;
  }
}

/** Removes directory `dir` and everything in it through the adapter; an absent directory is not an error. */
export async function removeTree(fs: FileSystem, dir: string): Promise<void> {
  try {
    await fs.rmdir(dir, { recursive: true });
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code !== 'ENOENT') throw err;
  }
}
