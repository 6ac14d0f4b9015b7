import { beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/index.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { aof, requireBuilt, startAof } from './run.js';

beforeAll(requireBuilt);

type Line = { position: number; stream: string; version: number; type: string; id: string; timestamp: number; data: unknown; dataEncoding?: string; metadata?: unknown };

function jsonLines(stdout: string): Line[] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
}

/** A store with two carts, a user, bytes, metadata and a truncation. */
async function sampleStore(): Promise<string> {
  const dir = tempLogDir();
  const es = await EventStore.open(dir);
  await es.appendToStream('cart-1', [{ type: 'Added', data: { sku: 'a' }, metadata: { user: 'ada' }, id: 'e-1' }, { type: 'Added', data: { sku: 'b' } }]);
  await es.appendToStream('user-1', [{ type: 'Registered', data: { name: 'ada' } }]);
  await es.appendToStream('cart-2', [{ type: 'Blob', data: new Uint8Array([1, 2, 3]) }]);
  await es.appendToStream('cart-1', [{ type: 'Confirmed', data: {} }]);
  await es.truncateStream('cart-2', 1);
  await es.close();
  return dir;
}

describe('aof events DIR [STREAM]', () => {
  it('prints one stream decoded, forwards, backwards, from a version, at most --max', async () => {
    const dir = await sampleStore();
    const r = await aof(['events', dir, 'cart-1']);
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => [l.version, l.type, l.data])).toEqual([
      [0, 'Added', { sku: 'a' }],
      [1, 'Added', { sku: 'b' }],
      [2, 'Confirmed', {}],
    ]);
    expect(lines[0]).toMatchObject({ position: 0, stream: 'cart-1', id: 'e-1', metadata: { user: 'ada' } });
    expect(typeof lines[0]!.timestamp).toBe('number');
    expect('metadata' in lines[1]!).toBe(false);
    const last = await aof(['events', dir, 'cart-1', '--backwards', '--max', '1']);
    expect(jsonLines(last.stdout).map((l) => l.type)).toEqual(['Confirmed']);
    const from = await aof(['events', dir, 'cart-1', '--from', '1', '--max', '1']);
    expect(jsonLines(from.stdout).map((l) => l.version)).toEqual([1]);
    // Truncated events are not shown.
    expect((await aof(['events', dir, 'cart-2'])).stdout).toBe('');
    expect((await aof(['events', dir, 'nobody'])).code).toBe(0);
  });

  it('prints every event in log order, filtered by --prefix and --type; bytes as base64; metadata streams with --metadata', async () => {
    const dir = await sampleStore();
    const all = jsonLines((await aof(['events', dir])).stdout);
    expect(all.map((l) => `${l.stream}@${l.version}`)).toEqual(['cart-1@0', 'cart-1@1', 'user-1@0', 'cart-2@0', 'cart-1@2']);
    expect(all[3]).toMatchObject({ data: Buffer.from([1, 2, 3]).toString('base64'), dataEncoding: 'base64' });
    const carts = jsonLines((await aof(['events', dir, '--prefix', 'cart-', '--type', 'Added,Confirmed'])).stdout);
    expect(carts.map((l) => l.position)).toEqual([0, 1, 4]);
    const fromPosition = jsonLines((await aof(['events', dir, '--from', '3'])).stdout);
    expect(fromPosition.map((l) => l.position)).toEqual([3, 4]);
    const withMetadata = jsonLines((await aof(['events', dir, '--metadata'])).stdout);
    expect(withMetadata.map((l) => l.stream)).toContain('$$cart-2');
  });

  it('-f follows a writer and ends with exit 0 on SIGINT', async () => {
    const dir = tempLogDir();
    const es = await EventStore.open(dir);
    await es.appendToStream('s', [{ type: 'a', data: 1 }]);
    const follow = startAof(['events', dir, 's', '-f']);
    await follow.waitForLine('stdout', (l) => l.includes('"version":0'));
    await es.appendToStream('other', [{ type: 'x', data: 0 }]);
    await es.appendToStream('s', [{ type: 'b', data: 2 }]);
    const second = await follow.waitForLine('stdout', (l) => l.includes('"version":1'));
    expect(JSON.parse(second)).toMatchObject({ stream: 's', type: 'b', data: 2 });
    follow.child.kill('SIGINT');
    const done = await follow.done;
    expect(done.code, done.stderr).toBe(0);
    expect(jsonLines(done.stdout).map((l) => l.stream)).toEqual(['s', 's']);
    await es.close();
  });

  it('bad usage exits 2; no such directory exits 3', async () => {
    const dir = await sampleStore();
    for (const args of [['events', dir, '--max', '1'], ['events', dir, 's', '--prefix', 'x'], ['events', dir, 's', '-f', '--backwards'], ['events', dir, '--type', ','], ['events', dir, 's', '--from', '-1']]) {
      const r = await aof(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: aof events/);
    }
    expect((await aof(['events', `${tempDir('aof-cli-')}/missing`])).code).toBe(3);
    expect((await aof(['--help'])).stdout).toMatch(/events/);
  });
});
