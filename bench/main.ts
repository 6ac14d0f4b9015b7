/**
 * `npm run bench`: runs every workload for aof, the raw-fs floor and the
 * peers (one child process per case, one after another, all on the same
 * disk) and writes docs/PERFORMANCE.md with its SVG chart.
 *
 *   npm run bench [-- --quick | --long] [--out FILE.md] [--svg FILE.svg] [--json FILE.json] [--dir DIR] [--only TEXT]
 */
import { fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allCases, type CaseDef, type Figure } from './cases.js';
import { median } from './common.js';
import { describeMachine } from './machine.js';
import { paramsFor, type Params } from './params.js';
import { renderMarkdown, renderSvg, verdicts, type Results } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');

const USAGE = `usage: npm run bench [-- options]
  --quick        smoke run: tiny counts, every workload and peer (well under a minute)
  --long         longer runs (the writer-RSS run writes 10 GiB)
  --out FILE     the Markdown report (default docs/PERFORMANCE.md)
  --svg FILE     the chart (default: beside --out, named after it; docs/performance.svg by default)
  --json FILE    also write every figure as JSON
  --dir DIR      where the workloads write (default: the OS temp dir); every engine uses the same one
  --only TEXT    run only the cases whose id contains TEXT (e.g. append, read/, lmdb); skips the standalone event-store, snapshot and archive scripts
  --help`;

interface Progress {
  line(text: string): void;
  done(): void;
}

