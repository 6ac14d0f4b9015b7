/** Turns the figures into docs/PERFORMANCE.md, its SVG chart of ratios, and the verdict on each target of issue 9. */
import { WORKLOADS, type Figure, type Produces, type WorkloadDef } from './cases.js';
import { CRC_IMPL, RECORD_BYTES } from './common.js';
import type { Machine } from './machine.js';
import type { Params } from './params.js';

/** Everything one run of the benchmark produced. */
export interface Results {
  date: string;
  params: Params;
  machine: Machine;
  produces: Produces[];
  figures: Figure[];
  durationMs: number;
  /** 1-minute load average of the machine: at the start, at the end, and the highest seen when a case started. */
  load: { start: number; end: number; max: number };
  /** Hand-written notes (bench/optimisations.md), embedded verbatim. */
  notes?: string;
}

/** A target (of issue 9, or of issues 21 and 19: the shapes users write) and how this run did against it. */
export interface Verdict {
  target: string;
  measured: string;
  met: boolean | undefined;
  /** Which targets table it belongs to (default: issue 9). */
  group?: 'users';
}

// ---- formatting ----

/** 3 significant digits with thousands separators. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  const r = Number(x.toPrecision(3));
  return r.toLocaleString('en-US', { maximumFractionDigits: Math.min(digits, 4), minimumFractionDigits: 0 });
}

/** A ratio as `2.31×`. */
export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return `${x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}×`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

// ---- lookups ----

function figureOf(r: Results, workload: string, contender: string): Figure | undefined {
  return r.figures.find((f) => f.workload === workload && f.contender === contender);
}

function valueOf(r: Results, workload: string, contender: string): number {
  return figureOf(r, workload, contender)?.value ?? NaN;
}

function producesOf(r: Results, workload: string): Produces[] {
  return r.produces.filter((p) => p.workload === workload);
}

function floorValue(r: Results, w: WorkloadDef): { value: number; label: string } | undefined {
  const floors = producesOf(r, w.id).filter((p) => p.kind === 'floor');
  let best: { value: number; label: string } | undefined;
  for (const p of floors) {
    const v = valueOf(r, w.id, p.contender);
    if (Number.isFinite(v) && (best === undefined || (w.lowerIsBetter ? v < best.value : v > best.value))) best = { value: v, label: p.label };
  }
  return best;
}

/** aof's primary figure over another's (>1: aof is faster). */
function ratio(w: WorkloadDef, aof: number, other: number): number {
  return w.lowerIsBetter ? other / aof : aof / other;
}

/** A ratio's run-to-run spread: the lowest and highest of the per-run ratios. */
export interface Spread {
  lo: number;
  hi: number;
  /** Per-run ratios from paired runs (run i of one against run i of the other: the same round, or the same turn of one process). */
  paired: boolean;
  n: number;
}

/**
 * The spread of `a ÷ b` over the runs: paired run by run when both have the
 * same number of runs (the benchmark takes them in turns), otherwise the
 * widest the runs allow (a's worst over b's best to a's best over b's worst).
 */
export function spreadOf(w: WorkloadDef, a: Figure | undefined, b: Figure | undefined): Spread | undefined {
  const ar = (a?.runs ?? []).filter(Number.isFinite);
  const br = (b?.runs ?? []).filter(Number.isFinite);
  if (ar.length === 0 || br.length === 0 || (ar.length < 2 && br.length < 2)) return undefined;
  if (ar.length === br.length && a!.runs.length === ar.length && b!.runs.length === br.length) {
    const xs = ar.map((v, i) => ratio(w, v, br[i]!)).filter(Number.isFinite);
    if (xs.length === 0) return undefined;
    return { lo: Math.min(...xs), hi: Math.max(...xs), paired: true, n: xs.length };
  }
  const x1 = ratio(w, Math.min(...ar), Math.max(...br));
  const x2 = ratio(w, Math.max(...ar), Math.min(...br));
  return { lo: Math.min(x1, x2), hi: Math.max(x1, x2), paired: false, n: Math.min(ar.length, br.length) };
}

/** `1.42× (1.31–1.50× over 3 runs)`. */
export function fmtRatioSpread(x: number, s: Spread | undefined): string {
  if (s === undefined) return fmtRatio(x);
  return `${fmtRatio(x)} (${fmtRatio(s.lo).slice(0, -1)}–${fmtRatio(s.hi)} over ${s.n} ${s.paired ? 'paired runs' : 'runs, unpaired'})`;
}

function workloadDef(id: string): WorkloadDef {
  const w = WORKLOADS.find((d) => d.id === id);
  if (w === undefined) throw new Error(`no workload ${id}`);
  return w;
}

// ---- targets ----

