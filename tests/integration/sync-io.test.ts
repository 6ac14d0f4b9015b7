import { describe, expect, it } from 'vitest';
import { Log, type LogOptions } from '../../src/index.js';
import type { FileHandle } from '../../src/fs/types.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { tempLogDir } from '../helpers/tmp.js';

/** Records which fdatasync each segment file got: on the calling thread (`datasyncSync`) or through the thread pool. */
class SyncPathFs extends PassThroughFs {
  readonly onThread: number[] = [];
  readonly inPool: number[] = [];
  /** Bytes written to segment files since their last fdatasync. */
  private unsynced = 0;

  protected override wrapHandle(handle: FileHandle): FileHandle {
    if (!handle.path.endsWith('.seg')) return handle;
    const writeSync = handle.writeSync?.bind(handle);
    const datasyncSync = handle.datasyncSync?.bind(handle);
    const wrapped: FileHandle = Object.create(handle) as FileHandle;
    wrapped.write = async (buffer, offset, length, position) => {
      const n = await handle.write(buffer, offset, length, position);
      this.unsynced += n;
      return n;
    };
    if (writeSync !== undefined) {
      wrapped.writeSync = (buffer, offset, length, position) => {
        const n = writeSync(buffer, offset, length, position);
        this.unsynced += n;
        return n;
      };
    }
    wrapped.datasync = async () => {
      this.inPool.push(this.unsynced);
      this.unsynced = 0;
      await handle.datasync();
    };
    if (datasyncSync !== undefined) {
      wrapped.datasyncSync = () => {
        this.onThread.push(this.unsynced);
        this.unsynced = 0;
        datasyncSync();
      };
    }
    return wrapped;
  }
}

async function appendOneByOne(options: LogOptions, count: number, bytes = 100): Promise<void> {
  const log = await Log.open(tempLogDir(), options);
  for (let i = 0; i < count; i++) await log.append(Buffer.alloc(bytes, i));
  await log.close();
}

describe('fdatasync on the calling thread (syncIoMaxBytes)', () => {
  it("under 'always', an fdatasync covering at most syncIoMaxBytes runs on the calling thread, a larger one in the thread pool", async () => {
    const fs = new SyncPathFs();
    const log = await Log.open(tempLogDir(), { fs, flush: { strategy: 'always' }, syncIoMaxBytes: 4096 });
    const before = fs.onThread.length;
    for (let i = 0; i < 20; i++) await log.append(Buffer.alloc(100, i));
    expect(fs.onThread.length - before).toBe(20);
    expect(fs.onThread.slice(before).every((b) => b > 0 && b <= 4096)).toBe(true);
    const inPool = fs.inPool.length;
    // One append larger than the bound: its write and its fdatasync both go through the thread pool.
    await log.append(Buffer.alloc(8000, 1));
    expect(fs.inPool.length).toBe(inPool + 1);
    expect(fs.inPool[fs.inPool.length - 1]).toBeGreaterThan(4096);
    await log.close();
  });

  it("syncIoMaxBytes 0 keeps every fdatasync in the thread pool; 'batch', 'adaptive', 'interval' and 'none' never sync on the calling thread", async () => {
    const off = new SyncPathFs();
    await appendOneByOne({ fs: off, flush: { strategy: 'always' }, syncIoMaxBytes: 0 }, 10);
    expect(off.onThread).toEqual([]);
    expect(off.inPool.length).toBeGreaterThanOrEqual(10);
    for (const strategy of ['batch', 'adaptive', 'interval', 'none'] as const) {
      const fs = new SyncPathFs();
      await appendOneByOne({ fs, flush: { strategy } }, 10);
      expect(fs.onThread).toEqual([]);
    }
  });

  it("a failed fdatasync on the calling thread puts the log in the failed state, as one in the thread pool does", async () => {
    const faults = new FaultFs();
    const log = await Log.open(tempLogDir(), { fs: faults, flush: { strategy: 'always' } });
    await log.append('kept');
    faults.failNext('datasync', 'EIO', { path: /\.seg$/ });
    await expect(log.append('lost')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await expect(log.append('after')).rejects.toMatchObject({ code: 'AOF_LOG_FAILED' });
    await log.close().catch(() => undefined);
  });

  it('fdatasyncs are counted alike on either thread', async () => {
    const counting = new CountingFs();
    await appendOneByOne({ fs: counting, flush: { strategy: 'always' } }, 5);
    const onThread = counting.calls.get('datasync') ?? 0;
    const pooled = new CountingFs();
    await appendOneByOne({ fs: pooled, flush: { strategy: 'always' }, syncIoMaxBytes: 0 }, 5);
    expect(onThread).toBe(pooled.calls.get('datasync'));
  });
});
