/**
 * `aof/emmett`: the aof {@link EventStore} behind Emmett's `EventStore`
 * interface (`@event-driven-io/emmett`, an optional peer dependency), so an
 * Emmett application (its `CommandHandler`, `DeciderCommandHandler`, ...) can
 * swap its store for aof's.
 *
 * ```ts
 * import { getAofEventStore } from 'aof/emmett';
 * const eventStore = getAofEventStore('/var/lib/app/events');
 * await handle(eventStore, 'cart-1', (state) => addItem(command, state));
 * await eventStore.close();
 * ```
 *
 * Emmett counts stream versions from 1 (a stream with n events is at
 * version n, one with none at 0n); aof counts them from 0 (its last event's
 * version). The adapter translates: Emmett's `streamPosition` of an event is
 * aof's `version + 1`; its `globalPosition` is aof's log position + 1, so that
 * the first event of a store is at 1 as in Emmett's own stores (positions stay
 * increasing but may skip numbers: records appended to `es.log` directly are
 * not events).
 *
 * Given a directory, the adapter shares one aof store per directory per
 * process: a second `getAofEventStore(dir)` uses the store the first opened
 * (its `storeOptions` are then ignored), each `close()` gives its handle back,
 * and the last one closes the store.
 *
 * @module
 */
import {
  ExpectedVersionConflictError,
  NO_CONCURRENCY_CHECK,
  STREAM_DOES_NOT_EXIST,
  STREAM_EXISTS,
  tryPublishMessagesAfterCommit,
  upcastRecordedMessage,
  type AggregateStreamOptions,
  type AggregateStreamResultWithGlobalPosition,
  type AppendToStreamOptions,
  type AppendToStreamResultWithGlobalPosition,
  type DefaultEventStoreOptions,
  type Event,
  type EventStore as EmmettEventStore,
  type ExpectedStreamVersion,
  type ReadEvent,
  type ReadEventMetadataWithGlobalPosition,
  type ReadStreamOptions,
  type ReadStreamResult,
} from '@event-driven-io/emmett';
import * as path from 'node:path';
import { InvalidArgumentError, WrongExpectedVersionError } from '../errors.js';
import { EventStore } from '../stream/event-store.js';
import type { EventInput, EventStoreOptions, ExpectedVersion, RecordedEvent } from '../stream/types.js';

/** Emmett's version of an empty or absent stream. */
export const AofEmmettDefaultStreamVersion = 0n;

/** Emmett's global position of an aof log position: Emmett's stores count from 1. */
export function toGlobalPosition(logPosition: number): bigint {
  return BigInt(logPosition + 1);
}

/** The Emmett `EventStore` over aof, with the aof store underneath and a way to close it. */
export type AofEmmettEventStore = EmmettEventStore<ReadEventMetadataWithGlobalPosition> & {
  /** The aof event store underneath (opened on first use when given a directory). */
  eventStore(): Promise<EventStore>;
  /**
   * Gives back this handle's use of a store it opened from a directory: the
   * store closes when the last handle on that directory in this process
   * closes. Does nothing for a store passed in (it stays yours to close).
   */
  close(): Promise<void>;
};

/** Options of {@link getAofEventStore}: Emmett's hooks, and the aof store's options when given a directory. */
export type AofEmmettEventStoreOptions = DefaultEventStoreOptions<AofEmmettEventStore> & {
  /** Options of `EventStore.open` (used when `getAofEventStore` is given a directory and no handle in this process has it open yet). */
  storeOptions?: EventStoreOptions;
};

/** One store per directory per process, shared by every adapter given that directory. */
interface SharedStore {
  opening: Promise<EventStore>;
  /** Adapters holding it: the last to close it closes the store. */
  users: number;
}
const sharedStores = new Map<string, SharedStore>();

/** Takes a use of the store of `dir`, opening it if no adapter in this process has it. */
function acquireStore(dir: string, options: EventStoreOptions | undefined): SharedStore {
  const key = path.resolve(dir);
  let shared = sharedStores.get(key);
  if (shared === undefined) {
    const entry: SharedStore = { opening: EventStore.open(dir, options), users: 0 };
    // A failed open is not remembered: the next use tries again.
    entry.opening.catch(() => {
      if (sharedStores.get(key) === entry) sharedStores.delete(key);
    });
    sharedStores.set(key, entry);
    shared = entry;
  }
  shared.users++;
  return shared;
}

/** Gives a use back; the last user closes the store. */
async function releaseStore(dir: string, shared: SharedStore): Promise<void> {
  shared.users--;
  if (shared.users > 0) return;
  const key = path.resolve(dir);
  if (sharedStores.get(key) === shared) sharedStores.delete(key);
  const es = await shared.opening.catch(() => undefined);
  await es?.close();
}

/**
 * An Emmett `EventStore` backed by aof: pass an open {@link EventStore}
 * (which stays yours to close), or a directory (the store is opened on
 * first use, shared with every other adapter on that directory in this
 * process, and closed by the last `close()`).
 */
