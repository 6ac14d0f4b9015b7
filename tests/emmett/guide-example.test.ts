/**
 * The Emmett application of docs/EVENT_SOURCING.md, run as a test. The code
 * between the region markers is the guide's code block, character for
 * character (a test below checks it), so the guide cannot drift from what
 * runs; tests/types compiles this file, so its types are checked too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DeciderCommandHandler, IllegalStateError, type Command, type Event } from '@event-driven-io/emmett';
import { getAofEventStore } from '../../src/emmett/index.js';
import { EventStore } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

// #region example
type ProductItemAdded = Event<'ProductItemAdded', { productId: string; quantity: number; unitPrice: number }>;
type ShoppingCartConfirmed = Event<'ShoppingCartConfirmed', { confirmedAt: string }>;
type CartEvent = ProductItemAdded | ShoppingCartConfirmed;

type AddProductItem = Command<'AddProductItem', { productId: string; quantity: number; unitPrice: number }>;
type ConfirmShoppingCart = Command<'ConfirmShoppingCart', { now: string }>;
type CartCommand = AddProductItem | ConfirmShoppingCart;

type Cart = { status: 'Empty' | 'Open' | 'Confirmed'; total: number };

const initialState = (): Cart => ({ status: 'Empty', total: 0 });

const evolve = (cart: Cart, event: CartEvent): Cart => {
  switch (event.type) {
    case 'ProductItemAdded':
      return { status: 'Open', total: cart.total + event.data.quantity * event.data.unitPrice };
    case 'ShoppingCartConfirmed':
      return { ...cart, status: 'Confirmed' };
  }
};

const decide = (command: CartCommand, cart: Cart): CartEvent => {
  if (cart.status === 'Confirmed') throw new IllegalStateError('the cart is already confirmed');
  switch (command.type) {
    case 'AddProductItem':
      return { type: 'ProductItemAdded', data: command.data };
    case 'ConfirmShoppingCart':
      if (cart.status === 'Empty') throw new IllegalStateError('an empty cart cannot be confirmed');
      return { type: 'ShoppingCartConfirmed', data: { confirmedAt: command.data.now } };
  }
};

// Emmett's command handler: load (aggregateStream), decide, append expecting the version loaded; retry on conflicts.
const handle = DeciderCommandHandler({ decide, evolve, initialState, mapToStreamId: (id: string) => `cart-${id}`, retry: { onVersionConflict: true } });

/** A read model beside the handlers: confirmed carts' totals, caught up from the start then live, reading only the events it needs. */
async function confirmedTotals(es: EventStore, signal: AbortSignal, onUpdate: (totals: Map<string, number>) => void): Promise<void> {
  const open = new Map<string, number>();
  const confirmed = new Map<string, number>();
  for await (const e of es.subscribe<CartEvent>({ streamPrefix: 'cart-', signal })) {
    if (e.type === 'ProductItemAdded') open.set(e.stream, (open.get(e.stream) ?? 0) + e.data.quantity * e.data.unitPrice);
    else confirmed.set(e.stream, open.get(e.stream) ?? 0);
    onUpdate(confirmed);
  }
}
// #endregion example

describe('docs/EVENT_SOURCING.md: the Emmett shopping cart', () => {
  it('is the code the guide shows', () => {
    const here = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const region = here.slice(here.indexOf('// #region example\n') + '// #region example\n'.length, here.indexOf('// #endregion example'));
    const guide = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/EVENT_SOURCING.md'), 'utf8');
    const start = guide.indexOf('<!-- example:emmett-cart -->');
    expect(start).toBeGreaterThan(0);
    const open = guide.indexOf('```ts\n', start) + '```ts\n'.length;
    const block = guide.slice(open, guide.indexOf('```\n', open));
    expect(block.startsWith("import { DeciderCommandHandler, IllegalStateError, type Command, type Event } from '@event-driven-io/emmett';\nimport { getAofEventStore } from 'aof/emmett';\nimport { EventStore } from 'aof';\n")).toBe(true);
    expect(block.slice(block.indexOf('\n\n') + 2)).toBe(region);
  });

  it('handles commands end to end: decisions, conflicts, a read model, the last event, a restart', async () => {
    const dir = tempLogDir();
    const eventStore = getAofEventStore(dir);
    const es = await eventStore.eventStore();

    const added = await handle(eventStore, '1', { type: 'AddProductItem', data: { productId: 'tea', quantity: 2, unitPrice: 4 } });
    expect([added.nextExpectedStreamVersion, added.createdNewStream, added.newState]).toEqual([1n, true, { status: 'Open', total: 8 }]);
    // Concurrent commands on one cart: each is decided on the version it loaded; conflicts are retried on fresh state
    // (each round of conflicts lets one through, so three fit Emmett's default of three retries).
    await Promise.all(Array.from({ length: 3 }, () => handle(eventStore, '1', { type: 'AddProductItem', data: { productId: 'cup', quantity: 1, unitPrice: 3 } })));
    expect((await eventStore.aggregateStream('cart-1', { evolve, initialState })).state.total).toBe(17);
    await handle(eventStore, '1', { type: 'ConfirmShoppingCart', data: { now: '2026-12-07' } });
    await expect(handle(eventStore, '1', { type: 'AddProductItem', data: { productId: 'hat', quantity: 1, unitPrice: 9 } })).rejects.toBeInstanceOf(IllegalStateError);
    await expect(handle(eventStore, '2', { type: 'ConfirmShoppingCart', data: { now: '2026-12-07' } })).rejects.toThrow('an empty cart cannot be confirmed');

    // The state as of an earlier version: Emmett's read.to.
    const early = await eventStore.aggregateStream('cart-1', { evolve, initialState, read: { to: 2n } });
    expect([early.currentStreamVersion, early.state.total]).toEqual([2n, 11]);

    // The read model, through the aof store underneath.
    const ac = new AbortController();
    let totals = new Map<string, number>();
    const projection = confirmedTotals(es, ac.signal, (t) => {
      totals = new Map(t);
      if (t.has('cart-3')) ac.abort();
    });
    await handle(eventStore, '3', { type: 'AddProductItem', data: { productId: 'pen', quantity: 3, unitPrice: 1 } });
    await handle(eventStore, '3', { type: 'ConfirmShoppingCart', data: { now: '2026-12-07' } });
    await expect(projection).rejects.toMatchObject({ name: 'AbortError' });
    expect(totals).toEqual(new Map([
      ['cart-1', 17],
      ['cart-3', 3],
    ]));

    // The last event of a stream, read backwards.
    for await (const last of es.readStream<CartEvent>('cart-1', { direction: 'backwards', maxCount: 1 })) expect(last.type).toBe('ShoppingCartConfirmed');
    await eventStore.close();

    // After a restart, a reader in another process (here, a read-only store) sees the same.
    const reader = await EventStore.open(dir, { readOnly: true });
    const versions: number[] = [];
    for await (const e of reader.readStream('cart-1')) versions.push(e.version);
    expect(versions).toEqual([0, 1, 2, 3, 4]);
    await reader.close();
  });
});
