/**
 * Emmett's documented `EventStore` behaviour, asserted against Emmett's own
 * in-memory store and against `aof/emmett` with the same code: a difference
 * between the two shows as a test that fails for aof only. Where Emmett's
 * stores themselves differ (the in-memory store reads `from` as an index,
 * SQLite and PostgreSQL as a stream position), the case says so and asserts
 * the database stores' behaviour on aof alone.
 */
import {
  ExpectedVersionConflictError,
  NO_CONCURRENCY_CHECK,
  STREAM_DOES_NOT_EXIST,
  STREAM_EXISTS,
  getInMemoryEventStore,
  isExpectedVersionConflictError,
  type Event,
  type EventStore as EmmettEventStore,
  type ReadEvent,
} from '@event-driven-io/emmett';
import { afterEach, describe, expect, it } from 'vitest';
import { getAofEventStore, type AofEmmettEventStore } from '../../src/emmett/index.js';
import { tempLogDir } from '../helpers/tmp.js';

type Opened = Event<'Opened', { owner: string }>;
type Deposited = Event<'Deposited', { amount: number }, { by: string }>;
type AccountEvent = Opened | Deposited;
type Account = { owner: string | undefined; balance: number; events: number };

const initialState = (): Account => ({ owner: undefined, balance: 0, events: 0 });
const evolve = (s: Account, e: AccountEvent): Account => (e.type === 'Opened' ? { ...s, owner: e.data.owner, events: s.events + 1 } : { ...s, balance: s.balance + e.data.amount, events: s.events + 1 });

const opened = (owner: string): Opened => ({ type: 'Opened', data: { owner } });
const deposited = (amount: number): Deposited => ({ type: 'Deposited', data: { amount }, metadata: { by: 'teller' } });

/** What a call resolved to, or the conflict it failed with (as Emmett's retry policy sees it): comparable across stores. */
async function outcome<T>(call: () => Promise<T>): Promise<T | { conflict: { current: unknown; expected: unknown } } | { error: string }> {
  try {
    return await call();
  } catch (err) {
    if (isExpectedVersionConflictError(err)) {
      expect(err).toBeInstanceOf(ExpectedVersionConflictError);
      const e = err as ExpectedVersionConflictError;
      return { conflict: { current: e.current, expected: e.expected } };
    }
    return { error: (err as Error).message };
  }
}

/** An event as read, without what differs by construction (generated ids). */
function shape(e: ReadEvent<AccountEvent>): unknown {
  const { messageId: _id, ...metadata } = e.metadata as Record<string, unknown>;
  return { type: e.type, data: e.data, metadata };
}

const aofStores: AofEmmettEventStore[] = [];
afterEach(async () => {
  for (const s of aofStores.splice(0)) await s.close();
});

const stores: Array<[string, () => EmmettEventStore]> = [
  ['in-memory (Emmett)', () => getInMemoryEventStore()],
  [
    'aof',
    () => {
      const s = getAofEventStore(tempLogDir());
      aofStores.push(s);
      return s;
    },
  ],
];

/**
 * Without `lastEventGlobalPosition`: the in-memory store's results do not
 * carry it (its type has no global position); the database stores' do, and
 * aof's is checked on its own below.
 */
function withoutLastGlobal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLastGlobal);
  if (typeof value !== 'object' || value === null || value instanceof Error) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'lastEventGlobalPosition').map(([k, v]) => [k, withoutLastGlobal(v)]));
}

/** Runs `scenario` against both stores and expects the same observations. */
async function same(scenario: (store: EmmettEventStore) => Promise<unknown>): Promise<unknown> {
  const theirs = withoutLastGlobal(await scenario(stores[0]![1]()));
  const ours = withoutLastGlobal(await scenario(stores[1]![1]()));
  expect(ours).toEqual(theirs);
  return ours;
}

