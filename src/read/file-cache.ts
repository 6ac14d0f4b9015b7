import { assert } from '../assert.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

interface Entry {
  handle: FileHandle;
  users: number;
}

/**
 * Read handles of segment files, shared by all readers of a log, at most
 * `maxOpenFiles` of them kept open. A handle in use is never closed under
 * its reader: when every cached handle is busy, a reader gets a private one
 * that is closed when it is released.
 */
export class FileCache {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly fs: FileSystem,
    private readonly maxOpenFiles: number,
  ) {
    assert(maxOpenFiles >= 1, 'maxOpenFiles is at least 1');
  }

  /** Number of handles currently cached. */
  get size(): number {
    return this.entries.size;
  }

  /** A read handle of `file`; call the returned `release` when done with it. */
  async acquire(file: string): Promise<{ handle: FileHandle; release: () => Promise<void> }> {
    const cached = this.entries.get(file);
    if (cached !== undefined) {
      this.entries.delete(file); // re-insert: Map order is the LRU order
      this.entries.set(file, cached);
      cached.users++;
      return { handle: cached.handle, release: async () => this.releaseEntry(cached) };
    }
    await this.evictIdle();
    const handle = await this.fs.open(file, 'read');
    if (this.closed || this.entries.size >= this.maxOpenFiles) return { handle, release: () => handle.close() };
    const entry: Entry = { handle, users: 1 };
    this.entries.set(file, entry);
    return { handle, release: async () => this.releaseEntry(entry) };
  }

  /**
   * The cached handle of `file`, if one is open, for a use that completes
   * before this turn of the event loop ends (nothing can close it meanwhile).
   */
  peek(file: string): FileHandle | undefined {
    return this.entries.get(file)?.handle;
  }

  /** Closes and forgets the cached handle of `file` (after it was moved or deleted). */
  async forget(file: string): Promise<void> {
    const entry = this.entries.get(file);
    if (entry === undefined) return;
    this.entries.delete(file);
    if (entry.users === 0) await entry.handle.close().catch(() => undefined);
  }

  /** Closes every idle handle; busy ones are closed by their last release. */
  async closeAll(): Promise<void> {
    this.closed = true; // readers finishing after close get private handles, closed on release
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.filter((e) => e.users === 0).map((e) => e.handle.close().catch(() => undefined)));
  }

  private async releaseEntry(entry: Entry): Promise<void> {
    entry.users--;
    assert(entry.users >= 0, 'file cache user count never goes negative');
    const stillCached = this.entries.get(entry.handle.path) === entry;
    if (entry.users === 0 && !stillCached) await entry.handle.close().catch(() => undefined);
  }

  private async evictIdle(): Promise<void> {
    for (const [file, entry] of this.entries) {
      if (this.entries.size < this.maxOpenFiles) return;
      if (entry.users > 0) continue;
      this.entries.delete(file);
      await entry.handle.close().catch(() => undefined);
    }
  }
}
