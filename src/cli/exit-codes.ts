/**
 * Exit statuses of the `aof` command, documented in the README. Scripts can
 * rely on them: they never change meaning.
 */
export const ExitCode = {
  /** Success; for `verify` and `dump --raw`, nothing damaged was found. */
  OK: 0,
  /** The command ran and found problems: damage (`verify`, `stat`, `dump`), problems left after `repair`. */
  PROBLEMS: 1,
  /** Bad usage: unknown command or option, missing or extra argument, bad value; `repair` not confirmed. */
  USAGE: 2,
  /** The command could not run: no such directory, I/O error, a format it does not understand. */
  FAILED: 3,
  /** A writing command (`repair`) found the log locked by a writer; the message names the holder's pid when known. */
  LOCKED: 4,
} as const;

/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit statuses in one line, for help texts. */
export const EXIT_STATUS_HELP = 'exit status: 0 ok, 1 problems found, 2 bad usage, 3 could not run, 4 log locked by a writer.';
