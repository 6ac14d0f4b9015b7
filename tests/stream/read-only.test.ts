import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore, Log, encodeEvent } from '../../src/index.js';
import { distPath } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openStore, take } from './support.js';

/** A writer process driven line by line (dist/src/testing/child-event-writer.js): each command resolves with the line it printed. */
function startEventWriter(dir: string): { command(line: string): Promise<string>; ready: Promise<string>; stop(): Promise<void> } {
  const child = spawn(process.execPath, [distPath('src/testing/child-event-writer.js'), dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting: Array<(line: string) => void> = [];
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      const w = waiting.shift();
      if (w === undefined) lines.push(l);
      else w(l);
    }
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  void exited.then(() => {
    for (const w of waiting.splice(0)) w(`exit ${stderr}`);
  });
  const next = (): Promise<string> => (lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise((resolve) => waiting.push(resolve)));
  const ready = next();
  children.push(child);
  return {
    ready,
    command(line) {
      const reply = next();
      child.stdin.write(`${line}\n`);
      return reply;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('EventStore read-only: a reader beside a writer in another process', () => {
  it('reads and subscribes to what the writer acknowledged, decoded, through the index and past it', async () => {
    const dir = tempLogDir();
    const writer = startEventWriter(dir);
    expect(await writer.ready).toBe('ready');
    expect(await writer.command('append cart-1 3')).toBe('acked cart-1 2 2');
    const reader = await EventStore.open(dir, { readOnly: true });
    expect(reader.readOnly).toBe(true);
    // Right after the ack the writer's index may not hold these yet (it commits every 50 ms): the reader finds them in the log.
    expect((await collect(reader.readStream<{ type: 'Added'; data: { n: number } }>('cart-1'))).map((e) => [e.version, e.type, e.data.n])).toEqual([
      [0, 'Added', 0],
      [1, 'Added', 1],
      [2, 'Added', 2],
    ]);
    expect(await reader.streamExists('cart-1')).toBe(true);
    expect(await reader.streamExists('cart-2')).toBe(false);

    const live = reader.subscribe({ stream: 'cart-2' });
    const firstTwo = take(live, 2);
    const all = take(reader.subscribe({ streamPrefix: 'cart-' }), 6);
    expect(await writer.command('append cart-2 1')).toBe('acked cart-2 0 3');
    expect(await writer.command('append cart-1 1')).toBe('acked cart-1 3 4');
    expect(await writer.command('append cart-2 1')).toBe('acked cart-2 1 5');
    expect((await firstTwo).map((e) => [e.stream, e.version, e.position, e.data])).toEqual([
      ['cart-2', 0, 3, { n: 3 }],
      ['cart-2', 1, 5, { n: 5 }],
    ]);
    expect((await all).map((e) => e.position)).toEqual([0, 1, 2, 3, 4, 5]);
    // Backwards, last event first: the common "last event of a stream" read.
    expect((await collect(reader.readStream('cart-1', { direction: 'backwards', maxCount: 1 }))).map((e) => e.version)).toEqual([3]);
    await reader.refresh();
    expect(reader.streamVersion('cart-1')).toBe(3);

    // After the writer closed, its index holds everything: the reader's memory is empty again.
    expect(await writer.command('close')).toBe('closed');
    await writer.stop();
    expect((await collect(reader.readStream('cart-1'))).length).toBe(4);
    const other = await EventStore.open(dir, { readOnly: true });
    expect((await collect(other.readStream('cart-2'))).map((e) => e.data)).toEqual([{ n: 3 }, { n: 5 }]);
    await other.close();
    await reader.close();
  });

  it('never shows an event before the writer acknowledged it: each read sees exactly the acknowledged prefix', async () => {
    const dir = tempLogDir();
    const writer = startEventWriter(dir);
    await writer.ready;
    await writer.command('append s 1');
    const reader = await EventStore.open(dir, { readOnly: true });
    for (let i = 1; i <= 20; i++) {
      const [, , version] = (await writer.command(`append s ${1 + (i % 3)}`)).split(' ');
      const read = await collect(reader.readStream('s'));
      expect(read.length).toBe(Number(version) + 1);
      expect(read.map((e) => e.version)).toEqual(read.map((_, k) => k));
    }
    await writer.command('close');
    await writer.stop();
    await reader.close();
  });

  it('without a stream index (a log no event-store writer opened) it reads from the log, up to maxPendingIndexEntries events, then AOF_INDEX_UNAVAILABLE', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir);
    await log.appendBatch([encodeEvent('a', 0, { type: 'x', data: 1 }), encodeEvent('b', 0, { type: 'y', data: 2 }), encodeEvent('a', 1, { type: 'z', data: 3 })]);
    await log.close();
    const fits = await EventStore.open(dir, { readOnly: true, maxPendingIndexEntries: 3 });
    expect((await collect(fits.readStream('a'))).map((e) => e.data)).toEqual([1, 3]);
    await fits.close();
    const small = await EventStore.open(dir, { readOnly: true, maxPendingIndexEntries: 2 });
    await expect(collect(small.readStream('a'))).rejects.toMatchObject({ code: 'AOF_INDEX_UNAVAILABLE' });
    // readAll needs no index.
    expect((await collect(small.readAll())).length).toBe(3);
    await small.close();
    // A writer builds the index; the reader then needs no memory for it.
    const w = await openStore(dir);
    expect(w.indexReport.action).toBe('rebuilt');
    await w.close();
    const after = await EventStore.open(dir, { readOnly: true, maxPendingIndexEntries: 1 });
    expect((await collect(after.readStream('a'))).map((e) => e.data)).toEqual([1, 3]);
    await after.close();
  });
});
