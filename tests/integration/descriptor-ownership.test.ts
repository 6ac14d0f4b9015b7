/**
 * Break 3 of issue 18: a roll that failed left the writer holding the sealed
 * segment's closed handle, and `close()` closed that descriptor number again,
 * by then another file's. Every descriptor has one owner and is closed once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { FileHandle, FileSystem } from '../../src/fs/types.js';
import { segmentFileName } from '../../src/segment/names.js';
import { FaultFs, type FsOperation } from '../../src/testing/fault-fs.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { tempDir } from '../helpers/tmp.js';

/** Counts `close()` calls per handle handed out. */
class CloseCountingFs extends PassThroughFs {
  readonly closes = new Map<FileHandle, { path: string; count: number }>();

  constructor(inner: FileSystem) {
    super(inner);
  }

  protected override wrapHandle(handle: FileHandle): FileHandle {
    const record = { path: handle.path, count: 0 };
    this.closes.set(handle, record);
    return new Proxy(handle, {
      get: (target, prop) => {
        if (prop === 'close') {
          return () => {
            record.count++;
            return target.close();
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  closedTwice(): string[] {
    return [...this.closes.values()].filter((r) => r.count > 1).map((r) => r.path);
  }
}

/** Opens `n` unrelated files; with the lowest free numbers reused, one takes any descriptor number the log just freed. */
function openBystanders(dir: string, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const file = path.join(dir, `bystander-${i}`);
    fs.writeFileSync(file, `bystander ${i}`);
    return fs.openSync(file, 'r');
  });
}

function expectUsable(fds: number[]): void {
  for (const fd of fds) expect(() => fs.fstatSync(fd), `descriptor ${fd} still open`).not.toThrow();
  for (const fd of fds) fs.closeSync(fd);
}

const NEXT_SEGMENT = new RegExp(`${segmentFileName(5).replace('.', '\\.')}$`);

describe('a failed roll, then close()', () => {
  it.each<[FsOperation, string, RegExp | undefined]>([
    ['open', 'the new segment cannot be created', NEXT_SEGMENT],
    ['write', 'the new segment header cannot be written', NEXT_SEGMENT],
    ['datasync', 'the new segment header cannot be synced', NEXT_SEGMENT],
    ['syncDir', 'the new segment directory entry cannot be synced', /segments$/],
  ])('%s fails (%s): every handle is closed exactly once, and no other file of the process loses its descriptor', async (op, _why, target) => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const faults = new FaultFs({ seed: 18 });
    const counting = new CloseCountingFs(faults);
    const log = await Log.open(dir, { fs: counting, flush: { strategy: 'always' }, segment: { maxRecords: 5 } });
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.append(`r${i}`)));
    faults.failNext(op, 'EIO', target === undefined ? {} : { path: target });
    await expect(log.roll()).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    const bystanders = openBystanders(root, 8);
    await log.close();
    expectUsable(bystanders);
    expect(counting.closedTwice()).toEqual([]);
    for (const [, r] of counting.closes) expect(r.count, `${r.path} closed`).toBe(1);
  });

  it('a failed seal (footer write) keeps the segment active; close() closes its handle once', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const faults = new FaultFs({ seed: 19 });
    const counting = new CloseCountingFs(faults);
    const log = await Log.open(dir, { fs: counting, flush: { strategy: 'always' }, segment: { maxRecords: 5 } });
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.append(`r${i}`)));
    faults.failNext('write', 'ENOSPC');
    await expect(log.roll()).rejects.toMatchObject({ code: 'AOF_IO' });
    const bystanders = openBystanders(root, 8);
    await log.close();
    expectUsable(bystanders);
    for (const [, r] of counting.closes) expect(r.count, `${r.path} closed`).toBe(1);
  });
});

describe('an open that fails after it opened the active segment', () => {
  it('closes that handle exactly once (it leaked when the fsync of the adopted state failed)', async () => {
    const root = tempDir();
    const dir = path.join(root, 'log');
    const log = await Log.open(dir);
    await log.append('kept');
    await log.close();
    // A torn tail: the reopen cuts it off, so the open is not a clean one and syncs what it adopted.
    fs.appendFileSync(path.join(dir, 'segments', segmentFileName(0)), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const faults = new FaultFs({ seed: 20 });
    const counting = new CloseCountingFs(faults);
    // The first fdatasync of the segment is recovery's cut; the second syncs the adopted state.
    faults.failNext('datasync', 'EIO', { path: new RegExp(`${segmentFileName(0).replace('.', '\\.')}$`), skip: 1 });
    await expect(Log.open(dir, { fs: counting })).rejects.toMatchObject({ code: 'AOF_IO' });
    expect(counting.closes.size).toBeGreaterThan(0);
    for (const [, r] of counting.closes) expect(r.count, `${r.path} closed`).toBe(1);
    const reopened = await Log.open(dir);
    expect((await reopened.get(0))?.payload.toString()).toBe('kept');
    await reopened.close();
  });
});
