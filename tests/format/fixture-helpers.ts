import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Log, LogRecord } from '../../src/index.js';
import { CLOSE_MS, SCRIPT, type FixtureName } from '../../fixtures/build.js';
import { tempDir } from '../helpers/tmp.js';

/** The committed fixtures directory. */
export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');

/** A fresh copy of fixture `name` in a temporary directory (removed after the test). Fixtures are never opened in place. */
export function copyFixture(name: FixtureName): string {
  const dir = path.join(tempDir('aof-fixture-'), name);
  fs.cpSync(path.join(FIXTURES_DIR, name), dir, { recursive: true });
  return dir;
}

/** Bytes of a file of a committed fixture. */
export function fixtureBytes(name: FixtureName, rel: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES_DIR, name, rel));
}

/** Relative path of the segment file whose base is `baseSeq`. */
export function seg(baseSeq: number): string {
  return `segments/${String(baseSeq).padStart(20, '0')}.seg`;
}

/** Every file under `dir`, relative (with `/`), sorted; empty when `dir` does not exist. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/**
 * The records of the golden log, derived from the append script alone (not
 * from the encoders): every payload in call order, sequence numbers from 0,
 * each with the clock value of its step.
 */
export function expectedRecords(): Array<{ seq: number; timestamp: number; payload: Buffer }> {
  const out: Array<{ seq: number; timestamp: number; payload: Buffer }> = [];
  for (const step of SCRIPT) {
    for (const call of step.calls) {
      const payloads = call.kind === 'append' ? [call.payload] : call.payloads;
      for (const p of payloads) out.push({ seq: out.length, timestamp: step.clockMs, payload: typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p) });
    }
  }
  return out;
}

export const RECORD_COUNT = expectedRecords().length;
export { CLOSE_MS };

/** Reads `log.read(opts)` to the end; resolves the records, or the records before the error and the error. */
export async function readAll(log: Log, opts: { from?: number; to?: number } = {}): Promise<{ records: LogRecord[]; error: (Error & { code?: string; file?: string; offset?: number; from?: number; to?: number }) | undefined }> {
  const records: LogRecord[] = [];
  try {
    for await (const r of log.read(opts)) records.push(r);
  } catch (err) {
    return { records, error: err as Error };
  }
  return { records, error: undefined };
}

/** Asserts that `records` are exactly the golden records with sequence numbers in `[from, to)`. */
export function expectGoldenRecords(records: LogRecord[], from: number, to: number): void {
  const want = expectedRecords().slice(from, to);
  expect(records.map((r) => r.seq)).toEqual(want.map((r) => r.seq));
  for (let i = 0; i < want.length; i++) {
    expect(records[i]!.timestamp).toBe(want[i]!.timestamp);
    expect(Buffer.compare(records[i]!.payload, want[i]!.payload), `payload of record ${want[i]!.seq}`).toBe(0);
  }
}

/** Resolves the rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; file?: string; offset?: number; from?: number; to?: number; version?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
