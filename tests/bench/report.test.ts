/**
 * The report's arithmetic: a ratio's run-to-run spread (paired when the runs
 * took turns) and the targets that must hold in every run. Synthetic figures:
 * no timing.
 */
import { describe, expect, it } from 'vitest';
import { WORKLOADS, type Figure } from '../../bench/cases.js';
import { fmtRatioSpread, spreadOf, verdicts, type Results } from '../../bench/report.js';
import { paramsFor } from '../../bench/params.js';

const workload = (id: string) => WORKLOADS.find((w) => w.id === id)!;
const fig = (w: string, contender: string, runs: number[], extra?: Figure['extra']): Figure => ({ workload: w, contender, value: [...runs].sort((a, b) => a - b)[runs.length >> 1]!, runs, extra });

describe('spreadOf', () => {
  it('pairs run i with run i when both have the same runs', () => {
    const s = spreadOf(workload('user-append'), fig('user-append', 'aof', [2, 4, 3]), fig('user-append', 'lmdb-async', [1, 2, 1]));
    expect(s).toEqual({ lo: 2, hi: 3, paired: true, n: 3 });
    expect(fmtRatioSpread(2, s)).toBe('2.00× (2.00–3.00× over 3 paired runs)');
  });

  it('takes the widest spread the runs allow when they cannot be paired', () => {
    const s = spreadOf(workload('user-append'), fig('user-append', 'aof', [2, 4]), fig('user-append', 'lmdb-async', [1, 2, 4]));
    expect(s).toEqual({ lo: 0.5, hi: 4, paired: false, n: 2 });
  });

  it('turns times into speed ratios where lower is better', () => {
    const s = spreadOf(workload('es-open'), fig('es-open', 'aof', [200, 400]), fig('es-open', 'sqlite', [100, 100]));
    expect(s).toMatchObject({ lo: 0.25, hi: 0.5, paired: true });
  });

  it('has no spread for a single run on each side', () => {
    expect(spreadOf(workload('user-append'), fig('user-append', 'aof', [2]), fig('user-append', 'lmdb-async', [1]))).toBeUndefined();
  });
});

describe('the targets of issues 21 and 19', () => {
  const results = (figures: Figure[]): Results => ({
    date: '2026-12-07T00:00:00Z',
    params: paramsFor('default'),
    machine: { cores: 2 } as Results['machine'],
    produces: [],
    figures,
    durationMs: 0,
    load: { start: 0, end: 0, max: 0 },
  });
  const snapshot = (runs: number[]) => verdicts(results([fig('snapshot-tick', 'save', runs, { stateMiB: 256 })])).find((v) => v.target.includes('snapshot save'))!;

  it('holds the snapshot tick to its bound in every run, not in the median', () => {
    expect(snapshot([8, 10, 9]).met).toBe(false);
    expect(snapshot([8, 9.1, 9]).met).toBe(true);
  });

  it('says when 5× lmdb is beyond the JS floor of a for await loop, with the numbers', () => {
    const v = verdicts(results([fig('user-read', 'aof', [1.5e6]), fig('user-read', 'lmdb', [0.5e6]), fig('user-read', 'js-floor', [2e6]), fig('user-read', 'js-floor-prebuilt', [6e6])])).find((x) => x.target.includes('within the JS floor'))!;
    expect(v.group).toBe('users');
    expect(v.measured).toContain('**beyond the floor**: 5× lmdb = 2,500,000 records/s');
    expect(v.measured).toContain('the floor (an await and a view per record) = 2,000,000 records/s (500 ns per record)');
  });

  it('judges each ratio on its median and reports its spread', () => {
    const v = verdicts(results([fig('es-load', 'aof', [30, 50, 40]), fig('es-load', 'sqlite', [20, 20, 20])])).find((x) => x.target.startsWith('whole-stream loads'))!;
    expect(v.met).toBe(true);
    expect(v.measured).toMatch(/^2\.00× \(1\.50–2\.50× over 3 paired runs\)/);
  });
});
