#!/usr/bin/env node
/**
 * Event-loop tick while a large snapshot is saved, restored or a log backed up
 * (issue 11; seed 000: "tick intervals remain consistent (±10%)" at 120 Hz).
 *
 * A 120 Hz setInterval tick runs while each operation runs; the intervals
 * between ticks are recorded (target 8.33 ms, ±10% is 7.50..9.17 ms), with
 * monitorEventLoopDelay beside them. Each case runs --runs times, the cases
 * taking turns (run 1 of every case, then run 2, ...) so that a noisy moment
 * on a shared machine falls on all of them; the table shows the median run
 * (by p99), and a second table every run. A run with no operation gives the
 * floor the machine itself allows at that moment.
 *
 *   npx tsc -p . && node bench/snapshot-tick.mjs [--mib 256] [--runs 3] [--json FILE] [--dir DIR] [--no-backup]
 *       [--only TEXT] [--dist DIR]
 *
 * --only runs the cases whose name contains TEXT (the floor always runs);
 * --dist imports another build (A/B: a build of another commit, same machine, same moment).
 *
 * Standalone: imports the compiled package from dist/, nothing else from bench/.
 * The default save (issue 21's target) is also a case of `npm run bench`
 * (bench/snapshot-case.ts), with every run reported; this script adds the
 * other slice sizes, compression, latest() and log.backup.
 */
import { createHash, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
    dir: { type: 'string' },
    'no-backup': { type: 'boolean', default: false },
    only: { type: 'string' },
    dist: { type: 'string' },
  },
});
const { Log, SnapshotStore } = await import(path.join(path.resolve(values.dist ?? path.join(here, '..', 'dist')), 'src', 'index.js'));
const MiB = 1024 * 1024;
const SIZE = Number(values.mib) * MiB;
const RUNS = Number(values.runs);
const TARGET_MS = 1000 / 120;
const root = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'aof-snapshot-tick-'));

function quantile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}

/** Runs `op` while a 120 Hz tick runs; returns tick-interval and event-loop-delay figures. */
async function measure(op) {
  const intervals = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((r) => setTimeout(r, 50)); // the histogram's first sample, and a settled tick
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    intervals.push(now - last);
    last = now;
  }, TARGET_MS);
  const started = performance.now();
  await op();
  const durationMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  histogram.disable();
  const sorted = [...intervals].sort((a, b) => a - b);
  const within = intervals.filter((v) => Math.abs(v - TARGET_MS) <= TARGET_MS * 0.1).length;
  return {
    durationMs,
    ticks: intervals.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    within10: intervals.length === 0 ? NaN : within / intervals.length,
    over: intervals.filter((v) => v > TARGET_MS * 1.1).length,
    loopDelayP99: histogram.percentile(99) / 1e6,
    loopDelayMax: histogram.max / 1e6,
  };
}

function state(bytes) {
  const buf = Buffer.allocUnsafe(bytes);
  for (let off = 0; off < bytes; off += 64 * MiB) randomFillSync(buf, off, Math.min(64 * MiB, bytes - off));
  return buf;
}

const data = state(SIZE);
const cases = [];

cases.push({ name: 'no operation (the machine\'s floor), 2 s', run: () => new Promise((r) => setTimeout(r, 2000)) });

for (const [label, options] of [
  ['save, 1 MiB slices (default)', {}],
  ['save, 4 MiB slices', { sliceBytes: 4 * MiB, memoryBytes: 16 * MiB }],
  ['save, 1 MiB slices, deflate level 1', { compression: 'deflate' }],
]) {
  cases.push({
    name: `${label}`,
    async setup() {
      const dir = fs.mkdtempSync(path.join(root, 'store-'));
      this.store = await SnapshotStore.open(dir, { keep: 1, ...options });
      await this.store.save(0, Buffer.from('start the worker'));
    },
    run() {
      return this.store.save(1, data);
    },
    async teardown() {
      await this.store.close();
    },
  });
}

