import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { LEGACY_LOCK_STALE_MS } from '../../src/lock/writer-lock.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

describe('single writer per directory across processes', () => {
  it('rejects a second writer while a live process holds the lock, then takes over at once after SIGKILL', async () => {
    const dir = tempLogDir();
    const writer = startChildWriter(dir);
    await writer.ready;
    await writer.waitForAcks(200);

    // A live holder is never broken.
    const err = await Log.open(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AOF_LOCKED', holderPid: writer.child.pid });
    expect((err as Error).message).toContain(path.join(dir, 'LOCK'));

    // Readers never take the lock.
    const reader = await Log.open(dir, { readOnly: true });
    await reader.close();

    await writer.kill();
    // The kernel dropped the holder's lock with its process: the next open takes the lease over without waiting for staleness.
    const log = await Log.open(dir);
    try {
      for (const seq of writer.acked) {
        const rec = await log.get(seq);
        expect(rec?.payload.equals(childPayload(seq, 64))).toBe(true);
      }
      const next = await log.append('after takeover');
      expect(next).toBeGreaterThanOrEqual(writer.acked.length);
    } finally {
      await log.close();
    }
  });

  it('a lease without the kernel lock behind it is never taken over by pid, alive or dead: only by age, or by hand', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir);
    await log.close();
    const host = (await import('node:os')).hostname();
    // Forge a lease as an older version writes it (no kernel lock recorded), naming a live process: this test process.
    fs.mkdirSync(path.join(dir, 'LOCK'));
    fs.writeFileSync(path.join(dir, 'LOCK', 'owner.json'), JSON.stringify({ pid: process.pid, host }));
    await expect(Log.open(dir)).rejects.toMatchObject({ code: 'AOF_LOCKED', holderPid: process.pid });
    // A dead pid proves nothing (in another PID namespace every pid looks dead): still locked, and the message says how to clear it.
    fs.writeFileSync(path.join(dir, 'LOCK', 'owner.json'), JSON.stringify({ pid: 2 ** 22 + 12345, host }));
    const err = await Log.open(dir).catch((e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: 'AOF_LOCKED', holderPid: 2 ** 22 + 12345 });
    expect(err.message).toContain(`remove ${path.join(dir, 'LOCK')} if no writer is running`);
    // Not renewed for longer than an older version's staleness bound: taken over.
    const old = new Date(Date.now() - LEGACY_LOCK_STALE_MS - 60_000);
    fs.utimesSync(path.join(dir, 'LOCK'), old, old);
    const again = await Log.open(dir);
    await again.close();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  it('releases the lock on close so the next writer opens at once', async () => {
    const dir = tempLogDir();
    const a = await Log.open(dir);
    await a.append('one');
    await a.close();
    const b = await Log.open(dir);
    expect(await b.get(0)).toMatchObject({ seq: 0 });
    await b.close();
  });
});
