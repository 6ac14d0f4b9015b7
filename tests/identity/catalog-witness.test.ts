import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { tempLogDir } from '../helpers/tmp.js';
import { segments } from './support.js';

const opts = { segment: { maxRecords: 10 } };

async function makeLog(dir: string, tag: string, n: number): Promise<void> {
  const log = await Log.open(dir, opts);
  for (let i = 0; i < n; i++) await log.append(`${tag}-${i}`);
  await log.close();
}

/** Every segment of ours replaced by the same-named segments of another log, our identity file deleted; our catalog and watermark stay. */
async function foreignEverywhere(): Promise<{ dir: string }> {
  const dir = tempLogDir();
  const other = tempLogDir();
  await makeLog(dir, 'A', 30);
  await makeLog(other, 'F', 30);
  for (const f of segments(dir)) fs.rmSync(f);
  for (const f of segments(other)) fs.copyFileSync(f, path.join(dir, 'segments', path.basename(f)));
  fs.rmSync(path.join(dir, 'identity'));
  return { dir };
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('the catalog as a second witness of the log’s identity', () => {
  it('a writer records the identity in the catalog', async () => {
    const dir = tempLogDir();
    await makeLog(dir, 'A', 5);
    const catalog = (await SegmentCatalog.open(dir, true))!;
    try {
      expect(catalog.recordedLogId?.logId.length).toBe(12);
    } finally {
      await catalog.close();
    }
  });

  it('every segment replaced by another log’s and the identity file deleted: writer refuses, verify reports, nothing foreign is served', async () => {
    const { dir } = await foreignEverywhere();
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.filter((p) => p.code === 'AOF_FOREIGN_SEGMENT')).toHaveLength(3);
    expect((await rejection(Log.open(dir, opts))).code).toBe('AOF_FOREIGN_SEGMENT');
    // The failed open adopted nothing: no identity file was written from the foreign headers.
    expect(fs.existsSync(path.join(dir, 'identity'))).toBe(false);
    const dry = await Log.repair(dir, { dryRun: true });
    expect(dry.actions.filter((a) => a.kind === 'move')).toHaveLength(3);
  });

  it('a read-only open never returns the other log’s payloads', async () => {
    const { dir } = await foreignEverywhere();
    const err = await (async () => {
      const log = await Log.open(dir, { readOnly: true });
      try {
        for await (const r of log.read({ from: 0 })) expect(r.payload.toString()).not.toMatch(/^F-/);
      } finally {
        await log.close();
      }
    })().then(() => undefined, (e: unknown) => e as { code?: string });
    expect(err?.code).toBe('AOF_FOREIGN_SEGMENT');
  });

  it('a damaged catalog is no witness: the identity file deleted, our own segments still open', async () => {
    const dir = tempLogDir();
    await makeLog(dir, 'A', 30);
    fs.rmSync(path.join(dir, 'identity'));
    // The catalog overwritten with garbage pages past its meta pages: the probe calls it damaged.
    const data = path.join(dir, 'index', 'data.mdb');
    const fd = fs.openSync(data, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 2 * 4096);
    fs.closeSync(fd);
    fs.rmSync(path.join(dir, 'index', 'closed-checksum.json'), { force: true });
    const log = await Log.open(dir, opts);
    try {
      expect((await log.get(25))?.payload.toString()).toBe('A-25');
    } finally {
      await log.close();
    }
  });
});
