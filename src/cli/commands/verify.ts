import { Log } from '../../log.js';
import type { VerifyReport } from '../../recovery/verify.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { readProgress, segmentBytes } from '../read-progress.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  help: `usage: aof verify DIR [--json]

Reads every frame and footer of the log in DIR and reports each problem with
file, offset, affected sequence range and code. Changes nothing and takes no
lock, so it can run beside a live writer (whose in-flight last frame may then
show as a torn tail). A progress bar is drawn on stderr when it is a terminal
(never with --json, never when stdout is a pipe).

  --json   print the report as JSON (the library's VerifyReport)

Exit status: 0 when clean (a torn tail left by a crash is a warning: it held
nothing acknowledged), 1 when damage was found, 2 on bad usage, 3 when the
check could not run (no such directory, I/O error).
${EXIT_STATUS_HELP}`,
  options: { json: { type: 'boolean' } },
  positionals: { required: ['DIR'] },
  async run({ values, positionals: [dir] }, io) {
    const json = values.json === true;
    requireLogDir(dir!);
    const progress = io.progress('verifying', await segmentBytes(dir!), 'bytes', { json });
    const reads = readProgress(progress);
    let report: VerifyReport;
    try {
      report = await Log.verify(dir!, { fs: reads.fs });
    } finally {
      reads.stop();
    }
    if (json) io.out(JSON.stringify(report, null, 2));
    else printVerifyReport(report, io);
    return report.ok ? ExitCode.OK : ExitCode.PROBLEMS;
  },
});

/** The human-readable form of a verify report. */
export function printVerifyReport(r: VerifyReport, io: Io, line: (s: string) => void = io.out): void {
  line(`${r.dir}: ${r.segments.length} segment(s), ${r.records} record(s), next sequence ${r.nextSeq}${r.cleanClose ? ', closed cleanly' : ''}`);
  for (const p of r.problems) {
    const range = p.seqFrom === undefined ? '' : ` seq ${p.seqFrom}..${p.seqTo === undefined ? 'end' : p.seqTo - 1}`;
    line(`${p.severity.toUpperCase()} ${p.code} ${p.file} @${p.offset}${range}: ${p.message}`);
  }
  for (const g of r.gaps) line(`GAP ${g.file} seq ${g.from}..${g.to - 1} (recorded by an earlier repair)`);
  line(r.ok ? 'OK' : 'DAMAGED: run `aof repair DIR` (it keeps every byte it cuts under DIR/recovery/)');
}
