/**
 * Type-level checks of typed reads, compiled by tests/stream/typed-reads.test.ts
 * (`tsc -p tests/types`): a line here that stops type-checking fails that test.
 */
import type { Event } from '@event-driven-io/emmett';
import { expectTypeOf } from 'vitest';
import { getAofEventStore } from '../../src/emmett/index.js';
import type { EventStore } from '../../src/index.js';

type Added = Event<'Added', { sku: string; qty: number }>;
type Confirmed = Event<'Confirmed', { at: string }, { user: string }>;
type CartEvent = Added | Confirmed;
type Cart = { items: number; confirmed: boolean };

export async function typedReads(es: EventStore): Promise<void> {
  for await (const e of es.readStream<CartEvent>('cart-1')) {
    expectTypeOf(e.type).toEqualTypeOf<'Added' | 'Confirmed'>();
    expectTypeOf(e.version).toEqualTypeOf<number>();
    expectTypeOf(e.stream).toEqualTypeOf<string>();
    if (e.type === 'Added') {
      // Narrowing by type narrows data: no casts.
      expectTypeOf(e.data).toEqualTypeOf<{ sku: string; qty: number }>();
      const qty: number = e.data.qty;
      void qty;
    } else {
      expectTypeOf(e.data).toEqualTypeOf<{ at: string }>();
      expectTypeOf(e.metadata).toEqualTypeOf<{ user: string } | undefined>();
    }
    // @ts-expect-error 'Removed' is not a type of CartEvent
    if (e.type === 'Removed') return;
  }
  for await (const e of es.readAll<CartEvent>({ eventTypes: ['Added'] })) {
    if (e.type === 'Added') expectTypeOf(e.data.sku).toEqualTypeOf<string>();
  }
  for await (const e of es.subscribe<CartEvent>({ stream: 'cart-1' })) {
    if (e.type === 'Confirmed') expectTypeOf(e.data.at).toEqualTypeOf<string>();
  }
  // Untyped reads stay as they were.
  for await (const e of es.readStream('cart-1')) {
    expectTypeOf(e.type).toEqualTypeOf<string>();
    expectTypeOf(e.data).toEqualTypeOf<unknown>();
  }
  // Emmett's aggregateStream<State, E> over aof: evolve sees typed events, the result is typed.
  const store = getAofEventStore(es);
  // (Emmett's Evolve is a union of signatures, so evolve is written with its types, as Emmett's own examples do.)
  const evolve = (state: Cart, event: CartEvent): Cart => (event.type === 'Added' ? { ...state, items: state.items + event.data.qty } : { ...state, confirmed: true });
  const result = await store.aggregateStream<Cart, CartEvent>('cart-1', { initialState: () => ({ items: 0, confirmed: false }), evolve });
  expectTypeOf(result.state).toEqualTypeOf<Cart>();
  expectTypeOf(result.currentStreamVersion).toEqualTypeOf<bigint>();
  const read = await store.readStream<CartEvent>('cart-1');
  for (const e of read.events) if (e.type === 'Added') expectTypeOf(e.data.qty).toEqualTypeOf<number>();
}
