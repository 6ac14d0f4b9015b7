/**
 * A save on the real file system: the worker hashes and writes each slice
 * itself, the main thread only copies slices into the shared ring. Behaviour
 * only (no timing): the ring's bound, abort and a dying worker while slices
 * wait in it, a full disk under the worker's writes, and the checksum of a
 * worker-written file checked on load. The tick figures are the benchmark's
 * (`node bench/snapshot-tick.mjs`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SnapshotCorruptError } from '../../src/errors.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import type { FileHandle } from '../../src/fs/types.js';
import { SNAPSHOT_HEADER_BYTES } from '../../src/snapshot/format.js';
import { writeSnapshotBody } from '../../src/snapshot/pipeline.js';
import { SnapshotWorker } from '../../src/snapshot/worker-pool.js';
import { IS_ROOT, mountSmallDisk, reportRootSkip, type SmallDisk } from '../helpers/tmpfs.js';
import { entries, openStore, rejection, seededBytes, sha256, temporaries, tempDir } from './helpers.js';

const KiB = 1024;
const SLICE = 64 * KiB;
/** memoryBytes / sliceBytes: the ring's slots. */
const SLOTS = 4;

/** Lets the event loop turn `n` times: enough for a save that is not blocked to copy `n` more slices (one per turn). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** An endless source of seeded slices that counts how many the save pulled, and resolves `reached` at `at` pulls. */
function countingSource(at: number): { chunks: AsyncGenerator<Uint8Array>; pulled: () => number; reached: Promise<void> } {
  let pulled = 0;
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (++pulled === at) reach();
      yield seededBytes(SLICE, pulled);
    }
  }
  return { chunks: chunks(), pulled: () => pulled, reached };
}

