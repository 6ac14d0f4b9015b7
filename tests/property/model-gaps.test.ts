/**
 * The model's gaps (issue 18): a truncating repair that cuts the log at
 * `cut` while it had acknowledged up to `end` leaves `[cut, end)` as a gap,
 * and the log resumes at `end`. Pure model checks; the commands' checks
 * against a real repaired log are in hostile.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { LogModel, ModelViolation } from '../../src/testing/model.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** A model holding `n` acknowledged single-record appends. */
function modelOf(n: number): LogModel {
  const m = new LogModel({ flush: { strategy: 'none' } });
  for (let i = 0; i < n; i++) m.acknowledge([bytes(`r${i}`)]);
  return m;
}

describe('LogModel.acceptLoss', () => {
  it('keeps the numbers after the cut as a gap: nextSeq stays, reads stop at the gap, the next append follows it', () => {
    const m = modelOf(10);
    m.inDoubtAppend([bytes('doubt')]);
    m.enterFailedState();
    m.acceptLoss(4, 10);
    expect(m.nextSeq).toBe(10);
    expect(m.durableSeq).toBe(10);
    expect(m.failed).toBe(false);
    expect(m.inDoubtRecords).toBe(0);
    expect(m.gaps).toEqual([{ from: 4, to: 10 }]);
    expect(m.recordCount).toBe(4);
    expect(m.get(4)).toBeUndefined();
    expect(m.gapAt(4)).toEqual({ from: 4, to: 10 });
    expect(m.gapAt(9)).toEqual({ from: 4, to: 10 });
    expect(m.gapAt(3)).toBeUndefined();
    expect(m.gapAt(10)).toBeUndefined();
    const full = m.expectedRead();
    expect(full.records.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(full.gap).toEqual({ from: 4, to: 10 });
    expect(m.expectedRead(0, 4)).toEqual({ records: m.read(0, 4), gap: undefined });
    expect(m.expectedRead(6, 8)).toEqual({ records: [], gap: { from: 4, to: 10 } });
    expect(m.expectedRead(6, 6).gap).toBeUndefined();
    expect(m.acknowledge([bytes('next')])).toBe(10);
    expect(m.expectedRead(10)).toEqual({ records: [m.get(10)], gap: undefined });
    expect(m.read().map((r) => r.seq)).toEqual([0, 1, 2, 3, 10]);
  });

  it('a cut at the end loses nothing and leaves no gap', () => {
    const m = modelOf(3);
    m.acceptLoss(3, 3);
    expect(m.gaps).toEqual([]);
    expect(m.expectedRead()).toEqual({ records: m.read(), gap: undefined });
  });

  it('a later cut before an earlier gap swallows it; one after it keeps it', () => {
    const m = modelOf(6);
    m.acceptLoss(4, 6);
    for (let i = 0; i < 4; i++) m.acknowledge([bytes(`s${i}`)]);
    m.acceptLoss(8, 10);
    expect(m.gaps).toEqual([{ from: 4, to: 6 }, { from: 8, to: 10 }]);
    expect(m.expectedRead(6)).toEqual({ records: [m.get(6)!, m.get(7)!], gap: { from: 8, to: 10 } });
    m.acceptLoss(2, 10);
    expect(m.gaps).toEqual([{ from: 2, to: 10 }]);
    expect(m.recordCount).toBe(2);
  });

  it('refuses a resumption below what was acknowledged, a cut outside the log or inside a gap', () => {
    const m = modelOf(6);
    expect(() => m.acceptLoss(2, 5)).toThrow(ModelViolation);
    expect(() => m.acceptLoss(7, 8)).toThrow(ModelViolation);
    m.acceptLoss(2, 6);
    expect(() => m.acceptLoss(3, 6)).toThrow(/inside the gap/);
  });

  it('a restart keeps the gap: it lies below the durable end', () => {
    const m = modelOf(5);
    m.acceptLoss(1, 5);
    m.acknowledge([bytes('lost to power')]);
    expect(m.survivalBounds('power-loss').min).toBe(5);
    m.restarted('power-loss', 5);
    expect(m.gaps).toEqual([{ from: 1, to: 5 }]);
    expect(m.candidate(3)).toBeUndefined();
  });
});
