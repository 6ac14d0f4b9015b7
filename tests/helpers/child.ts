import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Path of a compiled module under dist/ (`npm test` builds before running vitest). */
export function distPath(relative: string): string {
  return path.join(root, 'dist', relative);
}

/** A running child writer (dist/src/testing/child-writer.js) and the sequence numbers it reported acknowledged. */
export interface ChildWriter {
  child: ChildProcess;
  acked: number[];
  /** Resolves once the child printed at least `n` acks. */
  waitForAcks(n: number): Promise<void>;
  /** Resolves once the child opened its log. */
  ready: Promise<void>;
  /** SIGKILLs the child and resolves when it is gone. */
  kill(): Promise<void>;
  /** Resolves with the first line the child printed that starts with one of `prefixes` (e.g. `ready`, `error `, `failed `), or `exit <code|signal>` once it is gone. */
  waitForLine(...prefixes: string[]): Promise<string>;
  /** Resolves when the child exited, with its exit code (null if killed by a signal). */
  exited: Promise<number | null>;
  /** What the child wrote to stderr so far. */
  stderr(): string;
}

/**
 * Starts a child process that appends to `dir` until killed. `prefix` runs it
 * under another command (e.g. `unshare --pid --fork` to put it in a new PID
 * namespace), which must end by running its arguments.
 */
export function startChildWriter(dir: string, strategy = 'always', concurrency = 8, payloadBytes = 64, prefix: string[] = []): ChildWriter {
  const args = [distPath('src/testing/child-writer.js'), dir, strategy, String(concurrency), String(payloadBytes)];
  const child = prefix.length === 0 ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(prefix[0]!, [...prefix.slice(1), process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const printedLines: string[] = [];
  const lineWaiters: Array<{ prefixes: string[]; resolve: (line: string) => void }> = [];
  const acked: number[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let partial = '';
  let stderr = '';
  let resolveReady: () => void = () => undefined;
  let rejectReady: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('latin1')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') resolveReady();
      else if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      if (!line.startsWith('ack ')) printed(line);
    }
    for (const w of waiters.splice(0)) (acked.length >= w.n ? w.resolve() : waiters.push(w));
  });
  // A waiter for a line also wakes when the child exits (with the line `exit <code>`), so a test never hangs on a dead child.
  const matches = (line: string, prefixes: string[]): boolean => line.startsWith('exit ') || prefixes.some((p) => line.startsWith(p));
  function printed(line: string): void {
    printedLines.push(line);
    for (const w of lineWaiters.splice(0)) (matches(line, w.prefixes) ? w.resolve(line) : lineWaiters.push(w));
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.on('exit', (code, signal) => {
    if (signal === null) rejectReady(new Error(`child writer exited with code ${code}: ${stderr}`));
  });
  // 'close' comes after the last of stdout: the exit is reported after every line.
  child.on('close', (code, signal) => printed(`exit ${signal ?? code}`));
  // A child expected to fail (e.g. AOF_LOCKED) never becomes ready: that is no unhandled rejection.
  ready.catch(() => undefined);
  return {
    child,
    acked,
    ready,
    waitForAcks: (n) => (acked.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    waitForLine(...prefixes) {
      const seen = printedLines.find((l) => matches(l, prefixes));
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => lineWaiters.push({ prefixes, resolve }));
    },
    exited,
    stderr: () => stderr,
  };
}

/** How a child script ended and what it printed. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a compiled script (path relative to dist/) to completion, stdin closed. */
export function runChild(relative: string, args: readonly string[]): Promise<ChildResult> {
  return runNode([distPath(relative), ...args]);
}

/**
 * Runs `node` with `args` to completion, stdin closed, collecting its output.
 * With `deadlineMs` the child is SIGKILLed then (a hang shows as that signal).
 */
export function runNode(args: readonly string[], deadlineMs?: number): Promise<ChildResult> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const deadline = deadlineMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