function progressLine(): Progress {
  const tty = process.stderr.isTTY === true;
  return {
    line(text) {
      if (tty) process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`);
      else process.stderr.write(`${text}\n`);
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Runs one case in a child process; resolves its figures (or a failure note for each figure it promised). */
function runCase(caseId: string, params: Params, dir: string, onProgress: (text: string) => void, timeoutMs: number): Promise<Figure[] | { error: string }> {
  return new Promise((resolve) => {
    const child = fork(path.join(here, 'child.js'), [JSON.stringify({ caseId, params, dir })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: Figure[] | { error: string } | undefined;
    const timer = setTimeout(() => {
      result ??= { error: `timed out after ${timeoutMs / 1000} s` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: { kind: string; text?: string; figures?: Figure[]; message?: string }) => {
      if (m.kind === 'progress') onProgress(m.text ?? '');
      else if (m.kind === 'result') result = m.figures ?? [];
      else if (m.kind === 'error') result = { error: m.message ?? 'unknown error' };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(result ?? { error: `the child exited with ${signal ?? code} before reporting` });
    });
  });
}

/** One figure from the rounds of an interleaved case: every run, their median, the extras of the median round. */
function mergeRounds(rounds: Figure[]): Figure {
  if (rounds.length === 1) return rounds[0]!;
  const runs = rounds.flatMap((f) => f.runs);
  const value = median(runs);
  const closest = rounds.reduce((a, b) => (Math.abs(b.value - value) < Math.abs(a.value - value) ? b : a));
  return { ...closest, value, runs };
}

/**
 * The event store's decisions benchmark and the snapshot tick measurement are
 * their own scripts; a full run appends what they print to the page (a quick
 * smoke run skips them, and so does a run narrowed with `--only`).
 */
function standaloneSections(repo: string, mode: string, only: string | undefined): string {
  if (mode === 'quick' || only !== undefined) return '';
  const run = (title: string, script: string, args: string[]): string => {
    process.stderr.write(`running ${script}\n`);
    const r = spawnSync(process.execPath, [path.join(repo, 'bench', script), ...args], { cwd: repo, encoding: 'utf8', timeout: 600_000 });
    const body = r.status === 0 ? r.stdout.trim() : `(${script} failed: ${(r.stderr || r.error?.message || 'unknown').trim().split('\n').slice(-3).join(' ')})`;
    return `\n\n## ${title}\n\nFrom \`node bench/${script}\`:\n\n${body.includes('|') ? body : '```\n' + body + '\n```'}\n`;
  };
  return (
    run('Event store: durable decisions with expectedVersion', 'event-store.mjs', []) +
    run('Snapshots: the event loop tick at 120 Hz while a snapshot is written', 'snapshot-tick.mjs', []) +
    run('Archive tier: upload throughput, read-back, appends while draining', 'archive.mjs', [])
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      long: { type: 'boolean', default: false },
      out: { type: 'string' },
      svg: { type: 'string' },
      json: { type: 'string' },
      dir: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.quick && values.long) throw new Error('--quick and --long exclude each other');
  const params = paramsFor(values.quick ? 'quick' : values.long ? 'long' : 'default');
  const out = path.resolve(values.out ?? path.join(repo, 'docs', 'PERFORMANCE.md'));
  const svg = path.resolve(values.svg ?? path.join(path.dirname(out), `${path.basename(out, path.extname(out)).toLowerCase()}.svg`));
  const parent = path.resolve(values.dir ?? os.tmpdir());
  fs.mkdirSync(parent, { recursive: true });
  const root = fs.mkdtempSync(path.join(parent, 'aof-bench-'));
  const progress = progressLine();
  const started = performance.now();
  const cases = allCases().filter((c) => values.only === undefined || c.id.includes(values.only));
  if (cases.length === 0) throw new Error(`no case matches --only ${values.only}`);
  const figures: Figure[] = [];
  const failures: string[] = [];
  const loadStart = os.loadavg()[0]!;
  let loadMax = loadStart;
  try {
    const machine = await describeMachine(root, repo);
    const caseTimeoutMs = params.mode === 'quick' ? 120_000 : params.mode === 'long' ? 3_600_000 : 600_000;
    // Interleaved cases of a workload take turns, one timed run each per round; the others run all their runs at once.
    const steps: Array<{ cases: CaseDef[]; rounds: number }> = [];
    for (const c of cases) {
      const last = steps[steps.length - 1];
      const workload = c.produces[0]?.workload;
      if (c.interleave === true && params.runs > 1 && last !== undefined && last.rounds > 1 && last.cases[0]!.produces[0]?.workload === workload) last.cases.push(c);
      else steps.push({ cases: [c], rounds: c.interleave === true && params.runs > 1 ? params.runs : 1 });
    }
    const total = steps.reduce((n, s) => n + s.cases.length * s.rounds, 0);
    let done = 0;
    for (const step of steps) {
      const perCase = new Map<string, Array<Figure[] | { error: string }>>();
      for (let round = 0; round < step.rounds; round++) {
        for (const c of step.cases) {
          done++;
          const head = `[${String(done).padStart(String(total).length)}/${total}] ${c.id}${step.rounds > 1 ? ` (round ${round + 1}/${step.rounds})` : ''}`;
          const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`;
          loadMax = Math.max(loadMax, os.loadavg()[0]!);
          progress.line(`${head} (${elapsed()})`);
          const caseParams = step.rounds > 1 ? { ...params, runs: 1 } : params;
          const got = await runCase(c.id, caseParams, path.join(root, `case-${done}`), (text) => progress.line(`${head}: ${text} (${elapsed()})`), caseTimeoutMs);
          if (!Array.isArray(got)) {
            progress.done();
            process.stderr.write(`${c.id} failed: ${got.error}\n`);
          }
          perCase.set(c.id, [...(perCase.get(c.id) ?? []), got]);
        }
      }
      for (const c of step.cases) {
        const results = perCase.get(c.id) ?? [];
        const failed = results.find((g): g is { error: string } => !Array.isArray(g));
        if (failed !== undefined) {
          const first = failed.error.split('\n')[0]!;
          failures.push(`${c.id}: ${first}`);
          for (const p of c.produces) figures.push({ workload: p.workload, contender: p.contender, value: NaN, runs: [], note: `failed: ${first}` });
          continue;
        }
        for (const p of c.produces) {
          const mine = results.flatMap((g) => (g as Figure[]).filter((f) => f.workload === p.workload && f.contender === p.contender));
          if (mine.length === 0) figures.push({ workload: p.workload, contender: p.contender, value: NaN, runs: [], note: 'not reported' });
          else figures.push(mergeRounds(mine));
        }
      }
    }
    progress.done();
    const notesFile = path.join(repo, 'bench', 'optimisations.md');
    const results: Results = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      params,
      machine,
      produces: cases.flatMap((c) => c.produces),
      figures,
      durationMs: performance.now() - started,
      load: { start: loadStart, end: os.loadavg()[0]!, max: Math.max(loadMax, os.loadavg()[0]!) },
      notes: fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : undefined,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.mkdirSync(path.dirname(svg), { recursive: true });
    fs.writeFileSync(svg, renderSvg(results));
    fs.writeFileSync(out, renderMarkdown(results, path.relative(path.dirname(out), svg).split(path.sep).join('/')) + standaloneSections(repo, params.mode, values.only));
    if (values.json !== undefined) fs.writeFileSync(path.resolve(values.json), JSON.stringify({ ...results, verdicts: verdicts(results) }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    if (results.load.max > machine.cores / 2) process.stderr.write(`warning: other processes were running (1-minute load average up to ${results.load.max.toFixed(1)} on ${machine.cores} cores): the figures are noisy\n`);
    process.stderr.write(`wrote ${path.relative(process.cwd(), out)} and ${path.relative(process.cwd(), svg)} in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    if (params.mode === 'quick') process.stderr.write('targets (a --quick smoke run: these figures mean nothing):\n');
    for (const v of verdicts(results)) process.stderr.write(`  ${v.met === undefined ? 'n/a      ' : v.met ? 'met      ' : 'not met  '} ${v.target}: ${v.measured}\n`);
    if (failures.length > 0) {
      process.stderr.write(`${failures.length} case(s) failed:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
      return 1;
    }
    return 0;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exitCode = 2;
  },
);