/** The targets of issue 9, judged on this run's figures. */
export function verdicts(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const cmp = (target: string, workload: string, a: string, b: string | string[], min: number, what: string): void => {
    const av = valueOf(r, workload, a);
    const bs = Array.isArray(b) ? b : [b];
    const measured = bs.map((c) => valueOf(r, workload, c)).filter(Number.isFinite);
    const bv = measured.length > 0 ? Math.max(...measured) : NaN;
    const x = av / bv;
    const best = bs.find((c) => valueOf(r, workload, c) === bv);
    const spread = best === undefined ? undefined : spreadOf(workloadDef(workload), figureOf(r, workload, a), figureOf(r, workload, best));
    out.push({ target, measured: Number.isFinite(x) ? `${fmtRatioSpread(x, spread)} (${what}: ${fmt(av)} vs ${fmt(bv)})` : 'not measured', met: Number.isFinite(x) && min > 0 ? x >= min : undefined });
  };
  // Not targets: the ratios that say how far a missed target is from what the floor itself reaches.
  const context = (what: string, workload: string, a: string, b: string, unit: string): void => cmp(`context, not a target: ${what}`, workload, a, b, 0, unit);
  cmp('pipelined append ≥ 1.6× lmdb async puts', 'append', 'aof', 'lmdb-async', 1.6, 'records/s');
  cmp('pipelined append ≥ 2.8× better-sqlite3', 'append', 'aof', 'sqlite', 2.8, 'records/s');
  cmp("appendBatch ≥ 0.5× the disk's sequential write bandwidth", 'batch', 'aof', 'disk', 0.5, 'MB/s');
  context("the framing floor (aof's frames and CRC, writeSync) ÷ the disk's bandwidth", 'batch', 'raw-sync', 'disk', 'MB/s');
  cmp('sequential read ≥ 0.75× the raw read floor', 'seq-read', 'aof', ['raw-sync', 'raw-async'], 0.75, 'records/s, floor = the faster raw reader');
  cmp('sequential read with log.readBatches() ≥ 0.75× the raw read floor', 'seq-read', 'aof-batches', ['raw-sync', 'raw-async'], 0.75, 'records/s, floor = the faster raw reader');
  cmp('sequential read ≥ 5× lmdb getRange', 'seq-read', 'aof', 'lmdb', 5, 'records/s');
  cmp('random get ≥ lmdb get', 'get', 'aof', 'lmdb', 1, 'gets/s');
  cmp('random get ≥ lmdb get, data written with append()', 'get', 'aof-append', 'lmdb', 1, 'gets/s');
  context('a get\'s floor, one readSync of a 4 KiB frame and its CRC, ÷ lmdb get', 'get', 'raw-sync-4k', 'lmdb', 'gets/s');
  cmp("durable, one awaiting producer ≥ 1.2× the raw write+fdatasync loop", 'durable-1', 'aof-always', 'raw-sync', 1.2, "records/s, aof 'always'");
  context("aof 'always' ÷ the same loop with its fdatasync off the event loop (FileHandle)", 'durable-1', 'aof-always', 'raw-async', "records/s");
  cmp('durable, 64 producers ≥ 40× the fsync rate', 'durable-64', 'aof-always', 'fsync-rate', 40, "records/s, aof 'always' vs fsyncs/s");
  for (const [contender, limit] of [['in-process', 0.5], ['cross-process', 20]] as const) {
    const f = figureOf(r, 'tail', contender);
    const ok = f !== undefined && Number.isFinite(f.value);
    out.push({ target: `tail p99 ≤ ${limit} ms ${contender}`, measured: ok ? `p99 ${fmt(f.value)} ms, p50 ${fmt(Number(f.extra?.p50Ms))} ms` : (f?.note ?? 'not measured'), met: ok ? f.value <= limit : undefined });
  }
  const open = valueOf(r, 'open', 'open');
  const scan = valueOf(r, 'open', 'scan');
  const segs = figureOf(r, 'open', 'open')?.extra?.sealedSegments;
  out.push({ target: 'open of 1,000 sealed segments ≤ 2% of scanning them', measured: Number.isFinite(open / scan) ? `${((100 * open) / scan).toFixed(2)}% (open ${fmt(open)} ms, scan ${fmt(scan)} ms, ${segs ?? '?'} sealed segments)` : 'not measured', met: Number.isFinite(open / scan) ? open / scan <= 0.02 : undefined });
  const rss = figureOf(r, 'rss', 'aof');
  if (rss !== undefined && Number.isFinite(rss.value)) {
    const firstMax = Number(rss.extra?.rssFirstHalfMaxMiB);
    const allowed = Math.max(16, firstMax * 0.1);
    const written = Number(rss.extra?.bytesWritten) / 2 ** 30;
    out.push({
      target: `writer RSS flat over a long run${r.params.mode === 'long' ? '' : ' (≥ 10 GB with --long; this run wrote less)'}`,
      measured: `${rss.value >= 0 ? '+' : ''}${fmt(rss.value)} MiB from the first half to the second (max ${fmt(firstMax)} → ${fmt(Number(rss.extra?.rssSecondHalfMaxMiB))} MiB) over ${written.toFixed(2)} GiB written; flat = within max(16 MiB, 10%)`,
      met: rss.value <= allowed,
    });
  } else out.push({ target: 'writer RSS flat over a long run', measured: rss?.note ?? 'not measured', met: undefined });
  out.push(...userVerdicts(r));
  return out;
}

