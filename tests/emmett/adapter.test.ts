import {
  CommandHandler,
  DeciderCommandHandler,
  ExpectedVersionConflictError,
  IllegalStateError,
  STREAM_DOES_NOT_EXIST,
  STREAM_EXISTS,
  getInMemoryEventStore,
  isExpectedVersionConflictError,
  type Command,
  type Event,
  type EventStore as EmmettEventStore,
  type ReadEvent,
  type ReadEventMetadataWithGlobalPosition,
} from '@event-driven-io/emmett';
import { describe, expect, it } from 'vitest';
import { getAofEventStore } from '../../src/emmett/index.js';
import { EventStore } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

// ---- a shopping cart, written the Emmett way ----

type ProductItemAdded = Event<'ProductItemAdded', { productId: string; quantity: number }>;
type ProductItemRemoved = Event<'ProductItemRemoved', { productId: string; quantity: number }>;
type ShoppingCartConfirmed = Event<'ShoppingCartConfirmed', { confirmedAt: string }>;
type CartEvent = ProductItemAdded | ProductItemRemoved | ShoppingCartConfirmed;

type Cart = { status: 'Empty' | 'Open' | 'Confirmed'; items: Record<string, number> };

const initialState = (): Cart => ({ status: 'Empty', items: {} });

function evolve(state: Cart, event: CartEvent): Cart {
  switch (event.type) {
    case 'ProductItemAdded': {
      const { productId, quantity } = event.data;
      return { status: 'Open', items: { ...state.items, [productId]: (state.items[productId] ?? 0) + quantity } };
    }
    case 'ProductItemRemoved': {
      const { productId, quantity } = event.data;
      return { ...state, items: { ...state.items, [productId]: (state.items[productId] ?? 0) - quantity } };
    }
    case 'ShoppingCartConfirmed':
      return { ...state, status: 'Confirmed' };
  }
}

type AddProductItem = Command<'AddProductItem', { productId: string; quantity: number }>;
type ConfirmShoppingCart = Command<'ConfirmShoppingCart', { now: string }>;
type CartCommand = AddProductItem | ConfirmShoppingCart;

function decide(command: CartCommand, state: Cart): CartEvent | CartEvent[] {
  if (state.status === 'Confirmed') throw new IllegalStateError('the cart is confirmed');
  switch (command.type) {
    case 'AddProductItem':
      return { type: 'ProductItemAdded', data: command.data };
    case 'ConfirmShoppingCart':
      if (state.status === 'Empty') throw new IllegalStateError('an empty cart cannot be confirmed');
      return { type: 'ShoppingCartConfirmed', data: { confirmedAt: command.data.now } };
  }
}

const handle = CommandHandler<Cart, CartEvent>({ evolve, initialState, mapToStreamId: (id) => `cart-${id}` });
const handleWithRetries = CommandHandler<Cart, CartEvent>({
  evolve,
  initialState,
  mapToStreamId: (id) => `cart-${id}`,
  retry: { onVersionConflict: { retries: 50, minTimeout: 1, maxTimeout: 5, factor: 1, shouldRetryError: isExpectedVersionConflictError } },
});
const decider = DeciderCommandHandler<Cart, CartCommand, CartEvent>({ decide, evolve, initialState, mapToStreamId: (id) => `cart-${id}` });

const add = (productId: string, quantity: number): AddProductItem => ({ type: 'AddProductItem', data: { productId, quantity } });

