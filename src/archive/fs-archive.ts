import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveError, ErrorCode, errnoOf, InvalidArgumentError } from '../errors.js';
import { unlinkIfExists } from '../fs/io.js';
import { nodeFs } from '../fs/node-fs.js';
import { adapterReadStream, adapterWriteStream, readWholeFile } from '../fs/streams.js';
import { writeNewFileSynced } from '../fs/durable-file.js';
import type { FileSystem } from '../fs/types.js';
import { parseSegmentKey, type ArchiveCallOptions, type ArchiveCompression, type ArchivedObject, type SegmentArchive, type SegmentSource } from './archive.js';
import { compressor, decompressor, isCompression } from './compression.js';
import { RunningCrc } from './file-crc.js';

/** Options of {@link FsArchive}. */
export interface FsArchiveOptions {
  /** Compress stored segments (default `'none'`; `true` means gzip). */
  compress?: ArchiveCompression | boolean;
  /** Permission bits of stored files (default 0o600). */
  fileMode?: number;
  /** Permission bits of created directories (default 0o700). */
  dirMode?: number;
  /**
   * The file-system adapter for every file this tier touches: the archive
   * directory and the log's files it reads (upload) or writes (fetch). Tests
   * pass the log's `FaultFs` so faults reach the archive too. Default: the
   * real file system.
   */
  fs?: FileSystem;
}

interface StoredMeta {
  bytes: number;
  crc: number;
  compression: ArchiveCompression;
  storedBytes: number;
}

/**
 * An archive tier in another directory (another disk, a mounted network
 * share). Each segment is stored as `<dir>/segments/<base>.seg` (compressed
 * if asked) with a `.meta.json` beside it holding the original size, our
 * CRC-32 and the compression. Both are written tmp → fsync → rename →
 * directory fsync, and the stored bytes are read back and checked before
 * `put` resolves.
 */
export class FsArchive implements SegmentArchive {
  readonly description: string;
  private readonly compression: ArchiveCompression;
  private readonly fileMode: number;
  private readonly dirMode: number;
  private readonly fs: FileSystem;

  constructor(
    /** The archive directory. */
    readonly dir: string,
    options: FsArchiveOptions = {},
  ) {
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('FsArchive needs a directory path');
    const c = options.compress === true ? 'gzip' : options.compress === false || options.compress === undefined ? 'none' : options.compress;
    if (!isCompression(c)) throw new InvalidArgumentError(`FsArchive option compress must be none, gzip or brotli, got ${String(options.compress)}`);
    this.compression = c;
    this.fileMode = options.fileMode ?? 0o600;
    this.dirMode = options.dirMode ?? 0o700;
    this.fs = options.fs ?? nodeFs;
    this.description = `fs:${path.resolve(dir)}`;
  }

