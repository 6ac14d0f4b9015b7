/**
 * The repair intent record (docs/FORMAT.md, "Repair"): round trip, and what
 * a damaged or forged record gives (a typed error naming the file and
 * offset, never a plan that reaches outside the log directory).
 */
import { describe, expect, it } from 'vitest';
import { decodeRepairPlan, encodeRepairPlan, type RepairPlan } from '../../src/recovery/repair-intent.js';

const FILE = '/log/repair-intent';
const PLAN: RepairPlan = {
  mode: 'skip',
  actions: [
    { kind: 'cut', base: 20, offset: 131, size: 352, reason: 'bad checksum', keep: '00000000000000000020.seg.at-131.cut.1700000000000-a1b2c3' },
    { kind: 'move', base: 30, to: '00000000000000000030.seg.at-0.moved.1700000000000-a1b2c3' },
    { kind: 'rewrite', base: 6, size: 400, reason: 'damaged footer', keep: '00000000000000000006.seg.at-0.before-repair.1700000000000-a1b2c3', pieces: [{ kind: 'frames', from: 64, to: 272 }, { kind: 'gap', fromSeq: 14, toSeq: 16 }], seal: true, salt: '5a17f10e00c0de01', createdMs: 1704067200000 },
    { kind: 'fill', base: 40, toSeq: 50, salt: '0011223344556677', createdMs: 1704067200000 },
  ],
  lostRanges: [{ from: 14, to: 16 }, { from: 40, to: null }],
};

function reencoded(change: (p: RepairPlan) => unknown): Buffer {
  return encodeRepairPlan(change(structuredClone(PLAN)) as RepairPlan);
}

describe('repair intent record', () => {
  it('round-trips a plan', () => {
    expect(decodeRepairPlan(encodeRepairPlan(PLAN), FILE)).toEqual(PLAN);
  });

  it('a flipped byte anywhere is AOF_CORRUPT naming the file', () => {
    const bytes = encodeRepairPlan(PLAN);
    for (let i = 0; i < bytes.length; i += 7) {
      const damaged = Buffer.from(bytes);
      damaged[i] ^= 0x01;
      const err = (() => {
        try {
          decodeRepairPlan(damaged, FILE);
          return undefined;
        } catch (e) {
          return e as { code?: string; file?: string };
        }
      })();
      expect(err?.code, `byte ${i}`).toMatch(/^AOF_(CORRUPT|UNSUPPORTED_FORMAT)$/);
      expect(err?.file).toBe(FILE);
    }
  });

  it('a well-checksummed plan naming anything but repair’s own recovery names, or bad numbers, is refused', () => {
    const forged: Array<(p: RepairPlan) => unknown> = [
      (p) => ((p.actions[1] as { to: string }).to = '../../etc/passwd', p),
      (p) => ((p.actions[0] as { keep: string }).keep = 'x/../../y', p),
      (p) => ((p.actions[0] as { base: number }).base = -1, p),
      (p) => ((p.actions[0] as { offset: number }).offset = 400, p),
      (p) => ((p.actions[2] as { salt: string }).salt = 'zz', p),
      (p) => ((p.actions[3] as { toSeq: number }).toSeq = 40, p),
      (p) => ({ ...p, mode: 'other' }),
      (p) => ({ ...p, actions: [{ kind: 'delete', base: 0 }] }),
    ];
    for (const change of forged) expect(() => decodeRepairPlan(reencoded(change), FILE)).toThrow(expect.objectContaining({ code: 'AOF_CORRUPT', file: FILE }));
  });
});
