/** Retry delays of the archiver: exponential with full jitter, capped. */
export interface BackoffOptions {
  /** First retry delay in ms (default 100). */
  baseMs: number;
  /** Longest delay in ms (default 30 s). */
  maxMs: number;
}

/** Default retry delays. */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 30_000 };

/** The delay before retry number `attempt` (1-based): a random value up to base·2^(attempt-1), capped ("full jitter"). */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.floor(random() * ceiling));
}
