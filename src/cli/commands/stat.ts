import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SegmentCatalog } from '../../catalog/catalog.js';
import { catalogDamageOf, catalogDisagreement } from '../../catalog/check.js';
import { fileMayBeAbsent } from '../../catalog/status.js';
import { AofError, GapError } from '../../errors.js';
import type { LogRecord } from '../../read/record.js';
import { nodeFs } from '../../fs/node-fs.js';
import { processAlive } from '../../lock/process-alive.js';
import { LOCK_NAME } from '../../lock/writer-lock.js';
import { Log } from '../../log.js';
import type { SegmentInfo, SegmentStatus } from '../../log/segment-info.js';
import { analyzeSegment } from '../../recovery/analyze.js';
import { listSegmentBases } from '../../recovery/load-segments.js';
import { DEFAULTS } from '../../options.js';
import { readSegmentEnvelope } from '../../segment/load.js';
import { segmentPath } from '../../segment/names.js';
import { readWatermark } from '../../tail/watermark.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes, formatTime, type Io } from '../io.js';

export const statCommand = defineCommand({
  name: 'stat',
  help: `usage: aof stat DIR [--json]

Shows the log in DIR without reading its data: each segment with its status
(from the LMDB catalog), sequence and time ranges and size; the active tail;
the commit watermark (what readers can see) and the one the writer last
published; the writer holding the lock, if any; and whether the catalog
agrees with the segment files (their headers and footers). Opens the log
read-only and takes no lock, so it can run beside a live writer.

  --json   print the same as JSON

Exit status: 0 when the log opens and the catalog agrees with the files,
1 when the log cannot be opened because of damage (the segment files are
then listed with what is wrong; run aof verify) or the catalog disagrees with
the files (the next writer open reconciles it), 3 when it could not run.
${EXIT_STATUS_HELP}`,
  options: { json: { type: 'boolean' } },
  positionals: { required: ['DIR'] },
  async run({ values, positionals: [dir] }, io) {
    requireLogDir(dir!);
    const report = await statLog(dir!);
    if (values.json === true) io.out(JSON.stringify(report, null, 2));
    else printStat(report, io);
    return report.ok ? ExitCode.OK : ExitCode.PROBLEMS;
  },
});

/** What one segment file says from its header and footer (or, for the active one, from the reader). */
export interface FileFacts {
  bytes: number;
  sealed: boolean;
  nextSeq: number;
  recordCount: number;
  firstTimestamp: number;
  lastTimestamp: number;
}

/** One row of `aof stat`: the catalog's view of a segment, the file's, and whether they agree. */
export interface StatSegment extends Omit<SegmentInfo, 'status'> {
  /** The catalog's status; `damaged` for a file whose header or footer cannot be read (when the log cannot be opened). */
  status: SegmentStatus | 'damaged';
  /** Whether the catalog has an entry for it (false: known from its file alone). */
  inCatalog: boolean;
  /** What the file says (null: no file, as for an evicted segment). The active segment's figures are live, up to the watermark. */
  onDisk: FileFacts | null;
  /** Why catalog and file disagree, if they do. */
  disagreement: string | null;
}

/** The result of `aof stat`. */
export interface StatReport {
  dir: string;
  /** False when the log could not be opened (damage) or catalog and files disagree. */
  ok: boolean;
  /** First sequence number held. */
  firstSeq: number;
  /** The commit watermark as a reader sees it: the sequence number after the last acknowledged record. */
  nextSeq: number;
  /** The watermark the writer last published for readers in other processes (null: none published). */
  publishedWatermark: number | null;
  /** Records held (as the files say). */
  records: number;
  /** Bytes of all segment files. */
  bytes: number;
  /** The process holding the writer lock (null: none). `running` is null when it is on another host. */
  writer: { pid: number | null; host: string | null; running: boolean | null } | null;
  catalog: {
    /** `ok`: read; `absent`: never written (the next writer open builds it); `damaged`: unreadable (rebuilt at the next writer open). */
    state: 'ok' | 'absent' | 'damaged';
    /** Whether every entry agrees with its file (null when there is no readable catalog). */
    agrees: boolean | null;
  };
  segments: StatSegment[];
  /** The active segment (receiving appends), when there is one. */
  active: { baseSeq: number; nextSeq: number; records: number; bytes: number; file: string } | null;
  /**
   * What the end of the active segment holds, from a scan of its frames, as
   * the next writer open will find it: `clean` (ends on a frame), `closed`
   * (ends with the clean-close marker), `zero-tail` or `torn-tail` (cut off
   * by the next writer open, a torn tail kept under recovery/), `corrupt`
   * (valid frames follow damage: the next writer open refuses; run repair).
   * `not-checked` while a writer is running (its in-flight frames would look
   * torn) or when there is no active segment.
   */
  activeEnd: { state: 'clean' | 'closed' | 'zero-tail' | 'torn-tail' | 'corrupt' | 'not-checked'; offset: number | null; bytes: number | null; message: string | null };
  /** Why the log could not be opened, and what each segment file's header and footer say then. */
  openError: { code: string; message: string; file: string | null; offset: number | null } | null;
  fileErrors: Array<{ file: string; code: string; offset: number | null; message: string }>;
}

