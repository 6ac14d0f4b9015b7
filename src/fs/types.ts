/**
 * The file-system adapter: every byte the engine reads or writes goes through
 * these two interfaces, so that a fault-injecting implementation (`FaultFs` in
 * `aof/testing`) can stand in for the real one via `Log.open(dir, { fs })`.
 * One exception, chosen by the adapter: a snapshot save's body is written by
 * the snapshot worker thread through {@link FileHandle.fd} when the handle has
 * one (the real adapter's handles do; `FaultFs`'s do not, so under it those
 * writes go through `write` like every other).
 *
 * @module
 */

/** How a file is opened. */
export type OpenMode =
  /** Existing file, reading only. */
  | 'read'
  /** Existing file, reading and writing. */
  | 'readWrite'
  /** New file (fails with EEXIST if present), reading and writing. */
  | 'createNew';

/** What {@link FileSystem.stat} reports. */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** True for a regular file. */
  isFile: boolean;
  /** True for a directory. */
  isDirectory: boolean;
  /** Last modification time in ms since the epoch. */
  mtimeMs: number;
}

/** What {@link FileSystem.lstat} reports: the path itself, which may be a symbolic link. */
export interface LinkStat extends FileStat {
  /** True when the path is a symbolic link (then `isFile` and `isDirectory` are false). */
  isSymbolicLink: boolean;
}

/** An open file. Positions are always explicit: the engine never relies on a file cursor. */
export interface FileHandle {
  /** Path the handle was opened with. */
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; resolves the count read (0 at end of file). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes up to `length` bytes of `buffer[offset..]` at `position`; resolves the count written (may be short). */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * Optional synchronous positional write, for tiny writes to the page cache
   * where a thread-pool round trip costs more than the write (the published
   * watermark). Adapters without it get the asynchronous `write`.
   */
  writeSync?(buffer: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * Optional synchronous positional read, for small reads served by the page
   * cache (see the `syncIoMaxBytes` option). Adapters without it get `read`.
   */
  readSync?(buffer: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * Optional: the operating system's descriptor of the file, for a worker
   * thread of this process that writes and syncs the file itself (a snapshot
   * save, whose every main-thread step must stay short). Adapters that model
   * or intercept I/O (`FaultFs`, `ProcessFs`) leave it out; their callers then
   * go through the methods of this interface.
   */
  readonly fd?: number;
  /** fdatasync(2): the file's data (and the size needed to read it) reach stable storage. */
  datasync(): Promise<void>;
  /**
   * Optional fdatasync(2) on the calling thread, for a writer that would
   * only wait for a thread-pool round trip otherwise (see the
   * `syncIoMaxBytes` option). Adapters without it get `datasync`.
   */
  datasyncSync?(): void;
  /** fsync(2): data and all metadata reach stable storage. */
  sync(): Promise<void>;
  /** Sets the file's length. */
  truncate(length: number): Promise<void>;
  /** Current length in bytes. */
  size(): Promise<number>;
  /** Closes the handle. */
  close(): Promise<void>;
}

/** The directory-level operations. Errors are Node.js system errors carrying `code` (`ENOENT`, `ENOSPC`, ...). */
export interface FileSystem {
  /** Opens `path`; `mode` is the permission bits for a new file. */
  open(path: string, how: OpenMode, mode?: number): Promise<FileHandle>;
  /** Names of the entries of a directory (not paths). */
  readdir(path: string): Promise<string[]>;
  /** Creates a directory and its missing parents. */
  mkdir(path: string, mode?: number): Promise<void>;
  /**
   * Atomically renames `from` to `to`: a file (replacing a file `to`) or a
   * directory with everything in it (replacing an empty directory `to`), as
   * rename(2) does. Backups, repairs and the catalog's move aside rename
   * whole directories through this call.
   */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. */
  unlink(path: string): Promise<void>;
  /**
   * Makes `to` a new name (a hard link) of the existing file `from`;
   * rejects with EEXIST if `to` exists, EXDEV across devices, and EPERM,
   * ENOTSUP or EOPNOTSUPP where the file system has no hard links. Backups
   * link sealed segments, which never change again.
   */
  link(from: string, to: string): Promise<void>;
  /**
   * Removes a directory: an empty one, or with `recursive` everything in it.
   * Rejects with ENOENT if absent, and ENOTEMPTY for a non-empty directory
   * without `recursive`.
   */
  rmdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Facts about a path; rejects with ENOENT if absent. Follows symbolic links. */
  stat(path: string): Promise<FileStat>;
  /** Facts about a path itself, not following a symbolic link (lstat(2)); rejects with ENOENT if absent. */
  lstat(path: string): Promise<LinkStat>;
  /** fsync of a directory, so that entries created, renamed or removed in it survive power loss. */
  syncDir(path: string): Promise<void>;
}
