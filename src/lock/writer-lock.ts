import * as path from 'node:path';
import { LockedError } from '../errors.js';
import { tryKernelLock, type KernelLock } from './kernel-lock.js';
import { takeLease, readOwner, LOCK_NAME, type Lease } from './lease.js';
import { kernelLockCoversAllHolders } from './lock-scope.js';

/**
 * One writer per log directory, across processes, PID and UTS namespaces,
 * containers and hosts (issue #18: two containers on one volume both wrote
 * when the lock asked `kill(pid, 0)` whether the holder lived).
 *
 * Two lines, taken in this order and released in the reverse one:
 * 1. a kernel lock on `LOCK.kernel` (kernel-lock.ts): the arbiter. Refused,
 *    the log is locked, whatever any file says; granted, no process on this
 *    kernel holds it, and SIGKILL or a crash of the holder released it.
 * 2. the lease, the `LOCK` directory with `owner.json` (lease.ts), for file
 *    systems where the kernel lock does not reach every writer and for
 *    writers of older versions. An existing lease is taken over only on the
 *    kernel's word or by its age, never by a pid.
 *
 * The holder watches both: if the lease directory or the lock file is
 * removed or replaced, another writer may take the lock, so the holder is
 * told (`onLost`) and must stop writing before it overwrites anything. It
 * checks at every segment roll ({@link WriterLock.check}) and every
 * {@link LOCK_CHECK_INTERVAL_MS} in between.
 *
 * @module
 */

export { LOCK_NAME, LOCK_STALE_MS, LOCK_UPDATE_MS, OWNERLESS_LOCK_STALE_MS, LEGACY_LOCK_STALE_MS } from './lease.js';

/** Name of the file the kernel lock is held on, beside `LOCK` in the log directory. Never removed. */
export const KERNEL_LOCK_NAME = 'LOCK.kernel';
/**
 * How often a holder checks that its lock is still its own, between the
 * checks at segment rolls: the longest a writer goes on writing after its
 * lock was removed from under it.
 */
export const LOCK_CHECK_INTERVAL_MS = 1000;

const heldInThisProcess = new Set<string>();

/** A held writer lock. */
export interface WriterLock {
  /**
   * Resolves while the lock is still ours; otherwise reports it lost
   * (`onLost`, once) and rejects. Called before anything that creates or
   * seals a segment file.
   */
  check(): Promise<void>;
  /** Releases the lock; idempotent. A lost lock's lease is left alone: it may be another writer's now. */
  release(): Promise<void>;
}

/**
 * Takes the writer lock of `dir` or throws {@link LockedError}. `onLost` is
 * called once if the lock is found compromised later: the caller must stop
 * writing. The lease directory gets `dirMode` and the lock file `fileMode`
 * (owner-only by default), like everything the log creates.
 */
export async function acquireWriterLock(dir: string, onLost: (err: Error) => void, dirMode = 0o700, fileMode = 0o600): Promise<WriterLock> {
  const key = path.resolve(dir);
  const lockPath = path.join(key, LOCK_NAME);
  // OFD locks conflict within a process too; this gives the clearer message, and covers the lease-only case.
  if (heldInThisProcess.has(key)) throw new LockedError('log directory is already open for writing in this process', { file: lockPath }, process.pid);
  heldInThisProcess.add(key);
  let kernel: KernelLock | undefined;
  try {
    const tried = tryKernelLock(path.join(key, KERNEL_LOCK_NAME), fileMode);
    if (tried.state === 'busy') {
      const owner = readOwner(lockPath);
      throw new LockedError(`log directory is locked by another writer${owner === undefined ? '' : ` (pid ${owner.pid} on ${owner.host})`}: it holds the kernel lock on ${KERNEL_LOCK_NAME}`, { file: lockPath }, owner?.pid);
    }
    // 'unsupported': a file system without locks; the lease alone decides there.
    kernel = tried.state === 'held' ? tried.lock : undefined;
    const watch = new LockWatch(onLost);
    const lease = await takeLease(key, kernel === undefined ? undefined : { id: kernel.id, coversAll: kernelLockCoversAllHolders(key) }, dirMode, (err) => watch.lose(err));
    watch.start(kernel, lease);
    const held = kernel;
    let released = false;
    return {
      check: () => watch.check(),
      async release() {
        if (released) return;
        released = true;
        watch.stop();
        heldInThisProcess.delete(key);
        try {
          if (watch.lost === undefined) await lease.release();
        } finally {
          // After the lease: the kernel lock covers the lease's whole life. Closed here and nowhere else.
          held?.close();
        }
      },
    };
  } catch (err) {
    kernel?.close();
    heldInThisProcess.delete(key);
    throw err;
  }
}

/** Watches a held lock: on a timer and on demand, and reports its loss once. */
class LockWatch {
  lost: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private kernel: KernelLock | undefined;
  private lease: Lease | undefined;
  private stopped = false;

  constructor(private readonly onLost: (err: Error) => void) {}

  start(kernel: KernelLock | undefined, lease: Lease): void {
    this.kernel = kernel;
    this.lease = lease;
    // unref: a held lock must not keep a process alive that has nothing else to do.
    this.timer = setInterval(() => void this.check().catch(() => undefined), LOCK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async check(): Promise<void> {
    if (this.lost !== undefined) throw this.lost;
    if (this.stopped || this.lease === undefined) return;
    const why = (await this.kernel?.compromise()) ?? (this.stopped ? undefined : await this.lease.compromise());
    if (why !== undefined) this.lose(new Error(why));
    if (this.lost !== undefined) throw this.lost;
  }

  lose(err: Error): void {
    if (this.lost !== undefined || this.stopped) return;
    this.lost = err;
    clearInterval(this.timer);
    this.onLost(err);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}
