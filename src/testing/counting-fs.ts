import type { FileHandle, FileStat, FileSystem, LinkStat, OpenMode } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';

/**
 * A file-system adapter that passes every call to another one and counts
 * what goes through it: bytes read and written per path and calls per
 * operation. Tests use it to prove how much I/O an operation costs (for
 * example, that opening a log of sealed segments never reads their data).
 */
export class CountingFs implements FileSystem {
  /** Bytes read, by path. */
  readonly bytesRead = new Map<string, number>();
  /** Bytes written, by path. */
  readonly bytesWritten = new Map<string, number>();
  /** Calls, by operation name (`open`, `read`, `write`, `readSync`, `writeSync`, `datasync`, `syncDir`, ...). */
  readonly calls = new Map<string, number>();

  constructor(private readonly inner: FileSystem = nodeFs) {}

  /** Total bytes read through this adapter. */
  get totalBytesRead(): number {
    let n = 0;
    for (const v of this.bytesRead.values()) n += v;
    return n;
  }

  /** Forgets every count. */
  reset(): void {
    this.bytesRead.clear();
    this.bytesWritten.clear();
    this.calls.clear();
  }

  /** Counts one call of `op`. */
  count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  async open(path: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    this.count('open');
    const handle = await this.inner.open(path, how, mode);
    return new CountingHandle(handle, this);
  }

  readdir(path: string): Promise<string[]> {
    this.count('readdir');
    return this.inner.readdir(path);
  }

  mkdir(path: string, mode?: number): Promise<void> {
    this.count('mkdir');
    return this.inner.mkdir(path, mode);
  }

  rename(from: string, to: string): Promise<void> {
    this.count('rename');
    return this.inner.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    this.count('unlink');
    return this.inner.unlink(path);
  }

  link(from: string, to: string): Promise<void> {
    this.count('link');
    return this.inner.link(from, to);
  }

  rmdir(path: string, options?: { recursive?: boolean }): Promise<void> {
    this.count('rmdir');
    return this.inner.rmdir(path, options);
  }

  stat(path: string): Promise<FileStat> {
    this.count('stat');
    return this.inner.stat(path);
  }

  lstat(path: string): Promise<LinkStat> {
    this.count('lstat');
    return this.inner.lstat(path);
  }

  syncDir(path: string): Promise<void> {
    this.count('syncDir');
    return this.inner.syncDir(path);
  }
}

class CountingHandle implements FileHandle {
  /** Present when the wrapped handle has it, so counted runs take the same path as real ones. */
  readonly readSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly writeSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  /** Counted as `datasync`, as the asynchronous call is: what is counted is fdatasyncs, whichever thread runs them. */
  readonly datasyncSync?: () => void;

  constructor(
    private readonly inner: FileHandle,
    private readonly counts: CountingFs,
  ) {
    const readSync = inner.readSync?.bind(inner);
    const writeSync = inner.writeSync?.bind(inner);
    if (readSync !== undefined) this.readSync = (buffer, offset, length, position) => this.counted('readSync', this.counts.bytesRead, readSync(buffer, offset, length, position));
    if (writeSync !== undefined) this.writeSync = (buffer, offset, length, position) => this.counted('writeSync', this.counts.bytesWritten, writeSync(buffer, offset, length, position));
    const datasyncSync = inner.datasyncSync?.bind(inner);
    if (datasyncSync !== undefined) {
      this.datasyncSync = () => {
        this.counts.count('datasync');
        datasyncSync();
      };
    }
  }

  private counted(op: string, bytes: Map<string, number>, n: number): number {
    this.counts.count(op);
    bytes.set(this.path, (bytes.get(this.path) ?? 0) + n);
    return n;
  }

  get path(): string {
    return this.inner.path;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.counted('read', this.counts.bytesRead, await this.inner.read(buffer, offset, length, position));
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.counted('write', this.counts.bytesWritten, await this.inner.write(buffer, offset, length, position));
  }

  datasync(): Promise<void> {
    this.counts.count('datasync');
    return this.inner.datasync();
  }

  sync(): Promise<void> {
    this.counts.count('sync');
    return this.inner.sync();
  }

  truncate(length: number): Promise<void> {
    this.counts.count('truncate');
    return this.inner.truncate(length);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
