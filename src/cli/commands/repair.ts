import * as path from 'node:path';
import { Log } from '../../log.js';
import type { RepairOptions, RepairReport } from '../../recovery/repair.js';
import { RECOVERY_DIR } from '../../segment/names.js';
import { choiceOption } from '../args.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes, type Io } from '../io.js';
import { readProgress, segmentBytes } from '../read-progress.js';

export const repairCommand = defineCommand({
  name: 'repair',
  help: `usage: aof repair DIR [--mode truncate|skip] [--dry-run] [--yes] [--json]

Repairs the log in DIR. Takes the writer lock, so it refuses (exit 4) while a
writer has the log open. Never deletes a byte: everything cut or replaced is
first copied, durably, under DIR/${RECOVERY_DIR}/. It first shows what it will
do and where the bytes go, then asks on a terminal; without a terminal it
refuses unless given --yes.

When the data ends before what the log had acknowledged (verify reports
AOF_DATA_LOST: a last segment rolled back to an older copy, deleted, or cut),
repair accepts the loss explicitly: the missing range becomes a gap, so the
log can be written again and no acknowledged sequence number is ever given
to another record. A segment of another log (AOF_FOREIGN_SEGMENT) moves whole
to ${RECOVERY_DIR}/.

  --mode truncate  (default) cut the log at the first damaged frame; the rest
                   moves, untouched, to ${RECOVERY_DIR}/; numbers the log had
                   acknowledged are kept as a gap (AOF_GAP), later appends
                   reuse only numbers never acknowledged
  --mode skip      keep the valid frames after the damage; each lost range is
                   recorded as a gap that readers are told about (AOF_GAP)
  --dry-run        show what would be done, change nothing; takes no lock, so
                   it runs beside a live writer (zeros past the watermark
                   that writer published are its preallocated space, not
                   damage)
  --yes            do not ask (for scripts)
  --json           print the RepairReport as JSON on stdout (fields the
                   library leaves undefined are null: after in a dry run,
                   preservedAt of a planned action, to of a range lost to
                   the end)

A repair is crash-safe: it writes its whole plan to DIR/repair-intent before
its first change, and a repair (or a writer open) after a kill finishes that
plan before anything else.

Exit status: 0 when the log verifies clean afterwards (or there was nothing to
do), 1 when problems remain (with --dry-run: when there is something to
repair), 2 on bad usage or when not confirmed, 3 when it could not run (for
example a segment of an unsupported format version, which repair never
touches), 4 when a writer holds the log's lock (the message names its pid).
${EXIT_STATUS_HELP}`,
  options: { mode: { type: 'string' }, 'dry-run': { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, json: { type: 'boolean' } },
  positionals: { required: ['DIR'] },
  async run({ values, positionals: [dir] }, io) {
    const mode = choiceOption('mode', values.mode, ['truncate', 'skip'], 'truncate');
    const json = values.json === true;
    requireLogDir(dir!);
    const bytes = await segmentBytes(dir!);
    const plan = await repairWithProgress(io, dir!, { mode, dryRun: true }, 'checking', bytes, json);
    if (plan.actions.length === 0) {
      if (json) io.out(reportJson(plan));
      else io.out(`nothing to repair in ${plan.dir}: every segment is intact`);
      return ExitCode.OK;
    }
    if (values['dry-run'] === true) {
      if (json) io.out(reportJson(plan));
      else printRepairReport(plan, io.out, 'repair would (dry run, nothing changed)');
      return ExitCode.PROBLEMS;
    }
    if (values.yes !== true) {
      printRepairReport(plan, io.err, 'repair will');
      if (!(await io.confirm('Proceed?'))) {
        io.err(io.interactive ? 'not confirmed; nothing changed' : 'refusing to repair without a terminal to confirm on: pass --yes; nothing changed');
        return ExitCode.USAGE;
      }
    }
    // Analysis, then the verification that follows the repair: about two passes over the log.
    const report = await repairWithProgress(io, dir!, { mode }, 'repairing', 2 * bytes, json);
    if (json) io.out(reportJson(report));
    else printRepairReport(report, io.out, 'repaired');
    return report.after?.ok === false ? ExitCode.PROBLEMS : ExitCode.OK;
  },
});

async function repairWithProgress(io: Io, dir: string, options: RepairOptions, label: string, total: number, json: boolean): Promise<RepairReport> {
  const reads = readProgress(io.progress(label, total, 'bytes', { json }));
  try {
    return await Log.repair(dir, { ...options, fs: reads.fs });
  } finally {
    reads.stop();
  }
}

/**
 * The RepairReport as JSON, with every field present: what the library leaves
 * undefined (`after` in a dry run, `preservedAt` of a planned action, the open
 * end `to` of a lost range) is null.
 */
function reportJson(r: RepairReport): string {
  return JSON.stringify(r, (_key, value: unknown) => (value === undefined ? null : value), 2);
}

/** The human-readable form of a repair report (or plan). */
export function printRepairReport(r: RepairReport, line: (s: string) => void, title: string): void {
  const recovery = path.join(r.dir, RECOVERY_DIR);
  line(`${title} (mode ${r.mode}) in ${r.dir}:`);
  if (r.resumed) line(`  finish an interrupted repair first (its plan is in ${path.join(r.dir, 'repair-intent')})`);
  let kept = 0;
  for (const a of r.actions) {
    const where = 'preservedAt' in a && a.preservedAt !== undefined ? a.preservedAt : `${recovery}/`;
    if (a.kind === 'cut') {
      kept += a.bytes;
      line(`  cut   ${a.file} from offset ${a.offset}: ${formatBytes(a.bytes)} (${a.reason})`);
      line(`        bytes kept at ${where}`);
    } else if (a.kind === 'move') {
      line(`  move  ${a.file} whole`);
      line(`        to ${where}`);
    } else if (a.kind === 'rewrite') {
      line(`  rewrite ${a.file} (${a.reason})`);
      line(`        original kept at ${where}`);
    } else if (a.kind === 'rebuild-catalog') {
      line(`  rebuild the catalog ${a.file} from the segment files (${a.reason})`);
      line(`        damaged catalog kept at ${where}`);
    } else {
      line(`  fill  the missing range with a gap segment ${a.file}`);
    }
  }
  for (const lost of r.lostRanges) {
    const range = `sequence ${lost.from}..${lost.to === undefined ? 'end' : lost.to - 1}`;
    line(`  ${range}: ${r.mode === 'skip' ? 'recorded as a gap (readers get AOF_GAP)' : `no longer in the log (its bytes are under ${RECOVERY_DIR}/)`}`);
  }
  if (r.lostRanges.length === 0 && r.actions.some((a) => a.kind === 'cut')) line('  nothing acknowledged is lost: the cut bytes are a torn tail a crash left');
  if (kept > 0) line(`  in all ${formatBytes(kept)} cut off, every byte kept under ${recovery}/`);
  if (r.after !== undefined) line(r.after.ok ? '  verify after repair: OK' : `  verify after repair: ${r.after.problems.filter((p) => p.severity === 'error').length} problem(s) remain; run aof verify ${r.dir}`);
}