/** The targets of issues 21 and 19, in the shapes users write: each ratio with its run-to-run spread. */
function userVerdicts(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const cmp = (target: string, workload: string, a: string, b: string, min: number, unit: string): number => {
    const w = workloadDef(workload);
    const fa = figureOf(r, workload, a);
    const fb = figureOf(r, workload, b);
    const av = fa?.value ?? NaN;
    const bv = fb?.value ?? NaN;
    const x = ratio(w, av, bv);
    const measured = Number.isFinite(x) ? `${fmtRatioSpread(x, spreadOf(w, fa, fb))}; ${fmt(av)} vs ${fmt(bv)} ${unit} (medians)` : `not measured${fa?.note !== undefined ? `: ${fa.note}` : fb?.note !== undefined ? `: ${fb.note}` : ''}`;
    out.push({ group: 'users', target: min > 0 ? target : `context, not a target: ${target}`, measured, met: Number.isFinite(x) && min > 0 ? x >= min : undefined });
    return x;
  };
  cmp("append(100 B) in windows of 10,000 awaited with Promise.all, flush 'none' ≥ 1.6× lmdb async put in the same shape", 'user-append', 'aof', 'lmdb-async', 1.6, 'records/s');
  cmp('for await (const r of log.read({ from: 0 })) over those records ≥ 5× lmdb getRange with for...of', 'user-read', 'aof', 'lmdb', 5, 'records/s');
  cmp('aof for await ÷ the JS floor of that loop (an await and a Buffer.subarray view per record)', 'user-read', 'aof', 'js-floor', 0, 'records/s');
  {
    const lmdb = valueOf(r, 'user-read', 'lmdb');
    const floor = valueOf(r, 'user-read', 'js-floor');
    const aof = valueOf(r, 'user-read', 'aof');
    const awaitOnly = valueOf(r, 'user-read', 'js-floor-prebuilt');
    const ok = Number.isFinite(lmdb) && Number.isFinite(floor);
    const beyond = ok && 5 * lmdb > floor;
    out.push({
      group: 'users',
      target: 'context, not a target: is 5× lmdb getRange within the JS floor of a for await loop?',
      measured: ok
        ? `${beyond ? '**beyond the floor**' : 'within the floor'}: 5× lmdb = ${fmt(5 * lmdb)} records/s; the floor (an await and a view per record) = ${fmt(floor)} records/s (${fmt(1e9 / floor)} ns per record), ${fmtRatio(floor / lmdb)} lmdb; the await alone = ${fmt(awaitOnly)} records/s (${fmt(1e9 / awaitOnly)} ns); aof = ${fmt(aof)} records/s (${fmt(1e9 / aof)} ns per record, ${((100 * aof) / floor).toFixed(0)}% of the floor)${beyond ? ': no engine that yields one record per await can reach 5× here' : ''}`
        : 'not measured',
      met: undefined,
    });
  }
  cmp('await log.get(seq) at random, records written by append() ≥ 1× lmdb await db.get(key)', 'user-get-append', 'aof', 'lmdb', 1, 'gets/s');
  cmp('await log.get(seq) at random, records written by appendBatch(1,000) ≥ 1× lmdb await db.get(key)', 'user-get-batch', 'aof', 'lmdb', 1, 'gets/s');
  cmp('a get\'s floor, one readSync of exactly one 108-byte record and its CRC-32, ÷ lmdb get', 'user-get-batch', 'raw-record', 'lmdb', 0, 'gets/s');
  cmp('a get\'s floor, one readSync of a 4 KiB frame and its CRC-32, ÷ lmdb get', 'user-get-batch', 'raw-4k', 'lmdb', 0, 'gets/s');
  cmp(
    "durable 'always', one producer awaiting each append ≥ 1.2× a writeSync+fdatasyncSync loop of the same framed bytes (both pay one fdatasync per record, as one producer has nothing to group: the ratio is the loop's time per record over aof's, and exceeds 1 only where aof's sync is cheaper, e.g. its preallocated file, whose size does not change, against the loop's growing file)",
    'durable-1',
    'aof-always',
    'raw-sync',
    1.2,
    'records/s',
  );
  {
    const f = figureOf(r, 'tail', 'in-process-user');
    const ok = f !== undefined && Number.isFinite(f.value);
    const e = f?.extra ?? {};
    out.push({
      group: 'users',
      target: 'tail append→reader in-process p99 ≤ 0.5 ms, as a user writes it (defaults, a for await tail reader, a writer awaiting each append)',
      measured: ok ? `p99 ${fmt(f.value)} ms, p50 ${fmt(Number(e.p50Ms))} ms from the acknowledgement (from the call: p50 ${fmt(Number(e.fromCallP50Ms))}, p99 ${fmt(Number(e.fromCallP99Ms))} ms); one run of ${e.samples} samples` : (f?.note ?? 'not measured'),
      met: ok ? f.value <= 0.5 : undefined,
      });
  }
  {
    const f = figureOf(r, 'snapshot-tick', 'save');
    const idle = figureOf(r, 'snapshot-tick', 'idle');
    const ok = f !== undefined && f.runs.length > 0 && f.runs.every(Number.isFinite);
    const mib = f?.extra?.stateMiB ?? '?';
    out.push({
      group: 'users',
      target: `event-loop tick p99 ≤ 9.17 ms in every run during a ${mib} MiB snapshot save at 120 Hz`,
      measured: ok ? `p99 per run: ${f.runs.map((x) => `${x.toFixed(2)} ms`).join(', ')}; the idle machine's floor per run: ${(idle?.runs ?? []).map((x) => `${x.toFixed(2)} ms`).join(', ')}` : (f?.note ?? 'not measured'),
      met: ok ? f.runs.every((x) => x <= 9.17) : undefined,
    });
  }
  cmp("EventStore appendToStream, one event per call, 1,000 in flight, interleaved streams, flush 'none' ≥ 1.5× better-sqlite3 (one transaction per 1,000 events)", 'es-append', 'aof', 'sqlite', 1.5, 'events/s');
  cmp('whole-stream loads (for await readStream, data parsed) ≥ 2× better-sqlite3 (SELECT ... ORDER BY version, JSON.parse)', 'es-load', 'aof', 'sqlite', 2, 'streams/s');
  cmp("aof/emmett aggregateStream ≥ 2× better-sqlite3 + the same fold", 'es-aggregate', 'aof-emmett', 'sqlite', 2, 'streams/s');
  cmp("open plus first load in a fresh process, spawn to result ≥ 0.5× SQLite's speed (aof's time ≤ 2× SQLite's)", 'es-open', 'aof', 'sqlite', 0.5, 'ms');
  cmp('open plus first load, timed inside the fresh process, ÷ SQLite\'s (speed)', 'es-open-inside', 'aof', 'sqlite', 0, 'ms');
  return out;
}