/** Gathers everything `aof stat` shows. */
export async function statLog(dir: string): Promise<StatReport> {
  const writer = readWriter(dir);
  const live = writer?.running === true;
  const report: StatReport = {
    dir, ok: true, firstSeq: 0, nextSeq: 0, publishedWatermark: null, records: 0, bytes: 0, writer, catalog: { state: 'absent', agrees: null },
    segments: [], active: null, activeEnd: { state: 'not-checked', offset: null, bytes: null, message: null }, openError: null, fileErrors: [],
  };
  let log: Log | undefined;
  try {
    log = await Log.open(dir, { readOnly: true });
  } catch (err) {
    if (!(err instanceof AofError) || (err.code !== 'AOF_CORRUPT' && err.code !== 'AOF_UNSUPPORTED_FORMAT')) throw err;
    report.ok = false;
    report.openError = { code: err.code, message: err.message, file: err.file ?? null, offset: err.offset ?? null };
  }
  try {
    // The catalog first, then the files: a live writer changes a file before its catalog entry, so read in this order the files are never behind the catalog.
    const catalogView = log?.segments() ?? [];
    if (log !== undefined) {
      report.catalog.state = await catalogState(dir);
      report.firstSeq = log.firstSeq;
      report.nextSeq = log.nextSeq;
    }
    report.publishedWatermark = (await readWatermark(nodeFs, dir)) ?? null;
    const files = await readFiles(dir);
    report.bytes = files.reduce((n, f) => n + f.size, 0);
    report.fileErrors = files.flatMap((f) => (f.error === undefined ? [] : [f.error]));
    const last = files[files.length - 1];
    const activeRow = last !== undefined && last.facts === undefined && last.error === undefined ? last : undefined;
    // A live writer's in-flight frames would look like a torn tail: the end is checked only when no writer runs.
    if (activeRow !== undefined && !live) report.activeEnd = await checkActiveEnd(activeRow);
    if (report.activeEnd.state === 'corrupt') report.ok = false;
    if (log === undefined) {
      report.segments = files.map((f) => fileOnlySegment(f));
      report.records = files.reduce((n, f) => n + (f.facts?.recordCount ?? 0), 0);
      report.firstSeq = files[0]?.baseSeq ?? 0;
      return report;
    }
    const byBase = new Map(files.map((f) => [f.baseSeq, f]));
    if (activeRow !== undefined) {
      // The active segment: the reader's view, up to the watermark.
      activeRow.facts = await liveFacts(log, activeRow);
      report.active = { baseSeq: activeRow.baseSeq, nextSeq: activeRow.facts.nextSeq, records: activeRow.facts.recordCount, bytes: activeRow.size, file: activeRow.file };
    }
    const inCatalog = report.catalog.state === 'ok';
    const seen = new Set<number>();
    for (const info of catalogView) {
      seen.add(info.baseSeq);
      const file = byBase.get(info.baseSeq);
      report.segments.push({ ...info, inCatalog, onDisk: file?.facts ?? null, disagreement: inCatalog ? disagreement(info, file, live) : null });
    }
    const newestInCatalog = catalogView[catalogView.length - 1]?.baseSeq ?? -1;
    for (const f of files) {
      if (seen.has(f.baseSeq)) continue;
      // A live writer adds a segment to the catalog just after creating its file.
      const lagging = live && f.baseSeq > newestInCatalog;
      report.segments.push({ ...fileOnlySegment(f), disagreement: inCatalog && !lagging ? 'the segment file is not in the catalog' : null });
    }
    report.segments.sort((a, b) => a.baseSeq - b.baseSeq);
    report.records = report.segments.reduce((n, s) => n + (s.onDisk?.recordCount ?? 0), 0);
    if (inCatalog) report.catalog.agrees = report.segments.every((s) => s.disagreement === null);
    // Every figure of every sealed entry against its intact file's header and footer, as verify checks them (creation time and footer checksum included).
    if (inCatalog && report.catalog.agrees === true && (await catalogDisagreement(dir)) !== undefined) report.catalog.agrees = false;
    if (report.catalog.agrees === false) report.ok = false;
    return report;
  } finally {
    await log?.close();
  }
}

