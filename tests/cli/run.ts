import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distPath } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

/** The compiled `aof` binary (`npm test` builds it first). */
export const AOF = distPath('src/cli/main.js');

/** The committed fixtures; tests copy them before use and never change them. */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');

/** Every fixture, and the damaged ones. */
export const DAMAGED_FIXTURES = ['torn-tail', 'zero-tail', 'garbage-tail', 'flipped-sealed', 'flipped-active-middle', 'damaged-footer', 'damaged-header', 'huge-length'] as const;
export type FixtureName = 'valid' | 'unsupported-version' | (typeof DAMAGED_FIXTURES)[number];

/** What a finished run of the binary printed and how it ended. */
export interface AofResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Fails early, with a clear message, when the binary was not built. */
export function requireBuilt(): void {
  if (!fs.existsSync(AOF)) throw new Error(`${AOF} is missing: build first (npx tsc -p . or npm test)`);
}

/** Runs `aof ARGS` to completion, stdin closed (or fed `input`), stdout and stderr pipes (so never a terminal). */
export function aof(args: readonly string[], options: { input?: string; cwd?: string } = {}): Promise<AofResult> {
  const child = spawn(process.execPath, [AOF, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
  child.stdin!.end(options.input ?? '');
  return collect(child);
}

function collect(child: ChildProcess): Promise<AofResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A running `aof` whose output lines can be waited for. */
export interface RunningAof {
  child: ChildProcess;
  stdoutLines: string[];
  stderrLines: string[];
  /** Resolves with the first stdout (or stderr) line matching `test`, already printed or still to come. */
  waitForLine(stream: 'stdout' | 'stderr', test: (line: string) => boolean): Promise<string>;
  /** Resolves when the process has exited. */
  done: Promise<AofResult>;
}

/** Starts `aof ARGS` in the background. */
export function startAof(args: readonly string[]): RunningAof {
  const child = spawn(process.execPath, [AOF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const partial = { stdout: '', stderr: '' };
  const waiters: Array<{ stream: 'stdout' | 'stderr'; test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  let stdout = '';
  let stderr = '';
  const feed = (stream: 'stdout' | 'stderr', chunk: string): void => {
    if (stream === 'stdout') stdout += chunk;
    else stderr += chunk;
    const parts = (partial[stream] + chunk).split('\n');
    partial[stream] = parts.pop() ?? '';
    for (const line of parts) {
      lines[stream].push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (w.stream === stream && w.test(line)) {
          waiters.splice(i, 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => feed('stdout', c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => feed('stderr', c));
  const done = new Promise<AofResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve(`<exited with ${code ?? signal} before a matching ${w.stream} line; stderr: ${stderr}>`);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    stdoutLines: lines.stdout,
    stderrLines: lines.stderr,
    waitForLine(stream, test) {
      const found = lines[stream].find(test);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ stream, test, resolve }));
    },
    done,
  };
}

/** A fresh copy of a fixture in a temporary directory. */
export function copyFixture(name: FixtureName): string {
  const dir = path.join(tempDir('aof-cli-'), name);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** Every file under `dir` with its bytes, by relative path. */
export function snapshotFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else out.set(child, fs.readFileSync(path.join(dir, child)));
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out;
}

/** The segment file of `baseSeq`, relative to a log directory. */
export function seg(baseSeq: number): string {
  return `segments/${String(baseSeq).padStart(20, '0')}.seg`;
}

/** util-linux `script`, which runs a command on a pseudo-terminal, when this machine has it. */
export const SCRIPT_AVAILABLE = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Runs `aof ARGS` on a pseudo-terminal (stdin, stdout and stderr are one
 * terminal), feeding it `input`; with `stdout`, its stdout goes to that file
 * or down a pipe to cat(1) instead.
 */
export function aofOnTerminal(args: readonly string[], input = '', stdout?: { file: string } | 'pipe'): Promise<AofResult> {
  const child = spawnOnTerminal(args, stdout);
  child.stdin!.end(input);
  return collect(child);
}

/** Starts `aof ARGS` on a pseudo-terminal; `type` sends keystrokes once the terminal shows `prompt`. */
export function aofOnTerminalTyping(args: readonly string[], prompt: string, keys: string): Promise<AofResult> {
  const child = spawnOnTerminal(args);
  let seen = '';
  const onData = (chunk: Buffer): void => {
    seen += chunk.toString('utf8');
    if (!seen.includes(prompt)) return;
    child.stdout!.off('data', onData);
    child.stdin!.write(keys);
  };
  child.stdout!.on('data', onData);
  const result = collect(child);
  void result.then(() => child.stdin!.end());
  return result;
}

function spawnOnTerminal(args: readonly string[], stdout?: { file: string } | 'pipe'): ChildProcess {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, AOF, ...args].map(quote).join(' ') + (stdout === undefined ? '' : stdout === 'pipe' ? ' | cat' : ` > ${quote(stdout.file)}`);
  return spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The JSON a run printed; a failure says how the run ended and what it printed on stderr. */
export function parseJson<T>(r: AofResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout; the run ended with ${r.code ?? r.signal}, stdout ${JSON.stringify(r.stdout.slice(0, 500))}, stderr ${JSON.stringify(r.stderr.slice(0, 2000))}`);
  }
}
