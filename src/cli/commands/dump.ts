import { Log } from '../../log.js';
import type { LogRecord } from '../../read/record.js';
import { checkFlags, flagInt, flagString, UsageError, type ParsedArgs } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';

export const dumpHelp = `aof dump DIR [--from N] [--to N] [--format json|hex|utf8]

Prints records of the log in DIR (opened read-only), one per line:
  json  (default) {"seq":N,"timestamp":MS,"payload":"...","encoding":"utf8"|"base64"}
  hex   SEQ TIMESTAMP HEX
  utf8  SEQ<TAB>TIMESTAMP<TAB>TEXT

Exit status: 0 on success, 1 if damage stopped the dump (AOF_CORRUPT or
AOF_GAP, printed on stderr with file and offset), 2 on bad usage, 3 on failure.`;

type Format = 'json' | 'hex' | 'utf8';

export async function dumpCommand(args: ParsedArgs, io: Io): Promise<number> {
  checkFlags(args, ['from', 'to', 'format']);
  const dir = args.positionals[0];
  if (dir === undefined) throw new UsageError('dump needs a log directory');
  const format = (flagString(args, 'format') ?? 'json') as Format;
  if (!['json', 'hex', 'utf8'].includes(format)) throw new UsageError(`--format must be json, hex or utf8, got ${format}`);
  const log = await Log.open(dir, { readOnly: true });
  try {
    const from = flagInt(args, 'from');
    const to = flagInt(args, 'to');
    for await (const record of log.read({ ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })) io.out(formatRecord(record, format));
    return ExitCode.OK;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'AOF_CORRUPT' || code === 'AOF_GAP') {
      io.err(`${code}: ${(err as Error).message}`);
      return ExitCode.PROBLEMS;
    }
    throw err;
  } finally {
    await log.close();
  }
}

/** One record as a line of the chosen format. */
export function formatRecord(r: LogRecord, format: Format): string {
  if (format === 'hex') return `${r.seq} ${r.timestamp} ${r.payload.toString('hex')}`;
  const text = r.payload.toString('utf8');
  const isUtf8 = Buffer.from(text, 'utf8').equals(r.payload);
  if (format === 'utf8') return `${r.seq}\t${r.timestamp}\t${isUtf8 ? text : `base64:${r.payload.toString('base64')}`}`;
  return JSON.stringify({ seq: r.seq, timestamp: r.timestamp, payload: isUtf8 ? text : r.payload.toString('base64'), encoding: isUtf8 ? 'utf8' : 'base64' });
}
