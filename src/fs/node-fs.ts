import * as fs from 'node:fs';
import { noteOpenAccess } from './access.js';
import type { FileHandle, FileStat, FileSystem, LinkStat, OpenMode } from './types.js';

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  readWrite: fs.constants.O_RDWR,
  createNew: fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
};

/**
 * Wraps a callback-style fs call in a promise. The callback API on raw file
 * descriptors costs less per call than `fs.promises.FileHandle`, and the data
 * path makes many small calls.
 */
function call<T>(run: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    run((err, value) => (err ? reject(err) : resolve(value)));
  });
}

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return call<number>((done) => fs.read(this.fd, buffer, offset, length, position, done));
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return call<number>((done) => fs.write(this.fd, buffer, offset, length, position, done));
  }

  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return fs.writeSync(this.fd, buffer, offset, length, position);
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buffer, offset, length, position);
  }

  datasync(): Promise<void> {
    return call<void>((done) => fs.fdatasync(this.fd, (err) => done(err, undefined)));
  }

  datasyncSync(): void {
    fs.fdatasyncSync(this.fd);
  }

  sync(): Promise<void> {
    return call<void>((done) => fs.fsync(this.fd, (err) => done(err, undefined)));
  }

  truncate(length: number): Promise<void> {
    return call<void>((done) => fs.ftruncate(this.fd, length, (err) => done(err, undefined)));
  }

  async size(): Promise<number> {
    const stat = await call<fs.Stats>((done) => fs.fstat(this.fd, done));
    return stat.size;
  }

  close(): Promise<void> {
    return call<void>((done) => fs.close(this.fd, (err) => done(err, undefined)));
  }
}

/** The real file system, through Node's `fs`. */
export class NodeFs implements FileSystem {
  async open(path: string, how: OpenMode, mode = 0o600): Promise<FileHandle> {
    let fd: number;
    try {
      fd = await call<number>((done) => fs.open(path, OPEN_FLAGS[how], mode, done));
    } catch (err) {
      // EACCES from open does not say whether reading, writing or creating was refused: this call knows.
      noteOpenAccess(err, path, how);
      throw err;
    }
    return new NodeFileHandle(path, fd);
  }

  readdir(path: string): Promise<string[]> {
    return fs.promises.readdir(path);
  }

  async mkdir(path: string, mode = 0o700): Promise<void> {
    await fs.promises.mkdir(path, { recursive: true, mode });
  }

  rename(from: string, to: string): Promise<void> {
    return fs.promises.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fs.promises.unlink(path);
  }

  link(from: string, to: string): Promise<void> {
    return fs.promises.link(from, to);
  }

  rmdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    // fs.rm rather than fs.rmdir: its recursive form is the maintained one; an absent path still rejects ENOENT.
    return options.recursive === true ? fs.promises.rm(path, { recursive: true }) : fs.promises.rmdir(path);
  }

  async stat(path: string): Promise<FileStat> {
    const s = await fs.promises.stat(path);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
  }

  async lstat(path: string): Promise<LinkStat> {
    const s = await fs.promises.lstat(path);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), isSymbolicLink: s.isSymbolicLink(), mtimeMs: s.mtimeMs };
  }

  async syncDir(path: string): Promise<void> {
    const fd = await call<number>((done) => fs.open(path, fs.constants.O_RDONLY, done));
    try {
      await call<void>((done) => fs.fsync(fd, (err) => done(err, undefined)));
    } finally {
      await call<void>((done) => fs.close(fd, (err) => done(err, undefined)));
    }
  }
}

/** The shared default adapter. */
export const nodeFs: FileSystem = new NodeFs();
