import { Log } from '../../log.js';
import { checkFlags, UsageError, type ParsedArgs } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, type Io } from '../io.js';

export const statHelp = `aof stat DIR [--json]

Shows the segments of the log in DIR (opened read-only, no lock): status,
sequence and time ranges, sizes, and the commit watermark.`;

export async function statCommand(args: ParsedArgs, io: Io): Promise<number> {
  checkFlags(args, ['json']);
  const dir = args.positionals[0];
  if (dir === undefined) throw new UsageError('stat needs a log directory');
  const log = await Log.open(dir, { readOnly: true });
  try {
    const segments = log.segments();
    const summary = { dir, firstSeq: log.firstSeq, nextSeq: log.nextSeq, records: segments.reduce((n, s) => n + s.recordCount, 0), segments };
    if (args.flags.has('json')) {
      io.out(JSON.stringify(summary, null, 2));
      return ExitCode.OK;
    }
    io.out(`${dir}: ${summary.records} record(s) in ${segments.length} segment(s); sequence ${summary.firstSeq}..${summary.nextSeq - 1}, watermark ${summary.nextSeq}`);
    for (const s of segments) {
      const time = s.recordCount === 0 ? '' : ` ${new Date(s.firstTimestamp).toISOString()} .. ${new Date(s.lastTimestamp).toISOString()}`;
      io.out(`  ${s.status.padEnd(6)} seq ${s.baseSeq}..${s.nextSeq - 1} (${s.recordCount} records, ${formatBytes(s.bytes)})${time}`);
    }
    return ExitCode.OK;
  } finally {
    await log.close();
  }
}