/** Scans the active segment's frames as the next writer open will: how does it end? */
async function checkActiveEnd(row: FileRow): Promise<StatReport['activeEnd']> {
  const handle = await nodeFs.open(row.file, 'read');
  try {
    const a = await analyzeSegment(handle, row.baseSeq, { readAheadBytes: DEFAULTS.readAheadBytes, indexIntervalBytes: DEFAULTS.indexIntervalBytes });
    row.gaps = a.gaps;
    if (row.facts === undefined) row.facts = { bytes: a.size, sealed: false, nextSeq: a.nextSeq, recordCount: a.recordCount, firstTimestamp: 0, lastTimestamp: 0 };
    const corrupt = a.damage.find((d) => d.resumeAt !== undefined);
    if (corrupt !== undefined) {
      return { state: 'corrupt', offset: corrupt.offset, bytes: null, message: `damaged frame (${corrupt.reason}) followed by valid frames from offset ${corrupt.resumeAt!.offset}: a writer open refuses the log; run aof repair` };
    }
    const tail = a.damage[a.damage.length - 1];
    if (tail !== undefined) {
      const bytes = a.size - tail.offset;
      return a.trailingZeros
        ? { state: 'zero-tail', offset: tail.offset, bytes, message: `${bytes} zero bytes after the last frame (unwritten or preallocated space): the next writer open cuts them off` }
        : { state: 'torn-tail', offset: tail.offset, bytes, message: `a torn tail of ${bytes} bytes (${tail.reason}): the next writer open keeps it under recovery/ and cuts it off; nothing acknowledged is in it` };
    }
    if (a.closeMarkerAt !== undefined) return { state: 'closed', offset: a.closeMarkerAt, bytes: null, message: 'ends with the clean-close marker: the log was closed cleanly' };
    return { state: 'clean', offset: a.dataEnd, bytes: null, message: 'ends on a whole frame with no close marker: the writer stopped without closing (crash or kill) at a frame boundary' };
  } finally {
    await handle.close();
  }
}

interface FileRow {
  baseSeq: number;
  file: string;
  size: number;
  facts: FileFacts | undefined;
  error: StatReport['fileErrors'][number] | undefined;
  /** Ranges recorded as lost by an earlier repair (known once the active segment was scanned). */
  gaps: Array<{ from: number; to: number }>;
}

/** Each segment file's size, header and footer (never its data). */
async function readFiles(dir: string): Promise<FileRow[]> {
  const rows: FileRow[] = [];
  for (const base of await listSegmentBases(nodeFs, dir)) {
    const file = segmentPath(dir, base);
    const handle = await nodeFs.open(file, 'read');
    const row: FileRow = { baseSeq: base, file, size: 0, facts: undefined, error: undefined, gaps: [] };
    try {
      row.size = await handle.size();
      const envelope = await readSegmentEnvelope(handle, base);
      if (envelope.kind === 'sealed') {
        const s = envelope.summary;
        row.facts = { bytes: envelope.size, sealed: true, nextSeq: s.nextSeq, recordCount: s.recordCount, firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp };
      } else if (envelope.kind === 'unborn') {
        row.error = { file, code: 'AOF_CORRUPT', offset: 0, message: 'segment file has no header (a crash during its creation; the next writer open moves it to recovery/)' };
      }
    } catch (err) {
      if (!(err instanceof AofError)) throw err;
      row.error = { file, code: err.code, offset: err.offset ?? null, message: err.message };
    } finally {
      await handle.close();
    }
    rows.push(row);
  }
  return rows;
}

