import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { SegmentCatalog } from '../../src/catalog/catalog.js';
import { LEGAL_TRANSITIONS, SEGMENT_STATUSES, isLegalTransition, type SegmentStatus } from '../../src/catalog/status.js';
import type { CatalogEntry } from '../../src/catalog/entry.js';
import { tempDir } from '../helpers/tmp.js';

const LEGAL: Array<[SegmentStatus, SegmentStatus]> = [
  ['active', 'sealed'],
  ['sealed', 'archiving'],
  ['sealed', 'deleted'],
  ['archiving', 'archived'],
  ['archiving', 'sealed'],
  ['archived', 'evicted'],
  ['archived', 'deleted'],
  ['evicted', 'deleted'],
];

function entry(status: SegmentStatus, baseSeq = 0): CatalogEntry {
  return { baseSeq, nextSeq: baseSeq + 10, recordCount: 10, bytes: 1000, firstTimestamp: 1, lastTimestamp: 2, status, footerCrc: null, createdMs: 1, archive: null };
}

describe('segment status state machine', () => {
  it('names exactly the documented legal moves', () => {
    const table = SEGMENT_STATUSES.flatMap((from) => LEGAL_TRANSITIONS[from].map((to) => [from, to] as [SegmentStatus, SegmentStatus]));
    expect(new Set(table.map((t) => t.join('>')))).toEqual(new Set(LEGAL.map((t) => t.join('>'))));
  });

  it('the catalog performs every legal move and refuses every other one with AOF_INVARIANT, leaving the entry unchanged', async () => {
    const dir = tempDir();
    const catalog = (await SegmentCatalog.open(dir, false))!;
    try {
      let base = 0;
      for (const from of SEGMENT_STATUSES) {
        for (const to of SEGMENT_STATUSES) {
          base += 100;
          await catalog.replace(entry(from, base));
          if (isLegalTransition(from, to)) {
            const next = await catalog.transition(base, to, { archive: to === 'archived' ? { location: 'x', archivedMs: 5 } : null });
            expect(next.status).toBe(to);
            expect(catalog.get(base)?.status).toBe(to);
          } else {
            await expect(catalog.transition(base, to)).rejects.toMatchObject({ code: 'AOF_INVARIANT', message: expect.stringContaining(`from ${from} to ${to}`) });
            expect(catalog.get(base)?.status).toBe(from);
          }
        }
      }
      expect(catalog.all()).toHaveLength(36);
    } finally {
      await catalog.close();
    }
  });

  it('a read-only catalog refuses writes, and a missing one opens as undefined for readers', async () => {
    const dir = tempDir();
    expect(await SegmentCatalog.open(dir, true)).toBeUndefined();
    const writer = (await SegmentCatalog.open(dir, false))!;
    await writer.add(entry('active'));
    const reader = (await SegmentCatalog.open(dir, true))!;
    expect(reader.get(0)?.status).toBe('active');
    await expect(reader.replace(entry('sealed'))).rejects.toMatchObject({ code: 'AOF_INVARIANT' });
    await expect(writer.add(entry('active'))).rejects.toMatchObject({ code: 'AOF_INVARIANT' });
    await reader.close();
    await writer.close();
    expect(path.basename(SegmentCatalog.pathOf(dir))).toBe('index');
  });
});
