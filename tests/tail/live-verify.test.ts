import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import type { FileHandle, FileSystem } from '../../src/fs/types.js';
import { startChildWriter, type ChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

/**
 * Verify and a dry-run repair take no lock and run beside a live writer: they
 * may report at most a torn tail, never loss or damage. The writer child is
 * stopped (SIGSTOP) while the tool reads, and let run on (SIGCONT until it
 * acknowledged `more` records) at the one moment a race would hurt: no sleeps.
 */
const writers: ChildWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) {
    w.child.kill('SIGCONT');
    await w.kill();
  }
});

async function pausedWriter(dir: string): Promise<ChildWriter & { advance(more: number): Promise<void> }> {
  const w = startChildWriter(dir, 'always', 8, 64);
  writers.push(w);
  await w.ready;
  await w.waitForAcks(1500);
  w.child.kill('SIGSTOP');
  return Object.assign(w, {
    async advance(more: number) {
      const target = w.acked.length + more;
      w.child.kill('SIGCONT');
      await w.waitForAcks(target);
      w.child.kill('SIGSTOP');
    },
  });
}

/** nodeFs with `hook` run after each listing of `segments/` (`names`: what it listed) and on closing a handle opened on `file`. */
function hookedFs(hooks: { afterList?: (names: string[]) => Promise<void>; onClose?: (file: string) => Promise<void> }): FileSystem {
  return new Proxy(nodeFs, {
    get(target, key) {
      const v = Reflect.get(target, key) as unknown;
      if (key === 'readdir') {
        return async (p: string) => {
          const names = await target.readdir(p);
          if (path.basename(p) === 'segments') await hooks.afterList?.(names);
          return names;
        };
      }
      if (key === 'open') {
        return async (p: string, how: Parameters<FileSystem['open']>[1], mode?: number) => {
          const h = await target.open(p, how, mode);
          return new Proxy(h, {
            get(t, k) {
              if (k === 'close') {
                return async () => {
                  await t.close();
                  await hooks.onClose?.(p);
                };
              }
              const f = Reflect.get(t, k) as unknown;
              return typeof f === 'function' ? (f as (...a: unknown[]) => unknown).bind(t) : f;
            },
          }) as FileHandle;
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as FileSystem;
}

describe('verify and dry-run repair beside a live writer', () => {
  it('verify: the writer rolls segments after the listing; no AOF_DATA_LOST from a catalog read after the scan', async () => {
    const dir = tempLogDir();
    const w = await pausedWriter(dir);
    let once = false;
    const fs = hookedFs({
      afterList: async () => {
        if (once) return;
        once = true;
        await w.advance(3000); // several rolls: the catalog now records segments the listing did not see
      },
    });
    const report = await Log.verify(dir, { fs });
    expect(once).toBe(true);
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('dry-run repair: zeros the writer preallocated are not cut although its watermark moves on during the scan', async () => {
    const dir = tempLogDir();
    const w = await pausedWriter(dir);
    let last: string | undefined;
    let closes = 0;
    const fs = hookedFs({
      afterList: async (names) => {
        const segs = names.filter((n) => n.endsWith('.seg')).sort();
        last ??= path.join(dir, 'segments', segs[segs.length - 1]!);
      },
      onClose: async (file) => {
        if (file !== last) return;
        closes++;
        await w.advance(100); // after each read of the last segment: its zeros were scanned, the watermark moves past them
      },
    });
    const report = await Log.repair(dir, { dryRun: true, fs });
    expect(closes).toBeGreaterThan(0);
    expect(report.actions).toEqual([]);
    expect(report.lostRanges).toEqual([]);
  });
});
