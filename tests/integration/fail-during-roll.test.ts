import { describe, expect, it } from 'vitest';
import { Log, LogFailedError } from '../../src/index.js';
import type { FileHandle, OpenMode } from '../../src/fs/types.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { tempLogDir } from '../helpers/tmp.js';

/** Holds the open of one segment file until released: a roll in flight, paused at a known point. */
class HeldSegmentOpen extends PassThroughFs {
  private hold: { name: string; reached: () => void; release: Promise<void> } | undefined;

  /** Resolves when the open of `name` starts; the open then waits for `release`. */
  holdOpen(name: string, release: Promise<void>): Promise<void> {
    return new Promise((reached) => (this.hold = { name, reached, release }));
  }

  override async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    const hold = this.hold;
    if (hold !== undefined && p.endsWith(hold.name)) {
      this.hold = undefined;
      hold.reached();
      await hold.release;
    }
    return super.open(p, how, mode);
  }
}

describe('the writer fails while a roll is under way', () => {
  // The lock check's timer can put the writer in the failed state at any await of its loop (a roll, a loop yield),
  // which empties its queue: the loop must then stop, not read the head of an empty queue (a TypeError that was
  // thrown, unhandled, out of the writer's loop).
  it('rejects what was queued with the failure and throws nothing out of its loop', async () => {
    const fsHeld = new HeldSegmentOpen();
    const log = await Log.open(tempLogDir(), { fs: fsHeld, segment: { maxRecords: 2 } });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      await log.append('a');
      await log.append('b');
      let release!: () => void;
      const reached = fsHeld.holdOpen('00000000000000000002.seg', new Promise<void>((r) => (release = r)));
      const queued = [log.append('c'), log.append('d'), log.append('e')].map((p) => p.then(() => 'ok', (err: unknown) => err));
      await reached;
      // As the lock check does when it finds the lock gone (src/log.ts): through the writer's own entry point.
      const writer = (log as unknown as { writer: { poison(err: LogFailedError): void } }).writer;
      writer.poison(new LogFailedError('the lock was lost', new Error('test')));
      release();
      const results = await Promise.all(queued);
      for (const r of results) expect(r).toBeInstanceOf(LogFailedError);
      await log.close().catch(() => undefined);
      // Let any rejection thrown out of the writer's loop surface before looking.
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      const reopened = await Log.open(log.dir);
      expect(reopened.nextSeq).toBe(2);
      await reopened.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
