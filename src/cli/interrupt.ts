import { ExitCode } from './exit-codes.js';

/** What a read-only command that may run until interrupted holds while it runs. */
export interface Interrupt {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Removes the handlers (in the command's `finally`). */
  dispose(): void;
}

/**
 * Installs SIGINT/SIGTERM handlers before anything slow, so that an
 * interrupt at any point ends the command cleanly: the first aborts
 * `signal`; a second while the first waits (on a reader of stdout that
 * stopped reading) exits at once, as a read-only handle leaves nothing to
 * clean up.
 */
export function interruptOnSignals(): Interrupt {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(ExitCode.OK);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
