import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { distPath, runChild } from '../helpers/child.js';
import { IS_ROOT, mountSmallDisk, reportRootSkip, type SmallDisk } from '../helpers/tmpfs.js';

reportRootSkip('tests/catalog/full-disk.test.ts (ENOSPC at a seal and at the catalog commit)');

const RECORDS_PER_SEGMENT = 20;
const PAYLOAD_BYTES = 200;

interface WriterRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  acked: number[];
  rejects: Array<{ code: string; errno: string }>;
  close: { code: string; errno: string } | undefined;
  catalogErrors: number;
}

/** Runs dist/src/testing/full-disk-writer.js on `dir` to its end and parses what it printed. */
async function runWriter(dir: string): Promise<WriterRun> {
  const { code, signal, stdout, stderr } = await runChild('src/testing/full-disk-writer.js', [dir, String(RECORDS_PER_SEGMENT), String(PAYLOAD_BYTES)]);
  const run: WriterRun = { code, signal, stderr, acked: [], rejects: [], close: undefined, catalogErrors: -1 };
  for (const line of stdout.split('\n')) {
    const [word, a = '', b = ''] = line.split(' ');
    if (word === 'ack') run.acked.push(Number(a));
    else if (word === 'reject') run.rejects.push({ code: a, errno: b });
    else if (word === 'close') run.close = { code: a, errno: b };
    else if (word === 'catalog-errors') run.catalogErrors = Number(a);
  }
  return run;
}

/** Holds a read snapshot of the catalog of `dir` from another process until `release`. */
async function holdCatalogSnapshot(dir: string): Promise<{ release(): Promise<void> }> {
  const child = spawn(process.execPath, [distPath('src/testing/catalog-snapshot-holder.js'), dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => c.includes('pinned') && resolve());
    child.on('exit', (code) => reject(new Error(`snapshot holder exited with ${code}`)));
  });
  return {
    async release() {
      child.stdin.end();
      await exited;
    },
  };
}

/**
 * One run: a log with a catalog in a fresh directory on the small disk,
 * filled to `leaveBytes` free, then a child writer appends until the disk
 * refuses. Checks the promises of break 2, frees the space, reopens.
 */
async function fullDiskRun(disk: SmallDisk, leaveBytes: number, withSnapshotHolder: boolean): Promise<WriterRun> {
  const root = fs.mkdtempSync(path.join(disk.dir, 'run-'));
  const dir = path.join(root, 'log');
  try {
    // The catalog exists before the disk fills: its commits at the seals are what must fail.
    await (await Log.open(dir, { segment: { maxRecords: RECORDS_PER_SEGMENT } })).close();
    const holder = withSnapshotHolder ? await holdCatalogSnapshot(dir) : undefined;
    const filler = disk.fill(leaveBytes);
    let run: WriterRun;
    try {
      run = await runWriter(dir);
    } finally {
      await holder?.release();
      fs.rmSync(filler);
    }
    const context = `leaving ${leaveBytes} bytes${withSnapshotHolder ? ', a reader holding a snapshot' : ''}: ${run.stderr}`;
    // The process lives: it ran to its end and exited on its own.
    expect(run.signal, context).toBeNull();
    expect(run.code, context).toBe(0);
    expect(run.close, context).toBeDefined();
    // The disk filled: some append failed, and every failure was typed.
    expect(run.rejects.length, context).toBeGreaterThan(0);
    for (const r of run.rejects) expect(r.code, context).toMatch(/^AOF_(IO|LOG_FAILED)$/);
    expect(run.rejects[0]!.errno, context).toBe('ENOSPC');
    // close() returned, or rejected typed: never a raw error.
    expect(run.close!.code, context).toMatch(/^(ok|AOF_[A-Z_]+)$/);
    // No half-written close marker (nor anything else) at the end of the data. A roll that could not write the new
    // segment's header leaves that file unborn: a warning, moved to recovery/ by the next open, holding nothing.
    const verified = await Log.verify(dir);
    const unborn = (p: { code: string; offset: number; message: string }): boolean => p.code === 'AOF_TORN_TAIL' && p.offset === 0 && p.message.includes('no header');
    expect(verified.problems.filter((p) => !unborn(p)), context).toEqual([]);
    // Every acknowledged record is there after a reopen, as it was written.
    const log = await Log.open(dir, { segment: { maxRecords: RECORDS_PER_SEGMENT } });
    try {
      expect(log.nextSeq, context).toBeGreaterThanOrEqual((run.acked[run.acked.length - 1] ?? -1) + 1);
      for (const seq of run.acked) expect((await log.get(seq))?.payload, context).toEqual(childPayload(seq, PAYLOAD_BYTES));
      await log.append('after the space came back');
    } finally {
      await log.close();
    }
    return run;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Free space left before the writer starts: from a few pages to a few segments' worth, so the first refusal falls on every step of a seal. */
const LEAVE = [4096, 8192, 12288, 16384, 20480, 24576, 28672, 32768, 40960, 49152];

describe.skipIf(!IS_ROOT)('a full disk while sealing segments (break 2)', () => {
  let disk: SmallDisk;
  beforeAll(() => {
    disk = mountSmallDisk(1024 * 1024);
  });
  afterAll(() => disk?.unmount());

  it('every failing append rejects typed, close() returns, the process lives, every acknowledged record is read back', async () => {
    const runs: WriterRun[] = [];
    for (const leave of LEAVE) runs.push(await fullDiskRun(disk, leave, false));
    // The sweep reached the roll itself: a seal whose next segment could not be created.
    expect(runs.some((r) => r.rejects.some((x) => x.code === 'AOF_LOG_FAILED'))).toBe(true);
  }, 240_000);

  it('with a reader in another process holding an old catalog snapshot, the catalog grows at every seal until its write hits ENOSPC, and the log goes on', async () => {
    const runs: WriterRun[] = [];
    // More room too: the catalog keeps space allocated ahead of its commits, and refills it only once half is used.
    for (const leave of [...LEAVE, 131072, 262144]) runs.push(await fullDiskRun(disk, leave, true));
    // The sweep reached the LMDB commit: at least one run had catalog writes fail (and lived).
    expect(runs.some((r) => r.catalogErrors > 0)).toBe(true);
  }, 240_000);
});
