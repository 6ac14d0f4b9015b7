import { EventStore, type EventStoreOptions, type RecordedEvent } from '../../src/index.js';

/** Collects an async iterable into an array. */
export async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}

/** The first `n` items of an async iterable (then stops it). */
export async function take<T>(iter: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const x of iter) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
}

/** Opens a store with a flush strategy cheap enough for tests that are not about durability. */
export function openStore(dir: string, options: EventStoreOptions = {}): Promise<EventStore> {
  return EventStore.open(dir, { flush: { strategy: 'batch', maxDelayMs: 1 }, ...options });
}

/** `[version, type]` pairs, for compact assertions. */
export function versionsAndTypes(events: readonly RecordedEvent[]): Array<[number, string]> {
  return events.map((e) => [e.version, e.type]);
}

/** What the log says each stream's last version is, scanning every event: the truth the index must match. */
export async function versionsFromLog(es: EventStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const e of es.readAll()) {
    const prev = out.get(e.stream) ?? -1;
    if (e.version !== prev + 1) throw new Error(`log holds ${e.stream}@${e.version} after ${prev}`);
    out.set(e.stream, e.version);
  }
  return out;
}