// ---- SVG ----

interface Bar {
  label: string;
  ratio: number;
  kind: Produces['kind'];
  target?: number;
  /** The run-to-run spread of the ratio, drawn as a whisker. */
  spread?: Spread;
}

const TARGET_OF: Record<string, number> = { 'user-append/lmdb-async': 1.6, 'user-read/lmdb': 5, 'user-get-append/lmdb': 1, 'user-get-batch/lmdb': 1, 'es-append/sqlite': 1.5, 'es-load/sqlite': 2, 'es-aggregate/sqlite': 2, 'es-open/sqlite': 0.5, 'append/lmdb-async': 1.6, 'append/sqlite': 2.8, 'batch/disk': 0.5, 'seq-read/raw-sync': 0.75, 'seq-read/raw-async': 0.75, 'seq-read/lmdb': 5, 'get/lmdb': 1, 'durable-1/raw-sync': 1.2, 'durable-64/fsync-rate': 40 };

/** A horizontal bar chart (log scale) of aof's figure over every floor's and peer's, per workload. Plain SVG. */
export function renderSvg(r: Results): string {
  const groups: Array<{ title: string; bars: Bar[] }> = [];
  for (const w of WORKLOADS) {
    const aof = valueOf(r, w.id, w.primary);
    const primaryLabel = producesOf(r, w.id).find((p) => p.contender === w.primary)?.label ?? w.primary;
    const bars: Bar[] = [];
    for (const p of producesOf(r, w.id)) {
      if (p.kind === 'aof') continue;
      const v = valueOf(r, w.id, p.contender);
      const x = ratio(w, aof, v);
      if (!Number.isFinite(x) || x <= 0) continue;
      bars.push({ label: `vs ${p.label}${p.kind === 'floor' ? ' (floor)' : ''}`, ratio: x, kind: p.kind, target: TARGET_OF[`${w.id}/${p.contender}`], spread: spreadOf(w, figureOf(r, w.id, w.primary), figureOf(r, w.id, p.contender)) });
    }
    if (bars.length > 0) groups.push({ title: `${w.title} (${primaryLabel})`, bars });
  }
  const all = groups.flatMap((g) => g.bars.flatMap((b) => [b.ratio, b.target ?? 1, ...(b.spread !== undefined && b.spread.lo > 0 ? [b.spread.lo, b.spread.hi] : [])]));
  const lo = Math.min(-1, Math.floor(Math.log10(Math.min(...all, 1)) - 0.05));
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...all, 1)) + 0.05));
  const W = 960;
  const labelW = 300;
  const chartX = labelW + 10;
  const chartW = W - chartX - 80;
  const rowH = 20;
  const groupH = 26;
  const title = `aof vs the floor and its peers: aof's figure ÷ theirs (log scale; right of 1× = aof ahead)`;
  const busy = r.load.max > r.machine.cores / 2 ? ` · machine busy (load up to ${r.load.max.toFixed(1)}): noisy` : '';
  const sub = `${r.date.slice(0, 10)} · ${r.machine.cores} cores · ${r.machine.memoryGiB} GiB · ${r.machine.fsType} on ${r.machine.device} · Node ${r.machine.node} · ${r.params.mode === 'quick' ? 'QUICK SMOKE RUN: figures mean nothing' : `${r.params.mode} run`}${busy}`;
  const legend: Array<[string, string]> = [
    ['#3b8f5a', 'vs a peer: aof ahead (at target, where one is set)'],
    ['#d9822b', 'vs a peer: aof behind (short of target)'],
    ['#7aa6c2', 'vs the raw-fs floor: ahead'],
    ['#c9a27a', 'vs the raw-fs floor: behind'],
  ];
  let lx = 10;
  let ly = 47;
  const legendItems: string[] = [];
  const place = (width: number): void => {
    if (lx + width > W - 10) {
      lx = 10;
      ly += 16;
    }
  };
  for (const [color, text] of legend) {
    const width = 16 + text.length * 6 + 16;
    place(width);
    legendItems.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${color}"/><text x="${lx + 16}" y="${ly + 9}" class="sub">${esc(text)}</text>`);
    lx += width;
  }
  place(170);
  legendItems.push(`<line x1="${lx + 6}" x2="${lx + 6}" y1="${ly - 1}" y2="${ly + 11}" class="target"/><text x="${lx + 12}" y="${ly + 9}" class="sub">target (issues 9, 19, 21)</text>`);
  lx += 170;
  place(190);
  legendItems.push(`<path d="M${lx} ${ly + 5}H${lx + 14}M${lx} ${ly + 1}V${ly + 9}M${lx + 14} ${ly + 1}V${ly + 9}" class="whisker"/><text x="${lx + 18}" y="${ly + 9}" class="sub">run-to-run spread</text>`);
  const top = ly + 37;
  const x = (v: number): number => chartX + ((Math.log10(v) - lo) / (hi - lo)) * chartW;
  let y = top;
  const body: string[] = [];
  for (const g of groups) {
    body.push(`<text x="10" y="${y + 17}" class="group">${esc(g.title)}</text>`);
    y += groupH;
    for (const b of g.bars) {
      const x1 = x(1);
      const x2 = x(b.ratio);
      const left = Math.min(x1, x2);
      const width = Math.max(1, Math.abs(x2 - x1));
      const good = b.ratio >= (b.target ?? 1);
      const fill = b.kind === 'floor' ? (good ? '#7aa6c2' : '#c9a27a') : good ? '#3b8f5a' : '#d9822b';
      body.push(`<text x="${labelW}" y="${y + 14}" class="label" text-anchor="end">${esc(b.label)}</text>`);
      body.push(`<rect x="${left.toFixed(1)}" y="${y + 3}" width="${width.toFixed(1)}" height="${rowH - 6}" fill="${fill}"><title>${esc(`${g.title} ${b.label}: ${fmtRatio(b.ratio)}`)}</title></rect>`);
      // The value goes past the end of the bar (and past a target tick next to it); a bar reaching the left edge gets it right of 1×.
      const text = fmtRatio(b.ratio);
      const textW = text.length * 6.5;
      const t = b.target === undefined ? undefined : x(b.target);
      let anchor: 'start' | 'end';
      let tx: number;
      if (b.ratio >= 1) {
        anchor = 'start';
        tx = (t !== undefined && t > x1 ? Math.max(x2, t) : x2) + 4;
      } else {
        anchor = 'end';
        tx = (t !== undefined && t < x1 ? Math.min(x2, t) : x2) - 4;
        if (tx - textW < chartX) {
          anchor = 'start';
          tx = (t !== undefined && t > x1 ? t : x1) + 4;
        }
      }
      if (b.spread !== undefined && b.spread.lo > 0 && b.spread.hi > b.spread.lo) {
        const w1 = x(b.spread.lo);
        const w2 = x(b.spread.hi);
        const wy = y + rowH / 2;
        body.push(`<path d="M${w1.toFixed(1)} ${wy}H${w2.toFixed(1)}M${w1.toFixed(1)} ${wy - 4}V${wy + 4}M${w2.toFixed(1)} ${wy - 4}V${wy + 4}" class="whisker"><title>${esc(`run-to-run spread ${fmtRatio(b.spread.lo)}–${fmtRatio(b.spread.hi)}`)}</title></path>`);
        if (anchor === 'start' && tx < w2 + 4) tx = w2 + 4;
        else if (anchor === 'end' && tx > w1 - 4) tx = w1 - 4;
      }
      body.push(`<text x="${tx.toFixed(1)}" y="${y + 14}" class="value" text-anchor="${anchor}">${esc(text)}</text>`);
      if (t !== undefined) body.push(`<line x1="${t.toFixed(1)}" x2="${t.toFixed(1)}" y1="${y + 1}" y2="${y + rowH - 1}" class="target"><title>target ≥ ${b.target}×</title></line>`);
      y += rowH;
    }
    y += 6;
  }
  const height = y + 34;
  const grid: string[] = [];
  for (let d = lo; d <= hi; d++) {
    const v = 10 ** d;
    const gx = x(v);
    grid.push(`<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="${top - 4}" y2="${y}" class="${d === 0 ? 'one' : 'grid'}"/>`);
    const tick = `${v >= 1 ? v.toLocaleString('en-US') : String(Number(v.toPrecision(1)))}×`;
    grid.push(`<text x="${gx.toFixed(1)}" y="${top - 8}" class="axis" text-anchor="middle">${esc(tick)}</text>`);
    grid.push(`<text x="${gx.toFixed(1)}" y="${y + 14}" class="axis" text-anchor="middle">${esc(tick)}</text>`);
    if (d < hi) for (const m of [2, 5]) {
      const mx = x(m * v);
      grid.push(`<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${top - 4}" y2="${y}" class="minor"/>`);
    }
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>',
    '.group{font-size:13px;font-weight:bold;fill:#222}.label{font-size:12px;fill:#333}.value{font-size:11px;fill:#222}',
    '.axis{font-size:10px;fill:#666}.grid{stroke:#ccc;stroke-width:1}.minor{stroke:#eee;stroke-width:1}.one{stroke:#444;stroke-width:1.5}',
    '.target{stroke:#d62728;stroke-width:2.5}.whisker{stroke:#222;stroke-width:1;fill:none}.title{font-size:15px;font-weight:bold;fill:#111}.sub{font-size:11px;fill:#555}',
    '</style>',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${esc(title)}</text>`,
    `<text x="10" y="38" class="sub">${esc(sub)}</text>`,
    ...legendItems,
    ...grid,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

// ---- Markdown ----

/** docs/PERFORMANCE.md. */
export function renderMarkdown(r: Results, svgFile: string): string {
  const m = r.machine;
  const p = r.params;
  const L: string[] = [];
  L.push('# Performance');
  L.push('');
  L.push(`Generated by \`npm run bench${p.mode === 'default' ? '' : ` -- --${p.mode}`}\` on ${r.date} in ${(r.durationMs / 1000).toFixed(0)} s. Do not edit by hand: run it again (hand-written notes go in \`bench/optimisations.md\`, which is copied in below).`);
  if (p.mode === 'quick') L.push('', '> **Smoke run (`--quick`)**: tiny counts, one run each. These figures only show that every workload runs; they measure nothing.');
  L.push('');
  L.push('## Machine and conditions');
  L.push('');
  L.push('| | |');
  L.push('|---|---|');
  L.push(`| CPU | ${mdCell(m.cpu)}, ${m.cores} cores |`);
  L.push(`| memory | ${m.memoryGiB} GiB |`);
  L.push(`| disk | ${mdCell(m.disk)} |`);
  L.push(`| file system | ${mdCell(`${m.fsType} on ${m.device}, mounted at ${m.mountPoint} (${m.mountOptions}), ${m.freeGiB} GiB free`)} |`);
  L.push(`| directory | \`${mdCell(m.dir)}\`: every engine and the floor wrote here, on the same disk |`);
  L.push(`| OS | ${mdCell(m.os)} |`);
  L.push(`| Node | ${m.node} (V8 ${m.v8}) |`);
  L.push(`| versions | ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  L.push(`| aof commit | ${mdCell(m.commit)} |`);
  L.push(`| CRC-32 | ${CRC_IMPL} (the one src/record/crc.ts picks) |`);
  L.push(`| load | 1-minute load average ${r.load.start.toFixed(2)} at the start, ${r.load.end.toFixed(2)} at the end, at most ${r.load.max.toFixed(2)} when a case started (${m.cores} cores) |`);
  L.push('');
  if (r.load.max > m.cores / 2) {
    L.push(`> **Other processes were running during this run** (load average up to ${r.load.max.toFixed(1)} on ${m.cores} cores): the figures are lower and noisier than on an idle machine, and a case that ran while the machine was busy looks worse than its neighbours. Run again on an idle machine before drawing conclusions from a single ratio.`);
    L.push('');
  }
  L.push(`- The same ${RECORD_BYTES}-byte records for everyone: a pool of 4,096 deterministic pseudo-random records, record *i* is pool[*i* mod 4,096].`);
  L.push(`- Each case (one engine at one setting in one workload) runs in its own child process of \`bench/main\`, one at a time, in a fresh directory, after a warm-up run at a tenth of the size; ${p.runs} timed run${p.runs === 1 ? '' : 's'} per figure, the **median** is reported and every run listed. In the write workloads the contenders take turns (round 1 runs each once, then round 2, ...; each child warms up again), so that a busy spell of the machine hits them alike; the read cases write their data set once and run their runs in one child.`);
  L.push(`- A throughput run stops after ${p.n.toLocaleString('en-US')} records or ${p.capMs / 1000} s, a durable (fsync-bound) run after ${p.durableCapMs / 1000} s; the records/s are those completed over the time taken. Pipelined workloads keep ${p.window.toLocaleString('en-US')} appends in flight.`);
  L.push(`- Reads use a data set of ${p.readN.toLocaleString('en-US')} records per engine, written just before (page cache warm: reads do not touch the disk); random gets: ${p.gets.toLocaleString('en-US')} per run or ${p.getCapMs / 1000} s.`);
  L.push('- "Durable" means what each engine documents: an acknowledged write survives a power loss (aof `always`/`batch`: fdatasync; lmdb: synced commit; SQLite WAL `synchronous=FULL`; LevelDB `sync: true`). hypercore 11 documents no such setting and appears only in non-durable workloads.');
  L.push('- The floor is plain `fs` doing the same work with no engine: the same records, framed and CRC-checked exactly as aof frames them (docs/FORMAT.md), written with `writeSync` (and `FileHandle.write`) at explicit positions.');
  L.push('');
  L.push('## Targets (issue 9)');
  L.push('');
  L.push('| target | measured | met |');
  L.push('|---|---|---|');
  const all = verdicts(r);
  const row = (v: Verdict): string => `| ${mdCell(v.target)} | ${mdCell(v.measured)} | ${v.met === undefined ? 'n/a' : v.met ? '**met**' : '**not met**'} |`;
  for (const v of all.filter((v) => v.group === undefined)) L.push(row(v));
  L.push('');
  L.push('## Targets in the shapes users write (issues 21 and 19)');
  L.push('');
  L.push('Each workload exactly as a user writes it first, beside its peer in the same run. Every ratio is the median\'s, with the lowest and highest of the per-run ratios (runs taken in turns, so run *i* of aof pairs with run *i* of the other).');
  L.push('');
  L.push('| target | measured: ratio (spread); figures | met |');
  L.push('|---|---|---|');
  for (const v of all.filter((v) => v.group === 'users')) L.push(row(v));
  L.push('');
  L.push('## Ratios');
  L.push('');
  L.push(`![aof's figure divided by each floor's and peer's, per workload](${svgFile})`);
  L.push('');
  L.push("Each bar is aof's figure divided by the other's, on a log scale: right of 1× aof is ahead. Red ticks mark the targets.");
  L.push('');
  L.push('## Figures');
  for (const w of WORKLOADS) renderWorkload(L, r, w);
  renderOpen(L, r);
  renderTail(L, r);
  renderSnapshotTick(L, r);
  renderRss(L, r);
  renderCrc(L, r);
  if (r.notes !== undefined && r.notes.trim() !== '') {
    L.push('');
    L.push(r.notes.trim());
  }
  L.push('');
  L.push('## How to run');
  L.push('');
  L.push('```sh');
  L.push('npm ci                      # installs the peers (better-sqlite3 compiles from source: about a minute)');
  L.push('npm run bench               # every workload, writes docs/PERFORMANCE.md and docs/performance.svg (a few minutes)');
  L.push('npm run bench -- --quick    # smoke run: tiny counts, every workload and peer (tests/bench/quick.test.ts runs it)');
  L.push('npm run bench -- --long     # bigger runs; the writer-RSS run writes 10 GiB');
  L.push('npm run bench -- --out /tmp/perf.md --json /tmp/perf.json --dir /mnt/other-disk --only append');
  L.push('```');
  L.push('');
  L.push('The code is in `bench/`: `cases.ts` (workloads and who runs in each), `engines.ts` (each peer and its settings), `raw.ts` (the floor), `special.ts` (open time, tail latency, RSS, CRC), `user-reads.ts` (issue 21\'s read and get shapes), `es-cases.ts` and `es-open-child.ts` (issue 19\'s event-store workloads), `snapshot-case.ts` (the snapshot tick), `report.ts` (this page and the chart).');
  L.push('');
  return L.join('\n');
}

