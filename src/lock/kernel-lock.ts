import * as fs from 'node:fs';
import fsx from 'fs-native-extensions';
import { assert } from '../assert.js';
import { errnoOf, IoError } from '../errors.js';
import { noteOpenAccess } from '../fs/access.js';

/**
 * The first line of the writer lock: a lock the kernel holds on an open file
 * description of a lock file (Linux: an OFD lock, fcntl F_OFD_SETLK; macOS:
 * flock; Windows: LockFileEx). The kernel knows every open file description
 * of the file, whatever PID namespace, UTS namespace, container or hostname
 * the process that opened it has, and drops the lock when the last
 * descriptor of it closes, SIGKILL and crashes included. So a lock taken
 * here proves that no live process holds it, and a lock refused proves one
 * does: no process id is ever consulted (a pid means nothing across PID
 * namespaces, see issue #18).
 *
 * The lock file is never removed: a writer that removed it on release could
 * let the next writer lock a new inode while a third still held the old one.
 *
 * @module
 */

/** Identity of the locked file, recorded in the lease so a later writer can tell it locked the same file. */
export interface FileId {
  dev: number;
  ino: number;
}

/** A kernel lock held on `file`. */
export interface KernelLock {
  readonly file: string;
  readonly id: FileId;
  /**
   * Undefined while `file` still names the locked inode; otherwise why not
   * (removed, or replaced by another inode that someone else may lock).
   */
  compromise(): Promise<string | undefined>;
  /** Closes the descriptor, which drops the lock; exactly once, later calls do nothing. */
  close(): void;
}

/** What trying the kernel lock found. */
export type KernelLockResult = { state: 'held'; lock: KernelLock } | { state: 'busy' } | { state: 'unsupported'; errno: string | undefined };

/** errno codes by which a file system says it has no (OFD) locks: the lease alone must do there. */
const NO_LOCKS = new Set(['ENOLCK', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EINVAL']);

/**
 * Opens (creating with `fileMode`) `file` for writing, as an exclusive lock
 * needs, and tries to lock it without waiting.
 */
export function tryKernelLock(file: string, fileMode: number): KernelLockResult {
  // A second try if the file was replaced under us; replaced again at once, someone is at work on the lock: they win (busy).
  return attempt(file, fileMode, 2);
}

function attempt(file: string, fileMode: number, tries: number): KernelLockResult {
  // O_NOFOLLOW: a symlink planted at the lock's name must not make us lock (or create) another file.
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, fileMode);
  } catch (err) {
    // Permission errors say what to grant: write access to the directory when the file is yet to be created.
    noteOpenAccess(err, file, fs.existsSync(file) ? 'readWrite' : 'createNew');
    throw new IoError(`cannot open the writer lock file for reading and writing${errnoOf(err) === 'ELOOP' ? ' (it is a symlink)' : ''}`, err, { file });
  }
  let result: KernelLockResult | undefined;
  try {
    result = lockOpened(fd, file);
  } finally {
    // Every outcome but a held lock closes the descriptor here; a held lock's descriptor is closed by its release.
    if (result?.state !== 'held') closeQuietly(fd);
  }
  return result === undefined && tries > 1 ? attempt(file, fileMode, tries - 1) : (result ?? { state: 'busy' });
}

/** Locks `fd`; undefined if `file` no longer names what was opened (removed or replaced meanwhile). */
function lockOpened(fd: number, file: string): KernelLockResult | undefined {
  let locked: boolean;
  try {
    locked = fsx.tryLock(fd);
  } catch (err) {
    if (NO_LOCKS.has(errnoOf(err) ?? '')) return { state: 'unsupported', errno: errnoOf(err) };
    throw new IoError('cannot lock the writer lock file', err, { file });
  }
  if (!locked) return { state: 'busy' };
  const held = fs.fstatSync(fd);
  // Removed or replaced between our open and our lock: what we locked is no longer the lock.
  if (!namesSameFile(file, held)) return undefined;
  return { state: 'held', lock: heldLock(fd, file, { dev: held.dev, ino: held.ino }) };
}

function heldLock(fd: number, file: string, id: FileId): KernelLock {
  let open = true;
  return {
    file,
    id,
    async compromise() {
      assert(open, 'the kernel lock is checked only while held');
      try {
        const now = await fs.promises.stat(file);
        return now.dev === id.dev && now.ino === id.ino ? undefined : `the writer lock file ${file} was replaced by another file`;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === 'ENOENT' || errno === 'ENOTDIR') return `the writer lock file ${file} was removed`;
        // Cannot tell (e.g. EIO on a network file system): the kernel lock is still held on our descriptor, and an opener would fail alike.
        return undefined;
      }
    },
    close() {
      if (!open) return;
      open = false;
      closeQuietly(fd);
    },
  };
}

function namesSameFile(file: string, held: fs.Stats): boolean {
  try {
    const now = fs.statSync(file);
    return now.dev === held.dev && now.ino === held.ino;
  } catch {
    return false;
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Nothing to do: the descriptor is gone either way, and with it the lock.
  }
}