describe('snapshot save: the worker writes, the ring is bounded', () => {
  it('memoryBytes bounds the slices in flight: with the worker stopped, a save fills the ring (memoryBytes / sliceBytes slots) and pulls one slice more, then waits', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { sliceBytes: SLICE, memoryBytes: SLOTS * SLICE });
    await store.save(0, Buffer.from('start the worker'));
    const release = store.holdWorkerForTesting();
    const total = 3 * SLOTS;
    let pulled = 0;
    let full: () => void = () => undefined;
    const ringFull = new Promise<void>((resolve) => (full = resolve));
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < total; i++) {
        if (++pulled === SLOTS + 1) full();
        yield seededBytes(SLICE, 100 + i);
      }
    }
    const saving = store.save(1, chunks());
    await ringFull;
    // An unbounded save would pull one slice per turn: after 50 turns it would be far past the ring.
    await turns(50);
    expect(pulled).toBe(SLOTS + 1);
    release();
    const info = await saving;
    expect(pulled).toBe(total);
    const expected = Buffer.concat(Array.from({ length: total }, (_, i) => seededBytes(SLICE, 100 + i)));
    expect(info.checksum).toBe(sha256(expected));
    expect(Buffer.from((await store.latest())!.data).equals(expected)).toBe(true);
  });

  it('the main thread writes no slice: with a descriptor, the adapter is asked only for the header, the trailer and the final sync', async () => {
    const file = path.join(tempDir(), 'direct.snap');
    const real = await nodeFs.open(file, 'createNew');
    const writes: number[] = [];
    const handle: FileHandle = {
      path: real.path,
      fd: real.fd,
      read: (b, o, l, p) => real.read(b, o, l, p),
      write: (b, o, l, p) => {
        writes.push(l);
        return real.write(b, o, l, p);
      },
      datasync: () => real.datasync(),
      sync: () => real.sync(),
      truncate: (l) => real.truncate(l),
      size: () => real.size(),
      close: () => real.close(),
    };
    const worker = new SnapshotWorker();
    try {
      const data = seededBytes(10 * SLICE + 5, 3);
      const written = await writeSnapshotBody(handle, worker, { seq: 1, createdMicros: 1 }, data, { sliceBytes: SLICE, slots: SLOTS, level: -1 }, undefined);
      expect(writes).toEqual([64, 64]); // header and trailer
      expect(written.dataBytes).toBe(data.length);
      expect(fs.statSync(file).size).toBe(written.fileBytes);
      expect(fs.readFileSync(file).subarray(SNAPSHOT_HEADER_BYTES, SNAPSHOT_HEADER_BYTES + data.length).equals(data)).toBe(true);
    } finally {
      await handle.close();
      await worker.close();
    }
  });

  it('an abort while slices wait in a stopped worker: the save rejects with AbortError only once the worker let go of the file; nothing is left, the previous snapshot stays', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { sliceBytes: SLICE, memoryBytes: SLOTS * SLICE });
    const before = await store.save(1, Buffer.from('before'));
    const release = store.holdWorkerForTesting();
    const source = countingSource(SLOTS + 1);
    const controller = new AbortController();
    let settled = false;
    const saving = store.save(2, source.chunks, { signal: controller.signal });
    saving.then(() => (settled = true), () => (settled = true));
    await source.reached;
    controller.abort();
    await turns(20);
    // The worker still holds slices that name the file's descriptor: the store must not close it yet.
    expect(settled).toBe(false);
    expect(temporaries(dir)).toHaveLength(1);
    release();
    expect((await rejection(saving)).name).toBe('AbortError');
    expect(source.pulled()).toBe(SLOTS + 1);
    expect(temporaries(dir)).toEqual([]);
    expect((await store.latest())?.info.name).toBe(before.name);
    // A file opened after the abort (it may get the same descriptor number) receives nothing from the cancelled job.
    const other = path.join(dir, 'other.bin');
    fs.writeFileSync(other, 'untouched');
    await store.save(3, seededBytes(3 * SLICE, 9));
    expect(fs.readFileSync(other, 'utf8')).toBe('untouched');
  });

  it('a worker that dies while slices wait in it: AOF_SNAPSHOT_FAILED (stage worker), no file left, the previous snapshot stays, the next save works', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { sliceBytes: SLICE, memoryBytes: SLOTS * SLICE });
    const before = await store.save(1, seededBytes(5 * SLICE, 1));
    const source = countingSource(3);
    const saving = store.save(2, source.chunks);
    await source.reached;
    store.crashWorkerForTesting();
    const err = await rejection(saving);
    expect(err.code).toBe(ErrorCode.SNAPSHOT_FAILED);
    expect(err.stage).toBe('worker');
    expect(temporaries(dir)).toEqual([]);
    expect(entries(dir).filter((n) => n.endsWith('.snap'))).toEqual([before.name]);
    expect(Buffer.from((await store.latest())!.data).equals(seededBytes(5 * SLICE, 1))).toBe(true);
    const after = await store.save(3, seededBytes(2 * SLICE, 3));
    expect((await store.latest())?.info.name).toBe(after.name);
  });

  it('a worker-written snapshot is checked on load: its SHA-256 matches one computed here, and a byte changed in its last slice is caught', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { keep: 5, sliceBytes: SLICE, memoryBytes: SLOTS * SLICE });
    const good = seededBytes(7 * SLICE + 1000, 4);
    const goodInfo = await store.save(1, good);
    expect(goodInfo.checksum).toBe(sha256(good));
    const bad = seededBytes(9 * SLICE + 3, 5);
    const badInfo = await store.save(2, bad);
    expect(badInfo.checksum).toBe(sha256(bad));
    const fd = fs.openSync(badInfo.file, 'r+');
    const at = SNAPSHOT_HEADER_BYTES + bad.length - 2;
    fs.writeSync(fd, Buffer.from([bad[bad.length - 2]! ^ 0xff]), 0, 1, at);
    fs.closeSync(fd);
    const reported: SnapshotCorruptError[] = [];
    store.on('corrupt', (e) => reported.push(e));
    const snap = await store.latest();
    expect(snap?.info.name).toBe(goodInfo.name);
    expect(Buffer.from(snap!.data).equals(good)).toBe(true);
    expect(reported.map((e) => e.reason)).toEqual(['SHA-256 of the state does not match the trailer']);
  });
});

describe.skipIf(!IS_ROOT)('snapshot save: a full disk under the worker\'s writes', () => {
  let disk: SmallDisk;
  beforeAll(() => {
    disk = mountSmallDisk(2 * 1024 * 1024);
  });
  afterAll(() => disk?.unmount());

  it('ENOSPC in the worker: AOF_IO with the errno and the file, no file left, the previous snapshot stays, the next save works once there is room', async () => {
    const dir = path.join(disk.dir, 'store');
    const store = await openStore(dir, { sliceBytes: SLICE, memoryBytes: SLOTS * SLICE });
    const before = await store.save(1, seededBytes(2 * SLICE, 1));
    const filler = disk.fill(5 * SLICE);
    const err = await rejection(store.save(2, seededBytes(20 * SLICE, 2)));
    expect(err.code).toBe(ErrorCode.IO);
    expect(err.errno).toBe('ENOSPC');
    expect((err as { file?: string }).file).toMatch(/\.tmp-/);
    expect(temporaries(dir)).toEqual([]);
    expect(entries(dir).filter((n) => n.endsWith('.snap'))).toEqual([before.name]);
    expect((await store.latest())?.info.name).toBe(before.name);
    fs.rmSync(filler);
    const after = await store.save(3, seededBytes(20 * SLICE, 3));
    expect(Buffer.from((await store.latest())!.data).equals(seededBytes(20 * SLICE, 3))).toBe(true);
    expect(after.name).not.toBe(before.name);
  });
});
reportRootSkip('the full-disk snapshot test');