/** The same script against any Emmett store: what an application would observe. */
async function script(store: EmmettEventStore): Promise<unknown[]> {
  const seen: unknown[] = [];
  const r1 = await handle(store, '1', () => ({ type: 'ProductItemAdded', data: { productId: 'shoes', quantity: 2 } }) as CartEvent);
  seen.push([r1.nextExpectedStreamVersion, r1.createdNewStream, r1.newState]);
  const r2 = await decider(store, '1', [add('socks', 3), add('shoes', 1)]);
  seen.push([r2.nextExpectedStreamVersion, r2.createdNewStream, r2.newState, r2.newEvents.length]);
  const r3 = await decider(store, '1', { type: 'ConfirmShoppingCart', data: { now: '2024-06-12' } });
  seen.push([r3.nextExpectedStreamVersion, r3.newState.status]);
  seen.push(await decider(store, '1', add('hat', 1)).catch((e: unknown) => (e as Error).constructor.name));
  seen.push(await decider(store, '2', { type: 'ConfirmShoppingCart', data: { now: 'x' } }).catch((e: unknown) => (e as Error).constructor.name));
  // A stale expected version: Emmett's own conflict error, which its retry policy recognises.
  const stale = await handle(store, '1', () => [], { expectedStreamVersion: 2n }).catch((e: unknown) => e);
  seen.push([stale instanceof ExpectedVersionConflictError, isExpectedVersionConflictError(stale)]);
  const agg = await store.aggregateStream('cart-1', { evolve, initialState });
  seen.push([agg.currentStreamVersion, agg.streamExists, agg.state]);
  const none = await store.aggregateStream('cart-404', { evolve, initialState });
  seen.push([none.currentStreamVersion, none.streamExists, none.state]);
  const read = await store.readStream<CartEvent>('cart-1');
  seen.push([read.currentStreamVersion, read.streamExists, read.events.map((e) => [e.type, e.data, e.metadata.streamName, e.metadata.streamPosition])]);
  seen.push([await store.streamExists('cart-1'), await store.streamExists('cart-404')]);
  seen.push(
    await store.appendToStream('cart-3', [{ type: 'ProductItemAdded', data: { productId: 'a', quantity: 1 } }], { expectedStreamVersion: STREAM_EXISTS }).catch((e: unknown) => isExpectedVersionConflictError(e)),
  );
  const created = await store.appendToStream('cart-3', [{ type: 'ProductItemAdded', data: { productId: 'a', quantity: 1 } }], { expectedStreamVersion: STREAM_DOES_NOT_EXIST });
  seen.push([created.nextExpectedStreamVersion, created.createdNewStream]);
  const more = await store.appendToStream('cart-3', [{ type: 'ProductItemAdded', data: { productId: 'b', quantity: 1 } }], { expectedStreamVersion: 1n });
  seen.push([more.nextExpectedStreamVersion, more.createdNewStream]);
  // (Emmett's in-memory store throws this one synchronously: call it from an async function.)
  seen.push(await (async () => store.readStream('cart-3', { expectedStreamVersion: 5n }))().catch((e: unknown) => [isExpectedVersionConflictError(e), (e as ExpectedVersionConflictError).current, (e as ExpectedVersionConflictError).expected]));
  return seen;
}