/** The active segment's figures as a reader sees them: up to the commit watermark (less the gaps a repair recorded, when its scan found them). */
async function liveFacts(log: Log, row: FileRow): Promise<FileFacts> {
  const baseSeq = row.baseSeq;
  const nextSeq = Math.max(log.nextSeq, baseSeq);
  const lost = row.gaps.reduce((n, g) => n + Math.max(0, Math.min(g.to, nextSeq) - g.from), 0);
  const facts: FileFacts = { bytes: row.size, sealed: false, nextSeq, recordCount: nextSeq - baseSeq - lost, firstTimestamp: 0, lastTimestamp: 0 };
  if (nextSeq > baseSeq) {
    facts.firstTimestamp = (await firstRecordAt(log, baseSeq, nextSeq))?.timestamp ?? 0;
    facts.lastTimestamp = (await log.get(nextSeq - 1).catch(() => undefined))?.timestamp ?? 0;
  }
  return facts;
}

/** The first record in `[from, to)`, stepping over gaps. */
async function firstRecordAt(log: Log, from: number, to: number): Promise<LogRecord | undefined> {
  for (let seq = from; seq < to; ) {
    try {
      return await log.get(seq);
    } catch (err) {
      if (!(err instanceof GapError)) return undefined;
      seq = err.to;
    }
  }
  return undefined;
}

function fileOnlySegment(f: FileRow): StatSegment {
  const facts = f.facts;
  const status: StatSegment['status'] = f.error !== undefined ? 'damaged' : facts?.sealed === true ? 'sealed' : 'active';
  return {
    baseSeq: f.baseSeq, nextSeq: facts?.nextSeq ?? f.baseSeq, recordCount: facts?.recordCount ?? 0, bytes: f.size,
    firstTimestamp: facts?.firstTimestamp ?? 0, lastTimestamp: facts?.lastTimestamp ?? 0, status, file: f.file, archive: null,
    inCatalog: false, onDisk: facts ?? null, disagreement: null,
  };
}

/**
 * How a catalog entry and its file disagree, or null. The active segment's
 * entry lags its file by design (updated at roll and close), and a live
 * writer seals a file just before it updates the entry.
 */
function disagreement(info: SegmentInfo, file: FileRow | undefined, live: boolean): string | null {
  if (file === undefined) return fileMayBeAbsent(info.status) ? null : `the catalog lists it as ${info.status}, but its file is missing`;
  if (file.error !== undefined) return `its file is damaged: ${file.error.message}`;
  const facts = file.facts;
  if (facts === undefined) return null;
  if (!facts.sealed) return info.status === 'active' ? null : `the catalog says ${info.status}, but the file has no footer (it is the active segment)`;
  if (info.status === 'active') return live ? null : 'the catalog still says active, but the file is sealed (a crash between sealing and the catalog write)';
  const fields = (['nextSeq', 'recordCount', 'firstTimestamp', 'lastTimestamp', 'bytes'] as const).filter((k) => info[k] !== facts[k]);
  return fields.length === 0 ? null : `the catalog disagrees with the footer on ${fields.map((k) => `${k} (${info[k]} vs ${facts[k]})`).join(', ')}`;
}

async function catalogState(dir: string): Promise<StatReport['catalog']['state']> {
  // The probe verify runs (every page of every tree, in a child process): stat and verify agree on a damaged catalog.
  if ((await catalogDamageOf(dir, false)) !== undefined) return 'damaged';
  try {
    const catalog = await SegmentCatalog.open(dir, true);
    if (catalog === undefined) return 'absent';
    try {
      catalog.all();
      return 'ok';
    } finally {
      await catalog.close();
    }
  } catch {
    return 'damaged';
  }
}

