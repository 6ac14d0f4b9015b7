/** Parsed command line: positional arguments and `--flag[=value]` options. */
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

/** A usage error: the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {}

/**
 * Splits argv into positionals and flags. `--name value` takes the next
 * argument as the value only for flags listed in `valued`; `-f` is `--follow`.
 */
export function parseArgs(argv: string[], valued: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-f') flags.set('follow', true);
    else if (arg === '-h') flags.set('help', true);
    else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      if (eq >= 0) flags.set(name, arg.slice(eq + 1));
      else if (valued.has(name)) {
        const value = argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else flags.set(name, true);
    } else positionals.push(arg);
  }
  return { positionals, flags };
}

/** A flag's string value, or undefined. */
export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

/** A flag's non-negative integer value, or undefined. */
export function flagInt(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

/** Rejects flags the command does not know, so a typo never passes silently. */
export function checkFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const name of args.flags.keys()) {
    if (name !== 'help' && !known.includes(name)) throw new UsageError(`unknown option --${name}`);
  }
}