describe('aof/emmett: getAofEventStore', () => {
  it("runs Emmett's CommandHandler and DeciderCommandHandler flows exactly as Emmett's in-memory store does", async () => {
    const es = await EventStore.open(tempLogDir());
    const ours = await script(getAofEventStore(es));
    const theirs = await script(getInMemoryEventStore());
    expect(ours).toEqual(theirs);
    expect(ours[0]).toEqual([1n, true, { status: 'Open', items: { shoes: 2 } }]);
    expect(ours[6]).toEqual([4n, true, { status: 'Confirmed', items: { shoes: 3, socks: 3 } }]);
    expect(ours[3]).toMatch(/IllegalStateError/);
    // Underneath, aof counts versions from 0.
    expect(es.streamVersion('cart-1')).toBe(3);
    // Ranges read as Emmett's SQLite and PostgreSQL stores read them: stream positions from..to inclusive, at most maxCount.
    // (Its in-memory store slices by index instead, so `from` is off by one there.)
    const store = getAofEventStore(es);
    const positions = async (o: { from?: bigint; to?: bigint; maxCount?: bigint }): Promise<bigint[]> => (await store.readStream('cart-1', o)).events.map((e) => e.metadata.streamPosition);
    expect(await positions({ from: 2n, to: 3n })).toEqual([2n, 3n]);
    expect(await positions({ from: 2n })).toEqual([2n, 3n, 4n]);
    expect(await positions({ from: 1n, maxCount: 2n })).toEqual([1n, 2n]);
    expect(await positions({ to: 1n })).toEqual([1n]);
    expect(await positions({ from: 9n })).toEqual([]);
    expect((await store.readStream('cart-1', { from: 9n })).currentStreamVersion).toBe(4n);
    await es.close();
  });

  it('concurrent command handlers on one cart: without retries some lose with ExpectedVersionConflictError; with retries all land, none twice', async () => {
    const es = await EventStore.open(tempLogDir());
    const store = getAofEventStore(es);
    await handle(store, 'hot', () => ({ type: 'ProductItemAdded', data: { productId: 'seed', quantity: 1 } }) as CartEvent);
    const N = 20;
    const outcomes = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        handle(store, 'hot', () => ({ type: 'ProductItemAdded', data: { productId: `p${i}`, quantity: 1 } }) as CartEvent).then(
          () => 'ok',
          (e: unknown) => (isExpectedVersionConflictError(e) ? 'conflict' : e),
        ),
      ),
    );
    const wins = outcomes.filter((o) => o === 'ok').length;
    expect(wins).toBeGreaterThanOrEqual(1);
    expect(outcomes.filter((o) => o === 'conflict').length).toBe(N - wins);
    expect(es.streamVersion('cart-hot')).toBe(wins);

    const results = await Promise.all(Array.from({ length: N }, (_, i) => handleWithRetries(store, 'hot', () => ({ type: 'ProductItemAdded', data: { productId: `q${i}`, quantity: 1 } }) as CartEvent)));
    const versions = results.map((r) => r.nextExpectedStreamVersion).sort((a, b) => (a < b ? -1 : 1));
    expect(new Set(versions).size).toBe(N);
    const { state, currentStreamVersion } = await store.aggregateStream('cart-hot', { evolve, initialState });
    expect(currentStreamVersion).toBe(BigInt(1 + wins + N));
    for (let i = 0; i < N; i++) expect(state.items[`q${i}`]).toBe(1);
    await es.close();
  });

  it('opens a directory lazily, persists across close and reopen, and publishes to onAfterCommit hooks', async () => {
    const dir = tempLogDir();
    const committed: Array<ReadEvent<Event, ReadEventMetadataWithGlobalPosition>> = [];
    let store = getAofEventStore(dir, { storeOptions: { flush: { strategy: 'always' } }, hooks: { onAfterCommit: (events) => void committed.push(...events) } });
    await decider(store, '7', [add('tea', 1), add('cup', 2)]);
    expect(committed.map((e) => [e.type, e.metadata.streamName, e.metadata.streamPosition, e.metadata.globalPosition])).toEqual([
      ['ProductItemAdded', 'cart-7', 1n, 1n],
      ['ProductItemAdded', 'cart-7', 2n, 2n],
    ]);
    await store.close();
    await store.close();
    store = getAofEventStore(dir);
    const { state, currentStreamVersion } = await store.aggregateStream('cart-7', { evolve, initialState });
    expect(currentStreamVersion).toBe(2n);
    expect(state.items).toEqual({ tea: 1, cup: 2 });
    expect((await store.eventStore()).indexReport.action).toBe('ok');
    await store.close();
  });

  it('applies schema versioning: downcast on append, upcast on read', async () => {
    const es = await EventStore.open(tempLogDir());
    const store = getAofEventStore(es);
    type V2 = Event<'ProductItemAdded', { productId: string; quantity: number }>;
    type V1 = Event<'ProductItemAdded', { sku: string; qty: number }>;
    await store.appendToStream<V2, V1>('cart-v', [{ type: 'ProductItemAdded', data: { productId: 'x', quantity: 4 } }], {
      schema: { versioning: { downcast: (e: V2): V1 => ({ type: e.type, data: { sku: e.data.productId, qty: e.data.quantity } }) } },
    });
    const [stored] = await (async () => {
      const out = [];
      for await (const e of es.readStream('cart-v')) out.push(e);
      return out;
    })();
    expect(stored!.data).toEqual({ sku: 'x', qty: 4 });
    const read = await store.readStream<V2, V1>('cart-v', { schema: { versioning: { upcast: (e: V1): V2 => ({ type: e.type, data: { productId: e.data.sku, quantity: e.data.qty } }) } } });
    expect(read.events[0]!.data).toEqual({ productId: 'x', quantity: 4 });
    expect(read.events[0]!.metadata.streamPosition).toBe(1n);
    await es.close();
  });

  it('rejects what is not a store or a directory', () => {
    expect(() => getAofEventStore('' as string)).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => getAofEventStore({} as EventStore)).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
  });
});