describe("aof/emmett matches Emmett's in-memory store", () => {
  it('appendToStream: versions count events from 1, createdNewStream only for the first append', async () => {
    const seen = await same(async (store) => [
      await store.appendToStream('acc-1', [opened('ada')]),
      await store.appendToStream('acc-1', [deposited(5), deposited(7)]),
      await store.appendToStream('acc-2', [opened('bob'), deposited(1)]),
    ]);
    expect((seen as Array<{ nextExpectedStreamVersion: bigint }>).map((r) => r.nextExpectedStreamVersion)).toEqual([1n, 3n, 2n]);
  });

  it('appendToStream with STREAM_DOES_NOT_EXIST: creates, then conflicts once the stream exists', async () => {
    await same(async (store) => [
      await outcome(() => store.appendToStream('acc', [opened('ada')], { expectedStreamVersion: STREAM_DOES_NOT_EXIST })),
      await outcome(() => store.appendToStream('acc', [deposited(1)], { expectedStreamVersion: STREAM_DOES_NOT_EXIST })),
    ]);
  });

  it('appendToStream with STREAM_EXISTS: conflicts on a missing stream, appends to an existing one', async () => {
    await same(async (store) => [
      await outcome(() => store.appendToStream('acc', [opened('ada')], { expectedStreamVersion: STREAM_EXISTS })),
      await store.appendToStream('acc', [opened('ada')]),
      await outcome(() => store.appendToStream('acc', [deposited(2)], { expectedStreamVersion: STREAM_EXISTS })),
    ]);
  });

  it('appendToStream with NO_CONCURRENCY_CHECK (and without an expectation) always appends', async () => {
    await same(async (store) => [
      await store.appendToStream('acc', [opened('ada')], { expectedStreamVersion: NO_CONCURRENCY_CHECK }),
      await store.appendToStream('acc', [deposited(2)], { expectedStreamVersion: NO_CONCURRENCY_CHECK }),
      await store.appendToStream('acc', [deposited(3)]),
    ]);
  });

  it('appendToStream with a version: appends when the stream is there, conflicts naming current and expected otherwise', async () => {
    const seen = await same(async (store) => [
      await outcome(() => store.appendToStream('acc', [opened('ada')], { expectedStreamVersion: 0n })),
      await outcome(() => store.appendToStream('acc', [deposited(1)], { expectedStreamVersion: 1n })),
      await outcome(() => store.appendToStream('acc', [deposited(1)], { expectedStreamVersion: 1n })),
      await outcome(() => store.appendToStream('acc', [deposited(1)], { expectedStreamVersion: 7n })),
    ]);
    expect((seen as unknown[])[2]).toEqual({ conflict: { current: '2', expected: '1' } });
  });

  it('a negative expected version is a version conflict, not bad input', async () => {
    const seen = await same(async (store) => [
      await outcome(() => store.appendToStream('acc', [opened('ada')], { expectedStreamVersion: -1n })),
      await store.appendToStream('acc', [opened('ada')]),
      await outcome(() => store.appendToStream('acc', [deposited(1)], { expectedStreamVersion: -5n })),
      await outcome(async () => store.readStream('acc', { expectedStreamVersion: -1n })),
      await outcome(async () => store.aggregateStream('acc', { evolve, initialState, read: { expectedStreamVersion: -1n } })),
    ]);
    expect((seen as unknown[])[0]).toEqual({ conflict: { current: '0', expected: '-1' } });
  });

  it('readStream of a missing stream: version 0, no events, streamExists false', async () => {
    const seen = await same(async (store) => store.readStream('nobody'));
    expect(seen).toEqual({ currentStreamVersion: 0n, events: [], streamExists: false });
  });

  it('readStream: events with their data, metadata, stream name and positions; globalPosition counts from 1 across streams', async () => {
    const seen = await same(async (store) => {
      await store.appendToStream('acc-1', [opened('ada'), deposited(3)]);
      await store.appendToStream('acc-2', [opened('bob')]);
      await store.appendToStream<AccountEvent>('acc-1', [deposited(4)]);
      const one = await store.readStream<AccountEvent>('acc-1');
      const two = await store.readStream<AccountEvent>('acc-2');
      return [one.currentStreamVersion, one.streamExists, one.events.map(shape), two.events.map(shape)];
    });
    const events = (seen as unknown[][])[2] as Array<{ metadata: { globalPosition: bigint; streamPosition: bigint; by?: string } }>;
    expect(events.map((e) => [e.metadata.streamPosition, e.metadata.globalPosition])).toEqual([
      [1n, 1n],
      [2n, 2n],
      [3n, 4n],
    ]);
    expect(events[1]!.metadata.by).toBe('teller');
  });

  it('readStream reads up to `to` (inclusive) and at most maxCount, reporting the stream version', async () => {
    await same(async (store) => {
      await store.appendToStream('acc', [opened('ada'), deposited(1), deposited(2), deposited(3)]);
      const to2 = await store.readStream<AccountEvent>('acc', { to: 2n });
      const max3 = await store.readStream<AccountEvent>('acc', { maxCount: 3n });
      return [to2.currentStreamVersion, to2.events.map(shape), max3.currentStreamVersion, max3.events.map(shape)];
    });
  });

  it('readStream with expectedStreamVersion: reads when it matches, conflicts otherwise', async () => {
    await same(async (store) => {
      await store.appendToStream('acc', [opened('ada'), deposited(1)]);
      return [
        (await outcome(async () => store.readStream('acc', { expectedStreamVersion: 2n })) as { events: unknown[] }).events.length,
        await outcome(async () => store.readStream('acc', { expectedStreamVersion: 1n })),
        await outcome(async () => store.readStream('acc', { expectedStreamVersion: STREAM_DOES_NOT_EXIST })),
        await outcome(async () => store.readStream('nobody', { expectedStreamVersion: STREAM_EXISTS })),
      ];
    });
  });

  it('aggregateStream folds the stream; a missing stream gives the initial state', async () => {
    await same(async (store) => {
      await store.appendToStream('acc', [opened('ada'), deposited(10), deposited(5)]);
      const { currentStreamVersion, state, streamExists } = await store.aggregateStream('acc', { evolve, initialState });
      const none = await store.aggregateStream('nobody', { evolve, initialState });
      return [currentStreamVersion, state, streamExists, none.currentStreamVersion, none.state, none.streamExists];
    });
  });

  it('aggregateStream with read.to: the state and the version as of `to`', async () => {
    const seen = await same(async (store) => {
      await store.appendToStream('acc', [opened('ada'), deposited(10), deposited(5), deposited(1)]);
      const { currentStreamVersion, state } = await store.aggregateStream('acc', { evolve, initialState, read: { to: 2n } });
      return [currentStreamVersion, state];
    });
    expect(seen).toEqual([2n, { owner: 'ada', balance: 10, events: 2 }]);
  });

  it('aggregateStream with read.maxCount: the version it read up to', async () => {
    await same(async (store) => {
      await store.appendToStream('acc', [opened('ada'), deposited(10), deposited(5)]);
      const { currentStreamVersion, state } = await store.aggregateStream('acc', { evolve, initialState, read: { maxCount: 2n } });
      return [currentStreamVersion, state];
    });
  });

  it('aggregateStream with read.expectedStreamVersion: conflicts when the stream moved on', async () => {
    await same(async (store) => {
      await store.appendToStream('acc', [opened('ada')]);
      return [
        await outcome(async () => (await store.aggregateStream('acc', { evolve, initialState, read: { expectedStreamVersion: 1n } })).state),
        await outcome(async () => store.aggregateStream('acc', { evolve, initialState, read: { expectedStreamVersion: 3n } })),
      ];
    });
  });

  it('streamExists: false before the first append, true after', async () => {
    await same(async (store) => {
      const before = await store.streamExists('acc');
      await store.appendToStream('acc', [opened('ada')]);
      return [before, await store.streamExists('acc'), await store.streamExists('other')];
    });
  });

  it('onAfterCommit receives the appended events with their positions', async () => {
    const committed = async (make: (hooks: { onAfterCommit: (events: ReadEvent[]) => void }) => EmmettEventStore): Promise<unknown> => {
      const got: ReadEvent[] = [];
      const store = make({ onAfterCommit: (events) => void got.push(...events) });
      await store.appendToStream('acc', [opened('ada'), deposited(2)]);
      await store.appendToStream('other', [opened('bob')]);
      return got.map((e) => shape(e as ReadEvent<AccountEvent>));
    };
    const theirs = await committed((hooks) => getInMemoryEventStore({ hooks }));
    const ours = await committed((hooks) => {
      const s = getAofEventStore(tempLogDir(), { hooks });
      aofStores.push(s);
      return s;
    });
    expect(ours).toEqual(theirs);
  });
});

