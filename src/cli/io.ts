import * as fs from 'node:fs';
import * as readline from 'node:readline/promises';
import cliProgress from 'cli-progress';

/** A progress indicator over a known total. Silent unless {@link Io.progress} decided a bar may be drawn. */
export interface Progress {
  /** False for the silent indicator: callers may skip work done only to feed the bar. */
  readonly active: boolean;
  /** Sets how much is done (same unit as the total). */
  update(done: number): void;
  /** Changes the total (a scan that learns more) and, optionally, the label. */
  retarget(total: number, label?: string): void;
  /** Removes the bar; idempotent. Always call it (in a `finally`). */
  stop(): void;
}

/** When a progress bar may be drawn: never into JSON, never into a pipe. */
export interface ProgressContext {
  /** The command prints JSON: no bar, whatever the terminal. */
  json: boolean;
  /**
   * The command writes its data to stdout while the bar runs (dump): the bar
   * is drawn only when stdout is redirected to a file, never when records go
   * to the same terminal or down a pipe.
   */
  streaming?: boolean;
}

/** Where the CLI talks: data on stdout, everything else (messages, prompts, bars) on stderr. */
export interface Io {
  /** Writes one line of data to stdout. */
  out(line: string): void;
  /** Writes one line of data to stdout, waiting while the reader is behind (bounded memory for big outputs). */
  write(line: string): Promise<void>;
  /** Writes one line to stderr. */
  err(line: string): void;
  /** True when stdin and stderr are terminals: prompts are allowed. */
  interactive: boolean;
  /** A progress bar on stderr, or a silent one (see {@link ProgressContext}). */
  progress(label: string, total: number, unit: 'bytes' | 'records', context: ProgressContext): Progress;
  /** Asks a yes/no question on the terminal; false when not interactive. */
  confirm(question: string): Promise<boolean>;
}

const silentProgress: Progress = { active: false, update: () => undefined, retarget: () => undefined, stop: () => undefined };

/** True when file descriptor `fd` is a regular file (output redirected with `>`), not a pipe, socket or terminal. */
function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/**
 * Whether a bar may be drawn: stderr is a terminal, the output is not JSON,
 * and stdout is not a pipe (a bar would interleave with what the next program
 * in the pipeline prints). A streaming command also needs stdout off the
 * terminal, where its records would tear the bar.
 */
export function progressAllowed(context: ProgressContext, streams: { stderrTTY: boolean; stdoutTTY: boolean; stdoutFile: boolean }): boolean {
  if (!streams.stderrTTY || context.json) return false;
  return context.streaming === true ? streams.stdoutFile : streams.stdoutTTY || streams.stdoutFile;
}

/** The process's own streams. */
export function processIo(): Io {
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  return {
    out: (line) => {
      process.stdout.write(`${line}\n`);
    },
    write: (line) =>
      process.stdout.write(`${line}\n`)
        ? Promise.resolve()
        : new Promise((resolve) => {
            process.stdout.once('drain', resolve);
          }),
    err: (line) => {
      process.stderr.write(`${line}\n`);
    },
    interactive,
    progress(label, total, unit, context) {
      const streams = { stderrTTY: Boolean(process.stderr.isTTY), stdoutTTY: Boolean(process.stdout.isTTY), stdoutFile: isRegularFile(1) };
      return progressAllowed(context, streams) ? terminalProgress(label, total, unit) : silentProgress;
    },
    async confirm(question) {
      if (!interactive) return false;
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      const cancel = new AbortController();
      try {
        // Ctrl-C or Ctrl-D at the prompt is a no, never a hang.
        const refused = new Promise<false>((resolve) => {
          rl.once('SIGINT', () => {
            process.stderr.write('\n');
            resolve(false);
          });
          rl.once('close', () => resolve(false));
        });
        const answered = rl.question(`${question} [y/N] `, { signal: cancel.signal }).then(
          (answer) => /^y(es)?$/i.test(answer.trim()),
          () => false,
        );
        return await Promise.race([answered, refused]);
      } finally {
        cancel.abort();
        rl.close();
      }
    },
  };
}

/** A cli-progress bar on stderr, cleared when stopped. */
function terminalProgress(label: string, total: number, unit: 'bytes' | 'records'): Progress {
  const show = unit === 'bytes' ? formatBytes : (n: number) => n.toLocaleString('en-US');
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: '{label} [{bar}] {percentage}% | {shown} | ETA {eta_formatted}',
    barsize: 30,
    clearOnComplete: true,
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let current = 0;
  let size = Math.max(total, 1);
  let name = label;
  const payload = (): Record<string, string> => ({ label: name, shown: `${show(Math.min(current, size))}/${show(size)}` });
  bar.start(size, 0, payload());
  let stopped = false;
  return {
    active: true,
    update(done) {
      if (stopped) return;
      current = done;
      bar.update(Math.min(done, size), payload());
    },
    retarget(newTotal, newLabel) {
      if (stopped) return;
      size = Math.max(newTotal, 1);
      if (newLabel !== undefined) name = newLabel;
      bar.setTotal(size);
      bar.update(Math.min(current, size), payload());
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

/** Bytes in human units. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** A time in ms since the epoch as ISO 8601, or '-' for 0 (no record). */
export function formatTime(ms: number): string {
  return ms === 0 ? '-' : new Date(ms).toISOString();
}
