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
 * aof's `version + 1`; `globalPosition` is aof's log position.
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
import { InvalidArgumentError, WrongExpectedVersionError } from '../errors.js';
import { EventStore } from '../stream/event-store.js';
import type { EventInput, EventStoreOptions, ExpectedVersion, RecordedEvent } from '../stream/types.js';

/** Emmett's version of an empty or absent stream. */
export const AofEmmettDefaultStreamVersion = 0n;

/** The Emmett `EventStore` over aof, with the aof store underneath and a way to close it. */
export type AofEmmettEventStore = EmmettEventStore<ReadEventMetadataWithGlobalPosition> & {
  /** The aof event store underneath (opened on first use when given a directory). */
  eventStore(): Promise<EventStore>;
  /** Closes the aof event store if this adapter opened it (given a directory); otherwise does nothing. */
  close(): Promise<void>;
};

/** Options of {@link getAofEventStore}: Emmett's hooks, and the aof store's options when given a directory. */
export type AofEmmettEventStoreOptions = DefaultEventStoreOptions<AofEmmettEventStore> & {
  /** Options of `EventStore.open` (used when `getAofEventStore` is given a directory). */
  storeOptions?: EventStoreOptions;
};

/**
 * An Emmett `EventStore` backed by aof: pass an open {@link EventStore}
 * (which stays yours to close), or a directory (the store is opened on
 * first use and closed by `close()`).
 */
export function getAofEventStore(eventStoreOrDir: EventStore | string, options: AofEmmettEventStoreOptions = {}): AofEmmettEventStore {
  if (!(eventStoreOrDir instanceof EventStore) && (typeof eventStoreOrDir !== 'string' || eventStoreOrDir.length === 0)) {
    throw new InvalidArgumentError('getAofEventStore takes an aof EventStore or a directory');
  }
  const owned = typeof eventStoreOrDir === 'string';
  let opening: Promise<EventStore> | undefined = owned ? undefined : Promise.resolve(eventStoreOrDir);
  const store = (): Promise<EventStore> => {
    if (opening === undefined) {
      opening = EventStore.open(eventStoreOrDir as string, options.storeOptions);
      // A failed open is not remembered: the next call tries again.
      opening.catch(() => (opening = undefined));
    }
    return opening;
  };

  const adapter: AofEmmettEventStore = {
    eventStore: store,

    async close(): Promise<void> {
      if (!owned || opening === undefined) return;
      const es = await opening.catch(() => undefined);
      opening = undefined;
      await es?.close();
    },

    async streamExists(streamName: string): Promise<boolean> {
      return (await store()).streamVersion(streamName) !== undefined;
    },

    async readStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      readOptions?: ReadStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<ReadStreamResult<EventType, ReadEventMetadataWithGlobalPosition>> {
      const es = await store();
      const last = es.streamVersion(streamName);
      const current = last === undefined ? AofEmmettDefaultStreamVersion : BigInt(last + 1);
      if (readOptions?.expectedStreamVersion !== undefined && !matchesEmmett(current, readOptions.expectedStreamVersion)) {
        throw new ExpectedVersionConflictError(current, readOptions.expectedStreamVersion);
      }
      if (last === undefined) return { currentStreamVersion: current, events: [], streamExists: false };
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
        for await (const e of es.readStream(streamName, { from: Number(first - 1n), maxCount: Number(toPosition - first + 1n) })) {
          const read = toReadEvent<EventPayloadType>(e);
          events.push((versioning?.upcast === undefined ? read : upcastRecordedMessage<EventType, EventPayloadType, ReadEventMetadataWithGlobalPosition>(read, versioning)) as ReadEvent<EventType, ReadEventMetadataWithGlobalPosition>);
        }
      }
      return { currentStreamVersion: current, events, streamExists: true };
    },

    async aggregateStream<State, EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      aggregateOptions: AggregateStreamOptions<State, EventType, ReadEventMetadataWithGlobalPosition, EventPayloadType>,
    ): Promise<AggregateStreamResultWithGlobalPosition<State, bigint, bigint>> {
      const { evolve, initialState, read } = aggregateOptions;
      const result = await adapter.readStream<EventType, EventPayloadType>(streamName, read);
      let state = initialState();
      for (const e of result.events) state = (evolve as (s: State, e: ReadEvent<EventType, ReadEventMetadataWithGlobalPosition>) => State)(state, e);
      if (!result.streamExists) return { currentStreamVersion: result.currentStreamVersion, state, streamExists: false };
      const lastRead = result.events[result.events.length - 1];
      const lastEventGlobalPosition = lastRead === undefined ? BigInt((await lastPosition(await store(), streamName)) ?? 0) : lastRead.metadata.globalPosition;
      return { currentStreamVersion: result.currentStreamVersion, state, streamExists: true, lastEventGlobalPosition };
    },

    async appendToStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      events: EventType[],
      appendOptions?: AppendToStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<AppendToStreamResultWithGlobalPosition<bigint, bigint>> {
      const es = await store();
      const expectedEmmett = appendOptions?.expectedStreamVersion ?? NO_CONCURRENCY_CHECK;
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
      return { nextExpectedStreamVersion: BigInt(result.nextExpectedVersion + 1), lastEventGlobalPosition: BigInt(result.position), createdNewStream: firstVersion === 0 };
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
    metadata: { ...metadata, messageId: e.id, streamName: e.stream, streamPosition: BigInt(e.version + 1), globalPosition: BigInt(e.position) },
  } as unknown as ReadEvent<E, ReadEventMetadataWithGlobalPosition>;
}

async function lastPosition(es: EventStore, stream: string): Promise<number | undefined> {
  for await (const e of es.readStream(stream, { direction: 'backwards', maxCount: 1 })) return e.position;
  return undefined;
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

/** Emmett's own rule (`matchesExpectedVersion`) with a default version of 0n. */
function matchesEmmett(current: bigint, expected: ExpectedStreamVersion<bigint>): boolean {
  if (expected === NO_CONCURRENCY_CHECK) return true;
  if (expected === STREAM_DOES_NOT_EXIST) return current === AofEmmettDefaultStreamVersion;
  if (expected === STREAM_EXISTS) return current !== AofEmmettDefaultStreamVersion;
  return current === bigintArg('expectedStreamVersion', expected);
}

/** A stream version or count as a bigint (Emmett uses bigint; a safe integer number is accepted too). */
function bigintArg(name: string, value: unknown): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new InvalidArgumentError(`${name} must be a bigint >= 0, got ${typeof value === 'bigint' ? value.toString() : String(value)}`);
}
