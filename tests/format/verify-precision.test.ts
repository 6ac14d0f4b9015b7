/**
 * `Log.verify` should report each damage once, where it is, and nothing that
 * is not there (docs/FORMAT.md, "Recovery at open": "reports each problem
 * with file, offset and the sequence numbers it hides").
 *
 * These fail against src/recovery at the time of writing: with a damaged
 * header the footer is never read, so verify also claims the segment "has no
 * footer" and calls the footer bytes a "damaged frame" hiding the empty range
 * [16, 16); with a damaged footer the footer bytes are reported a second time
 * as a damaged frame; and the frames of a segment of an unknown format
 * version are parsed as v1 and reported as corrupt. See the report that came
 * with these tests for the proposed fix.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { copyFixture, seg } from './fixture-helpers.js';

const brief = (p: { code: string; file: string; offset: number }): { code: string; file: string; offset: number } => ({ code: p.code, file: path.basename(p.file), offset: p.offset });

describe('Log.verify reports each damage exactly once', () => {
  it('damaged-header: one problem, the header at offset 0', async () => {
    const dir = copyFixture('damaged-header');
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.map(brief)).toEqual([{ code: 'AOF_CORRUPT', file: path.basename(seg(6)), offset: 0 }]);
  });

  it('damaged-footer: one problem, the footer at its offset', async () => {
    const dir = copyFixture('damaged-footer');
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.map(brief)).toEqual([{ code: 'AOF_CORRUPT', file: path.basename(seg(6)), offset: 272 }]);
  });

  it('unsupported-version: one AOF_UNSUPPORTED_FORMAT per segment, nothing read as v1 frames', async () => {
    const dir = copyFixture('unsupported-version');
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.map(brief)).toEqual([0, 6, 16, 20].map((b) => ({ code: 'AOF_UNSUPPORTED_FORMAT', file: path.basename(seg(b)), offset: 8 })));
  });
});