/** The holder of the writer lock, from `LOCK/owner.json` (docs/FORMAT.md). */
function readWriter(dir: string): StatReport['writer'] {
  const lock = path.join(dir, LOCK_NAME);
  if (!fs.existsSync(lock)) return null;
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(lock, 'owner.json'), 'utf8')) as { pid?: unknown; host?: unknown; processStart?: unknown };
    const pid = typeof owner.pid === 'number' ? owner.pid : null;
    const host = typeof owner.host === 'string' ? owner.host : null;
    const local = host === null || host === os.hostname();
    const running = pid === null || !local ? null : processAlive(pid, typeof owner.processStart === 'string' ? owner.processStart : undefined);
    return { pid, host, running };
  } catch {
    return { pid: null, host: null, running: null };
  }
}

function printStat(r: StatReport, io: Io): void {
  io.out(`log ${r.dir}`);
  const range = r.nextSeq > r.firstSeq ? `sequence ${r.firstSeq}..${r.nextSeq - 1}` : `no records yet, next sequence ${r.nextSeq}`;
  if (r.openError === null) io.out(`  records    ${r.records} (${range}), ${formatBytes(r.bytes)} in ${r.segments.length} segment(s)`);
  else io.out(`  records    ${r.records} in the segments whose headers and footers could be read; ${formatBytes(r.bytes)} in ${r.segments.length} segment file(s)`);
  if (r.openError === null) io.out(`  watermark  ${r.nextSeq} (readers see records below it)${r.publishedWatermark === null ? '; none published by a writer' : `; last published by the writer: ${r.publishedWatermark}`}`);
  const w = r.writer;
  io.out(`  writer     ${w === null ? 'none (the lock is free)' : `pid ${w.pid ?? '?'}${w.host === null ? '' : ` on ${w.host}`}${w.running === null ? '' : w.running ? ', running' : ', not seen running here (its pid may be in another PID namespace: the kernel lock decides whether the next writer may take it over)'}`}`);
  if (r.openError === null) {
    const c = r.catalog;
    const catalogLine = c.state === 'absent' ? 'absent (the next writer open builds it from the segment files)'
      : c.state === 'damaged' ? 'damaged (unreadable; the next writer open rebuilds it from the segment files)'
      : c.agrees === true ? 'agrees with the segment files' : 'DISAGREES with the segment files (the next writer open reconciles it; the files are the truth)';
    io.out(`  catalog    ${catalogLine}`);
  }
  if (r.openError !== null) io.out(`  cannot open the log: ${r.openError.code}: ${r.openError.message}`);
  io.out('');
  const rows = r.segments.map((s) => {
    const d = s.onDisk;
    const seq = d === null ? (s.status === 'damaged' ? `${s.baseSeq}..?` : `${s.baseSeq}..${s.nextSeq - 1}`) : d.nextSeq > s.baseSeq ? `${s.baseSeq}..${d.nextSeq - 1}` : `${s.baseSeq} (empty)`;
    return [path.basename(s.file), s.status, seq, String(d?.recordCount ?? s.recordCount), formatBytes(d?.bytes ?? s.bytes), formatTime(d?.firstTimestamp ?? s.firstTimestamp), formatTime(d?.lastTimestamp ?? s.lastTimestamp)];
  });
  const header = ['segment', 'status', 'sequence', 'records', 'bytes', 'first record', 'last record'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]): string => `  ${cells.map((c, i) => (i === 3 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  io.out(fmt(header));
  for (const row of rows) io.out(fmt(row));
  for (const s of r.segments) if (s.disagreement !== null) io.out(`  ! ${path.basename(s.file)}: ${s.disagreement}`);
  for (const e of r.fileErrors) io.out(`  ! ${path.basename(e.file)}: ${e.code} at offset ${e.offset ?? '?'}: ${e.message}`);
  if (r.active !== null) {
    io.out('');
    io.out(`  active tail: ${path.basename(r.active.file)}, ${r.active.records} record(s) up to the watermark, ${formatBytes(r.active.bytes)} on disk${r.writer?.running === true ? ' (a live writer preallocates space ahead of its last frame)' : ''}`);
  }
  const end = r.activeEnd;
  if (end.state !== 'not-checked') io.out(`  ${end.state === 'corrupt' ? '! ' : ''}end of the active segment${end.offset === null ? '' : ` (offset ${end.offset})`}: ${end.message}`);
  if (r.openError !== null) io.out('run `aof verify DIR` for every problem with its offset, then `aof repair DIR`');
}
