import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { tempLogDir } from '../helpers/tmp.js';
import { payloadFor } from '../integration/support.js';

/**
 * An old copy of the whole directory restored over the log, all but its
 * watermark: the catalog and identity file went back with the segments, and
 * only the watermark still says how far the log had acknowledged. A writer
 * that synced before acknowledging vouched for it (WATERMARK_DURABLE), so
 * readers and verify take it as a witness under the writer's rule.
 */
async function rolledBackAllButWatermark(strategy: 'always' | 'none'): Promise<string> {
  const dir = tempLogDir();
  const opts = { segment: { maxBytes: 16 * 1024 }, flush: { strategy } } as const;
  let log = await Log.open(dir, opts);
  for (let i = 0; i < 300; i++) await log.append(payloadFor(i));
  await log.close();
  const snap = `${dir}.snap`;
  fs.cpSync(dir, snap, { recursive: true });
  log = await Log.open(dir, opts);
  for (let i = 300; i < 360; i++) await log.append(payloadFor(i));
  await log.close();
  const watermark = fs.readFileSync(path.join(dir, 'watermark'));
  fs.rmSync(dir, { recursive: true });
  fs.renameSync(snap, dir);
  fs.writeFileSync(path.join(dir, 'watermark'), watermark);
  return dir;
}

describe('the published watermark as a witness for readers and verify', () => {
  it('a read-only open and verify report AOF_DATA_LOST 300..359, as the writer does', async () => {
    const dir = await rolledBackAllButWatermark('always');
    await expect(Log.open(dir)).rejects.toMatchObject({ code: 'AOF_DATA_LOST' });
    await expect(Log.open(dir, { readOnly: true })).rejects.toMatchObject({ code: 'AOF_DATA_LOST', message: expect.stringContaining('300..359') });
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_DATA_LOST', seqFrom: 300, seqTo: 360, severity: 'error' })]);
  });

  it('a watermark its writer did not vouch for (flush none) is no witness, for readers as for the writer', async () => {
    const dir = await rolledBackAllButWatermark('none');
    const reader = await Log.open(dir, { readOnly: true });
    expect(reader.nextSeq).toBe(300);
    await reader.close();
    expect((await Log.verify(dir)).ok).toBe(true);
  });
});