export function getAofEventStore(eventStoreOrDir: EventStore | string, options: AofEmmettEventStoreOptions = {}): AofEmmettEventStore {
  if (!(eventStoreOrDir instanceof EventStore) && (typeof eventStoreOrDir !== 'string' || eventStoreOrDir.length === 0)) {
    throw new InvalidArgumentError('getAofEventStore takes an aof EventStore or a directory');
  }
  const given = eventStoreOrDir instanceof EventStore ? Promise.resolve(eventStoreOrDir) : undefined;
  let held: SharedStore | undefined;
  const store = (): Promise<EventStore> => {
    if (given !== undefined) return given;
    if (held === undefined) {
      const shared = acquireStore(eventStoreOrDir as string, options.storeOptions);
      held = shared;
      shared.opening.catch(() => {
        // This use ends with the failed open; the next call takes a new one.
        if (held === shared) {
          held = undefined;
          shared.users--;
        }
      });
    }
    return held.opening;
  };

  /** Reads a stream as Emmett does, and where the read stopped (the stream position of its last event in range). */
  const readRange = async <EventType extends Event, EventPayloadType extends Event>(
    streamName: string,
    readOptions: ReadStreamOptions<bigint, EventType, EventPayloadType> | undefined,
  ): Promise<{ result: ReadStreamResult<EventType, ReadEventMetadataWithGlobalPosition>; readTo: bigint; es: EventStore }> => {
    const es = await store();
    const last = es.streamVersion(streamName);
    const current = last === undefined ? AofEmmettDefaultStreamVersion : BigInt(last + 1);
    const expected = readOptions?.expectedStreamVersion;
    if (expected !== undefined && !matchesEmmett(current, expected)) throw new ExpectedVersionConflictError(current, expected);
    if (last === undefined) return { result: { currentStreamVersion: current, events: [], streamExists: false }, readTo: current, es };
    // Emmett positions are 1-based and inclusive; read no further than the version seen above, so the result is one snapshot.
    const fromPosition = bigintArg('from', readOptions?.from) ?? 1n;
    let toPosition = bigintArg('to', readOptions?.to) ?? current;
    if (toPosition > current) toPosition = current;
    const maxCount = bigintArg('maxCount', readOptions?.maxCount);
    const first = fromPosition < 1n ? 1n : fromPosition;
    if (maxCount !== undefined && first + maxCount - 1n < toPosition) toPosition = first + maxCount - 1n;
    const events: Array<ReadEvent<EventType, ReadEventMetadataWithGlobalPosition>> = [];
    if (toPosition >= first) {
      const versioning = readOptions?.schema?.versioning;
      // One call for the whole range: one index lookup and one batch of reads, not a step per event.
      for (const e of await es.loadStream(streamName, { from: Number(first - 1n), maxCount: Number(toPosition - first + 1n) })) {
        const read = toReadEvent<EventPayloadType>(e);
        events.push((versioning?.upcast === undefined ? read : upcastRecordedMessage<EventType, EventPayloadType, ReadEventMetadataWithGlobalPosition>(read, versioning)) as ReadEvent<EventType, ReadEventMetadataWithGlobalPosition>);
      }
    }
    return { result: { currentStreamVersion: current, events, streamExists: true }, readTo: toPosition, es };
  };

  const adapter: AofEmmettEventStore = {
    eventStore: store,

    async close(): Promise<void> {
      if (held === undefined) return;
      const shared = held;
      held = undefined;
      await releaseStore(eventStoreOrDir as string, shared);
    },

    async streamExists(streamName: string): Promise<boolean> {
      return (await store()).streamExists(streamName);
    },

    async readStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      readOptions?: ReadStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<ReadStreamResult<EventType, ReadEventMetadataWithGlobalPosition>> {
      return (await readRange(streamName, readOptions)).result;
    },

    async aggregateStream<State, EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      aggregateOptions: AggregateStreamOptions<State, EventType, ReadEventMetadataWithGlobalPosition, EventPayloadType>,
    ): Promise<AggregateStreamResultWithGlobalPosition<State, bigint, bigint>> {
      const { evolve, initialState, read } = aggregateOptions;
      const { result, readTo, es } = await readRange<EventType, EventPayloadType>(streamName, read);
      let state = initialState();
      for (const e of result.events) state = (evolve as (s: State, e: ReadEvent<EventType, ReadEventMetadataWithGlobalPosition>) => State)(state, e);
      // The version the state reflects: where the read stopped (`to`, `maxCount`), as Emmett's stores report it.
      const limited = read?.to !== undefined || read?.maxCount !== undefined;
      const currentStreamVersion = limited ? readTo : result.currentStreamVersion;
      if (!result.streamExists) return { currentStreamVersion, state, streamExists: false };
      const lastRead = result.events[result.events.length - 1];
      const lastEventGlobalPosition = lastRead === undefined ? toGlobalPosition((await lastPosition(es, streamName)) ?? -1) : lastRead.metadata.globalPosition;
      return { currentStreamVersion, state, streamExists: true, lastEventGlobalPosition };
    },

    async appendToStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      events: EventType[],
      appendOptions?: AppendToStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<AppendToStreamResultWithGlobalPosition<bigint, bigint>> {
      const es = await store();
      const expectedEmmett = appendOptions?.expectedStreamVersion ?? NO_CONCURRENCY_CHECK;
      const current = (): bigint => {
        const last = es.streamVersion(streamName);
        return last === undefined ? AofEmmettDefaultStreamVersion : BigInt(last + 1);
      };
      // A version no stream can be at (negative, or past 2^53) is a conflict in Emmett's stores, not bad input.
      if (typeof expectedEmmett === 'bigint' && !isAofVersion(expectedEmmett)) throw new ExpectedVersionConflictError(current(), expectedEmmett);
      const downcast = appendOptions?.schema?.versioning?.downcast;
      const stored: Event[] = downcast === undefined ? events : events.map((e) => downcast(e));
      const inputs: EventInput[] = stored.map((e) => {
        const metadata = 'metadata' in e ? (e.metadata as Record<string, unknown> | undefined) : undefined;
        const messageId = metadata?.messageId;
        return { type: e.type, data: e.data, ...(metadata === undefined ? {} : { metadata }), ...(typeof messageId === 'string' ? { id: messageId } : {}) };
      });
      let result;
      try {
        result = await es.appendToStream(streamName, inputs, { expectedVersion: toAofExpected(expectedEmmett) });
      } catch (err) {
        if (err instanceof WrongExpectedVersionError) {
          throw new ExpectedVersionConflictError(err.actual === 'no_stream' ? AofEmmettDefaultStreamVersion : BigInt(err.actual + 1), expectedEmmett);
        }
        throw err;
      }
      const firstVersion = result.nextExpectedVersion - events.length + 1;
      const firstPosition = result.position - events.length + 1;
      if (options.hooks?.onAfterCommit !== undefined) {
        const committed = stored.map((e, i) =>
          toReadEvent<Event>({ stream: streamName, version: firstVersion + i, position: firstPosition + i, type: e.type, data: e.data, metadata: 'metadata' in e ? e.metadata : undefined, id: inputs[i]!.id ?? '', timestamp: Date.now() }),
        );
        await tryPublishMessagesAfterCommit<AofEmmettEventStore>(committed, options.hooks);
      }
      return { nextExpectedStreamVersion: BigInt(result.nextExpectedVersion + 1), lastEventGlobalPosition: toGlobalPosition(result.position), createdNewStream: firstVersion === 0 };
    },
  };
  return adapter;
}