function renderWorkload(L: string[], r: Results, w: WorkloadDef): void {
  const rows = producesOf(r, w.id);
  const aof = valueOf(r, w.id, w.primary);
  const floor = floorValue(r, w);
  L.push('');
  L.push(`### ${w.title}`);
  L.push('');
  L.push(w.what);
  L.push('');
  L.push(`| engine | setting | ${w.unit} (median) | runs | ${rows.find((p) => p.contender === w.primary)?.label ?? 'aof'} ÷ this (run-to-run spread) | this ÷ floor |`);
  L.push('|---|---|---:|---|---:|---:|');
  for (const p of rows) {
    const f = figureOf(r, w.id, p.contender);
    const v = f?.value ?? NaN;
    const name = p.kind === 'floor' ? `${p.label} *(floor)*` : p.kind === 'aof' ? `**${p.label}**` : p.label;
    if (f === undefined || !Number.isFinite(v)) {
      L.push(`| ${mdCell(name)} | ${mdCell(p.setting)} | ${mdCell(f?.note ?? 'not measured')} | | | |`);
      continue;
    }
    const runs = f.runs.map(fmt).join(', ');
    const vsAof = p.contender === w.primary ? '' : fmtRatioSpread(ratio(w, aof, v), spreadOf(w, figureOf(r, w.id, w.primary), f));
    const vsFloor = floor === undefined || p.kind === 'floor' ? '' : fmtRatio(w.lowerIsBetter ? floor.value / v : v / floor.value);
    L.push(`| ${mdCell(name)} | ${mdCell(p.setting)} | ${fmt(v)} | ${runs} | ${vsAof} | ${vsFloor} |`);
  }
  if (floor !== undefined) L.push('', `Floor for "this ÷ floor": ${floor.label} (the fastest floor of this workload).`);
  const extras = rows.map((p) => ({ p, f: figureOf(r, w.id, p.contender) })).filter(({ f }) => f?.extra !== undefined && Object.keys(f.extra).length > 0);
  if (extras.length > 0) {
    L.push('');
    L.push('<details><summary>details</summary>');
    L.push('');
    for (const { p, f } of extras) L.push(`- ${p.label}: ${Object.entries(f!.extra!).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`).join(', ')}`);
    L.push('');
    L.push('</details>');
  }
}

function renderOpen(L: string[], r: Results): void {
  L.push('');
  L.push('### Open time of a log of sealed segments, vs scanning it (aof only)');
  L.push('');
  const f = figureOf(r, 'open', 'open');
  if (f === undefined || !Number.isFinite(f.value)) {
    L.push(f?.note ?? 'not measured');
    return;
  }
  const e = f.extra ?? {};
  L.push(`A log of ${fmt(Number(e.sealedSegments))} sealed segments of ${r.params.openRecordsPerSegment.toLocaleString('en-US')} records each (option \`segment.maxRecords\`), plus the active one: ${fmt(Number(e.records))} records, ${fmt(Number(e.bytes) / 1e6)} MB. Median of the runs after one untimed warm-up each, page cache warm; the untimed warm-up open of the writer, with code still cold, took ${fmt(Number(e.warmUpOpenMs))} ms.`);
  L.push('');
  L.push('| what | ms (median) | runs | ÷ scan |');
  L.push('|---|---:|---|---:|');
  const scan = valueOf(r, 'open', 'scan');
  for (const p of producesOf(r, 'open')) {
    const g = figureOf(r, 'open', p.contender);
    if (g === undefined || !Number.isFinite(g.value)) {
      L.push(`| ${mdCell(p.label)} | ${mdCell(g?.note ?? 'not measured')} | | |`);
      continue;
    }
    L.push(`| ${mdCell(p.label)} (${mdCell(p.setting)}) | ${fmt(g.value)} | ${g.runs.map(fmt).join(', ')} | ${p.contender === 'scan' ? '' : `${((100 * g.value) / scan).toFixed(2)}%`} |`);
  }
}

