/**
 * Issue 19's event-store workloads, aof's EventStore beside better-sqlite3
 * (one child process each, taking turns round by round):
 *
 * - write: shopping-cart streams of JSON events of about 200 bytes, written
 *   interleaved as real traffic is (round-robin over a seeded shuffle of the
 *   streams), one event per `appendToStream`, `esInFlight` calls in flight,
 *   flush 'none'; SQLite: a `(stream, version)` primary key WITHOUT ROWID,
 *   one transaction per 1,000 events, WAL, synchronous = OFF;
 * - load: random whole streams (seeded picks), awaited one at a time, every
 *   event collected with its data parsed; and the same through `aof/emmett`'s
 *   `aggregateStream` with a small fold (SQLite: the query, JSON.parse, the same fold);
 * - open plus first load in a fresh process (bench/es-open-child.ts), timed
 *   from spawn to result and inside the child from before its imports.
 *
 * aof runs with the engine's default memory bounds: no cache option is raised.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Event, ReadEvent, ReadEventMetadataWithGlobalPosition } from '@event-driven-io/emmett';
import { EventStore, type RecordedEvent } from 'aof';
import { getAofEventStore } from 'aof/emmett';
import type { CaseContext, CaseDef, Figure, Produces, WorkloadDef } from './cases.js';
import { freshDir, median, now, pipelined, randomInts, removeDir } from './common.js';

export const EVENT_STORE_WORKLOADS: WorkloadDef[] = [
  { id: 'es-append', title: 'Issue 19: appendToStream, interleaved shopping carts', unit: 'events/s', primary: 'aof', what: "Shopping-cart streams of JSON events of about 200 bytes (opened, items added, confirmed), written interleaved (round-robin over a seeded shuffle of the streams), one event per appendToStream, 1,000 calls in flight, flush 'none'. better-sqlite3: one transaction per 1,000 events." },
  { id: 'es-load', title: 'Issue 19: whole-stream loads', unit: 'streams/s', primary: 'aof', what: 'Random whole streams (seeded picks) of the data set above, awaited one at a time, each collecting every event of the stream with its data parsed, as a command handler does.' },
  { id: 'es-aggregate', title: "Issue 19: aggregateStream (aof/emmett)", unit: 'streams/s', primary: 'aof-emmett', what: "As above through aof/emmett's aggregateStream with a small evolve fold (status, items, total); SQLite: the same query, JSON.parse and the same fold." },
  { id: 'es-open', title: 'Issue 19: open plus first load in a fresh process, spawn to result', unit: 'ms', lowerIsBetter: true, primary: 'aof', what: 'A child process spawned after the store was written and closed: it opens the store (EventStore.open / new Database) and loads one stream; timed from spawn to the result on its stdout. Median of the spawns of a run, after one untimed spawn.' },
  { id: 'es-open-inside', title: 'Issue 19: open plus first load, inside the fresh process', unit: 'ms', lowerIsBetter: true, primary: 'aof', what: "The same spawns, timed inside the child from before its first import to after the load (the process's own start-up excluded)." },
];

/** The events of a cart stream: opened, items added, confirmed, each padded to about this many bytes of JSON. */
const EVENT_JSON_BYTES = 200;

interface CartEvent {
  stream: string;
  type: 'ShoppingCartOpened' | 'ProductItemAdded' | 'ShoppingCartConfirmed';
  data: Record<string, unknown>;
}

/** Event `version` of cart `s` (of `perStream` events), its JSON padded to about 200 bytes. */
function cartEvent(s: number, version: number, perStream: number): CartEvent {
  const stream = `shopping_cart-${s}`;
  const at = new Date(Date.UTC(2026, 0, 1) + s * 1000 + version).toISOString();
  let type: CartEvent['type'];
  let data: Record<string, unknown>;
  if (version === 0) {
    type = 'ShoppingCartOpened';
    data = { shoppingCartId: stream, clientId: `client-${(s * 7919) % 100_000}`, openedAt: at };
  } else if (version === perStream - 1) {
    type = 'ShoppingCartConfirmed';
    data = { shoppingCartId: stream, confirmedAt: at };
  } else {
    type = 'ProductItemAdded';
    data = { shoppingCartId: stream, productItem: { productId: `product-${(s * 31 + version * 17) % 5000}`, quantity: 1 + ((s + version) % 5), unitPrice: ((s * 13 + version * 7) % 10_000) / 100 }, addedAt: at };
  }
  const len = JSON.stringify(data).length;
  if (len < EVENT_JSON_BYTES - 12) data.note = 'x'.repeat(EVENT_JSON_BYTES - 12 - len);
  return { stream, type, data };
}

