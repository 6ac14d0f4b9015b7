import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs } from '../../src/fs/node-fs.js';
import type { FileHandle, FileStat, LinkStat, FileSystem, OpenMode } from '../../src/fs/types.js';
import { FileCache } from '../../src/read/file-cache.js';
import { seededRandom } from '../helpers/rng.js';
import { tempDir } from '../helpers/tmp.js';

/** Real files, with a record of every handle: open or closed, and a loud failure on use after close. */
class TrackingFs implements FileSystem {
  readonly handles: TrackedHandle[] = [];
  get openCount(): number {
    return this.handles.filter((h) => !h.closed).length;
  }
  async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    const h = new TrackedHandle(await nodeFs.open(p, how, mode));
    this.handles.push(h);
    return h;
  }
  readdir(p: string): Promise<string[]> { return nodeFs.readdir(p); }
  mkdir(p: string, mode?: number): Promise<void> { return nodeFs.mkdir(p, mode); }
  rename(a: string, b: string): Promise<void> { return nodeFs.rename(a, b); }
  unlink(p: string): Promise<void> { return nodeFs.unlink(p); }
  link(a: string, b: string): Promise<void> { return nodeFs.link(a, b); }
  rmdir(p: string, o?: { recursive?: boolean }): Promise<void> { return nodeFs.rmdir(p, o); }
  stat(p: string): Promise<FileStat> { return nodeFs.stat(p); }
  lstat(p: string): Promise<LinkStat> { return nodeFs.lstat(p); }
  syncDir(p: string): Promise<void> { return nodeFs.syncDir(p); }
}

class TrackedHandle implements FileHandle {
  closed = false;
  constructor(private readonly inner: FileHandle) {}
  get path(): string { return this.inner.path; }
  private live(): FileHandle {
    if (this.closed) throw new Error(`use of closed handle ${this.path}`);
    return this.inner;
  }
  read(b: Uint8Array, o: number, l: number, p: number): Promise<number> { return this.live().read(b, o, l, p); }
  write(b: Uint8Array, o: number, l: number, p: number): Promise<number> { return this.live().write(b, o, l, p); }
  datasync(): Promise<void> { return this.live().datasync(); }
  sync(): Promise<void> { return this.live().sync(); }
  truncate(n: number): Promise<void> { return this.live().truncate(n); }
  size(): Promise<number> { return this.live().size(); }
  async close(): Promise<void> {
    const inner = this.live();
    this.closed = true;
    await inner.close();
  }
}

function makeFiles(n: number): string[] {
  const dir = tempDir();
  return Array.from({ length: n }, (_, i) => {
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, `contents of file ${i}`);
    return file;
  });
}

async function readAll(handle: FileHandle): Promise<string> {
  const buf = Buffer.alloc(64);
  const n = await handle.read(buf, 0, 64, 0);
  return buf.subarray(0, n).toString();
}

describe('FileCache', () => {
  it('reuses a cached handle for the same file', async () => {
    const tfs = new TrackingFs();
    const cache = new FileCache(tfs, 4);
    const [a] = makeFiles(1);
    const one = await cache.acquire(a!);
    const two = await cache.acquire(a!);
    expect(two.handle).toBe(one.handle);
    await one.release();
    await two.release();
    expect(tfs.handles).toHaveLength(1);
    expect(tfs.openCount).toBe(1);
    await cache.closeAll();
    expect(tfs.openCount).toBe(0);
  });

  it('evicts the least recently used idle handle at the bound', async () => {
    const tfs = new TrackingFs();
    const cache = new FileCache(tfs, 2);
    const [a, b, c] = makeFiles(3);
    for (const f of [a!, b!]) await (await cache.acquire(f)).release();
    await (await cache.acquire(a!)).release(); // a is now more recent than b
    await (await cache.acquire(c!)).release();
    expect(cache.size).toBe(2);
    const closed = tfs.handles.filter((h) => h.closed).map((h) => path.basename(h.path));
    expect(closed).toEqual(['f1']);
  });

  it('never closes a busy handle: with every slot busy, a reader gets a private handle', async () => {
    const tfs = new TrackingFs();
    const cache = new FileCache(tfs, 1);
    const [a, b] = makeFiles(2);
    const held = await cache.acquire(a!);
    const other = await cache.acquire(b!);
    expect(cache.size).toBe(1);
    expect(other.handle).not.toBe(held.handle);
    // The busy handle still works while another file is being read.
    expect(await readAll(held.handle)).toBe('contents of file 0');
    expect(await readAll(other.handle)).toBe('contents of file 1');
    await other.release(); // a private handle is closed on release
    expect(tfs.handles.find((h) => h.path === b)!.closed).toBe(true);
    expect(await readAll(held.handle)).toBe('contents of file 0');
    await held.release();
    expect(tfs.handles.find((h) => h.path === a)!.closed).toBe(false); // idle, still cached
    await cache.closeAll();
    expect(tfs.openCount).toBe(0);
  });

  it('closeAll and forget leave busy handles open until their last release', async () => {
    const tfs = new TrackingFs();
    const cache = new FileCache(tfs, 4);
    const [a, b] = makeFiles(2);
    const ha = await cache.acquire(a!);
    const hb = await cache.acquire(b!);
    await cache.forget(a!);
    await cache.closeAll();
    expect(cache.size).toBe(0);
    expect(await readAll(ha.handle)).toBe('contents of file 0');
    expect(await readAll(hb.handle)).toBe('contents of file 1');
    await ha.release();
    await hb.release();
    expect(tfs.openCount).toBe(0);
  });

  it('under a seeded random workload: at most maxOpenFiles cached, no handle closed under its reader, nothing leaked', async () => {
    const rnd = seededRandom(77);
    const files = makeFiles(8);
    const maxOpenFiles = 3;
    const tfs = new TrackingFs();
    const cache = new FileCache(tfs, maxOpenFiles);
    const held: Array<{ file: string; handle: FileHandle; release: () => Promise<void> }> = [];
    for (let step = 0; step < 600; step++) {
      if (held.length > 0 && (rnd() < 0.5 || held.length > 6)) {
        const [h] = held.splice(Math.floor(rnd() * held.length), 1);
        expect(await readAll(h!.handle)).toBe(`contents of file ${files.indexOf(h!.file)}`);
        await h!.release();
      } else {
        const file = files[Math.floor(rnd() * files.length)]!;
        held.push({ file, ...(await cache.acquire(file)) });
      }
      expect(cache.size).toBeLessThanOrEqual(maxOpenFiles);
      // Every handle someone holds is open and reads its own file.
      for (const h of held) expect((h.handle as TrackedHandle).closed).toBe(false);
      // Open handles: the cached ones plus private ones, each of which someone holds.
      expect(tfs.openCount).toBeLessThanOrEqual(maxOpenFiles + held.length);
    }
    for (const h of held.splice(0)) await h.release();
    await cache.closeAll();
    expect(tfs.openCount).toBe(0);
  });
});