/** An aof event as Emmett reads it: its metadata extended with Emmett's ids and positions. */
function toReadEvent<E extends Event>(e: RecordedEvent): ReadEvent<E, ReadEventMetadataWithGlobalPosition> {
  const metadata = typeof e.metadata === 'object' && e.metadata !== null ? (e.metadata as Record<string, unknown>) : {};
  return {
    type: e.type,
    data: e.data,
    kind: 'Event',
    metadata: { ...metadata, messageId: e.id, streamName: e.stream, streamPosition: BigInt(e.version + 1), globalPosition: toGlobalPosition(e.position) },
  } as unknown as ReadEvent<E, ReadEventMetadataWithGlobalPosition>;
}

async function lastPosition(es: EventStore, stream: string): Promise<number | undefined> {
  for (const e of await es.loadStream(stream, { direction: 'backwards', maxCount: 1 })) return e.position;
  return undefined;
}

/** True when an Emmett stream version (a count of events) can name an aof stream's version. */
function isAofVersion(v: bigint): boolean {
  return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER);
}

/** Emmett's expectation in aof's terms: Emmett's version n (n events) is aof's version n - 1; 0n is no stream. */
function toAofExpected(expected: ExpectedStreamVersion<bigint>): ExpectedVersion {
  if (expected === NO_CONCURRENCY_CHECK) return 'any';
  if (expected === STREAM_DOES_NOT_EXIST) return 'no_stream';
  if (expected === STREAM_EXISTS) return 'stream_exists';
  const n = bigintArg('expectedStreamVersion', expected);
  if (n === undefined) return 'any';
  return n === 0n ? 'no_stream' : Number(n - 1n);
}

/** Emmett's own rule (`matchesExpectedVersion`) with a default version of 0n: any other bigint (even a negative one) is compared as is. */
function matchesEmmett(current: bigint, expected: ExpectedStreamVersion<bigint>): boolean {
  if (expected === NO_CONCURRENCY_CHECK) return true;
  if (expected === STREAM_DOES_NOT_EXIST) return current === AofEmmettDefaultStreamVersion;
  if (expected === STREAM_EXISTS) return current !== AofEmmettDefaultStreamVersion;
  if (typeof expected === 'bigint') return current === expected;
  return current === bigintArg('expectedStreamVersion', expected);
}

/** A stream version or count as a bigint (Emmett uses bigint; a safe integer number is accepted too). */
function bigintArg(name: string, value: unknown): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint' && isAofVersion(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new InvalidArgumentError(`${name} must be a bigint >= 0, got ${typeof value === 'bigint' ? value.toString() : String(value)}`);
}
