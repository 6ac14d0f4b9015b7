import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import { errnoOf, IoError, LockedError } from '../errors.js';
import type { FileId } from './kernel-lock.js';
import { bootId } from './lock-scope.js';
import { processStartTime } from './process-alive.js';

/**
 * The second line of the writer lock: a lease, the `LOCK` directory made
 * atomically by proper-lockfile (mkdir), its mtime renewed by the holder, with
 * an `owner.json` naming the holder. It is there for the file systems where
 * the kernel lock does not reach every writer (network file systems without
 * lock forwarding) and for writers of older versions, which take no kernel
 * lock. A lease is taken over only when the kernel lock proves its holder
 * gone, or when it has not been renewed for a long time; never because a
 * process id looks dead (a pid means nothing in another PID namespace).
 *
 * @module
 */

/** Name of the lease directory inside a log directory. */
export const LOCK_NAME = 'LOCK';
const OWNER_FILE = 'owner.json';
/** How often the holder renews the lease's mtime. */
export const LOCK_UPDATE_MS = 10_000;
/**
 * A lease whose holder took a kernel lock (or found none to take) and has not
 * renewed it for this long is taken over without the kernel's word: the holder
 * is gone or cut off, on a file system where the kernel lock cannot tell.
 */
export const LOCK_STALE_MS = 2 * 60 * 1000;
/** A lease written by an older version (no kernel lock, renewed hourly) is taken over by age only after a day. */
export const LEGACY_LOCK_STALE_MS = 24 * 60 * 60 * 1000;
/** A lease directory without an owner file (holder died between mkdir and write) is taken over after this long. */
export const OWNERLESS_LOCK_STALE_MS = 10_000;

/** The holder as `owner.json` records it (docs/FORMAT.md). */
export interface Owner {
  pid: number;
  host: string;
  processStart: string | undefined;
  acquiredMs: number;
  token: string;
  /** Boot id of the holder's kernel; absent in leases of older versions. */
  bootId?: string;
  /** The lock file the holder holds a kernel lock on; null if it found no kernel locks; absent in leases of older versions. */
  kernelLock?: FileId | null;
}

/** What the kernel lock says, for the take-over decision. */
export interface KernelWord {
  /** The file the kernel lock was granted on. */
  id: FileId;
  /** Whether a lock granted on it proves no holder anywhere (one kernel mounts the file system). */
  coversAll: boolean;
}

/** A held lease. */
export interface Lease {
  readonly token: string;
  /** Undefined while the lease is still ours; otherwise what happened to it. */
  compromise(): Promise<string | undefined>;
  /** Removes the lease; only while it is still ours. */
  release(): Promise<void>;
}

/**
 * Takes the lease of `dir` or throws {@link LockedError}. `kernel` is the
 * kernel lock's word, undefined where there are no kernel locks.
 */
