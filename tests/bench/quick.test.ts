/**
 * The benchmark must not rot: `npm run bench -- --quick` runs every workload
 * for aof, the floor and every peer. This runs it into a temporary output (so
 * docs/PERFORMANCE.md is never touched) and checks that a figure came out for
 * each. No timing thresholds: the figures of a smoke run mean nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');

interface Figure {
  workload: string;
  contender: string;
  value: number | null;
  runs: Array<number | null>;
  note?: string;
  notApplicable?: boolean;
}
interface Produces {
  workload: string;
  contender: string;
  kind: 'aof' | 'floor' | 'peer';
}
interface Output {
  params: { mode: string };
  produces: Produces[];
  figures: Figure[];
  verdicts: Array<{ target: string; measured: string; met: boolean | null }>;
}

const THROUGHPUT = ['append', 'append-durable', 'batch', 'seq-read', 'get', 'durable-1', 'durable-64'];
const PEERS = ['lmdb', 'sqlite', 'level', 'hypercore'];
/** Issues 21 and 19: the shapes users write, each with aof and the peer it is compared with. */
const USER_SHAPES: Array<[workload: string, aof: string, peer: string]> = [
  ['user-append', 'aof', 'lmdb-async'],
  ['user-read', 'aof', 'lmdb'],
  ['user-get-append', 'aof', 'lmdb'],
  ['user-get-batch', 'aof', 'lmdb'],
  ['es-append', 'aof', 'sqlite'],
  ['es-load', 'aof', 'sqlite'],
  ['es-aggregate', 'aof-emmett', 'sqlite'],
  ['es-open', 'aof', 'sqlite'],
  ['es-open-inside', 'aof', 'sqlite'],
];

describe('npm run bench -- --quick', () => {
  let tmp: string;
  let status: number | null;
  let stderr: string;
  let out: Output;
  let markdown: string;
  let svg: string;
  const performancePath = path.join(repo, 'docs', 'PERFORMANCE.md');
  const before = fs.existsSync(performancePath) ? fs.readFileSync(performancePath, 'utf8') : undefined;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aof-bench-test-'));
    if (!fs.existsSync(path.join(repo, 'dist', 'src', 'index.d.ts'))) {
      const root = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'tsconfig.json')], { cwd: repo, encoding: 'utf8' });
      expect(root.status, root.stdout + root.stderr).toBe(0);
    }
    const build = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'bench', 'tsconfig.json')], { cwd: repo, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const run = spawnSync(
      process.execPath,
      [path.join(repo, 'dist', 'bench', 'main.js'), '--quick', '--out', path.join(tmp, 'PERF.md'), '--json', path.join(tmp, 'perf.json'), '--dir', path.join(tmp, 'work')],
      { cwd: repo, encoding: 'utf8', timeout: 170_000 },
    );
    status = run.status;
    stderr = run.stderr;
    out = JSON.parse(fs.readFileSync(path.join(tmp, 'perf.json'), 'utf8')) as Output;
    markdown = fs.readFileSync(path.join(tmp, 'PERF.md'), 'utf8');
    svg = fs.readFileSync(path.join(tmp, 'perf.svg'), 'utf8');
  }, 240_000);

  afterAll(() => {
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('finishes without a failed case and shows its progress on stderr', () => {
    expect(status, stderr).toBe(0);
    expect(out.params.mode).toBe('quick');
    expect(stderr).toMatch(/\[\s*1\/\d+\] append\/aof/);
  });

  it('produces a figure for every workload, the floor and every peer', () => {
    const missing = out.produces.filter((p) => {
      const f = out.figures.find((g) => g.workload === p.workload && g.contender === p.contender);
      if (f === undefined) return true;
      if (f.notApplicable === true) return false;
      if (p.workload === 'tail' && f.value === null) return !/not available/.test(f.note ?? ''); // the tail API may not exist yet
      // RSS growth from the first half of the run to the second: it may shrink (negative) and still be a figure.
      if (p.workload === 'rss') return typeof f.value !== 'number' || !Number.isFinite(f.value);
      return typeof f.value !== 'number' || !(f.value >= 0) || (THROUGHPUT.includes(p.workload) && f.value === 0);
    });
    expect(missing.map((p) => `${p.workload}/${p.contender}: ${JSON.stringify(out.figures.find((g) => g.workload === p.workload && g.contender === p.contender))}`)).toEqual([]);
    for (const w of [...THROUGHPUT, 'open', 'tail', 'rss', 'crc']) expect(out.produces.some((p) => p.workload === w), w).toBe(true);
    for (const w of THROUGHPUT) {
      expect(out.produces.some((p) => p.workload === w && p.kind === 'aof'), `aof in ${w}`).toBe(true);
      expect(out.produces.some((p) => p.workload === w && p.kind === 'floor'), `a floor in ${w}`).toBe(true);
    }
    for (const peer of PEERS) {
      for (const w of ['append', 'batch', 'seq-read', 'get']) {
        const measured = out.figures.filter((f) => f.workload === w && f.contender.startsWith(peer) && typeof f.value === 'number' && f.value > 0);
        expect(measured.length, `${peer} in ${w}`).toBeGreaterThan(0);
      }
    }
  });

  it('measures every shape of issues 21 and 19 beside its peer, and judges each target with its spread', () => {
    for (const [w, aof, peer] of USER_SHAPES) {
      for (const c of [aof, peer]) {
        const f = out.figures.find((g) => g.workload === w && g.contender === c);
        expect(typeof f?.value === 'number' && f.value > 0, `${w}/${c}: ${JSON.stringify(f)}`).toBe(true);
      }
    }
    for (const [w, c] of [['user-read', 'js-floor'], ['user-get-batch', 'raw-record'], ['user-get-batch', 'raw-4k'], ['tail', 'in-process-user'], ['snapshot-tick', 'save'], ['snapshot-tick', 'idle']]) {
      expect(out.produces.some((p) => p.workload === w && p.contender === c), `${w}/${c}`).toBe(true);
    }
    const users = out.verdicts.filter((v) => (v as { group?: string }).group === 'users');
    expect(users.length).toBeGreaterThanOrEqual(12);
    for (const v of users) expect(v.measured, v.target).not.toMatch(/^not measured/);
    expect(markdown).toContain('## Targets in the shapes users write (issues 21 and 19)');
    expect(markdown).toContain('### Event-loop tick at 120 Hz during a snapshot save');
  });

  it('writes the report with its targets and an embedded SVG chart, and leaves docs/PERFORMANCE.md alone', () => {
    expect(markdown).toMatch(/^# Performance/);
    expect(markdown).toContain('## Targets (issue 9)');
    expect(markdown).toContain('](perf.svg)');
    expect(markdown).toMatch(/\| Node \| v\d+/);
    expect(out.verdicts.length).toBeGreaterThanOrEqual(10);
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.match(/<rect /g)?.length ?? 0).toBeGreaterThan(20);
    expect(fs.existsSync(performancePath) ? fs.readFileSync(performancePath, 'utf8') : undefined).toBe(before);
  });
});
