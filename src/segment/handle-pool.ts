import { assert } from '../assert.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

/** A read handle lent by a {@link HandlePool}: used for I/O in progress, released once, never kept across a pause. */
export interface Lease {
  readonly handle: FileHandle;
  /** Gives the handle back (it stays cached for the next reader while the budget allows). Call exactly once. */
  release(): void;
}

interface Entry {
  readonly file: string;
  /** Undefined while the open is under way. */
  handle: FileHandle | undefined;
  opening: Promise<FileHandle> | undefined;
  /** Leases out now; the handle is closed only at zero. */
  users: number;
  /** No longer found by file name (the file was removed, or the pool closed): closed at its last release. */
  detached: boolean;
}

/**
 * The descriptor budget of one log handle: every read descriptor the log
 * opens on segment files (readers, tails, the read-only follower, deferred
 * loads, archive fetches, backups) comes from here, and at no moment are more
 * than `maxOpenFiles` open, counting those being opened or closed. A handle is
 * reference-counted and lent only for I/O in progress: a paused iterator holds
 * none, so a reader over budget waits only for some I/O to finish. Idle
 * handles stay cached by file, the least recently used closed first when a
 * slot is needed. After {@link close} nothing is cached: each lease opens a
 * descriptor (still within the budget) and closes it on release.
 */
export class HandlePool {
  /** Cached handles by file, least recently used first (Map order). */
  private readonly byFile = new Map<string, Entry>();
  /** Handles no longer in `byFile` and not yet closed. */
  private readonly detached = new Set<Entry>();
  /** Descriptors being closed: open until close(2) returns. */
  private closing = 0;
  /** Slots lent for descriptors opened elsewhere (an archive fetch writing its file). */
  private permits = 0;
  private waiters: Array<() => void> = [];
  private closed = false;
  /** The entry last moved to the end of `byFile`: a reader reading on in one file skips the re-insert. */
  private mostRecent: Entry | undefined;

  constructor(
    private readonly fs: FileSystem,
    readonly maxOpenFiles: number,
  ) {
    assert(Number.isSafeInteger(maxOpenFiles) && maxOpenFiles >= 1, 'maxOpenFiles is a positive integer');
  }

  /** Descriptors open now (or being opened or closed), plus slots lent: never more than `maxOpenFiles`. */
  get inUse(): number {
    return this.byFile.size + this.detached.size + this.closing + this.permits;
  }

  /** Handles cached by file now (busy or idle). */
  get cachedCount(): number {
    return this.byFile.size;
  }

  /** A read handle of `file`, shared with other readers of it; waits for a slot when every one is busy. */
  async lease(file: string): Promise<Lease> {
    for (;;) {
      const cached = this.byFile.get(file);
      if (cached !== undefined) return this.share(cached);
      // Checked and taken in one turn (openEntry records the entry before its first await): no two callers take the last slot.
      if (this.inUse < this.maxOpenFiles) return this.openEntry(file);
      await this.makeRoom();
    }
  }

  /** Runs `use` with a leased handle of `file`, released when it settles. */
  async withHandle<T>(file: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    const lease = await this.lease(file);
    try {
      return await use(lease.handle);
    } finally {
      lease.release();
    }
  }

  /**
   * Runs `use` holding `slots` of the budget, for descriptors opened outside
   * the pool (an archive fetch writing its file, an upload reading the
   * segment). A use needing more than the whole budget holds all of it.
   */
  async withSlot<T>(use: () => Promise<T>, slots = 1): Promise<T> {
    const taken = Math.min(Math.max(1, slots), this.maxOpenFiles);
    while (this.inUse + taken > this.maxOpenFiles) await this.makeRoom();
    this.permits += taken;
    try {
      return await use();
    } finally {
      this.permits -= taken;
      this.wake();
    }
  }

  /**
   * The cached handle of `file`, if open, for a use that completes before
   * this turn of the event loop ends (nothing can close it meanwhile).
   */
  peek(file: string): FileHandle | undefined {
    return this.byFile.get(file)?.handle;
  }

  /** The file was moved or removed: its handle is no longer handed out, and closed once idle. */
  async forget(file: string): Promise<void> {
    const entry = this.byFile.get(file);
    if (entry === undefined) return;
    this.byFile.delete(file);
    await this.retire(entry);
  }

  /** Closes every handle: idle ones now, busy ones at their release; resolves once none is open. */
  async close(): Promise<void> {
    this.closed = true;
    const cached = [...this.byFile.values()];
    this.byFile.clear();
    await Promise.all(cached.map((e) => this.retire(e)));
    while (this.inUse > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private async share(entry: Entry): Promise<Lease> {
    if (this.mostRecent !== entry) {
      this.byFile.delete(entry.file); // re-insert: most recently used last
      this.byFile.set(entry.file, entry);
      this.mostRecent = entry;
    }
    entry.users++;
    if (entry.handle === undefined) {
      try {
        await entry.opening;
      } catch (err) {
        entry.users--;
        throw err;
      }
    }
    return this.lend(entry);
  }

  /** Closes the least recently used idle handle, or waits for a release when every handle is busy; the caller then looks again. */
  private async makeRoom(): Promise<void> {
    const idle = this.leastRecentlyUsedIdle();
    if (idle === undefined) return new Promise<void>((resolve) => this.waiters.push(resolve));
    this.byFile.delete(idle.file);
    await this.retire(idle);
  }

  private leastRecentlyUsedIdle(): Entry | undefined {
    for (const entry of this.byFile.values()) if (entry.users === 0 && entry.handle !== undefined) return entry;
    return undefined;
  }

  private async openEntry(file: string): Promise<Lease> {
    const entry: Entry = { file, handle: undefined, opening: undefined, users: 1, detached: this.closed };
    // After close nothing is cached: the descriptor still counts, and is closed at its release.
    if (this.closed) this.detached.add(entry);
    else {
      this.byFile.set(file, entry);
      this.mostRecent = entry;
    }
    entry.opening = this.fs.open(file, 'read');
    try {
      entry.handle = await entry.opening;
    } catch (err) {
      if (this.byFile.get(file) === entry) this.byFile.delete(file);
      this.detached.delete(entry);
      this.wake();
      throw err;
    } finally {
      entry.opening = undefined;
    }
    return this.lend(entry);
  }

  private lend(entry: Entry): Lease {
    const handle = entry.handle;
    assert(handle !== undefined, 'a lent handle is open');
    let released = false;
    return {
      handle,
      release: () => {
        assert(!released, 'a lease is released exactly once');
        released = true;
        entry.users--;
        assert(entry.users >= 0, 'a handle is never released more often than it was lent');
        if (entry.users > 0) return;
        if (entry.detached) void this.closeEntry(entry);
        else this.wake(); // an idle handle can make room for a waiter
      },
    };
  }

  /** Takes `entry` out of use: closed now if idle, else at its last release. */
  private async retire(entry: Entry): Promise<void> {
    entry.detached = true;
    this.detached.add(entry);
    if (entry.users === 0) await this.closeEntry(entry);
  }

  private async closeEntry(entry: Entry): Promise<void> {
    assert(entry.users === 0 && this.detached.has(entry), 'only an idle, retired handle is closed');
    this.detached.delete(entry);
    const handle = entry.handle;
    entry.handle = undefined;
    if (handle === undefined) return;
    this.closing++;
    try {
      await handle.close();
    } catch {
      // The descriptor is released by close(2) even when it reports an error (Linux): nothing to retry.
    } finally {
      this.closing--;
      this.wake();
    }
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