function renderTail(L: string[], r: Results): void {
  L.push('');
  L.push('### Tail latency (aof only)');
  L.push('');
  L.push(`From an append's acknowledgement to the tail reader's yield of that record, one append at a time (the next once the reader has it), ${r.params.tailSamples.toLocaleString('en-US')} appends, \`flush: 'always'\` (except the user shape, below). Cross-process: both sides stamp CLOCK_MONOTONIC (\`process.hrtime\`), the same clock in every process.`);
  L.push('');
  L.push('| reader | p50 ms | p99 ms | max ms | samples |');
  L.push('|---|---:|---:|---:|---:|');
  for (const p of producesOf(r, 'tail')) {
    const f = figureOf(r, 'tail', p.contender);
    if (f === undefined || !Number.isFinite(f.value)) {
      L.push(`| ${mdCell(p.label)} | ${mdCell(f?.note ?? 'not measured')} | | | |`);
      continue;
    }
    const e = f.extra ?? {};
    L.push(`| ${mdCell(p.label)} | ${fmt(Number(e.p50Ms))} | ${fmt(Number(e.p99Ms))} | ${fmt(Number(e.maxMs))} | ${e.samples}${Number(e.timeouts) > 0 ? ` (${e.timeouts} timed out)` : ''} |`);
  }
  const user = figureOf(r, 'tail', 'in-process-user');
  if (user !== undefined && Number.isFinite(user.value)) {
    const e = user.extra ?? {};
    L.push('', `"As a user writes it" (issue 21): ${producesOf(r, 'tail').find((p) => p.contender === 'in-process-user')?.setting ?? ''}. The writer does not wait for the reader, so the next append's sync overlaps the reader. From the append call to the yield: p50 ${fmt(Number(e.fromCallP50Ms))} ms, p99 ${fmt(Number(e.fromCallP99Ms))} ms; the reader had the record before the writer's await returned in ${e.readerFirst} of ${e.samples} samples.`);
  }
}

