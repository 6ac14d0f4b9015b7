import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { distPath } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

/** Records the child acknowledges before it holds one written but unacknowledged. */
const ACKED = 5;

/** A child writer (dist/src/testing/child-held-writer.js) that holds record ACKED written and unacknowledged. */
interface HeldWriter {
  child: ChildProcess;
  /** Resolves at the first stdout line starting with `prefix`, with the line. */
  line(prefix: string): Promise<string>;
  send(command: 'release' | 'close'): void;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function startHeldWriter(dir: string): HeldWriter {
  const child = spawn(process.execPath, [distPath('src/testing/child-held-writer.js'), dir, String(ACKED)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (l: string) => void }> = [];
  let partial = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) for (const w of waiters.splice(0)) w.resolve(`exit ${code}: ${stderr}`);
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) {
      const hit = lines.find((l) => l.startsWith(w.prefix));
      if (hit === undefined) waiters.push(w);
      else w.resolve(hit);
    }
  });
  return {
    child,
    line: (prefix) => {
      const hit = lines.find((l) => l.startsWith(prefix));
      return hit !== undefined ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ prefix, resolve }));
    },
    send: (command) => child.stdin!.write(`${command}\n`),
  };
}

/** A writer child holding record ACKED written to its segment but not acknowledged. */
async function heldWriter(dir: string): Promise<HeldWriter> {
  const w = startHeldWriter(dir);
  expect(await w.line('held ')).toBe(`held ${ACKED}`);
  // The unacknowledged frame is in the segment file: a reader that guessed from the bytes would find it.
  const segment = path.join(dir, 'segments', '00000000000000000000.seg');
  expect(fs.readFileSync(segment).includes(Buffer.from(`rec-${ACKED}:`))).toBe(true);
  return w;
}

const damages: Array<[string, (file: string) => void]> = [
  ['deleted', (file) => fs.unlinkSync(file)],
  ['overwritten with garbage in place', (file) => fs.writeFileSync(file, Buffer.from('garbage garbage!'))],
  ['replaced by a garbage file', (file) => {
    fs.writeFileSync(`${file}.x`, Buffer.alloc(16, 0xab));
    fs.renameSync(`${file}.x`, file);
  }],
  ['truncated to nothing', (file) => fs.truncateSync(file, 0)],
  ['truncated to 10 bytes', (file) => fs.truncateSync(file, 10)],
  ['with one bit of its value flipped', (file) => {
    const b = fs.readFileSync(file);
    b[4]! ^= 0x08; // nextSeq 5 reads as 13: past the held record, were the checksum not checked
    fs.writeFileSync(file, b);
  }],
];

async function expectUnavailable(run: () => Promise<unknown>, file: string): Promise<void> {
  const err = (await run().then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: string; message?: string; file?: string } | undefined;
  expect(err?.code).toBe('AOF_WATERMARK_UNAVAILABLE');
  expect(err?.message).toContain(file);
}

describe('a damaged or missing commit watermark beside a live writer (break 6)', () => {
  it('control: with the watermark intact a reader sees exactly the acknowledged records', async () => {
    const dir = tempLogDir();
    const w = await heldWriter(dir);
    const reader = await Log.open(dir, { readOnly: true });
    expect(reader.nextSeq).toBe(ACKED);
    expect(await reader.get(ACKED)).toBeUndefined();
    const seen: number[] = [];
    for await (const r of reader.read()) seen.push(r.seq);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    await reader.close();
  });

  it.each(damages)('watermark %s: read-only open, get and read never return the unacknowledged record; they fail typed naming the file', async (_name, damage) => {
    const dir = tempLogDir();
    const w = await heldWriter(dir);
    const file = path.join(dir, 'watermark');
    damage(file);
    const reader = await Log.open(dir, { readOnly: true });
    expect(reader.nextSeq).toBeLessThanOrEqual(ACKED);
    await expectUnavailable(() => reader.get(ACKED), file);
    await expectUnavailable(async () => {
      for await (const r of reader.read()) expect(r.seq).toBeLessThan(ACKED);
    }, file);
    expect(reader.nextSeq).toBeLessThanOrEqual(ACKED);
    await reader.close();
  });

  it.each(damages)('watermark %s: a tail reader waits for a valid one and never yields the unacknowledged record', async (_name, damage) => {
    const dir = tempLogDir();
    const w = await heldWriter(dir);
    const file = path.join(dir, 'watermark');
    damage(file);
    const counting = new CountingFs();
    const reader = await Log.open(dir, { readOnly: true, fs: counting, tailPollIntervalMs: 2 });
    const seen: Array<{ seq: number; payload: Buffer }> = [];
    const ac = new AbortController();
    const iterator = reader.tail({ from: 0, signal: ac.signal })[Symbol.asyncIterator]();
    let settled = false;
    const first = iterator.next().finally(() => (settled = true));
    // Let the tail look at the damaged watermark many times (each catch-up opens it), with no sleep: count the opens.
    const opensBefore = counting.calls.get('open') ?? 0;
    while (!settled && (counting.calls.get('open') ?? 0) < opensBefore + 20) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    // The writer acknowledges the held record: it publishes again (a missing or replaced file is recreated).
    w.send('release');
    expect(await w.line(`ack ${ACKED}`)).toBe(`ack ${ACKED}`);
    const r0 = await first;
    seen.push({ seq: r0.value!.seq, payload: Buffer.from(r0.value!.payload) });
    while (seen.length < ACKED + 1) {
      const r = await iterator.next();
      seen.push({ seq: r.value!.seq, payload: Buffer.from(r.value!.payload) });
    }
    seen.forEach((r, i) => {
      expect(r.seq).toBe(i);
      expect(r.payload.equals(childPayload(i, 64))).toBe(true);
    });
    ac.abort();
    await iterator.return?.();
    await reader.close();
  });
});

describe('a log without a valid watermark and no writer', () => {
  it('cleanly closed, watermark deleted or damaged: a read-only handle reads everything up to the clean-close marker', async () => {
    for (const [, damage] of damages) {
      const dir = tempLogDir();
      const log = await Log.open(dir);
      for (let i = 0; i < 7; i++) await log.append(`r${i}`);
      await log.close();
      damage(path.join(dir, 'watermark'));
      const reader = await Log.open(dir, { readOnly: true });
      const seen: string[] = [];
      for await (const r of reader.read()) seen.push(r.payload.toString());
      expect(seen).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
      expect(await reader.get(7)).toBeUndefined();
      await reader.close();
    }
  });

  it('crashed writer (no clean-close marker) and no watermark: reads fail typed until a writer recovers the log', async () => {
    const dir = tempLogDir();
    const w = await heldWriter(dir);
    w.child.kill('SIGKILL');
    await new Promise((resolve) => w.child.once('exit', resolve));
    const file = path.join(dir, 'watermark');
    fs.unlinkSync(file);
    const reader = await Log.open(dir, { readOnly: true });
    await expectUnavailable(() => reader.get(0), file);
    await reader.close();
    // A writer's open recovers the segment and publishes a watermark: readers see what it kept.
    const writer = await Log.open(dir);
    const kept = writer.nextSeq;
    expect(kept).toBeGreaterThanOrEqual(ACKED);
    const again = await Log.open(dir, { readOnly: true });
    expect(again.nextSeq).toBe(kept);
    await again.close();
    await writer.close();
  });
});
