import * as fs from 'node:fs';
import { AofError, GapError } from '../../errors.js';
import { Log } from '../../log.js';
import type { LogRecord } from '../../read/record.js';
import { choiceOption, intOption, UsageError } from '../args.js';
import { CannotRunError, defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes, formatTime, type Io } from '../io.js';
import { decodeRawFile, type RawEvent } from '../raw.js';

/** How records are printed. */
export type RecordFormat = 'json' | 'hex' | 'utf8';
export const RECORD_FORMATS: readonly RecordFormat[] = ['json', 'hex', 'utf8'];

export const dumpCommand = defineCommand({
  name: 'dump',
  help: `usage: aof dump DIR [--from N] [--to N] [--format json|hex|utf8]
       aof dump --raw FILE [--records] [--format json|hex|utf8] [--json]

Prints the records of the log in DIR (opened read-only, no lock), one per line:
  json  (default) {"seq":N,"timestamp":MS,"payload":"...","encoding":"utf8"|"base64"}
  hex   SEQ TIMESTAMP HEX
  utf8  SEQ<TAB>TIMESTAMP<TAB>TEXT (a payload that is not UTF-8 as base64:...)

  --from N   first sequence number (default: the first in the log)
  --to N     stop before this sequence number (default: the commit watermark)

With a redirect to a file (aof dump DIR > out.jsonl) and a terminal on stderr,
a progress bar is drawn on stderr; never when stdout is a pipe.

--raw FILE decodes a single file frame by frame, without opening the log: a
segment file, or a file under recovery/ (bytes repair or recovery cut off,
which start mid-segment with no header: their checksums are verified with
the salt of the segment they came from, found by their name, or reported as
unverifiable). It shows the header, every frame (offset, length, sequence
range, timestamp, type, checksum ok/BAD), each damaged span and whether valid
frames follow it, and the footer.

  --records  also print each record of the verified data frames (--format)
  --json     one JSON object per line (kind: raw-file, header, salt, frame,
             damage, footer, summary) instead of the table

A range of sequence numbers that an earlier \`aof repair --mode skip\` recorded
as lost (a gap) is reported on stderr (AOF_GAP) and the dump goes on after it.

Exit status: 0 on success, 1 when damage stopped the dump (AOF_CORRUPT,
printed on stderr with file and offset) or --raw found damage or could not
verify the checksums (a torn or zero tail is a warning), 2 on bad usage,
3 when it could not run.
${EXIT_STATUS_HELP}`,
  options: {
    from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' },
    raw: { type: 'boolean' }, records: { type: 'boolean' }, json: { type: 'boolean' },
  },
  positionals: { required: ['DIR (or FILE with --raw)'] },
  async run({ values, positionals: [target] }, io) {
    const format = choiceOption('format', values.format, RECORD_FORMATS, 'json');
    if (values.raw === true) {
      if (values.from !== undefined || values.to !== undefined) throw new UsageError('--from and --to apply to a log directory, not to --raw');
      return dumpRaw(target!, { records: values.records === true, json: values.json === true, format }, io);
    }
    if (values.records === true || values.json === true) throw new UsageError(`--${values.records === true ? 'records' : 'json'} applies to --raw; the records of a log directory are printed with --format`);
    const from = intOption('from', values.from);
    const to = intOption('to', values.to);
    if (from !== undefined && to !== undefined && to < from) throw new UsageError(`--to ${to} is before --from ${from}`);
    return dumpLog(target!, from, to, format, io);
  },
});

async function dumpLog(dir: string, from: number | undefined, to: number | undefined, format: RecordFormat, io: Io): Promise<number> {
  requireLogDir(dir);
  const log = await Log.open(dir, { readOnly: true });
  // Fixed once, so that a read resumed after a gap stops where the first would have.
  const end = to ?? log.nextSeq;
  let next = from ?? log.firstSeq;
  const progress = io.progress('dumping', Math.max(0, end - next), 'records', { json: false, streaming: true });
  const started = next;
  let done = 0;
  try {
    for (;;) {
      try {
        for await (const record of log.read({ from: next, to: Math.max(next, end) })) {
          await io.write(formatRecord(record, format));
          next = record.seq + 1;
          if (++done % 1024 === 0) progress.update(next - started);
        }
        return ExitCode.OK;
      } catch (err) {
        // A range an earlier `repair --mode skip` recorded as lost: say so, and go on after it.
        if (!(err instanceof GapError)) throw err;
        io.err(`aof dump: ${err.code}: ${err.message}; continuing at ${err.to}`);
        next = err.to;
      }
    }
  } catch (err) {
    if (err instanceof AofError && err.code === 'AOF_CORRUPT') {
      progress.stop();
      io.err(`aof dump: ${err.code}: ${err.message}`);
      io.err(`aof dump: stopped after ${done} record(s); run aof verify ${dir} for every problem`);
      return ExitCode.PROBLEMS;
    }
    throw err;
  } finally {
    progress.stop();
    await log.close();
  }
}

/** One record as a line of the chosen format. */
export function formatRecord(r: LogRecord, format: RecordFormat): string {
  if (format === 'hex') return `${r.seq} ${r.timestamp} ${r.payload.toString('hex')}`;
  const text = r.payload.toString('utf8');
  const isUtf8 = Buffer.from(text, 'utf8').equals(r.payload);
  if (format === 'utf8') return `${r.seq}\t${r.timestamp}\t${isUtf8 ? text : `base64:${r.payload.toString('base64')}`}`;
  return JSON.stringify({ seq: r.seq, timestamp: r.timestamp, payload: isUtf8 ? text : r.payload.toString('base64'), encoding: isUtf8 ? 'utf8' : 'base64' });
}