describe("aof/emmett: where Emmett's database stores are the reference", () => {
  it('readStream `from` is a stream position (SQLite, PostgreSQL); the in-memory store reads it as an index', async () => {
    const store = stores[1]![1]();
    await store.appendToStream('acc', [opened('ada'), deposited(1), deposited(2)]);
    const { events } = await store.readStream('acc', { from: 2n });
    expect(events.map((e) => e.metadata.streamPosition)).toEqual([2n, 3n]);
  });

  it('appendToStream and aggregateStream report the global position of the last event, from 1', async () => {
    const store = stores[1]![1]() as AofEmmettEventStore;
    const a = await store.appendToStream('acc', [opened('ada'), deposited(1)]);
    const b = await store.appendToStream('other', [opened('bob')]);
    expect([a.lastEventGlobalPosition, b.lastEventGlobalPosition]).toEqual([2n, 3n]);
    const agg = await store.aggregateStream('acc', { evolve, initialState });
    expect(agg.streamExists && agg.lastEventGlobalPosition).toBe(2n);
    const early = await store.aggregateStream('acc', { evolve, initialState, read: { to: 1n } });
    expect([early.currentStreamVersion, early.streamExists && early.lastEventGlobalPosition]).toEqual([1n, 1n]);
  });
});

describe('aof/emmett: one store per directory per process', () => {
  it('a second getAofEventStore on the same directory shares the store; closing one leaves the other working; the last close closes', async () => {
    const dir = tempLogDir();
    const a = getAofEventStore(dir);
    const b = getAofEventStore(dir);
    await a.appendToStream('acc', [opened('ada')]);
    await b.appendToStream('acc', [deposited(3)], { expectedStreamVersion: 1n });
    const es = await a.eventStore();
    expect(await b.eventStore()).toBe(es);
    await a.close();
    await a.close(); // idempotent: gives back one use only
    expect((await b.aggregateStream('acc', { evolve, initialState })).state.balance).toBe(3);
    await b.close();
    // The last close closed the store: the directory can be opened again, by a fresh handle.
    expect(() => es.streamVersion('acc')).toThrow(expect.objectContaining({ code: 'AOF_CLOSED' }));
    const c = getAofEventStore(dir);
    expect((await c.readStream('acc')).currentStreamVersion).toBe(2n);
    expect(await c.eventStore()).not.toBe(es);
    await c.close();
  });

  it('a handle that closed opens the store again on its next use', async () => {
    const dir = tempLogDir();
    const a = getAofEventStore(dir);
    await a.appendToStream('acc', [opened('ada')]);
    await a.close();
    expect(await a.streamExists('acc')).toBe(true);
    await a.close();
  });

  it('the same directory named two ways is one store', async () => {
    const dir = tempLogDir();
    const a = getAofEventStore(dir);
    const b = getAofEventStore(`${dir}/./`);
    expect(await a.eventStore()).toBe(await b.eventStore());
    await a.close();
    await b.close();
  });
});
