/**
 * The worked example of docs/EVENT_SOURCING.md, run as a test. The code
 * between the region markers is the guide's code block, character for
 * character (a test below checks it), so the guide cannot drift from what runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventStore, WrongExpectedVersionError } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

// #region example
type AccountEvent =
  | { type: 'AccountOpened'; data: { owner: string } }
  | { type: 'Deposited'; data: { amount: number } }
  | { type: 'Withdrawn'; data: { amount: number } };

interface Account {
  owner: string | undefined;
  balance: number;
}

function evolve(state: Account, e: AccountEvent): Account {
  switch (e.type) {
    case 'AccountOpened':
      return { owner: e.data.owner, balance: 0 };
    case 'Deposited':
      return { ...state, balance: state.balance + e.data.amount };
    case 'Withdrawn':
      return { ...state, balance: state.balance - e.data.amount };
  }
}

/** Folds the account's events; `version` is the last one's, to append after it. */
async function load(es: EventStore, id: string): Promise<{ state: Account; version: number | undefined }> {
  let state: Account = { owner: undefined, balance: 0 };
  let version: number | undefined;
  // Typed by the event union: `event.data` narrows with `event.type`, no casts.
  for await (const event of es.readStream<AccountEvent>(`account-${id}`)) {
    state = evolve(state, event);
    version = event.version;
  }
  return { state, version };
}

/**
 * Decide, then append only if nobody appended in between; on a conflict,
 * load again and decide again. `commandId` gives the events stable ids: an
 * append re-sent after its reply was lost (same events, same expectation)
 * resolves with the first result instead of writing twice.
 */
async function handle(es: EventStore, id: string, commandId: string, decide: (state: Account) => AccountEvent[]): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const { state, version } = await load(es, id);
    const events = decide(state).map((e, i) => ({ ...e, id: `${commandId}/${i}` }));
    try {
      const { nextExpectedVersion } = await es.appendToStream(`account-${id}`, events, { expectedVersion: version ?? 'no_stream' });
      return nextExpectedVersion;
    } catch (err) {
      if (err instanceof WrongExpectedVersionError && attempt < 10) continue;
      throw err;
    }
  }
}

const open = (owner: string) => (state: Account): AccountEvent[] => {
  if (state.owner !== undefined) throw new Error('account already open');
  return [{ type: 'AccountOpened', data: { owner } }];
};
const deposit = (amount: number) => (state: Account): AccountEvent[] => {
  if (state.owner === undefined) throw new Error('no such account');
  return [{ type: 'Deposited', data: { amount } }];
};
const withdraw = (amount: number) => (state: Account): AccountEvent[] => {
  if (state.owner === undefined) throw new Error('no such account');
  if (state.balance < amount) throw new Error('insufficient funds');
  return [{ type: 'Withdrawn', data: { amount } }];
};

/** A projection: every account's balance, caught up from the start, then live. */
async function balances(es: EventStore, signal: AbortSignal, onUpdate: (totals: Map<string, number>) => void): Promise<void> {
  const totals = new Map<string, number>();
  for await (const e of es.subscribe<AccountEvent>({ signal, streamPrefix: 'account-' })) {
    const delta = e.type === 'Deposited' ? e.data.amount : e.type === 'Withdrawn' ? -e.data.amount : 0;
    totals.set(e.stream, (totals.get(e.stream) ?? 0) + delta);
    onUpdate(totals);
  }
}
// #endregion example

describe('docs/EVENT_SOURCING.md: the bank account example', () => {
  it('is the code the guide shows', () => {
    const here = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const region = here.slice(here.indexOf('// #region example\n') + '// #region example\n'.length, here.indexOf('// #endregion example'));
    const guide = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/EVENT_SOURCING.md'), 'utf8');
    const start = guide.indexOf('<!-- example:bank-account -->');
    expect(start).toBeGreaterThan(0);
    const block = guide.slice(guide.indexOf('```ts\n', start) + '```ts\n'.length, guide.indexOf('```\n', guide.indexOf('```ts\n', start) + 6));
    const withoutImport = block.slice(block.indexOf('\n\n') + 2);
    expect(block.startsWith("import { EventStore, WrongExpectedVersionError } from 'aof';\n")).toBe(true);
    expect(withoutImport).toBe(region);
  });

  it('opens, deposits and withdraws; concurrent withdrawals never overdraw; retries never double-spend; the projection agrees', async () => {
    const dir = tempLogDir();
    const es = await EventStore.open(dir);
    expect(await handle(es, 'ada', 'cmd-1', open('Ada'))).toBe(0);
    expect(await handle(es, 'ada', 'cmd-2', deposit(100))).toBe(1);
    await expect(handle(es, 'ada', 'cmd-3', open('Ada'))).rejects.toThrow('account already open');

    // Ten tellers try to withdraw 30 at once: each decision is checked against the version it was made on,
    // conflicts are retried on fresh state, and exactly three succeed.
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => handle(es, 'ada', `teller-${i}`, withdraw(30))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(outcomes.filter((o) => o.status === 'rejected').every((o) => /insufficient funds/.test(String((o as PromiseRejectedResult).reason)))).toBe(true);
    expect((await load(es, 'ada')).state.balance).toBe(10);

    // An append whose reply was lost is re-sent as it was: the withdrawal is not written twice.
    await handle(es, 'bob', 'cmd-b1', open('Bob'));
    await handle(es, 'bob', 'cmd-b2', deposit(50));
    const first = await handle(es, 'bob', 'cmd-b3', withdraw(20));
    const { version } = await load(es, 'bob');
    expect(await es.appendToStream('account-bob', [{ type: 'Withdrawn', data: { amount: 20 }, id: 'cmd-b3/0' }], { expectedVersion: version! - 1 })).toEqual({ nextExpectedVersion: first, position: expect.any(Number) });
    expect((await load(es, 'bob')).state.balance).toBe(30);

    // The projection sees the same balances, then follows new events live.
    const ac = new AbortController();
    let latest = new Map<string, number>();
    const projection = balances(es, ac.signal, (totals) => {
      latest = new Map(totals);
      if (totals.get('account-bob') === 35) ac.abort();
    });
    await handle(es, 'bob', 'cmd-b4', deposit(5));
    await expect(projection).rejects.toMatchObject({ name: 'AbortError' });
    expect(latest).toEqual(new Map([
      ['account-ada', 10],
      ['account-bob', 35],
    ]));
    await es.close();

    // Everything is still there after a restart.
    const again = await EventStore.open(dir);
    expect((await load(again, 'ada')).state).toEqual({ owner: 'Ada', balance: 10 });
    expect((await load(again, 'bob')).version).toBe(3);
    await again.close();
  });
});