  async put(key: string, source: SegmentSource, options: ArchiveCallOptions = {}): Promise<ArchivedObject> {
    const dest = this.pathOf(key);
    await this.guard(key, async () => {
      await this.fs.mkdir(path.dirname(dest), this.dirMode);
      const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        // The write stream fsyncs before it finishes: the stored copy is durable before its metadata names it.
        const stages = [adapterReadStream(this.fs, source.path), compressor(this.compression), adapterWriteStream(this.fs, tmp, this.fileMode, { sync: true })].filter((s) => s !== undefined);
        await pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], { signal: options.signal });
        const meta: StoredMeta = { bytes: source.bytes, crc: source.crc, compression: this.compression, storedBytes: (await this.fs.stat(tmp)).size };
        await this.writeDurably(`${dest}.meta.json`, JSON.stringify(meta));
        await this.fs.rename(tmp, dest);
        await this.fs.syncDir(path.dirname(dest));
      } catch (err) {
        // The removal's own failure must not hide the cause; a stray temporary is replaced by the next attempt.
        await unlinkIfExists(this.fs, tmp).catch(() => undefined);
        throw err;
      }
    });
    // Read back what was stored and check it against the source's checksum before anyone relies on it.
    const stored = await this.readBack(key);
    if (stored.bytes !== source.bytes || stored.crc !== source.crc) throw new ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `stored copy of ${key} does not match the segment`, { file: dest });
    return this.describe(key, { bytes: source.bytes, crc: source.crc, compression: this.compression, storedBytes: (await this.fs.stat(dest)).size });
  }

  async verify(key: string, expected: { bytes: number; crc: number }): Promise<ArchivedObject | undefined> {
    const meta = await this.readMeta(key);
    if (meta === undefined) return undefined;
    const size = await this.fs.stat(this.pathOf(key)).then((s) => s.size, () => -1);
    if (size < 0) return undefined;
    if (meta.bytes !== expected.bytes || meta.crc !== expected.crc || meta.storedBytes !== size) {
      throw new ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `archived ${key} does not match: stored ${size} bytes (expected ${meta.storedBytes}), checksum ${meta.crc} (expected ${expected.crc})`, { file: this.pathOf(key) });
    }
    return this.describe(key, meta);
  }

  async fetch(key: string, destPath: string, options: ArchiveCallOptions = {}): Promise<void> {
    const meta = await this.readMeta(key);
    if (meta === undefined) throw new ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `archived ${key} is missing`, { file: this.pathOf(key) });
    const running = new RunningCrc();
    const tap = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        running.update(chunk);
        done(null, chunk);
      },
    });
    const out = adapterWriteStream(this.fs, destPath, this.fileMode);
    try {
      const stages = [adapterReadStream(this.fs, this.pathOf(key)), decompressor(meta.compression), tap, out].filter((s) => s !== undefined);
      await this.guard(key, () => pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], { signal: options.signal }));
      // Finished is not closed: the caller opens the file next, after this handle is gone.
      if (!out.closed) await once(out, 'close');
      if (running.bytes !== meta.bytes || running.crc !== meta.crc) throw new ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `archived ${key} changed behind our back: ${running.bytes} bytes with checksum ${running.crc}, expected ${meta.bytes} and ${meta.crc}`, { file: this.pathOf(key) });
    } catch (err) {
      out.destroy();
      if (!out.closed) await once(out, 'close').catch(() => undefined);
      await unlinkIfExists(this.fs, destPath).catch(() => undefined);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.guard(key, async () => {
      await unlinkIfExists(this.fs, this.pathOf(key));
      await unlinkIfExists(this.fs, `${this.pathOf(key)}.meta.json`);
      await this.fs.syncDir(path.dirname(this.pathOf(key))).catch(() => undefined);
    });
  }

  async *list(): AsyncIterable<string> {
    let names: string[];
    try {
      names = await this.fs.readdir(path.join(this.dir, 'segments'));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw new ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, 'cannot list the archive directory', { file: this.dir }, { cause: err });
    }
    for (const name of names) {
      const key = `segments/${name}`;
      if (parseSegmentKey(key) !== undefined && names.includes(`${name}.meta.json`)) yield key;
    }
  }

  private pathOf(key: string): string {
    if (parseSegmentKey(key) === undefined) throw new InvalidArgumentError(`not a segment key: ${key}`);
    return path.join(this.dir, key);
  }

  private async readMeta(key: string): Promise<StoredMeta | undefined> {
    try {
      return JSON.parse((await readWholeFile(this.fs, `${this.pathOf(key)}.meta.json`)).toString('utf8')) as StoredMeta;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      // A failed read (EIO, EMFILE) is the disk's trouble, worth a retry; unparsable content is corruption.
      if (errnoOf(err) !== undefined) throw new ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, `cannot read the archive metadata of ${key}`, { file: `${this.pathOf(key)}.meta.json` }, { cause: err });
      throw new ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `archive metadata of ${key} is unreadable`, { file: `${this.pathOf(key)}.meta.json` }, { cause: err });
    }
  }

  private async readBack(key: string): Promise<{ bytes: number; crc: number }> {
    const meta = await this.readMeta(key);
    const running = new RunningCrc();
    const sink = new Writable({ write: (chunk: Buffer, _e, done) => (running.update(chunk), done()) });
    const stages = [adapterReadStream(this.fs, this.pathOf(key)), decompressor(meta?.compression ?? 'none'), sink].filter((s) => s !== undefined);
    await this.guard(key, () => pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]));
    return { bytes: running.bytes, crc: running.crc };
  }

  private describe(key: string, meta: StoredMeta): ArchivedObject {
    return { key, location: `${this.description}/${key}`, bytes: meta.bytes, crc: meta.crc, compression: meta.compression, storedBytes: meta.storedBytes };
  }

  /** Writes `content` to `p` durably: a new temporary file, fsynced, renamed over `p`. */
  private async writeDurably(p: string, content: string): Promise<void> {
    const tmp = `${p}.tmp-${randomBytes(4).toString('hex')}`;
    await writeNewFileSynced(this.fs, tmp, Buffer.from(content, 'utf8'), this.fileMode);
    await this.fs.rename(tmp, p);
  }

  /** Maps file-system failures to archive errors: a full or missing disk is transient, permissions are not. */
  private async guard<T>(key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ArchiveError || (err as Error).name === 'AbortError') throw err;
      const errno = errnoOf(err);
      const code = errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS' ? ErrorCode.ARCHIVE_REJECTED : ErrorCode.ARCHIVE_UNAVAILABLE;
      throw new ArchiveError(code, `archive ${key} failed${errno ? `: ${errno}` : ''}`, { file: path.join(this.dir, key) }, { cause: err });
    }
  }
}