cases.push({
  name: 'latest() (read and verify)',
  async setup() {
    const dir = fs.mkdtempSync(path.join(root, 'store-'));
    this.store = await SnapshotStore.open(dir, { keep: 1 });
    await this.store.save(1, data);
  },
  async run() {
    const snap = await this.store.latest();
    if (snap.data.byteLength !== SIZE) throw new Error('short read');
  },
  async teardown() {
    await this.store.close();
  },
});

cases.push({
  name: 'contrast: SHA-256 and writeFileSync on the main thread',
  run: async () => {
    await new Promise((r) => setTimeout(r, 20));
    const digest = createHash('sha256').update(data).digest();
    const file = path.join(root, 'naive.bin');
    fs.writeFileSync(file, data);
    fs.appendFileSync(file, digest);
    const fd = fs.openSync(file, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.rmSync(file);
  },
});

if (!values['no-backup']) {
  for (const link of [true, false]) {
    cases.push({
      name: `log.backup of a ${values.mib} MiB log, ${link ? 'sealed segments linked' : 'every byte copied'}`,
      async setup() {
        if (this.log === undefined) {
          this.log = await Log.open(path.join(root, `log-${link}`), { segment: { maxBytes: 32 * MiB } });
          const record = Buffer.alloc(64 * 1024, 1);
          const batch = Array.from({ length: 16 }, () => record);
          while (this.log.segments().reduce((n, s) => n + s.bytes, 0) < SIZE) await this.log.appendBatch(batch);
        }
        this.dest = path.join(root, `backup-${link}-${Math.random().toString(36).slice(2)}`);
      },
      run() {
        return this.log.backup(this.dest, { link });
      },
      async teardown(last) {
        fs.rmSync(this.dest, { recursive: true, force: true });
        if (last) await this.log.close();
      },
    });
  }
}

const FLOOR = cases[0].name;
const chosen = cases.filter((c) => c.name === FLOOR || values.only === undefined || c.name.includes(values.only));
const runsOf = new Map(chosen.map((c) => [c, []]));
for (let i = 0; i < RUNS; i++) {
  for (const c of chosen) {
    await c.setup?.();
    const r = await measure(() => c.run());
    await c.teardown?.(i === RUNS - 1);
    runsOf.get(c).push({ run: i + 1, loadAverage: os.loadavg()[0], ...r });
    process.stderr.write(`run ${i + 1}, ${c.name}: p50 ${r.p50.toFixed(2)}, p99 ${r.p99.toFixed(2)}, max ${r.max.toFixed(2)} ms\n`);
  }
}
const rows = [];
for (const c of chosen) {
  const runs = runsOf.get(c);
  const sorted = [...runs].sort((a, b) => a.p99 - b.p99);
  rows.push({ case: c.name, ...sorted[Math.floor(sorted.length / 2)], runs });
}

const f = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');
console.log(`\n120 Hz tick (target ${TARGET_MS.toFixed(2)} ms, ±10% = ${(TARGET_MS * 0.9).toFixed(2)}..${(TARGET_MS * 1.1).toFixed(2)} ms), state ${values.mib} MiB, median of ${RUNS} runs`);
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}\n`);
console.log('| case | duration ms | ticks | interval p50 ms | interval p99 ms | interval max ms | within ±10% | loop delay p99 ms | loop delay max ms |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.case} | ${r.durationMs.toFixed(0)} | ${r.ticks} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${(r.within10 * 100).toFixed(1)}% | ${f(r.loopDelayP99)} | ${f(r.loopDelayMax)} |`);
}
console.log('\nEvery run (in the order they ran; the cases take turns):\n');
console.log('| case | run | duration ms | ticks | interval p50 ms | interval p99 ms | interval max ms | ticks over 9.17 ms | load average (1 min) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  for (const x of r.runs) console.log(`| ${r.case} | ${x.run} | ${x.durationMs.toFixed(0)} | ${x.ticks} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.max)} | ${x.over} | ${x.loadAverage.toFixed(1)} |`);
}
if (values.json !== undefined) fs.writeFileSync(values.json, JSON.stringify({ sizeMiB: Number(values.mib), runs: RUNS, rows }, null, 2));
fs.rmSync(root, { recursive: true, force: true });
