import type { FileHandle, FileStat, FileSystem, LinkStat, OpenMode } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';

/**
 * A file-system adapter that passes every call to another one unchanged,
 * for test adapters that only watch or hold the calls of open files: they
 * override {@link wrapHandle}.
 */
export class PassThroughFs implements FileSystem {
  constructor(protected readonly inner: FileSystem = nodeFs) {}

  async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    return this.wrapHandle(await this.inner.open(p, how, mode));
  }

  /** What `open` hands out for a handle of the inner adapter (the handle itself here). */
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  readdir(p: string): Promise<string[]> {
    return this.inner.readdir(p);
  }
  mkdir(p: string, mode?: number): Promise<void> {
    return this.inner.mkdir(p, mode);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(p: string): Promise<void> {
    return this.inner.unlink(p);
  }
  link(from: string, to: string): Promise<void> {
    return this.inner.link(from, to);
  }
  rmdir(p: string, options?: { recursive?: boolean }): Promise<void> {
    return this.inner.rmdir(p, options);
  }
  stat(p: string): Promise<FileStat> {
    return this.inner.stat(p);
  }
  lstat(p: string): Promise<LinkStat> {
    return this.inner.lstat(p);
  }
  syncDir(p: string): Promise<void> {
    return this.inner.syncDir(p);
  }
}
