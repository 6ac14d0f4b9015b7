import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/index.js';
import { distPath, runNode } from '../helpers/child.js';
import { IS_ROOT, mountSmallDisk, reportRootSkip, type SmallDisk } from '../helpers/tmpfs.js';

reportRootSkip('tests/stream/full-disk.test.ts (an EventStore on a small, then full, disk)');

/** How long the child may take before it counts as hung (it is killed then, and the test fails). */
const DEADLINE_MS = 60_000;

/**
 * The child: opens an EventStore (default options but small segments and a
 * small in-memory index bound), appends until the disk refuses, closes.
 * Default Node settings: an unhandled rejection kills it (exit code 1).
 */
const CHILD = `
const { EventStore } = await import(process.argv[1]);
const dir = process.argv[2];
const errno = (e) => { for (let c = e; c; c = c.cause) if (typeof c.code === 'string' && /^E[A-Z]+$/.test(c.code)) return c.code; return '-'; };
let es;
try {
  es = await EventStore.open(dir, { segment: { maxBytes: 64 * 1024 }, maxPendingIndexEntries: 1000 });
} catch (e) {
  console.log('open-reject', e.code ?? 'RAW', errno(e));
  process.exit(0);
}
console.log('open ok');
let consecutive = 0;
for (let i = 0; i < 100000 && consecutive < 50; i++) {
  const stream = 's' + (i % 7);
  try {
    const r = await es.appendToStream(stream, [{ type: 'T', data: { i, pad: 'w'.repeat(150) } }]);
    console.log('ack', stream, r.position, i);
    consecutive = 0;
  } catch (e) {
    consecutive++;
    console.log('reject', e.code ?? 'RAW', errno(e));
  }
}
try { await es.close(); console.log('close ok -'); } catch (e) { console.log('close', e.code ?? 'RAW', errno(e)); }
`;

interface StoreRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  open: string | undefined;
  acked: Array<{ stream: string; position: number; i: number }>;
  rejects: Array<{ code: string; errno: string }>;
  close: { code: string; errno: string } | undefined;
}

async function runStore(dir: string): Promise<StoreRun> {
  const { code, signal, stdout, stderr } = await runNode(['--input-type=module', '-e', CHILD, pathToFileURL(distPath('src/index.js')).href, dir], DEADLINE_MS);
  const run: StoreRun = { code, signal, stderr, open: undefined, acked: [], rejects: [], close: undefined };
  for (const line of stdout.split('\n')) {
    const [word, a = '', b = '', c = ''] = line.split(' ');
    if (word === 'open' || word === 'open-reject') run.open = line;
    else if (word === 'ack') run.acked.push({ stream: a, position: Number(b), i: Number(c) });
    else if (word === 'reject') run.rejects.push({ code: a, errno: b });
    else if (word === 'close') run.close = { code: a, errno: b };
  }
  return run;
}

describe.skipIf(!IS_ROOT)('an EventStore on a small disk that fills', () => {
  let disk: SmallDisk;
  beforeAll(() => {
    disk = mountSmallDisk(8 * 1024 * 1024);
  });
  afterAll(() => disk?.unmount());

  it('opens with 2.5 MiB free, every failing append rejects typed, close() returns, the process lives, every acknowledged event is read back', async () => {
    const dir = path.join(disk.dir, 'events');
    // Less room than the stream index used to reserve at open (4 MiB): that open failed, leaving the disk full.
    const filler = disk.fill(2.5 * 1024 * 1024);
    let run: StoreRun;
    try {
      run = await runStore(dir);
    } finally {
      fs.rmSync(filler);
    }
    const context = `${run.open}; ${run.acked.length} acked; ${run.stderr}`;
    // The process lives and nothing hangs: it ran to its end before the deadline and exited on its own.
    expect(run.signal, context).toBeNull();
    expect(run.code, context).toBe(0);
    expect(run.open, context).toBe('open ok');
    // The disk filled: appends failed, every failure typed, the first naming ENOSPC.
    expect(run.acked.length, context).toBeGreaterThan(0);
    expect(run.rejects.length, context).toBeGreaterThan(0);
    for (const r of run.rejects) expect(r.code, context).toMatch(/^AOF_[A-Z_]+$/);
    expect(run.rejects[0]!.errno, context).toBe('ENOSPC');
    // close() returned, or rejected typed.
    expect(run.close?.code, context).toMatch(/^(ok|AOF_[A-Z_]+)$/);
    // With the space back, every acknowledged event is there, by log position and by stream.
    const es = await EventStore.open(dir);
    try {
      const byPosition = new Map<number, { stream: string; i: number }>();
      for await (const e of es.readAll()) byPosition.set(e.position, { stream: e.stream, i: (e.data as { i: number }).i });
      for (const a of run.acked) expect(byPosition.get(a.position), context).toEqual({ stream: a.stream, i: a.i });
      const inStreams = new Set<number>();
      for (let k = 0; k < 7; k++) for await (const e of es.readStream(`s${k}`)) inStreams.add(e.position);
      for (const a of run.acked) expect(inStreams.has(a.position), context).toBe(true);
      await es.appendToStream('s0', [{ type: 'T', data: { i: -1 } }]);
    } finally {
      await es.close();
    }
  }, 120_000);
});
