import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, expect } from 'vitest';
import { Log } from '../../src/log.js';
import type { LogOptions } from '../../src/options.js';
import type { LogRecord } from '../../src/read/record.js';

const opened: Log[] = [];

/** Opens a log that is closed after the current test if the test did not close it. */
export async function openLog(dir: string, options?: LogOptions): Promise<Log> {
  const log = await Log.open(dir, options);
  opened.push(log);
  return log;
}

afterEach(async () => {
  for (const log of opened.splice(0).reverse()) await log.close().catch(() => undefined);
});

/** Every record of an async iterable, in order. */
export async function collect(records: AsyncIterable<LogRecord>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  return expect.fail('expected the promise to reject');
}

/** A clock the test moves by hand: time never passes on its own. */
export class ManualClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** Paths of the segment files of a log, sorted. */
export function segmentFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.seg')).sort().map((n) => path.join(dir, 'segments', n));
}

/** Files under `recovery/` of a log (empty when the directory does not exist). */
export function recoveryFiles(dir: string): string[] {
  const r = path.join(dir, 'recovery');
  return fs.existsSync(r) ? fs.readdirSync(r).sort().map((n) => path.join(r, n)) : [];
}

/** A deterministic payload for sequence number `i`. */
export function payloadFor(i: number, size = 16): Buffer {
  const head = Buffer.from(`rec-${i}-`);
  const out = Buffer.alloc(Math.max(size, head.length), i % 251);
  head.copy(out);
  return out;
}
