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
}

/** Starts a child process that appends to `dir` until killed. */
export function startChildWriter(dir: string, strategy = 'always', concurrency = 8, payloadBytes = 64): ChildWriter {
  const child = spawn(process.execPath, [distPath('src/testing/child-writer.js'), dir, strategy, String(concurrency), String(payloadBytes)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    }
    for (const w of waiters.splice(0)) (acked.length >= w.n ? w.resolve() : waiters.push(w));
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.on('exit', (code, signal) => {
    if (signal === null) rejectReady(new Error(`child writer exited with code ${code}: ${stderr}`));
  });
  return {
    child,
    acked,
    ready,
    waitForAcks: (n) => (acked.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
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
  const child = spawn(process.execPath, [distPath(relative), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
