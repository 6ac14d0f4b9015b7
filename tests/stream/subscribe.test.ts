import { describe, expect, it } from 'vitest';
import { EventStore, type RecordedEvent } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openStore, take } from './support.js';

describe('EventStore.subscribe', () => {
  it('all streams: catches up from a position, then follows live appends, in log order', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('a', [{ type: 'a0', data: 0 }]);
    await es.appendToStream('b', [{ type: 'b0', data: 0 }]);
    const seen = take(es.subscribe(), 6);
    const fromOne = take(es.subscribe({ from: 1 }), 5);
    await es.appendToStream('a', [{ type: 'a1', data: 1 }, { type: 'a2', data: 2 }]);
    await es.log.append('not an event');
    await es.appendToStream('c', [{ type: 'c0', data: 0 }]);
    await es.appendToStream('b', [{ type: 'b1', data: 1 }]);
    expect((await seen).map((e) => e.type)).toEqual(['a0', 'b0', 'a1', 'a2', 'c0', 'b1']);
    expect((await fromOne).map((e) => e.position)).toEqual([1, 2, 3, 5, 6]);
    await es.close();
  });

  it('one stream: catches up from a version through the index, then follows only that stream', async () => {
    const es = await openStore(tempLogDir());
    for (let i = 0; i < 5; i++) {
      await es.appendToStream('mine', [{ type: `m${i}`, data: i }]);
      await es.appendToStream('noise', [{ type: 'n', data: i }]);
    }
    const fromStart = take(es.subscribe({ stream: 'mine' }), 8);
    const fromThree = take(es.subscribe({ stream: 'mine', from: 3 }), 5);
    const notYet = take(es.subscribe({ stream: 'mine', from: 6 }), 2);
    const fresh = take(es.subscribe({ stream: 'new' }), 2);
    for (let i = 5; i < 8; i++) {
      await es.appendToStream('noise', [{ type: 'n', data: i }]);
      await es.appendToStream('mine', [{ type: `m${i}`, data: i }]);
    }
    await es.appendToStream('new', [{ type: 'x0', data: 0 }, { type: 'x1', data: 1 }]);
    expect((await fromStart).map((e) => e.version)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((await fromThree).map((e) => e.version)).toEqual([3, 4, 5, 6, 7]);
    expect((await notYet).map((e) => e.version)).toEqual([6, 7]);
    expect((await fresh).map((e) => e.type)).toEqual(['x0', 'x1']);
    await es.close();
  });

  it('a stream subscription started while appends are in flight misses none and repeats none', async () => {
    const es = await openStore(tempLogDir());
    const N = 300;
    const writers = (async () => {
      for (let i = 0; i < N; i += 3) {
        await Promise.all([es.appendToStream('s', [{ type: 'e', data: i }]), es.appendToStream('s', [{ type: 'e', data: i + 1 }, { type: 'e', data: i + 2 }]), es.appendToStream('other', [{ type: 'o', data: i }])]);
      }
    })();
    const subs: Array<Promise<RecordedEvent[]>> = [];
    for (let k = 0; k < 10; k++) {
      subs.push(take(es.subscribe({ stream: 's', from: k * 7 }), N - k * 7));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await writers;
    for (let k = 0; k < subs.length; k++) {
      expect((await subs[k]!).map((e) => e.version)).toEqual(Array.from({ length: N - k * 7 }, (_, i) => k * 7 + i));
    }
    await es.close();
  });

  it('a subscriber acting on an event already sees it in readStream and streamVersion', async () => {
    const es = await EventStore.open(tempLogDir(), { flush: { strategy: 'always' } });
    const ac = new AbortController();
    const problems: string[] = [];
    let handled = 0;
    const follower = (async () => {
      for await (const e of es.subscribe({ signal: ac.signal })) {
        if ((es.streamVersion(e.stream) ?? -1) < e.version) problems.push(`${e.stream}@${e.version} not yet in the index`);
        const [again] = await collect(es.readStream(e.stream, { from: e.version, maxCount: 1 }));
        if (again?.id !== e.id) problems.push(`${e.stream}@${e.version} not readable`);
        if (++handled === 200) ac.abort();
      }
    })();
    await Promise.all(Array.from({ length: 20 }, async (_, p) => {
      for (let i = 0; i < 10; i++) await es.appendToStream(`s${p % 7}`, [{ type: 'e', data: i }]);
    }));
    await expect(follower).rejects.toMatchObject({ name: 'AbortError' });
    expect(problems).toEqual([]);
    expect(handled).toBe(200);
    await es.close();
  });

  it('an AbortSignal ends a waiting subscription with an AbortError; closing the store ends it quietly', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', [{ type: 'e', data: 0 }]);
    const ac = new AbortController();
    const got: number[] = [];
    const sub = (async () => {
      for await (const e of es.subscribe({ stream: 's', signal: ac.signal })) {
        got.push(e.version);
        if (got.length === 1) setTimeout(() => ac.abort(), 10);
      }
    })();
    await expect(sub).rejects.toMatchObject({ name: 'AbortError' });
    expect(got).toEqual([0]);
    const all = collect(es.subscribe({ from: 0 }));
    await es.appendToStream('s', [{ type: 'e', data: 1 }]);
    await es.close();
    expect((await all).map((e) => e.version)).toEqual([0, 1]);
  });
});
