import { Log } from '../../log.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes } from '../io.js';

export const backupCommand = defineCommand({
  name: 'backup',
  help: `usage: aof backup DIR DEST [--copy] [--json]

Makes a consistent point-in-time copy of the log in DIR at DEST (which must
not exist or be empty) while a writer may go on appending: sealed segments
are hard-linked where the file system allows (--copy copies them), the
active segment is copied up to the commit watermark, and the copy ends with
a clean-close marker. The copy opens as a log and verifies clean. Takes no
lock. Segments evicted to an archive are not on this disk and are not
copied (the report names their range).

  --copy   copy sealed segments instead of hard-linking them
  --json   print the report as JSON

${EXIT_STATUS_HELP}`,
  options: { copy: { type: 'boolean' }, json: { type: 'boolean' } },
  positionals: { required: ['DIR', 'DEST'] },
  async run({ values, positionals: [dir, dest] }, io) {
    requireLogDir(dir!);
    const log = await Log.open(dir!, { readOnly: true });
    try {
      const report = await log.backup(dest!, { link: values.copy !== true });
      if (values.json === true) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(`backed up records ${report.firstSeq}..${report.nextSeq - 1} of ${dir} to ${report.dir} in ${report.durationMs.toFixed(0)} ms`);
        io.out(`  ${report.segments.length} segment(s), ${formatBytes(report.bytes)} (${formatBytes(report.bytesCopied)} copied, the rest hard-linked)`);
        if (report.archived !== undefined) io.out(`  records ${report.archived.from}..${report.archived.to - 1} are in the archive only and were not copied`);
      }
      return ExitCode.OK;
    } finally {
      await log.close();
    }
  },
});
