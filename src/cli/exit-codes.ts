/** Exit codes scripts can rely on. */
export const ExitCode = {
  /** Success; for `verify`, the log is clean. */
  OK: 0,
  /** The command ran and found problems (e.g. `verify` found damage, `repair` left some). */
  PROBLEMS: 1,
  /** Bad usage: unknown command or option, missing argument. */
  USAGE: 2,
  /** The command could not run: locked, I/O error, corrupt beyond what it handles. */
  FAILED: 3,
} as const;
