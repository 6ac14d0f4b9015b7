import { AofError, GapError } from '../../errors.js';
import { Log } from '../../log.js';
import { choiceOption, intOption, UsageError } from '../args.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatRecord, RECORD_FORMATS } from './dump.js';
import { interruptOnSignals } from '../interrupt.js';

/** Records `aof tail` shows before following when neither --from nor -n is given (as tail(1)). */
const DEFAULT_LINES = 10;

export const tailCommand = defineCommand({
  name: 'tail',
  help: `usage: aof tail DIR [-f] [-n N | --from N] [--format json|hex|utf8]

Prints the last records of the log in DIR, one per line (formats as in
aof dump). With -f (--follow), keeps printing each new record as soon as the
writer (in another process) has acknowledged it, across segment rolls, until
interrupted: Ctrl-C (SIGINT) or SIGTERM ends it cleanly with exit status 0.
Opens the log read-only and takes no lock: it never slows the writer, and
never shows a record whose append has not resolved.

  -f, --follow    follow new records until interrupted
  -n, --lines N   start N records before the end (default ${DEFAULT_LINES})
  --from N        start at sequence number N instead
  --format F      json (default), hex or utf8

A range an earlier \`aof repair --mode skip\` recorded as lost is reported on
stderr (AOF_GAP) and skipped.

Exit status: 0 when done or interrupted, 1 when damage stopped it (AOF_CORRUPT)
or it fell behind the start of the log (AOF_BEHIND_RETENTION),
2 on bad usage, 3 when it could not run.
${EXIT_STATUS_HELP}`,
  options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, from: { type: 'string' }, format: { type: 'string' } },
  positionals: { required: ['DIR'] },
  async run({ values, positionals: [dir] }, io) {
    const format = choiceOption('format', values.format, RECORD_FORMATS, 'json');
    const from = intOption('from', values.from);
    const lines = intOption('lines', values.lines);
    if (from !== undefined && lines !== undefined) throw new UsageError('give either --from or -n, not both');
    requireLogDir(dir!);
    const interrupted = interruptOnSignals();
    let log: Log | undefined;
    try {
      log = await Log.open(dir!, { readOnly: true });
      const start = from ?? Math.max(log.firstSeq, log.nextSeq - (lines ?? DEFAULT_LINES));
      if (values.follow !== true) {
        const end = log.nextSeq;
        let next = start;
        while (next < end && !interrupted.signal.aborted) {
          try {
            for await (const record of log.read({ from: next, to: end })) {
              if (interrupted.signal.aborted) break;
              await io.write(formatRecord(record, format));
              next = record.seq + 1;
            }
            break;
          } catch (err) {
            if (!(err instanceof GapError)) throw err;
            io.err(`aof tail: ${err.code}: ${err.message}; continuing at ${err.to}`);
            next = err.to;
          }
        }
        return ExitCode.OK;
      }
      io.err(`aof tail: following ${dir} from sequence ${start} (Ctrl-C to stop)`);
      let next = start;
      for (;;) {
        try {
          for await (const record of log.tail({ from: next, signal: interrupted.signal })) {
            await io.write(formatRecord(record, format));
            next = record.seq + 1;
          }
          return ExitCode.OK;
        } catch (err) {
          // A range an earlier `repair --mode skip` recorded as lost: say so, and follow on after it.
          if (!(err instanceof GapError)) throw err;
          io.err(`aof tail: ${err.code}: ${err.message}; continuing at ${err.to}`);
          next = err.to;
        }
      }
    } catch (err) {
      if (interrupted.signal.aborted && (err as { name?: unknown }).name === 'AbortError') return ExitCode.OK;
      if (err instanceof AofError && (err.code === 'AOF_CORRUPT' || err.code === 'AOF_BEHIND_RETENTION')) {
        io.err(`aof tail: ${err.code}: ${err.message}`);
        return ExitCode.PROBLEMS;
      }
      throw err;
    } finally {
      await log?.close();
      interrupted.dispose();
    }
  },
});
