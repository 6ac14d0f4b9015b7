import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEGMENTS_DIR } from '../segment/names.js';
import { parseCommandLine, type OptionSpecs, type ParsedArgs } from './args.js';
import type { Io } from './io.js';

/** A command of the `aof` CLI as the dispatcher sees it. */
export interface Command {
  name: string;
  /** The full help text (`aof NAME --help`), starting with the usage line. */
  help: string;
  /** Parses `argv` (throwing `UsageError`) and returns either a request for help or a runnable command. */
  prepare(argv: readonly string[]): { help: true } | { help: false; run(io: Io): Promise<number> };
}

/** What a command module declares. */
export interface CommandDefinition<O extends OptionSpecs> {
  name: string;
  help: string;
  options: O;
  positionals: { required: readonly string[]; optional?: readonly string[] };
  run(args: ParsedArgs<O>, io: Io): Promise<number>;
}

/** Ties a command's option specs to its typed `run`. */
export function defineCommand<O extends OptionSpecs>(def: CommandDefinition<O>): Command {
  return {
    name: def.name,
    help: def.help,
    prepare(argv) {
      const args = parseCommandLine(argv, def.options, def.positionals);
      if (args.values.help === true) return { help: true };
      return { help: false, run: (io) => def.run(args, io) };
    },
  };
}

/** The command could not run (exit status 3): the message says why. */
export class CannotRunError extends Error {}

/**
 * Checks that `dir` is a log directory (a directory holding `segments/`)
 * before a command reads it: the library treats a missing directory as an
 * empty log, which would make `aof verify /typo` report a clean log.
 */
export function requireLogDir(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new CannotRunError(`cannot read ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
  }
  if (!stat.isDirectory()) throw new CannotRunError(`${dir} is not a directory (a log directory holds segments/)`);
  try {
    fs.statSync(path.join(dir, SEGMENTS_DIR));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Refused access is not absence: say what access is missing rather than call it no log.
    if (code === 'EACCES' || code === 'EPERM') throw new CannotRunError(`cannot read ${dir}: permission denied: needs search (execute) and read access to the directory ${dir}`);
    throw new CannotRunError(`${dir} is not a log directory: it has no ${SEGMENTS_DIR}/`);
  }
}