async function dumpRaw(file: string, options: { records: boolean; json: boolean; format: RecordFormat }, io: Io): Promise<number> {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new CannotRunError(`${file} is not a file (dump --raw decodes one segment file or a file under recovery/)`);
  } catch (err) {
    if (err instanceof CannotRunError) throw err;
    throw new CannotRunError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const print = options.json ? (e: RawEvent) => io.write(rawJson(e, options.format)) : textPrinter(io, options.format);
  const summary = await decodeRawFile(file, { records: options.records }, print);
  return summary.ok ? ExitCode.OK : ExitCode.PROBLEMS;
}

function rawJson(e: RawEvent, format: RecordFormat): string {
  if (e.kind !== 'frame' || e.records === undefined) return JSON.stringify(e);
  const records = e.records.map((r) => JSON.parse(formatRecord({ seq: r.seq, timestamp: e.timestamp, payload: r.payload }, 'json')) as unknown);
  if (format !== 'json') {
    for (const [i, r] of e.records.entries()) (records[i] as Record<string, unknown>).text = formatRecord({ seq: r.seq, timestamp: e.timestamp, payload: r.payload }, format);
  }
  return JSON.stringify({ ...e, records });
}

/** The table form of `dump --raw`. */
function textPrinter(io: Io, format: RecordFormat): (e: RawEvent) => Promise<void> {
  let tableStarted = false;
  const table = async (): Promise<void> => {
    if (tableStarted) return;
    tableStarted = true;
    await io.write(`${'offset'.padStart(10)} ${'bytes'.padStart(8)}  ${'sequence'.padEnd(17)} ${'timestamp'.padEnd(24)} ${'type'.padEnd(5)} crc`);
  };
  return async (e) => {
    switch (e.kind) {
      case 'raw-file': {
        await io.write(`file    ${e.file} (${formatBytes(e.bytes)})`);
        if (e.label !== null) {
          const what = e.hasHeader ? `a whole copy of segment ${e.segment}` : `bytes [${e.segmentOffset}, ${e.segmentOffset + e.bytes}) of segment ${e.segment}, with no header`;
          await io.write(`        ${what}, kept as ${e.label} at ${formatTime(e.keptAtMs ?? 0)}; offsets below are in the segment`);
        }
        return;
      }
      case 'header':
        await io.write(e.ok
          ? `header  format version ${e.version}, base sequence ${e.baseSeq}, created ${formatTime(e.createdMs ?? 0)}, salt ${e.salt}${e.salt === e.saltCopy ? '' : ` (copy differs: ${e.saltCopy})`}, checksum ok`
          : `header  DAMAGED: ${e.error}`);
        return;
      case 'salt':
        await io.write(e.salt === null ? `salt    none: ${e.source}; checksums are NOT verified` : `salt    ${e.salt} from ${e.source}`);
        return;
      case 'frame': {
        await table();
        const seq = e.type === 'close' ? `(next ${e.firstSeq})` : e.type === 'gap' ? `${e.firstSeq}..${e.firstSeq + e.count - 1} lost` : `${e.firstSeq}..${e.firstSeq + e.count - 1}`;
        const crc = e.crc === 'ok' ? 'ok' : e.crc === 'bad' ? 'BAD' : 'unverified';
        await io.write(`${String(e.offset).padStart(10)} ${String(e.bytes).padStart(8)}  ${seq.padEnd(17)} ${formatTime(e.timestamp).padEnd(24)} ${e.type.padEnd(5)} ${crc}${e.note === null ? '' : `  (${e.note})`}`);
        for (const r of e.records ?? []) await io.write(`${' '.repeat(21)}${formatRecord({ seq: r.seq, timestamp: e.timestamp, payload: r.payload }, format)}`);
        return;
      }
      case 'damage': {
        await table();
        const label = e.type === 'corrupt' ? 'DAMAGED' : e.type === 'torn-tail' ? 'TORN TAIL' : 'ZEROS';
        const after = e.resumesAt !== null ? `valid frames resume at ${e.resumesAt}` : e.type === 'zeros' ? 'unwritten or preallocated space' : e.type === 'torn-tail' ? 'nothing valid follows: what a crash mid-write leaves' : 'nothing valid follows';
        await io.write(`${String(e.offset).padStart(10)} ${String(e.bytes).padStart(8)}  ${label} [${e.offset}, ${e.offset + e.bytes}): ${e.reason}; ${after}`);
        return;
      }
      case 'footer':
        if (!e.ok || e.summary === null) {
          await io.write(`footer  at ${e.offset}: DAMAGED: ${e.error}`);
        } else {
          const s = e.summary;
          await io.write(`footer  at ${e.offset} (${e.bytes} B): ${s.recordCount} records, sequence ${s.firstSeq}..${s.nextSeq - 1}, ${formatTime(s.firstTimestamp)} .. ${formatTime(s.lastTimestamp)}, ${s.indexEntries} index entries, checksum ok${e.mismatch === null ? '' : `; DISAGREES with the frames: ${e.mismatch}`}`);
        }
        return;
      case 'summary':
        await io.write(`summary ${e.frames} frame(s), ${e.records} record(s), ${e.badFrames} with a bad checksum, ${formatBytes(e.damagedBytes)} damaged: ${e.verdict}`);
        return;
    }
  };
}
