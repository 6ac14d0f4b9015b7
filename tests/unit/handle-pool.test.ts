import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs } from '../../src/fs/node-fs.js';
import type { FileHandle, FileStat, LinkStat, FileSystem, OpenMode } from '../../src/fs/types.js';
import { HandlePool, type Lease } from '../../src/segment/handle-pool.js';
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

describe('HandlePool', () => {
  it('shares one handle of a file between leases, and keeps it cached once idle', async () => {
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, 4);
    const [a] = makeFiles(1);
    const one = await pool.lease(a!);
    const two = await pool.lease(a!);
    expect(two.handle).toBe(one.handle);
    one.release();
    two.release();
    expect(tfs.handles).toHaveLength(1);
    expect(tfs.openCount).toBe(1);
    await pool.close();
    expect(tfs.openCount).toBe(0);
  });

  it('closes the least recently used idle handle at the bound', async () => {
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, 2);
    const [a, b, c] = makeFiles(3);
    for (const f of [a!, b!]) (await pool.lease(f)).release();
    (await pool.lease(a!)).release(); // a is now more recent than b
    (await pool.lease(c!)).release();
    expect(pool.cachedCount).toBe(2);
    expect(tfs.handles.filter((h) => h.closed).map((h) => path.basename(h.path))).toEqual(['f1']);
  });

  it('never closes a busy handle and never opens past the bound: with every slot busy, a lease waits for a release', async () => {
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, 1);
    const [a, b] = makeFiles(2);
    const held = await pool.lease(a!);
    let other: Lease | undefined;
    const waiting = pool.lease(b!).then((l) => (other = l));
    await new Promise((resolve) => setImmediate(resolve));
    expect(other).toBeUndefined();
    expect(tfs.openCount).toBe(1);
    expect(await readAll(held.handle)).toBe('contents of file 0');
    held.release();
    await waiting;
    expect(await readAll(other!.handle)).toBe('contents of file 1');
    expect(tfs.handles.find((h) => h.path === a)!.closed).toBe(true);
    expect(tfs.openCount).toBe(1);
    other!.release();
    await pool.close();
    expect(tfs.openCount).toBe(0);
  });

  it('a lease is released exactly once', async () => {
    const pool = new HandlePool(new TrackingFs(), 1);
    const [a] = makeFiles(1);
    const lease = await pool.lease(a!);
    lease.release();
    expect(() => lease.release()).toThrow(/exactly once/);
    await pool.close();
  });

  it('forget and close leave busy handles open until their release; close resolves once none is open', async () => {
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, 4);
    const [a, b] = makeFiles(2);
    const ha = await pool.lease(a!);
    const hb = await pool.lease(b!);
    await pool.forget(a!);
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    expect(await readAll(ha.handle)).toBe('contents of file 0');
    expect(await readAll(hb.handle)).toBe('contents of file 1');
    ha.release();
    hb.release();
    await closing;
    expect(tfs.openCount).toBe(0);
    // After close a lease still works, within the budget, and closes its descriptor at release.
    const late = await pool.lease(a!);
    expect(await readAll(late.handle)).toBe('contents of file 0');
    late.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(tfs.openCount).toBe(0);
  });

  it('a failed open frees its slot and rejects every lease that waited for it', async () => {
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, 1);
    const missing = path.join(tempDir(), 'missing');
    const results = await Promise.allSettled([pool.lease(missing), pool.lease(missing)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(pool.inUse).toBe(0);
    const [a] = makeFiles(1);
    (await pool.lease(a!)).release();
    await pool.close();
  });

  it('under a seeded random workload: never more than maxOpenFiles open, no handle closed under its reader, nothing leaked', async () => {
    const rnd = seededRandom(77);
    const files = makeFiles(8);
    const maxOpenFiles = 3;
    const tfs = new TrackingFs();
    const pool = new HandlePool(tfs, maxOpenFiles);
    const held: Array<{ file: string; lease: Lease }> = [];
    const pending: Array<Promise<void>> = [];
    let draining = false;
    for (let step = 0; step < 600; step++) {
      if (held.length > 0 && (rnd() < 0.5 || held.length >= maxOpenFiles)) {
        const [h] = held.splice(Math.floor(rnd() * held.length), 1);
        expect(await readAll(h!.lease.handle)).toBe(`contents of file ${files.indexOf(h!.file)}`);
        h!.lease.release();
      } else {
        const file = files[Math.floor(rnd() * files.length)]!;
        pending.push(pool.lease(file).then((lease) => (draining ? lease.release() : void held.push({ file, lease }))));
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(tfs.openCount).toBeLessThanOrEqual(maxOpenFiles);
      expect(pool.inUse).toBeLessThanOrEqual(maxOpenFiles);
      for (const h of held) expect((h.lease.handle as TrackedHandle).closed).toBe(false);
    }
    draining = true;
    for (const h of held.splice(0)) h.lease.release();
    await Promise.all(pending);
    await pool.close();
    expect(tfs.openCount).toBe(0);
  });
});
