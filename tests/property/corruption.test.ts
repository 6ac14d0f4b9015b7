import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { applyDamage, checkDamagedLog, damageArb, mapLogLayout, type Damage } from '../../src/testing/index.js';
import { buildBaseLog, copyLog, KNOWN_ENGINE_ISSUES, propertyRuns, propertySeed, propertyTimeoutMs, type BaseLog } from './support.js';

/**
 * The corruption fuzzer: seeded damage anywhere in real, cleanly closed,
 * multi-segment logs (headers, frames, close markers, footers, sparse
 * indexes, trailers, the catalog). Every damage must be reported by
 * Log.verify, never come back as data from read/get, and never cost a
 * record before it after Log.repair; hostile length and count fields never
 * make the engine read (allocate) past its bounds, throw untyped errors or hang.
 */

const RUNS = propertyRuns(40, 3);
let root: string;
const bases: BaseLog[] = [];

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'aof-fuzz-'));
  bases.push(await buildBaseLog(path.join(root, 'base-0'), 1, 120));
  bases.push(await buildBaseLog(path.join(root, 'base-1'), 2, 60, { segment: { maxBytes: 4096, indexIntervalBytes: 4096 } }));
  bases.push(await buildBaseLog(path.join(root, 'base-2'), 3, 200, { segment: { maxBytes: 300, indexIntervalBytes: 32 } }));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/**
 * Crafted record lengths under a valid checksum are a known gap of Log.verify
 * (bug 7 in engine-bugs.test.ts). Catalog damage is limited to byte flips:
 * zeroed or cut pages at the end of data.mdb abort the process (bug 4).
 */
function notKnownGap(d: Damage): boolean {
  return !(d.kind === 'hostile' && d.field === 'recordLength' && d.fixChecksum);
}

let caseNo = 0;

async function damageAndCheck(variant: number, damage: Damage, repairMode: 'truncate' | 'skip'): Promise<void> {
  const base = bases[variant % bases.length]!;
  const dir = path.join(root, `case-${caseNo++}`);
  copyLog(base.dir, dir);
  try {
    const applied = applyDamage(mapLogLayout(dir), damage);
    if (!applied.changed) return;
    const report = await checkDamagedLog(dir, base.expected, applied, { repairMode, knownIssues: KNOWN_ENGINE_ISSUES });
    if (report.problems.length > 0) throw new Error(`${applied.description} (repair mode ${repairMode}):\n- ${report.problems.join('\n- ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('corruption fuzzer', () => {
  it(
    `detects every damage, never returns it as data, and repair keeps what came before it (${RUNS} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: 2 }), damageArb({ catalogHow: ['flip'] }).filter(notKnownGap), fc.constantFrom<'truncate' | 'skip'>('truncate', 'skip'), damageAndCheck),
        { numRuns: RUNS, seed: propertySeed(20261123) },
      );
    },
    propertyTimeoutMs(RUNS, 150),
  );

  it(
    `hostile length and count fields never read past the bounds, throw untyped errors or hang (${Math.ceil(RUNS / 2)} cases)`,
    async () => {
      const hostile = damageArb({ weights: { flip: 0, zero: 0, truncate: 0, garbage: 0, catalog: 0, hostile: 1 } }).filter(notKnownGap);
      await fc.assert(fc.asyncProperty(fc.nat({ max: 2 }), hostile, fc.constant<'truncate'>('truncate'), damageAndCheck), { numRuns: Math.ceil(RUNS / 2), seed: propertySeed(7) });
    },
    propertyTimeoutMs(RUNS, 150),
  );
});
