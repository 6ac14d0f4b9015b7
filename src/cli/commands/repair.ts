import { Log } from '../../log.js';
import type { RepairReport } from '../../recovery/repair.js';
import { checkFlags, flagString, UsageError, type ParsedArgs } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';

export const repairHelp = `aof repair DIR [--mode truncate|skip] [--dry-run] [--yes] [--json]

Repairs the log in DIR (taking its writer lock; fails if a writer has it open).
Never deletes a byte: everything cut or replaced is kept under DIR/recovery/.

  --mode truncate  (default) cut the log at the first damaged frame; the rest
                   moves, untouched, to recovery/
  --mode skip      keep the valid frames after the damage; each lost range is
                   recorded as a gap that readers are told about (AOF_GAP)
  --dry-run        show what would be done, change nothing
  --yes            do not ask (for scripts); without it, repair asks on a
                   terminal and refuses when there is none

Exit status: 0 when the log verifies clean afterwards (or nothing to do),
1 when problems remain, 2 on bad usage or when not confirmed, 3 on failure.`;

export async function repairCommand(args: ParsedArgs, io: Io): Promise<number> {
  checkFlags(args, ['mode', 'dry-run', 'yes', 'json']);
  const dir = args.positionals[0];
  if (dir === undefined) throw new UsageError('repair needs a log directory');
  const mode = flagString(args, 'mode') ?? 'truncate';
  if (mode !== 'truncate' && mode !== 'skip') throw new UsageError(`--mode must be truncate or skip, got ${mode}`);
  const json = args.flags.has('json');
  const plan = await Log.repair(dir, { mode, dryRun: true });
  if (args.flags.has('dry-run') || plan.actions.length === 0) {
    if (json) io.out(JSON.stringify(plan, null, 2));
    else printReport(plan, io, plan.actions.length === 0 ? 'nothing to repair' : 'would do (dry run)');
    return ExitCode.OK;
  }
  if (!args.flags.has('yes')) {
    printReport(plan, io, 'repair will do', io.err);
    if (!(await io.confirm('Proceed?'))) {
      io.err(io.interactive ? 'not confirmed; nothing changed' : 'refusing to repair without a terminal to confirm on: pass --yes');
      return ExitCode.USAGE;
    }
  }
  const report = await Log.repair(dir, { mode });
  if (json) io.out(JSON.stringify(report, null, 2));
  else printReport(report, io, 'repaired');
  return report.after?.ok === false ? ExitCode.PROBLEMS : ExitCode.OK;
}

function printReport(r: RepairReport, io: Io, title: string, line: (s: string) => void = io.out): void {
  line(`${title}: ${r.dir} (mode ${r.mode})`);
  for (const a of r.actions) {
    const kept = 'preservedAt' in a && a.preservedAt !== undefined ? ` -> kept at ${a.preservedAt}` : a.kind === 'fill' ? '' : r.dryRun ? ' -> to recovery/' : '';
    if (a.kind === 'cut') line(`  cut ${a.file} from offset ${a.offset} (${a.bytes} bytes: ${a.reason})${kept}`);
    else if (a.kind === 'move') line(`  move ${a.file}${kept}`);
    else if (a.kind === 'rewrite') line(`  rewrite ${a.file} (${a.reason}), original${kept}`);
    else line(`  fill missing range with a gap segment ${a.file}`);
  }
  for (const lost of r.lostRanges) line(`  sequence ${lost.from}..${lost.to === undefined ? 'end' : lost.to - 1} ${r.mode === 'skip' ? 'recorded as a gap' : 'moved to recovery/'}`);
  if (r.after !== undefined) line(r.after.ok ? '  verify after repair: OK' : `  verify after repair: ${r.after.problems.length} problem(s) remain`);
}