function renderSnapshotTick(L: string[], r: Results): void {
  L.push('');
  L.push('### Event-loop tick at 120 Hz during a snapshot save (aof only)');
  L.push('');
  const f = figureOf(r, 'snapshot-tick', 'save');
  const idle = figureOf(r, 'snapshot-tick', 'idle');
  if (f === undefined || !Number.isFinite(f.value)) {
    L.push(f?.note ?? 'not measured');
    return;
  }
  const e = f.extra ?? {};
  const ie = idle?.extra ?? {};
  const col = (x: unknown, i: number): string => String(x ?? '').split(' ')[i] ?? '';
  L.push(`${producesOf(r, 'snapshot-tick')[0]?.setting ?? ''}. State ${e.stateMiB} MiB; a setInterval tick of 8.33 ms, its intervals recorded; the target is a p99 within +10% (9.17 ms) in every run. Each run is reported; "no operation" is the same tick on the idle machine just before.`);
  L.push('');
  L.push('| run | save ms | ticks | interval p50 ms | interval p99 ms | interval max ms | event-loop delay p99 ms | no operation: p99 ms, max ms |');
  L.push('|---:|---:|---:|---:|---:|---:|---:|---|');
  f.runs.forEach((p99, i) => {
    L.push(`| ${i + 1} | ${col(e.saveMsPerRun, i)} | ${col(e.ticksPerRun, i)} | ${col(e.p50MsPerRun, i)} | ${fmt(p99)} | ${col(e.maxMsPerRun, i)} | ${col(e.loopDelayP99MsPerRun, i)} | ${fmt(idle?.runs[i] ?? NaN)}, ${col(ie.maxMsPerRun, i)} |`);
  });
}

