/**
 * A single bit flipped in a segment header's salt. Frame checksums are seeded
 * with the salt (docs/FORMAT.md, "Salt"), so a repair that took the salt from
 * the damaged header would find every intact frame of the segment "damaged":
 * truncate mode would cut the whole segment and move every later one to
 * recovery/ (and, for the active segment, drop acknowledged records as a
 * "torn tail" without reporting a lost range), skip mode would replace them
 * with a gap. The header therefore stores the salt twice (offsets 32 and 40)
 * and the footer once more, and repair picks the copy the first frame
 * verifies with. Expected: like any other header damage (the damaged-header
 * fixture), repair rewrites the header and loses nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { copyFixture, expectGoldenRecords, RECORD_COUNT, readAll, rejection, seg } from './fixture-helpers.js';

function flipSaltBit(dir: string, rel: string, offset = 33): void {
  const file = path.join(dir, rel);
  const b = fs.readFileSync(file);
  b[offset]! ^= 0x01;
  fs.writeFileSync(file, b);
}

async function expectAllRecords(dir: string): Promise<void> {
  const log = await Log.open(dir);
  try {
    const { records, error } = await readAll(log);
    expect(error).toBeUndefined();
    expectGoldenRecords(records, 0, RECORD_COUNT);
  } finally {
    await log.close();
  }
}

describe('a flipped salt bit in a segment header', () => {
  it('is reported by open as header damage (AOF_CORRUPT at offset 0)', async () => {
    const dir = copyFixture('valid');
    flipSaltBit(dir, seg(6));
    expect(await rejection(Log.open(dir))).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, seg(6)), offset: 0 });
  });

  for (const mode of ['truncate', 'skip'] as const) {
    for (const [where, base] of [['a sealed segment', 6], ['the active segment', 20]] as const) {
      for (const offset of [33, 41]) {
        it(`in ${where}, byte ${offset} (salt copy ${offset < 40 ? 1 : 2}): Log.repair (${mode}) rewrites the header and loses no record`, async () => {
          const dir = copyFixture('valid');
          flipSaltBit(dir, seg(base), offset);
          const report = await Log.repair(dir, { mode });
          expect(report.lostRanges).toEqual([]);
          expect(report.actions.map((a) => a.kind)).toEqual(['rewrite']);
          expect(report.after?.ok).toBe(true);
          await expectAllRecords(dir);
        });
      }
    }
  }
});
