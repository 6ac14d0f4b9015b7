/**
 * The lease is renewed every LOCK_UPDATE_MS (proper-lockfile's `update`),
 * and the renewal refuses to touch a lease directory whose mtime is not the
 * one it set last. Writing owner.json into the directory after the lock was
 * taken changed that mtime, so every writer lost its lock at its first
 * renewal, 10 s after open. The renewal timer and the clock are advanced
 * with fake timers (setTimeout and Date); its file-system calls are real.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Log } from '../../src/index.js';
import { LOCK_UPDATE_MS } from '../../src/lock/lease.js';
import { tempLogDir } from '../helpers/tmp.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Turns of the event loop (real I/O completes between them) until `done()` or the bound. */
async function turnsUntil(done: () => boolean, bound = 20_000): Promise<void> {
  for (let i = 0; i < bound && !done(); i++) await new Promise<void>((r) => setImmediate(r));
}

describe('writer lock renewal', () => {
  it('keeps the lock through its first renewal: the owner file does not make the lease look taken', async () => {
    const dir = tempLogDir();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const log = await Log.open(dir, { flush: { strategy: 'none' } });
    const lost: unknown[] = [];
    log.on('error', (err) => lost.push(err));
    try {
      const lockDir = path.join(dir, 'LOCK');
      const before = fs.statSync(lockDir).mtimeMs;
      vi.advanceTimersByTime(LOCK_UPDATE_MS + 1);
      // The renewal either sets the (fake, advanced) time as the mtime, or reports the lease compromised.
      await turnsUntil(() => lost.length > 0 || fs.statSync(lockDir).mtimeMs !== before);
      expect(lost).toEqual([]);
      expect(fs.statSync(lockDir).mtimeMs, 'the renewal renewed the lease').toBeGreaterThan(before);
      vi.useRealTimers();
      expect(await log.append(Buffer.from('still the writer'))).toBe(0);
    } finally {
      vi.useRealTimers();
      await log.close().catch(() => undefined);
    }
  });
});
