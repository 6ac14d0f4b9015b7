/**
 * SnapshotStore on real files and real worker threads: atomic, checksummed,
 * uniquely named snapshots; damaged ones skipped and moved aside; faults
 * through FaultFs; cancellation; a crashed worker; pruning with pins.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SnapshotCorruptError } from '../../src/errors.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { SNAPSHOT_HEADER_BYTES, SNAPSHOT_TRAILER_BYTES } from '../../src/snapshot/format.js';
import type { SnapshotInfo } from '../../src/snapshot/store.js';
import { entries, openLog, openStore, processResources, rejection, seededBytes, sha256, temporaries, tempDir } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('SnapshotStore: save and latest', () => {
  it('full snapshot/restore cycle: the state comes back byte for byte from a new store instance', async () => {
    const dir = tempDir();
    const data = seededBytes(3 * MiB + 123, 1); // several slices, the last one partial
    const store = await openStore(dir);
    const info = await store.save(42, data);
    expect(info.seq).toBe(42);
    expect(info.bytes).toBe(data.length);
    expect(info.checksum).toBe(sha256(data)); // computed here independently
    expect(info.storedBytes).toBe(fs.statSync(info.file).size);
    expect(info.name).toMatch(/^00000000000000000042-\d{16}\.snap$/);
    await store.close();

    const again = await openStore(dir);
    const snap = await again.latest();
    expect(snap?.seq).toBe(42);
    expect(Buffer.from(snap!.data).equals(data)).toBe(true);
    expect(snap?.info).toEqual(info);
  });

  it('an empty store has no latest snapshot; an empty state round-trips', async () => {
    const store = await openStore(tempDir());
    expect(await store.latest()).toBeUndefined();
    expect(await store.list()).toEqual([]);
    await store.save(0, new Uint8Array(0));
    const snap = await store.latest();
    expect(snap?.data.byteLength).toBe(0);
    expect(snap?.info.checksum).toBe(sha256(new Uint8Array(0)));
  });

  it('latest is the highest seq, then the newest; list is oldest first', async () => {
    const store = await openStore(tempDir(), { keep: 10 });
    await store.save(10, Buffer.from('ten'));
    await store.save(30, Buffer.from('thirty'));
    await store.save(20, Buffer.from('twenty'));
    await store.save(30, Buffer.from('thirty again'));
    expect(Buffer.from((await store.latest())!.data).toString()).toBe('thirty again');
    expect((await store.list()).map((i) => i.seq)).toEqual([10, 20, 30, 30]);
  });

  it('the file is a 64-byte header, the state, and a 64-byte trailer holding its SHA-256 (docs/SNAPSHOTS.md)', async () => {
    const dir = tempDir();
    const data = seededBytes(5000, 2);
    const store = await openStore(dir);
    const info = await store.save(7, data);
    const file = fs.readFileSync(info.file);
    expect(file.length).toBe(SNAPSHOT_HEADER_BYTES + data.length + SNAPSHOT_TRAILER_BYTES);
    expect(file.subarray(0, 8).toString('latin1')).toBe('AOFSNAPS');
    expect(file.readUInt16LE(8)).toBe(1); // version
    expect(file.readUInt16LE(10)).toBe(0); // flags: not compressed
    expect(Number(file.readBigUInt64LE(16))).toBe(7); // seq
    expect(Number(file.readBigUInt64LE(24))).toBe(info.createdMicros);
    expect(file.subarray(64, 64 + data.length).equals(data)).toBe(true);
    const trailer = file.subarray(file.length - 64);
    expect(trailer.subarray(0, 8).toString('latin1')).toBe('AOFSNEND');
    expect(Number(trailer.readBigUInt64LE(8))).toBe(data.length);
    expect(Number(trailer.readBigUInt64LE(16))).toBe(data.length);
    expect(`sha256:${trailer.subarray(24, 56).toString('hex')}`).toBe(sha256(data));
  });

  it('deflate runs in the worker: compressible state is stored smaller and comes back identical', async () => {
    const dir = tempDir();
    const data = Buffer.alloc(4 * MiB + 17, 'abcdefgh');
    const store = await openStore(dir, { compression: 'deflate', sliceBytes: 256 * KiB });
    const info = await store.save(1, data);
    expect(info.compressed).toBe(true);
    expect(info.storedBytes).toBeLessThan(data.length / 20);
    const snap = await store.latest();
    expect(Buffer.from(snap!.data).equals(data)).toBe(true);
    // A store opened without compression still reads it: the header says how it is stored.
    await store.close();
    const plain = await openStore(dir);
    expect(Buffer.from((await plain.latest())!.data).equals(data)).toBe(true);
  });

  it('saves from an async iterable of chunks of any size, and streams a snapshot back with read()', async () => {
    const store = await openStore(tempDir(), { sliceBytes: 64 * KiB, memoryBytes: 256 * KiB });
    const parts = [seededBytes(10, 3), seededBytes(300 * KiB, 4), new Uint8Array(0), seededBytes(64 * KiB, 5), seededBytes(1, 6)];
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (const p of parts) yield p;
    }
    const info = await store.save(5, chunks());
    const whole = Buffer.concat(parts);
    expect(info.bytes).toBe(whole.length);
    expect(info.checksum).toBe(sha256(whole));
    const back: Buffer[] = [];
    for await (const chunk of store.read(info.name)) back.push(chunk);
    expect(Buffer.concat(back).equals(whole)).toBe(true);
    expect(Math.max(...back.map((b) => b.length))).toBeLessThanOrEqual(64 * KiB);
  });

  it('name collisions within the same millisecond: 200 saves at the same seq at once get 200 names and keep 200 states', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { keep: 1000 });
    const infos = await Promise.all(Array.from({ length: 200 }, (_, i) => store.save(9, Buffer.from(`state ${i}`))));
    const names = new Set(infos.map((i) => i.name));
    expect(names.size).toBe(200);
    // Many of them share a millisecond: the microsecond part keeps them apart.
    const perMs = new Map<number, number>();
    for (const i of infos) perMs.set(i.createdMs, (perMs.get(i.createdMs) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeGreaterThan(1);
    // Nothing overwrote anything: every file holds the state saved under its name.
    expect(entries(dir).filter((n) => n.endsWith('.snap'))).toHaveLength(200);
    for (const [i, info] of infos.entries()) {
      const chunks: Buffer[] = [];
      for await (const c of store.read(info.name)) chunks.push(c);
      expect(Buffer.concat(chunks).toString()).toBe(`state ${i}`);
    }
    expect(temporaries(dir)).toEqual([]);
  });

  it('rejects bad arguments with AOF_INVALID_ARGUMENT', async () => {
    const store = await openStore(tempDir());
    for (const bad of [-1, 1.5, Number.NaN, '3' as unknown as number]) expect((await rejection(store.save(bad, new Uint8Array(1)))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await rejection(store.save(1, 'text' as unknown as Uint8Array))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    async function* bad(): AsyncGenerator<Uint8Array> {
      yield 'not bytes' as unknown as Uint8Array;
    }
    expect((await rejection(store.save(1, bad()))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    await expect(openStore(tempDir(), { keep: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(openStore(tempDir(), { sliceBytes: 10 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(openStore(tempDir(), { compression: 'zip' as 'deflate' })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect(temporaries(store.dir)).toEqual([]);
  });
});

describe('SnapshotStore: damaged snapshots', () => {
  /** Three snapshots, the newest first damaged by `damage`; returns what latest() then does. */
  async function damagedNewest(damage: (file: string) => void, options = {}) {
    const dir = tempDir();
    const store = await openStore(dir, { keep: 10, ...options });
    const good = await store.save(1, seededBytes(200 * KiB, 11));
    const bad = await store.save(2, seededBytes(200 * KiB, 12));
    damage(bad.file);
    const reported: SnapshotCorruptError[] = [];
    store.on('corrupt', (err) => reported.push(err));
    const snap = await store.latest();
    return { dir, store, good, bad, snap, reported };
  }

  const cases: Array<[string, (file: string) => void, string, object?]> = [
    ['a flipped byte in the state', (f) => flip(f, SNAPSHOT_HEADER_BYTES + 1000), 'SHA-256'],
    ['a truncated file (no trailer)', (f) => fs.truncateSync(f, fs.statSync(f).size - 10), 'trailer'],
    ['a file cut to nothing', (f) => fs.truncateSync(f, 0), 'truncated'],
    ['a damaged header', (f) => flip(f, 17), 'header checksum'],
    ['a damaged trailer', (f) => flip(f, fs.statSync(f).size - 40), 'trailer checksum'],
    // Damaged deflate data either fails to inflate or inflates to other bytes: caught either way.
    ['a damaged deflate block', (f) => flip(f, SNAPSHOT_HEADER_BYTES + 8 + 40), 'inflate|SHA-256', { compression: 'deflate' }],
  ];
  for (const [what, damage, reason, options] of cases) {
    it(`corrupt snapshot detected and skipped: ${what}`, async () => {
      const { dir, store, good, bad, snap, reported } = await damagedNewest(damage, options);
      // The newest valid one comes back.
      expect(snap?.info.name).toBe(good.name);
      expect(Buffer.from(snap!.data).equals(seededBytes(200 * KiB, 11))).toBe(true);
      // The damaged one is reported with a typed error naming file, offset and reason...
      expect(reported).toHaveLength(1);
      const err = reported[0]!;
      expect(err.code).toBe(ErrorCode.SNAPSHOT_CORRUPT);
      expect(err.snapshot).toBe(bad.name);
      expect(err.file).toBe(bad.file);
      expect(typeof err.offset).toBe('number');
      expect(err.reason).toMatch(new RegExp(reason));
      // ...and moved to recovery/, out of the way of the next latest() and list().
      expect(err.movedTo).toBe(path.join(dir, 'recovery', bad.name));
      expect(fs.existsSync(err.movedTo!)).toBe(true);
      expect(fs.existsSync(bad.file)).toBe(false);
      expect((await store.list()).map((i) => i.name)).toEqual([good.name]);
      // The store keeps working: a fresh snapshot becomes the latest.
      await store.save(3, Buffer.from('fresh'));
      expect(Buffer.from((await store.latest())!.data).toString()).toBe('fresh');
    });
  }

  it('when every snapshot is damaged, latest() is undefined and the application starts empty', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const a = await store.save(1, Buffer.from('a'));
    fs.truncateSync(a.file, 3);
    fs.writeFileSync(path.join(dir, `${'0'.repeat(19)}5-${'1'.repeat(16)}.snap`), 'garbage that is not a snapshot at all, long enough to have a header and trailer'.repeat(3));
    const reported: string[] = [];
    store.on('corrupt', (err) => reported.push(err.snapshot));
    expect(await store.latest()).toBeUndefined();
    expect(reported).toHaveLength(2);
    expect(entries(path.join(dir, 'recovery'))).toHaveLength(2);
  });

  it('a snapshot renamed to another seq is caught: the header must match the name', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const a = await store.save(1, Buffer.from('a'));
    fs.renameSync(a.file, path.join(dir, a.name.replace(/^\d{20}/, '9'.padStart(20, '0'))));
    const reported: SnapshotCorruptError[] = [];
    store.on('corrupt', (err) => reported.push(err));
    expect(await store.latest()).toBeUndefined();
    expect(reported[0]?.reason).toContain('the name says seq 9');
  });
});

