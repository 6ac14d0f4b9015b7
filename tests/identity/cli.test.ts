import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import type { VerifyReport } from '../../src/recovery/verify.js';
import { aof, parseJson, requireBuilt } from '../cli/run.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { payloadFor } from '../integration/support.js';
import { lastSegment } from './support.js';

beforeAll(requireBuilt);

/** The operator's view, through the `aof` binary in its own process: verify names the loss, repair accepts it, verify is clean. */
describe('aof verify and aof repair on a log whose last segment was rolled back', () => {
  it('verify exits 1 naming AOF_DATA_LOST and the range; repair records the gap; the next writer continues after it', async () => {
    const dir = tempLogDir();
    let log = await Log.open(dir);
    for (let i = 0; i < 4; i++) await log.append(payloadFor(i));
    await log.close();
    const old = path.join(tempDir(), 'old.seg');
    fs.copyFileSync(lastSegment(dir), old);
    log = await Log.open(dir);
    for (let i = 4; i < 9; i++) await log.append(payloadFor(i));
    await log.close();
    fs.copyFileSync(old, lastSegment(dir));

    const text = await aof(['verify', dir]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`ERROR AOF_DATA_LOST ${lastSegment(dir)}`);
    expect(text.stdout).toContain('seq 4..8');
    const json = parseJson<VerifyReport>(await aof(['verify', dir, '--json']));
    expect(json.problems).toContainEqual(expect.objectContaining({ code: 'AOF_DATA_LOST', seqFrom: 4, seqTo: 9 }));

    const dry = await aof(['repair', dir, '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('4..8');
    const repaired = await aof(['repair', dir, '--yes']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect((await aof(['verify', dir])).code).toBe(0);
    log = await Log.open(dir);
    try {
      expect(await log.append('next')).toBe(9);
      expect((await log.get(4).catch((e: { code?: string }) => e)) as { code?: string }).toMatchObject({ code: 'AOF_GAP' });
    } finally {
      await log.close();
    }
  });
});
