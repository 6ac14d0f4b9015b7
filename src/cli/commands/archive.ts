import { FsArchive } from '../../archive/fs-archive.js';
import { S3Archive } from '../../archive/s3-archive.js';
import type { SegmentArchive } from '../../archive/archive.js';
import { isCompression } from '../../archive/compression.js';
import { Log } from '../../log.js';
import { UsageError } from '../args.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { formatBytes, type Io } from '../io.js';

export const archiveCommand = defineCommand({
  name: 'archive',
  help: `usage: aof archive DIR [--now (--fs PATH | --s3-bucket NAME [--s3-endpoint URL] [--s3-prefix P]) [--compress none|gzip|brotli]] [--json]

Without --now: shows the archive queue of the log in DIR from its catalog
(segments by status, bytes waiting for upload, where archived ones are).
Takes no lock.

With --now: opens the log as its writer (exit 4 if another writer has it)
with the given archive tier and uploads every sealed segment waiting,
verifying each stored copy, then exits. S3 credentials come from the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and never appear in
the output.

  --now              upload what is queued now
  --fs PATH          archive to another directory (FsArchive)
  --s3-bucket NAME   archive to an S3-compatible bucket (S3Archive)
  --s3-endpoint URL  the server (default: AWS)
  --s3-prefix P      key prefix inside the bucket
  --compress KIND    none (default), gzip or brotli
  --json             print as JSON

${EXIT_STATUS_HELP}`,
  options: {
    now: { type: 'boolean' }, fs: { type: 'string' }, 's3-bucket': { type: 'string' }, 's3-endpoint': { type: 'string' },
    's3-prefix': { type: 'string' }, compress: { type: 'string' }, json: { type: 'boolean' },
  },
  positionals: { required: ['DIR'] },
  async run({ values, positionals: [dir] }, io) {
    requireLogDir(dir!);
    if (values.now !== true) return showQueue(dir!, values.json === true, io);
    const archive = tierFrom(values);
    const log = await Log.open(dir!, { archive });
    try {
      await log.archiveNow();
      return await report(log, values.json === true, io);
    } finally {
      await log.close();
    }
  },
});

function tierFrom(values: { fs?: string; 's3-bucket'?: string; 's3-endpoint'?: string; 's3-prefix'?: string; compress?: string }): SegmentArchive {
  const compress = values.compress ?? 'none';
  if (!isCompression(compress)) throw new UsageError(`--compress must be none, gzip or brotli, got ${compress}`);
  if ((values.fs === undefined) === (values['s3-bucket'] === undefined)) throw new UsageError('--now needs exactly one of --fs PATH or --s3-bucket NAME');
  if (values.fs !== undefined) return new FsArchive(values.fs, { compress });
  return new S3Archive({ bucket: values['s3-bucket']!, endpoint: values['s3-endpoint'], prefix: values['s3-prefix'], compression: compress });
}

async function showQueue(dir: string, json: boolean, io: Io): Promise<number> {
  const log = await Log.open(dir, { readOnly: true });
  try {
    return await report(log, json, io);
  } finally {
    await log.close();
  }
}

async function report(log: Log, json: boolean, io: Io): Promise<number> {
  const segments = log.segments();
  const byStatus: Record<string, number> = {};
  for (const s of segments) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  const queued = segments.filter((s) => s.status === 'sealed' || s.status === 'archiving');
  const summary = {
    dir: log.dir, byStatus, queuedSegments: queued.length, queuedBytes: queued.reduce((n, s) => n + s.bytes, 0),
    archived: segments.filter((s) => s.archive !== null).map((s) => ({ baseSeq: s.baseSeq, status: s.status, location: s.archive!.location })),
  };
  if (json) io.out(JSON.stringify(summary, null, 2));
  else {
    io.out(`${summary.dir}: ${Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    io.out(`  waiting for upload: ${summary.queuedSegments} segment(s), ${formatBytes(summary.queuedBytes)}`);
    for (const a of summary.archived) io.out(`  ${a.status.padEnd(8)} seq ${a.baseSeq}.. at ${a.location}`);
  }
  return ExitCode.OK;
}
