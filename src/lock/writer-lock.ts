import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import { errnoOf, IoError, LockedError } from '../errors.js';

/**
 * One writer per log directory, across processes: a `LOCK` directory made
 * atomically by proper-lockfile, with an `owner.json` naming the holder. A
 * lock whose holder is a dead process on this host is taken over at once; a
 * lock held by a live process is never broken.
 *
 * @module
 */

/** Name of the lock directory inside a log directory. */
export const LOCK_NAME = 'LOCK';
const OWNER_FILE = 'owner.json';
/** A lock is considered stale by mtime only after this long (a day): liveness is decided by pid, not by time. */
export const LOCK_STALE_MS = 24 * 60 * 60 * 1000;
/** How often the holder refreshes the lock's mtime. */
export const LOCK_UPDATE_MS = 60 * 60 * 1000;
/** A lock directory without an owner file (holder died between mkdir and write) is stale after this long. */
export const OWNERLESS_LOCK_STALE_MS = 10_000;

interface Owner {
  pid: number;
  host: string;
  processStart: string | undefined;
  acquiredMs: number;
  token: string;
}

const heldInThisProcess = new Set<string>();

/** A held writer lock. */
export interface WriterLock {
  /** Releases the lock; idempotent. */
  release(): Promise<void>;
}

/**
 * Takes the writer lock of `dir` or throws {@link LockedError}. `onLost` is
 * called if the lock is found compromised later (its directory removed by
 * someone else): the caller must stop writing. The LOCK directory gets
 * `dirMode` (owner-only by default), like every directory the log creates.
 */
export async function acquireWriterLock(dir: string, onLost: (err: Error) => void, dirMode = 0o700): Promise<WriterLock> {
  const key = path.resolve(dir);
  const lockPath = path.join(key, LOCK_NAME);
  if (heldInThisProcess.has(key)) throw new LockedError('log directory is already open for writing in this process', { file: lockPath }, process.pid);
  heldInThisProcess.add(key);
  try {
    const release = await lockOrTakeOver(key, lockPath, onLost);
    // proper-lockfile makes LOCK with the process default mode (0o777 & ~umask).
    fs.chmodSync(lockPath, dirMode);
    writeOwner(lockPath);
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        heldInThisProcess.delete(key);
        // proper-lockfile removes the lock with rmdir, which needs it empty.
        fs.rmSync(path.join(lockPath, OWNER_FILE), { force: true });
        await release().catch(() => undefined);
      },
    };
  } catch (err) {
    heldInThisProcess.delete(key);
    throw err;
  }
}

async function lockOrTakeOver(dir: string, lockPath: string, onLost: (err: Error) => void): Promise<() => Promise<void>> {
  const options = { lockfilePath: lockPath, realpath: false, stale: LOCK_STALE_MS, update: LOCK_UPDATE_MS, retries: 0, onCompromised: onLost };
  for (let attempt = 0; ; attempt++) {
    try {
      return await lockfile.lock(dir, options);
    } catch (err) {
      if (errnoOf(err) !== 'ELOCKED') throw new IoError('cannot take the writer lock', err, { file: lockPath });
      const owner = readOwner(lockPath);
      if (attempt > 0 || !isStale(lockPath, owner)) {
        throw new LockedError(`log directory is locked by another writer${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}`, { file: lockPath }, owner?.pid);
      }
      removeStaleLock(lockPath);
    }
  }
}

function isStale(lockPath: string, owner: Owner | undefined): boolean {
  if (owner === undefined) {
    const mtime = statMtime(lockPath);
    return mtime !== undefined && Date.now() - mtime > OWNERLESS_LOCK_STALE_MS;
  }
  if (owner.host !== os.hostname()) return false;
  return !processAlive(owner.pid, owner.processStart);
}

function removeStaleLock(lockPath: string): void {
  // Rename first so a concurrent opener never sees a half-removed lock directory.
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

function writeOwner(lockPath: string): void {
  const owner: Owner = { pid: process.pid, host: os.hostname(), processStart: processStartTime(process.pid), acquiredMs: Date.now(), token: randomBytes(8).toString('hex') };
  fs.writeFileSync(path.join(lockPath, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
}

function readOwner(lockPath: string): Owner | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(lockPath, OWNER_FILE), 'utf8')) as Partial<Owner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    return { pid: parsed.pid, host: parsed.host, processStart: parsed.processStart, acquiredMs: parsed.acquiredMs ?? 0, token: parsed.token ?? '' };
  } catch {
    return undefined;
  }
}

function statMtime(p: string): number | undefined {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process; with `processStart` recorded, a reused pid counts as dead. */
export function processAlive(pid: number, processStart?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoOf(err) === 'ESRCH') return false;
  }
  if (processStart === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === processStart;
}

/** Start time of a process from /proc (Linux), so a reused pid is told from the original. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
