/**
 * A writer process that stops between writing a frame and acknowledging it,
 * for cross-process tests of what readers may see: appends `acked` records
 * (flush strategy `always`, printing `ack <seq>` for each), then starts one
 * more whose segment fdatasync it holds, and prints `held <seq>` once that
 * frame's bytes are in the segment file but its append has not resolved.
 * On `release` (a line on stdin) it lets the fdatasync go and prints
 * `ack <seq>`; on `close` it closes the log and prints `closed`. Until
 * `release`, the writer's periodic check of its watermark file is held too,
 * so a test's damage to that file stays until the writer acknowledges.
 *
 * Usage: node child-held-writer.js DIR ACKED
 */
import * as readline from 'node:readline';
import { Log } from '../log.js';
import * as path from 'node:path';
import type { FileHandle, OpenMode } from '../fs/types.js';
import { PassThroughFs } from './pass-through-fs.js';
import { childPayload } from './child-payload.js';

/** Holds the next segment fdatasync once armed, until released. */
class HeldSyncFs extends PassThroughFs {
  private armed = false;
  private entered: () => void = () => undefined;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;

  /** Holds the next segment fdatasync; resolves once it is reached (the frame before it is written). */
  arm(): Promise<void> {
    this.armed = true;
    this.gate = new Promise((resolve) => (this.openGate = resolve));
    return new Promise((resolve) => (this.entered = resolve));
  }

  release(): void {
    this.openGate();
  }

  /** While the fdatasync is held, so is the writer's check of its watermark file: the test decides when it may put a damaged one back. */
  override async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    if (how === 'read' && path.basename(p) === 'watermark') await this.gate;
    return super.open(p, how, mode);
  }

  protected override wrapHandle(h: FileHandle): FileHandle {
    if (!h.path.endsWith('.seg')) return h;
    const held: FileHandle = Object.create(h) as FileHandle;
    for (const name of ['read', 'readSync', 'write', 'writeSync', 'sync', 'truncate', 'size', 'close'] as const) {
      const f = h[name] as ((...args: unknown[]) => unknown) | undefined;
      if (f !== undefined) Object.assign(held, { [name]: (...args: unknown[]) => f.apply(h, args) });
    }
    // The held fdatasync must be the one the writer calls: no synchronous one (under 'always' it would be preferred).
    Object.assign(held, { datasyncSync: undefined });
    held.datasync = async () => {
      if (this.armed) {
        this.armed = false;
        this.entered();
        await this.gate;
      }
      return h.datasync();
    };
    return held;
  }
}

async function main(): Promise<void> {
  const [dir, ackedArg = '5'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: child-held-writer DIR ACKED');
  const fs = new HeldSyncFs();
  const log = await Log.open(dir, { fs, flush: { strategy: 'always' }, segment: { preallocateBytes: 0 } });
  for (let i = 0; i < Number(ackedArg); i++) process.stdout.write(`ack ${await log.append(childPayload(log.nextSeq, 64))}\n`);
  const reached = fs.arm();
  const seq = log.nextSeq;
  const pending = log.append(childPayload(seq, 64));
  await reached;
  process.stdout.write(`held ${seq}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line === 'release') {
      fs.release();
      process.stdout.write(`ack ${await pending}\n`);
    } else if (line === 'close') {
      await log.close();
      process.stdout.write('closed\n');
      lines.close();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