function flip(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] = b[0]! ^ 0x5a;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

describe('SnapshotStore: disk full and write errors during a snapshot (FaultFs)', () => {
  const faults: Array<[string, Parameters<FaultFs['failNext']>, string]> = [
    ['disk full on a write of the state', ['write', 'ENOSPC', { path: '.tmp-', skip: 2 }], 'ENOSPC'],
    ['disk full on the first write', ['write', 'ENOSPC', { path: '.tmp-' }], 'ENOSPC'],
    ['permission denied creating the file', ['open', 'EACCES', { path: '.tmp-' }], 'EACCES'],
    ['an fsync error', ['datasync', 'EIO', { path: '.tmp-' }], 'EIO'],
    ['a failed rename', ['rename', 'EACCES', { path: '.tmp-' }], 'EACCES'],
  ];
  for (const [what, fault, errno] of faults) {
    it(`${what}: AOF_IO with the errno, no file left, the previous snapshot stays the latest, the next save works`, async () => {
      const dir = tempDir();
      const faultFs = new FaultFs();
      const store = await openStore(dir, { fs: faultFs, sliceBytes: 64 * KiB });
      const before = await store.save(1, seededBytes(100 * KiB, 21));
      const failures: Array<[Error, string]> = [];
      store.on('failed', (err, op) => failures.push([err, op]));
      faultFs.failNext(...fault);
      const err = await rejection(store.save(2, seededBytes(512 * KiB, 22)));
      expect(err.code).toBe(ErrorCode.IO);
      expect(err.errno).toBe(errno);
      expect(failures).toEqual([[err, 'save']]);
      expect(faultFs.faultsPending).toBe(false);
      // Nothing half-written is visible, and nothing is left behind.
      expect(temporaries(dir)).toEqual([]);
      expect(entries(dir).filter((n) => n.endsWith('.snap'))).toEqual([before.name]);
      expect((await store.latest())?.info.name).toBe(before.name);
      const after = await store.save(3, Buffer.from('after'));
      expect((await store.latest())?.info.name).toBe(after.name);
    });
  }

  it('power loss after a save resolved: the snapshot survives; a save in flight at power loss leaves nothing visible', async () => {
    const dir = tempDir();
    const faultFs = new FaultFs({ seed: 7 });
    const store = await openStore(dir, { fs: faultFs, sliceBytes: 64 * KiB, memoryBytes: 128 * KiB });
    const saved = await store.save(1, seededBytes(300 * KiB, 31));
    // A second save, stopped by the power loss partway through its body.
    let pulled = 0;
    let lose: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 16; i++) {
        if (++pulled === 4) lose();
        yield seededBytes(64 * KiB, 100 + i);
      }
    }
    const inFlight = store.save(2, slow());
    inFlight.catch(() => undefined);
    await lost;
    await faultFs.powerLoss();
    await rejection(inFlight);
    await store.close();

    const after = await openStore(dir); // the real file system, as after a reboot
    const snap = await after.latest();
    expect(snap?.info.name).toBe(saved.name);
    expect(Buffer.from(snap!.data).equals(seededBytes(300 * KiB, 31))).toBe(true);
    expect(temporaries(dir)).toEqual([]); // a dead process's temporary file is removed at open
  });
});

