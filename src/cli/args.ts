import { parseArgs } from 'node:util';

/**
 * Command-line parsing for the `aof` commands, on Node's own `util.parseArgs`
 * in strict mode: an unknown option, an option missing its value, a value
 * given to a flag, or a wrong number of positional arguments is a
 * {@link UsageError}, which the CLI prints with the command's help and turns
 * into exit status 2.
 *
 * @module
 */

/** A usage error: the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {}

/** One option of a command: a flag (`boolean`) or an option taking a value (`string`). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** A one-letter alias (`-f`). */
  short?: string;
}

/** The options of a command by long name. */
export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed option values, typed from the specs: absent options are undefined. */
export type OptionValues<O extends OptionSpecs> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

/** What a command line parsed into. */
export interface ParsedArgs<O extends OptionSpecs> {
  values: OptionValues<O> & { help?: boolean };
  positionals: string[];
}

/** Every command takes `--help` (and `-h`). */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionSpecs;

/**
 * Parses `argv` (the arguments after the command name) against `options`.
 * `positionals` names the positional arguments the command takes (checked
 * unless `--help` is given): `required` must all be present, at most
 * `optional` more may follow.
 */
export function parseCommandLine<O extends OptionSpecs>(argv: readonly string[], options: O, positionals: { required: readonly string[]; optional?: readonly string[] }): ParsedArgs<O> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, ...HELP_OPTION }, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
  const values = parsed.values as ParsedArgs<O>['values'];
  if (values.help !== true) {
    const { required, optional = [] } = positionals;
    if (parsed.positionals.length < required.length) throw new UsageError(`missing argument ${required[parsed.positionals.length]}`);
    if (parsed.positionals.length > required.length + optional.length) throw new UsageError(`unexpected argument '${parsed.positionals[required.length + optional.length]}'`);
  }
  return { values, positionals: parsed.positionals };
}

/** Node's parseArgs messages, shortened to what a person at a shell needs. */
function describeParseError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-[^' ]*)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) return `unknown option ${option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
    if (/argument missing|ambiguous/.test(message)) return `option ${option} needs a value`;
    if (/does not take an argument/.test(message)) return `option ${option} takes no value`;
  }
  return message;
}

/** A non-negative integer option value (a sequence number, a count), or undefined when absent. */
export function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** An option value that must be one of `choices`, or `fallback` when absent. */
export function choiceOption<C extends string>(name: string, value: string | undefined, choices: readonly C[], fallback: C): C {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} must be ${choices.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got '${value}'`);
  return value as C;
}
