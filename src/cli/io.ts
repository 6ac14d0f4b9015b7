import * as readline from 'node:readline/promises';

/** A progress indicator; silent unless stderr is a terminal. */
export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

/** Where the CLI talks: data on stdout, everything else on stderr. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** True when stdin and stderr are terminals (prompts and progress bars are allowed). */
  interactive: boolean;
  progress(label: string): Progress;
  /** Asks a yes/no question on the terminal; false when not interactive. */
  confirm(question: string): Promise<boolean>;
}

/** Bar width in characters. */
const BAR_WIDTH = 30;

/** The process's own terminal streams. */
export function processIo(): Io {
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    interactive,
    progress: (label) => (process.stderr.isTTY ? terminalProgress(label) : silentProgress),
    async confirm(question) {
      if (!interactive) return false;
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
  };
}

const silentProgress: Progress = { update: () => undefined, done: () => undefined };

function terminalProgress(label: string): Progress {
  let shown = false;
  return {
    update(done, total) {
      const ratio = total === 0 ? 1 : Math.min(1, done / total);
      const filled = Math.round(ratio * BAR_WIDTH);
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
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