describe('SnapshotStore: cancellation and a crashed worker', () => {
  it('cancellation: the save rejects with AbortError, the worker stops, the temporary file is removed', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { sliceBytes: 64 * KiB, memoryBytes: 128 * KiB });
    const before = await store.save(1, Buffer.from('before'));
    const controller = new AbortController();
    let pulled = 0;
    let sawTemporary = false;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled++;
        if (pulled === 5) {
          sawTemporary = temporaries(dir).length === 1;
          controller.abort();
        }
        yield seededBytes(64 * KiB, pulled);
      }
    }
    const err = await rejection(store.save(2, chunks(), { signal: controller.signal }));
    expect(err.name).toBe('AbortError');
    expect(sawTemporary).toBe(true);
    expect(pulled).toBeLessThanOrEqual(6); // the source is not pulled any further
    expect(temporaries(dir)).toEqual([]);
    expect((await store.latest())?.info.name).toBe(before.name);
    // A signal aborted before the call: rejected at once, nothing written.
    const aborted = AbortSignal.abort();
    expect((await rejection(store.save(3, Buffer.from('x'), { signal: aborted }))).name).toBe('AbortError');
    expect(temporaries(dir)).toEqual([]);
  });

  it('cancellation while the source is stuck: abort does not wait for the next chunk', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const controller = new AbortController();
    async function* stuck(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('first');
      controller.abort();
      await new Promise(() => undefined); // never yields again
    }
    expect((await rejection(store.save(1, stuck(), { signal: controller.signal }))).name).toBe('AbortError');
    expect(temporaries(dir)).toEqual([]);
  });

  it('a crashed worker thread: AOF_SNAPSHOT_FAILED (stage worker), no file left, the next save starts a new thread', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { sliceBytes: 64 * KiB, memoryBytes: 128 * KiB });
    const before = await store.save(1, Buffer.from('before'));
    const firstThread = store.workerThreadId;
    expect(firstThread).toBeDefined();
    let pulled = 0;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (;;) {
        if (++pulled === 3) store.crashWorkerForTesting();
        yield seededBytes(64 * KiB, pulled);
      }
    }
    const err = await rejection(store.save(2, chunks()));
    expect(err.code).toBe(ErrorCode.SNAPSHOT_FAILED);
    expect(err.stage).toBe('worker');
    expect(temporaries(dir)).toEqual([]);
    expect((await store.latest())?.info.name).toBe(before.name);
    const after = await store.save(3, Buffer.from('after'));
    expect(store.workerThreadId).toBeDefined();
    expect(store.workerThreadId).not.toBe(firstThread);
    expect((await store.latest())?.info.name).toBe(after.name);
  });

  it('close() waits for a save in flight, then leaves no worker thread and no file handle behind', async () => {
    const dir = tempDir();
    const baseline = processResources();
    const store = await openStore(dir);
    let threadsWhileSaving = 0;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 8; i++) {
        yield seededBytes(MiB, 41 + i);
        threadsWhileSaving = Math.max(threadsWhileSaving, processResources().threads);
      }
    }
    const saving = store.save(1, chunks());
    await new Promise<void>((resolve) => setImmediate(resolve));
    await store.close();
    expect(threadsWhileSaving).toBeGreaterThan(baseline.threads); // the worker ran
    const info = await saving; // it finished rather than being cut off
    expect(fs.existsSync(info.file)).toBe(true);
    expect(store.workerThreadId).toBeUndefined();
    expect(processResources()).toEqual(baseline);
    expect((await rejection(store.save(2, Buffer.from('late')))).code).toBe(ErrorCode.CLOSED);
  });
});