/** Every event of the data set in traffic order: round by round, each stream's next event, streams in a seeded shuffled order. */
function trafficOrder(streams: number, perStream: number): CartEvent[] {
  const order = Array.from({ length: streams }, (_, i) => i);
  const rnd = randomInts(0x5eed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const out: CartEvent[] = [];
  for (let v = 0; v < perStream; v++) for (const s of order) out.push(cartEvent(s, v, perStream));
  return out;
}

/** The fold of both sides: what a command handler derives from a cart's events. */
interface Cart {
  status: 'empty' | 'open' | 'confirmed';
  items: number;
  total: number;
}
type ProductItem = { productId: string; quantity: number; unitPrice: number };
type CartEmmettEvent = Event<'ShoppingCartOpened', Record<string, unknown>> | Event<'ProductItemAdded', { productItem: ProductItem }> | Event<'ShoppingCartConfirmed', Record<string, unknown>>;
const initialState = (): Cart => ({ status: 'empty', items: 0, total: 0 });
function evolve(state: Cart, event: { type: string; data: unknown }): Cart {
  switch (event.type) {
    case 'ShoppingCartOpened':
      return { ...state, status: 'open' };
    case 'ProductItemAdded': {
      const p = (event.data as { productItem: ProductItem }).productItem;
      return { ...state, items: state.items + p.quantity, total: state.total + p.quantity * p.unitPrice };
    }
    case 'ShoppingCartConfirmed':
      return { ...state, status: 'confirmed' };
  }
  return state;
}

/** The engine-specific part of a run. */
interface Side {
  write(events: readonly CartEvent[], inFlight: number): Promise<void>;
  load(stream: string): Promise<number>;
  aggregate(stream: string): Promise<Cart>;
  close(): Promise<void>;
}

async function aofSide(dir: string): Promise<Side> {
  const es = await EventStore.open(dir, { flush: { strategy: 'none' } });
  const emmett = getAofEventStore(es);
  const evolveEmmett = evolve as (s: Cart, e: ReadEvent<CartEmmettEvent, ReadEventMetadataWithGlobalPosition>) => Cart;
  return {
    async write(events, inFlight) {
      await pipelined({ n: events.length, capMs: Infinity }, inFlight, (i) => {
        const e = events[i]!;
        return es.appendToStream(e.stream, [{ type: e.type, data: e.data }]);
      });
    },
    async load(stream) {
      const events: RecordedEvent[] = [];
      for await (const e of es.readStream(stream)) events.push(e);
      if ((events[0]?.data as { shoppingCartId?: string } | undefined)?.shoppingCartId !== stream) throw new Error(`aof: ${stream} loaded the wrong events`);
      return events.length;
    },
    async aggregate(stream) {
      const { state } = await emmett.aggregateStream<Cart, CartEmmettEvent>(stream, { evolve: evolveEmmett, initialState });
      return state;
    },
    close: () => es.close(),
  };
}

async function sqliteSide(dir: string): Promise<Side> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(dir, 'events.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE IF NOT EXISTS events (stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stream, version)) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO events (stream, version, type, data) VALUES (?, ?, ?, ?)');
  const versions = new Map<string, number>();
  const insertMany = db.transaction((events: readonly CartEvent[], from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const e = events[i]!;
      const v = versions.get(e.stream) ?? 0;
      insert.run(e.stream, v, e.type, JSON.stringify(e.data));
      versions.set(e.stream, v + 1);
    }
  });
  const select = db.prepare('SELECT version, type, data FROM events WHERE stream = ? ORDER BY version');
  type Row = { version: number; type: string; data: string };
  const read = (stream: string): Array<{ version: number; type: string; data: unknown }> => {
    const rows = select.all(stream) as Row[];
    const events = new Array<{ version: number; type: string; data: unknown }>(rows.length);
    for (let i = 0; i < rows.length; i++) events[i] = { version: rows[i]!.version, type: rows[i]!.type, data: JSON.parse(rows[i]!.data) as unknown };
    return events;
  };
  return {
    async write(events) {
      // Its API is synchronous: one transaction per 1,000 events, one after another.
      for (let i = 0; i < events.length; i += 1000) insertMany(events, i, Math.min(events.length, i + 1000));
    },
    async load(stream) {
      const events = read(stream);
      if ((events[0]?.data as { shoppingCartId?: string } | undefined)?.shoppingCartId !== stream) throw new Error(`sqlite: ${stream} loaded the wrong events`);
      return events.length;
    },
    async aggregate(stream) {
      let state = initialState();
      for (const e of read(stream)) state = evolve(state, e);
      return state;
    },
    close: async () => db.close(),
  };
}