export async function takeLease(dir: string, kernel: KernelWord | undefined, dirMode: number, onCompromised: (err: Error) => void): Promise<Lease> {
  const lockPath = path.join(dir, LOCK_NAME);
  // stale: never, for proper-lockfile: its own take-over (by age alone, with an rmdir that fails on owner.json) is not used; takeOverRefusal decides.
  const options = { lockfilePath: lockPath, realpath: false, stale: Number.MAX_SAFE_INTEGER, update: LOCK_UPDATE_MS, retries: 0, onCompromised };
  let release: () => Promise<void>;
  for (let attempt = 0; ; attempt++) {
    try {
      release = await lockfile.lock(dir, options);
      break;
    } catch (err) {
      if (errnoOf(err) !== 'ELOCKED') throw new IoError('cannot take the writer lock', err, { file: lockPath });
      const owner = readOwner(lockPath);
      const refusal = takeOverRefusal(lockPath, owner, kernel);
      if (attempt > 0 || refusal !== undefined) throw new LockedError(`log directory is locked by another writer${describe(owner)}${refusal === undefined ? '' : `: ${refusal}`}`, { file: lockPath }, owner?.pid);
      moveAside(lockPath);
    }
  }
  try {
    // proper-lockfile makes LOCK with the process default mode (0o777 & ~umask).
    fs.chmodSync(lockPath, dirMode);
    const owner: Owner = { pid: process.pid, host: os.hostname(), processStart: processStartTime(process.pid), acquiredMs: Date.now(), token: randomBytes(8).toString('hex'), bootId: bootId(), kernelLock: kernel?.id ?? null };
    // proper-lockfile renews the lease only while the directory's mtime is the one it set last; creating owner.json
    // in it changes that mtime, so it is put back, or the first renewal (LOCK_UPDATE_MS after open) reports the lock compromised.
    const taken = fs.statSync(lockPath);
    fs.writeFileSync(path.join(lockPath, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
    fs.utimesSync(lockPath, taken.atime, taken.mtime);
    return heldLease(lockPath, fs.statSync(lockPath).ino, owner.token, release, kernel?.coversAll !== true);
  } catch (err) {
    fs.rmSync(path.join(lockPath, OWNER_FILE), { force: true });
    await release().catch(() => undefined);
    throw new IoError('cannot write the writer lock owner file', err, { file: lockPath });
  }
}

/**
 * Undefined if the existing lease may be taken over (we hold the kernel lock,
 * or there is none to hold), else why not. The kernel decides when the holder
 * recorded a kernel lock on the very file we now hold locked, on this kernel
 * or on a file system only one kernel mounts; otherwise only the lease's age.
 */
function takeOverRefusal(lockPath: string, owner: Owner | undefined, kernel: KernelWord | undefined): string | undefined {
  const theirs = owner?.kernelLock;
  if (kernel !== undefined && theirs != null && theirs.dev === kernel.id.dev && theirs.ino === kernel.id.ino) {
    const sameKernel = owner!.bootId !== undefined && owner!.bootId === bootId();
    if (sameKernel || kernel.coversAll) return undefined;
  }
  const mtime = statMtime(lockPath);
  if (mtime === undefined) return undefined; // gone meanwhile: try again
  const staleAfter = owner === undefined ? OWNERLESS_LOCK_STALE_MS : owner.kernelLock === undefined ? LEGACY_LOCK_STALE_MS : LOCK_STALE_MS;
  const age = Date.now() - mtime;
  if (age > staleAfter) return undefined;
  const why = owner !== undefined && owner.kernelLock === undefined ? 'a lease of an older version, which takes no kernel lock' : 'its kernel lock cannot vouch for it here (another host or boot, on a file system that may not share locks)';
  return `${why}; renewed ${Math.round(age / 1000)} s ago, it is taken over after ${Math.round(staleAfter / 1000)} s without renewal (remove ${lockPath} if no writer is running)`;
}

/**
 * `expires`: where another writer may take the lease over by age (the kernel
 * lock cannot vouch for every holder), a lease we failed to renew for that
 * long (event loop blocked, file system unreachable) may be another's by now.
 */
function heldLease(lockPath: string, ino: number, token: string, release: () => Promise<void>, expires: boolean): Lease {
  let released = false;
  const lease: Lease = {
    token,
    async compromise() {
      let now: fs.Stats;
      try {
        now = await fs.promises.stat(lockPath);
      } catch (err) {
        return errnoOf(err) === 'ENOENT' ? `the lock directory ${lockPath} was removed` : undefined;
      }
      if (now.ino !== ino) return `the lock directory ${lockPath} was replaced`;
      if (expires && Date.now() - now.mtimeMs > LOCK_STALE_MS) return `the lease ${lockPath} was not renewed for ${Math.round((Date.now() - now.mtimeMs) / 1000)} s: another writer may have taken it over`;
      const owner = readOwnerForCheck(lockPath);
      // Cannot tell (descriptors exhausted, EIO): not a loss; the kernel lock still holds, and the next check looks again.
      if (owner === 'unreadable') return undefined;
      return owner?.token === token ? undefined : `the lock's owner file in ${lockPath} was ${owner === undefined ? 'removed or damaged' : 'replaced by another writer\'s'}`;
    },
    async release() {
      if (released) return;
      released = true;
      // proper-lockfile removes the lease with rmdir, which needs it empty.
      fs.rmSync(path.join(lockPath, OWNER_FILE), { force: true });
      await release().catch(() => undefined);
    },
  };
  return lease;
}

function describe(owner: Owner | undefined): string {
  return owner === undefined ? '' : ` (pid ${owner.pid} on ${owner.host})`;
}

/** Renames the lease aside before removing it, so a concurrent opener never sees a half-removed directory. */
function moveAside(lockPath: string): void {
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

/**
 * The holder recorded in `lockPath` for the holder's own check: undefined
 * when the owner file is gone or damaged (the lease is no longer ours), and
 * `'unreadable'` when it could not be read for a reason that says nothing
 * about the lease (EMFILE, ENFILE, EIO, ...).
 */
function readOwnerForCheck(lockPath: string): Owner | undefined | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(path.join(lockPath, OWNER_FILE), 'utf8');
  } catch (err) {
    const errno = errnoOf(err);
    return errno === 'ENOENT' || errno === 'ENOTDIR' ? undefined : 'unreadable';
  }
  return parseOwner(text);
}

/** The holder recorded in `lockPath`, undefined if absent or unreadable. */
export function readOwner(lockPath: string): Owner | undefined {
  try {
    return parseOwner(fs.readFileSync(path.join(lockPath, OWNER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

function parseOwner(text: string): Owner | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<Owner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    const kernelLock = parsed.kernelLock === null ? null : isFileId(parsed.kernelLock) ? parsed.kernelLock : undefined;
    return { pid: parsed.pid, host: parsed.host, processStart: parsed.processStart, acquiredMs: parsed.acquiredMs ?? 0, token: parsed.token ?? '', bootId: typeof parsed.bootId === 'string' ? parsed.bootId : undefined, kernelLock };
  } catch {
    return undefined;
  }
}

function isFileId(v: unknown): v is FileId {
  return typeof v === 'object' && v !== null && typeof (v as FileId).dev === 'number' && typeof (v as FileId).ino === 'number';
}

function statMtime(p: string): number | undefined {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}
