#!/usr/bin/env node
import * as fs from 'node:fs';
import { AofError, LockedError } from '../errors.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP, ExitCode } from './exit-codes.js';
import { processIo, type Io } from './io.js';

/** The commands, each loaded only when run (so that help and usage errors answer at once). */
const COMMANDS: ReadonlyArray<{ name: string; summary: string; load(): Promise<Command> }> = [
  { name: 'stat', summary: 'segments, ranges, sizes, the watermark; catalog vs files', load: async () => (await import('./commands/stat.js')).statCommand },
  { name: 'verify', summary: 'check every frame and footer; exit 1 on damage', load: async () => (await import('./commands/verify.js')).verifyCommand },
  { name: 'repair', summary: 'cut or skip damage, keeping every byte under recovery/', load: async () => (await import('./commands/repair.js')).repairCommand },
  { name: 'dump', summary: 'print records; --raw decodes one file frame by frame', load: async () => (await import('./commands/dump.js')).dumpCommand },
  { name: 'events', summary: 'print an event store\'s events (one stream, or all) as JSON lines', load: async () => (await import('./commands/events.js')).eventsCommand },
  { name: 'tail', summary: 'print the last records; -f follows a live writer', load: async () => (await import('./commands/tail.js')).tailCommand },
  { name: 'archive', summary: 'the archive queue; --now uploads it to --fs PATH or --s3-bucket', load: async () => (await import('./commands/archive.js')).archiveCommand },
  { name: 'backup', summary: 'point-in-time copy of a live log (hard links where possible)', load: async () => (await import('./commands/backup.js')).backupCommand },
  { name: 'bench', summary: 'quick self-benchmark of this machine: appends, reads, fsync rate', load: async () => (await import('./commands/bench.js')).benchCommand },
  { name: 'demo', summary: 'show the engine at work in a temporary directory', load: async () => (await import('./commands/demo.js')).demoCommand },
];

const USAGE = `usage: aof <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(7)} ${c.summary}`).join('\n')}

aof <command> --help shows a command's options and exit status.
aof --version prints the version.
${EXIT_STATUS_HELP}`;

/** Runs one command line; resolves the exit status. */
async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(USAGE);
    return ExitCode.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && topic === undefined) {
      io.err(`aof: unknown command '${rest[0]}'\n\n${USAGE}`);
      return ExitCode.USAGE;
    }
    io.out(topic === undefined ? USAGE : (await topic.load()).help);
    return ExitCode.OK;
  }
  if (name === '--version' || name === '-V') {
    io.out(version());
    return ExitCode.OK;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    io.err(`aof: unknown command '${name}'\n\n${USAGE}`);
    return ExitCode.USAGE;
  }
  const command = await entry.load();
  try {
    const prepared = command.prepare(rest);
    if (prepared.help) {
      io.out(command.help);
      return ExitCode.OK;
    }
    return await prepared.run(io);
  } catch (err) {
    return reportFailure(command, err, io);
  }
}

/** Turns what a command threw into a message on stderr and an exit status. */
function reportFailure(command: Command, err: unknown, io: Io): number {
  const prefix = `aof ${command.name}`;
  if (err instanceof UsageError) {
    io.err(`${prefix}: ${err.message}\n\n${command.help}`);
    return ExitCode.USAGE;
  }
  if (err instanceof LockedError) {
    const holder = err.holderPid === undefined ? 'another writer' : `the process with pid ${err.holderPid}`;
    io.err(`${prefix}: ${err.code}: ${err.message}`);
    io.err(`${prefix}: the log is open for writing by ${holder}; stop it (or let it close the log) and run the command again. Nothing was changed.`);
    return ExitCode.LOCKED;
  }
  if (err instanceof AofError) {
    io.err(`${prefix}: ${err.code}: ${err.message}`);
    return ExitCode.FAILED;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`${prefix}: ${message}`);
  if (process.env.AOF_DEBUG !== undefined && err instanceof Error && err.stack !== undefined) io.err(err.stack);
  return ExitCode.FAILED;
}

/** The package's version, from its package.json. */
function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// A closed pipe (`aof dump DIR | head`) ends the output, not the process with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(ExitCode.OK);
  throw err;
});

main(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`aof: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = ExitCode.FAILED;
  },
);