/** Loads at seeded random streams, one awaited at a time, until `n` or `capMs`; resolves loads per second. */
async function randomLoads(n: number, capMs: number, streams: number, seed: number, load: (stream: string) => Promise<void>): Promise<number> {
  const rnd = randomInts(seed);
  const start = now();
  let i = 0;
  while (i < n) {
    await load(`shopping_cart-${rnd(streams)}`);
    i++;
    if ((i & 63) === 0 && now() - start >= capMs) break;
  }
  return (i * 1000) / (now() - start);
}

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'es-open-child.js');

/**
 * Spawns the open-and-load child: its time from spawn to the result line on
 * its stdout, and its own inside time. Resolves after the child has exited,
 * so that the next spawn finds the store unlocked.
 */
function spawnOpen(engine: 'aof' | 'sqlite', dir: string, stream: string): Promise<{ spawnMs: number; insideMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, [childScript, engine, dir, stream], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let result: { spawnMs: number; insideMs: number; events: number } | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (result !== undefined) return;
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const spawnMs = now() - t0;
      const r = JSON.parse(out.slice(0, nl)) as { insideMs: number; events: number };
      result = { spawnMs, ...r };
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result === undefined || code !== 0) reject(new Error(`the ${engine} open child exited with ${code}: ${err.trim().split('\n').slice(-3).join(' ')}`));
      else if (result.events < 1) reject(new Error(`the ${engine} open child loaded no events of ${stream}`));
      else resolve({ spawnMs: result.spawnMs, insideMs: result.insideMs });
    });
  });
}

