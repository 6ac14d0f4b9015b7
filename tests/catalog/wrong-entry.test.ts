import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { catalogDataFile } from '../../src/catalog/check.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { distPath } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/**
 * A catalog value that LMDB reads without complaint but that is wrong (a
 * flipped bit in a sealed segment's entry): the segment files, checksummed,
 * are the truth. Readers use the file's figures, verify reports the catalog,
 * repair rebuilds it and a writer corrects the entry.
 */
async function logWithWrongEntry(): Promise<{ dir: string; base: number; createdMs: number }> {
  const dir = tempLogDir();
  const log = await Log.open(dir, { segment: { maxRecords: 10 } });
  for (let i = 0; i < 35; i++) await log.append(`r${i}`);
  await log.close();
  const catalog = (await SegmentCatalog.open(dir, false))!;
  const entry = catalog.get(10)!;
  expect(entry.status).toBe('sealed');
  // One flipped bit in the creation time: every other figure, and the file, intact.
  await catalog.replace({ ...entry, createdMs: entry.createdMs ^ 0x10 });
  await catalog.markClosedCleanly();
  await catalog.close();
  return { dir, base: 10, createdMs: entry.createdMs };
}

async function readAll(log: Log): Promise<number[]> {
  const seqs: number[] = [];
  for await (const r of log.read({ from: 0 })) seqs.push(r.seq);
  return seqs;
}

describe('a catalog entry that disagrees with its intact segment file', () => {
  it('a reader uses the file’s figures and counts the catalog error', async () => {
    const { dir } = await logWithWrongEntry();
    const log = await Log.open(dir, { readOnly: true });
    try {
      expect(await readAll(log)).toEqual(Array.from({ length: 35 }, (_, i) => i));
      expect((await log.get(15))?.payload.toString()).toBe('r15');
      expect(log.catalogErrors.length).toBe(1);
      expect(log.catalogErrors[0]!.message).toMatch(/catalog entry of sealed segment 10 disagrees/);
    } finally {
      await log.close();
    }
  });

  it('a writer corrects the entry from the file', async () => {
    const { dir, base, createdMs } = await logWithWrongEntry();
    const log = await Log.open(dir);
    expect(await readAll(log)).toHaveLength(35);
    await log.close();
    const catalog = (await SegmentCatalog.open(dir, true))!;
    try {
      expect(catalog.get(base)!.createdMs).toBe(createdMs);
    } finally {
      await catalog.close();
    }
    expect((await Log.verify(dir)).ok).toBe(true);
  });

  it('verify reports it against index/data.mdb, and repair rebuilds the catalog', async () => {
    const { dir, base, createdMs } = await logWithWrongEntry();
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', severity: 'error', file: catalogDataFile(dir) })]);
    expect(report.problems[0]!.message).toMatch(/segment 10: creation time/);
    const repaired = await Log.repair(dir);
    expect(repaired.actions.map((a) => a.kind)).toContain('rebuild-catalog');
    expect(repaired.after?.ok).toBe(true);
    const catalog = (await SegmentCatalog.open(dir, true))!;
    try {
      expect(catalog.get(base)!.createdMs).toBe(createdMs);
    } finally {
      await catalog.close();
    }
  });
});

describe('a catalog record filed under another segment’s key', () => {
  it('verify calls the catalog damaged, as stat does, and repair rebuilds it', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 10 } });
    for (let i = 0; i < 25; i++) await log.append(`r${i}`);
    await log.close();
    const catalog = (await SegmentCatalog.open(dir, false))!;
    const entry = catalog.get(10)!;
    const db = (catalog as unknown as { db: { put(k: number, v: unknown): Promise<boolean> } }).db;
    await db.put(10, { ...entry, baseSeq: 11 });
    await catalog.markClosedCleanly();
    await catalog.close();
    const report = await Log.verify(dir);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', severity: 'error', file: catalogDataFile(dir) })]);
    // Repair in its own process, as `aof repair` runs: this one has had the environment open.
    const { stdout } = await run(process.execPath, [distPath('src/cli/main.js'), 'repair', dir, '--yes']);
    expect(stdout).toMatch(/rebuild the catalog/);
    const after = await run(process.execPath, [distPath('src/cli/main.js'), 'verify', dir]);
    expect(after.stdout).toMatch(/^OK$/m);
  });
});