describe('SnapshotStore: pruning and pins', () => {
  it('pruning with pinned snapshots: keeps the newest N and every pinned one, pins survive a reopen', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { keep: 2 });
    const saved: SnapshotInfo[] = [];
    saved.push(await store.save(1, Buffer.from('1'), { pinned: true }));
    saved.push(await store.save(2, Buffer.from('2')));
    await store.pin(saved[1]!.name);
    for (let seq = 3; seq <= 6; seq++) saved.push(await store.save(seq, Buffer.from(String(seq))));
    // Automatic pruning after each save: the two newest and the two pinned remain.
    expect((await store.list()).map((i) => [i.seq, i.pinned])).toEqual([[1, true], [2, true], [5, false], [6, false]]);
    await store.close();

    const again = await openStore(dir, { keep: 1 });
    expect((await again.prune()).snapshots).toEqual([saved[4]!.name]);
    expect((await again.list()).map((i) => i.seq)).toEqual([1, 2, 6]);
    const pruned = new Promise((resolve) => again.once('pruned', resolve));
    await again.unpin(saved[0]!.name); // no longer pinned, it goes at once (autoPrune)
    expect(await pruned).toEqual({ snapshots: [saved[0]!.name], backups: [] });
    expect((await again.list()).map((i) => i.seq)).toEqual([2, 6]);
    expect(entries(path.join(dir, 'pins'))).toEqual([saved[1]!.name]);
    await expect(again.pin('00000000000000000099-0000000000000000.snap')).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(again.pin('../etc/passwd')).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it('pinned snapshots pin the log: the newest and every pinned snapshot hold the records from their seq', async () => {
    const log = await openLog(path.join(tempDir(), 'log'));
    for (let i = 0; i < 30; i++) await log.append(`r${i}`);
    const store = await openStore(tempDir(), { log, keep: 1 });
    const pins = (): number[] => (log as unknown as { pins: { list(): Array<{ fromSeq: number }> } }).pins.list().map((p) => p.fromSeq).sort((a, b) => a - b);
    const a = await store.save(10, Buffer.from('a'), { pinned: true });
    expect(pins()).toEqual([10]);
    await store.save(20, Buffer.from('b'));
    expect(pins()).toEqual([10, 20]);
    await store.save(30, Buffer.from('c')); // 20 pruned: only the pinned one and the newest remain
    expect(pins()).toEqual([10, 30]);
    await store.unpin(a.name);
    expect(pins()).toEqual([30]);
    await expect(store.save(31, Buffer.from('ahead of the log'))).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await store.close();
    expect(pins()).toEqual([]);
  });
});