function esCase(engine: 'aof' | 'sqlite'): CaseDef {
  const label = engine === 'aof' ? 'aof EventStore' : 'better-sqlite3';
  const kind = engine === 'aof' ? ('aof' as const) : ('peer' as const);
  const settings = {
    write: engine === 'aof' ? "EventStore.open(dir, { flush: { strategy: 'none' } }) (default memory bounds); appendToStream(stream, [event]) per event, 1,000 in flight" : 'table (stream TEXT, version INTEGER, type, data, PRIMARY KEY (stream, version)) WITHOUT ROWID, WAL, synchronous = OFF; one transaction per 1,000 events',
    load: engine === 'aof' ? 'for await (const e of es.readStream(id)) events.push(e) (data parsed by the store)' : 'SELECT version, type, data WHERE stream = ? ORDER BY version; JSON.parse of each data',
    aggregate: engine === 'aof' ? "getAofEventStore(es).aggregateStream(id, { evolve, initialState })" : 'the same SELECT, JSON.parse, the same evolve fold',
    open: engine === 'aof' ? 'EventStore.open(dir) and readStream of one stream, in a fresh node process' : 'new Database(file) and the SELECT of one stream, in a fresh node process',
  };
  const contenderOf = (w: string): string => (engine === 'sqlite' ? 'sqlite' : w === 'es-aggregate' ? 'aof-emmett' : 'aof');
  const produces: Produces[] = [
    { workload: 'es-append', contender: contenderOf('es-append'), label, kind, setting: settings.write },
    { workload: 'es-load', contender: contenderOf('es-load'), label, kind, setting: settings.load },
    { workload: 'es-aggregate', contender: contenderOf('es-aggregate'), label: engine === 'aof' ? 'aof/emmett aggregateStream' : 'better-sqlite3 + fold', kind, setting: settings.aggregate },
    { workload: 'es-open', contender: contenderOf('es-open'), label, kind, setting: settings.open },
    { workload: 'es-open-inside', contender: contenderOf('es-open-inside'), label, kind, setting: settings.open },
  ];
  const open = engine === 'aof' ? aofSide : sqliteSide;
  return {
    id: `es/${engine}`,
    interleave: true,
    produces,
    async run(ctx: CaseContext): Promise<Figure[]> {
      const p = ctx.params;
      const S = p.esStreams;
      const E = p.esEventsPerStream;
      const events = trafficOrder(S, E);
      const runs = { write: [] as number[], load: [] as number[], aggregate: [] as number[], open: [] as number[], inside: [] as number[] };
      const spawns: number[] = [];
      for (let r = 0; r < p.runs; r++) {
        // Warm-up: a tenth of the streams written to a scratch store and loaded, so that the timed run does not measure cold code.
        {
          const scratch = freshDir(ctx.dir, 'warm-up');
          ctx.progress(`${label}: warm-up`);
          const side = await open(scratch);
          try {
            const few = trafficOrder(Math.max(1, Math.ceil(S / 10)), E);
            await side.write(few, p.esInFlight);
            await randomLoads(Math.ceil(p.esLoads / 10), p.getCapMs / 5, Math.max(1, Math.ceil(S / 10)), 99, async (s) => void (await side.load(s)));
            await randomLoads(Math.ceil(p.esLoads / 10), p.getCapMs / 5, Math.max(1, Math.ceil(S / 10)), 98, async (s) => void (await side.aggregate(s)));
          } finally {
            await side.close();
            removeDir(scratch);
          }
        }
        const dir = freshDir(ctx.dir, `run${r + 1}`);
        try {
          const side = await open(dir);
          try {
            ctx.progress(`${label}: writing ${events.length.toLocaleString('en-US')} events (run ${r + 1}/${p.runs})`);
            const t0 = now();
            await side.write(events, p.esInFlight);
            runs.write.push((events.length * 1000) / (now() - t0));
            ctx.progress(`${label}: loads (run ${r + 1}/${p.runs})`);
            runs.load.push(
              await randomLoads(p.esLoads, p.getCapMs, S, 4321 + r, async (s) => {
                const n = await side.load(s);
                if (n !== E) throw new Error(`${label}: ${s} has ${n} events, expected ${E}`);
              }),
            );
            runs.aggregate.push(
              await randomLoads(p.esLoads, p.getCapMs, S, 8765 + r, async (s) => {
                const state = await side.aggregate(s);
                if (state.status !== 'confirmed') throw new Error(`${label}: ${s} folded to ${state.status}`);
              }),
            );
          } finally {
            await side.close();
          }
          const rnd = randomInts(2468 + r);
          await spawnOpen(engine, dir, `shopping_cart-${rnd(S)}`); // untimed: the node binary and the modules into the page cache
          const open1: number[] = [];
          const inside1: number[] = [];
          for (let k = 0; k < p.esOpenSpawns; k++) {
            ctx.progress(`${label}: open in a fresh process ${k + 1}/${p.esOpenSpawns} (run ${r + 1}/${p.runs})`);
            const t = await spawnOpen(engine, dir, `shopping_cart-${rnd(S)}`);
            open1.push(t.spawnMs);
            inside1.push(t.insideMs);
            spawns.push(Math.round(t.spawnMs));
          }
          runs.open.push(median(open1));
          runs.inside.push(median(inside1));
        } finally {
          removeDir(dir);
        }
      }
      const fig = (workload: string, values: number[], extra?: Record<string, number | string>): Figure => ({ workload, contender: contenderOf(workload), value: median(values), runs: values, extra });
      const facts = { streams: S, eventsPerStream: E, events: events.length, eventJsonBytes: Math.round(median(events.slice(0, 100).map((e) => JSON.stringify(e.data).length))) };
      return [fig('es-append', runs.write, facts), fig('es-load', runs.load), fig('es-aggregate', runs.aggregate), fig('es-open', runs.open, { spawnsMs: spawns.join(' ') }), fig('es-open-inside', runs.inside)];
    },
  };
}

export function eventStoreCases(): CaseDef[] {
  return [esCase('aof'), esCase('sqlite')];
}
