#!/usr/bin/env node
import { AofError } from '../errors.js';
import { parseArgs, UsageError } from './args.js';
import { demoCommand, demoHelp } from './commands/demo.js';
import { dumpCommand, dumpHelp } from './commands/dump.js';
import { repairCommand, repairHelp } from './commands/repair.js';
import { statCommand, statHelp } from './commands/stat.js';
import { verifyCommand, verifyHelp } from './commands/verify.js';
import { ExitCode } from './exit-codes.js';
import { processIo, type Io } from './io.js';

interface Command {
  summary: string;
  help: string;
  valued: string[];
  run(args: ReturnType<typeof parseArgs>, io: Io): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  stat: { summary: 'segments, ranges, sizes and the commit watermark', help: statHelp, valued: [], run: statCommand },
  verify: { summary: 'check every frame and footer; exit 1 on damage', help: verifyHelp, valued: [], run: verifyCommand },
  repair: { summary: 'cut or skip damage, keeping every byte under recovery/', help: repairHelp, valued: ['mode'], run: repairCommand },
  dump: { summary: 'print records as JSON, hex or UTF-8', help: dumpHelp, valued: ['from', 'to', 'format'], run: dumpCommand },
  demo: { summary: 'show the engine at work in a temporary directory', help: demoHelp, valued: [], run: demoCommand },
};

const USAGE = `usage: aof <command> [options]

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`).join('\n')}

aof <command> --help shows a command's options and exit status.
exit status: 0 ok, 1 problems found, 2 bad usage, 3 could not run.`;

async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`aof: unknown command '${name}'\n\n${USAGE}`);
    return ExitCode.USAGE;
  }
  try {
    const args = parseArgs(rest, new Set(command.valued));
    if (args.flags.has('help')) {
      io.out(command.help);
      return ExitCode.OK;
    }
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`aof ${name}: ${err.message}\n\n${command.help}`);
      return ExitCode.USAGE;
    }
    if (err instanceof AofError) {
      io.err(`aof ${name}: ${err.code}: ${err.message}`);
      return ExitCode.FAILED;
    }
    throw err;
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
