import { Log } from '../../log.js';
import type { VerifyReport } from '../../recovery/verify.js';
import { checkFlags, UsageError, type ParsedArgs } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';

export const verifyHelp = `aof verify DIR [--json]

Reads every frame and footer of the log in DIR and reports each problem with
file, offset, affected sequence range and code. Changes nothing; takes no lock.

Exit status: 0 when clean (a torn tail left by a crash is a warning),
1 when damage was found, 2 on bad usage, 3 when the check could not run.`;

export async function verifyCommand(args: ParsedArgs, io: Io): Promise<number> {
  checkFlags(args, ['json']);
  const dir = args.positionals[0];
  if (dir === undefined) throw new UsageError('verify needs a log directory');
  const progress = io.progress('verifying');
  const report = await Log.verify(dir, { onProgress: (done, total) => progress.update(done, total) });
  progress.done();
  if (args.flags.has('json')) io.out(JSON.stringify(report, null, 2));
  else printReport(report, io);
  return report.ok ? ExitCode.OK : ExitCode.PROBLEMS;
}

function printReport(r: VerifyReport, io: Io): void {
  io.out(`${r.dir}: ${r.segments.length} segment(s), ${r.records} record(s), next sequence ${r.nextSeq}${r.cleanClose ? ', closed cleanly' : ''}`);
  for (const p of r.problems) {
    const range = p.seqFrom === undefined ? '' : ` seq ${p.seqFrom}..${p.seqTo === undefined ? 'end' : p.seqTo - 1}`;
    io.out(`${p.severity.toUpperCase()} ${p.code} ${p.file} @${p.offset}${range}: ${p.message}`);
  }
  for (const g of r.gaps) io.out(`GAP ${g.file} seq ${g.from}..${g.to - 1} (recorded by an earlier repair)`);
  io.out(r.ok ? 'OK' : 'DAMAGED: run `aof repair` (it keeps every byte it cuts under recovery/)');
}