function renderRss(L: string[], r: Results): void {
  L.push('');
  L.push('### Writer RSS over a long run (aof only)');
  L.push('');
  const f = figureOf(r, 'rss', 'aof');
  const p = producesOf(r, 'rss')[0];
  if (f === undefined || !Number.isFinite(f.value)) {
    L.push(f?.note ?? 'not measured');
    return;
  }
  const e = f.extra ?? {};
  L.push(`${p?.setting ?? ''}; ${(Number(e.bytesWritten) / 2 ** 30).toFixed(2)} GiB of records in ${fmt(Number(e.seconds))} s, RSS sampled every 100 ms (${e.samples} samples).`);
  L.push('');
  L.push('| RSS at start | max, first half | max, second half | at end | heap max |');
  L.push('|---:|---:|---:|---:|---:|');
  L.push(`| ${fmt(Number(e.rssStartMiB))} MiB | ${fmt(Number(e.rssFirstHalfMaxMiB))} MiB | ${fmt(Number(e.rssSecondHalfMaxMiB))} MiB | ${fmt(Number(e.rssEndMiB))} MiB | ${fmt(Number(e.heapMaxMiB))} MiB |`);
}

function renderCrc(L: string[], r: Results): void {
  L.push('');
  L.push('### CRC-32 implementation');
  L.push('');
  L.push(`In use: ${CRC_IMPL}.`);
  L.push('');
  L.push('| implementation | GB/s over 1 MiB | CRCs of 100 B per second |');
  L.push('|---|---:|---:|');
  for (const p of producesOf(r, 'crc')) {
    const f = figureOf(r, 'crc', p.contender);
    if (f === undefined || !Number.isFinite(f.value)) {
      L.push(`| ${mdCell(p.label)} | ${mdCell(f?.note ?? 'not measured')} | |`);
      continue;
    }
    L.push(`| ${mdCell(p.label)} | ${fmt(f.value)} | ${fmt(Number(f.extra?.crcsOf100BytesPerSecond))} |`);
  }
}
