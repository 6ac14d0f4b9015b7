import type { LogOptions } from '../options.js';

/**
 * What `appendToStream` expects of the stream before it appends:
 * - a number: the version of the stream's last event (versions start at 0);
 * - `'no_stream'`: the stream has no events yet;
 * - `'stream_exists'`: the stream has at least one event;
 * - `'any'` (the default): no check.
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

/** An event to append. */
export interface EventInput<Data = unknown, Metadata = unknown> {
  /** What happened, e.g. `'Deposited'`: a non-empty string of at most `EVENT_LIMITS.maxEventTypeBytes` (256) UTF-8 bytes. */
  type: string;
  /**
   * The event's data: any value `JSON.stringify` can represent (the default),
   * or a `Uint8Array`, stored as is and read back as bytes.
   */
  data: Data;
  /** Optional JSON metadata (correlation ids, user, ...), read back as stored. */
  metadata?: Metadata;
  /**
   * Optional unique id (at most `EVENT_LIMITS.maxEventIdBytes` (128) UTF-8
   * bytes). Appends that carry ids are idempotent: retrying one that was
   * already written resolves with the original result (see
   * docs/EVENT_SOURCING.md). Without one the store generates a random UUID.
   */
  id?: string;
}

/** An event read back from the store. */
export interface RecordedEvent<Data = unknown, Metadata = unknown> {
  /** The stream it belongs to. */
  stream: string;
  /** Its version within the stream: 0 for the stream's first event, then +1 per event. */
  version: number;
  /** Its position in the whole store: the sequence number of its log record. */
  position: number;
  /** Its type. */
  type: string;
  /** Its data: the parsed JSON value, or a `Uint8Array` when it was appended as bytes. */
  data: Data;
  /** Its metadata, or undefined when it had none. */
  metadata: Metadata | undefined;
  /** Its id (the caller's, or the UUID the store generated). */
  id: string;
  /** When its append was written, in ms since the epoch (the log record's timestamp). */
  timestamp: number;
}

/**
 * The shape of an application's event type: what `readStream<E>()`,
 * `readAll<E>()` and `subscribe<E>()` are typed by. Emmett's
 * `Event<Type, Data, Metadata>` fits, as does any `{ type, data, metadata? }`
 * union, e.g. `type CartEvent = Event<'ItemAdded', { sku: string }> | Event<'Confirmed', { at: string }>`.
 */
export interface EventShape {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: unknown;
}

/** The metadata type an event type declares; `unknown` when it declares none. */
export type MetadataOf<E> = E extends { readonly metadata: infer M } ? M : E extends { readonly metadata?: infer M } ? M : unknown;

/**
 * A recorded event typed by the application's event union `E`: one member per
 * event type, so narrowing `event.type` narrows `event.data` (no casts). The
 * store does not check that stored events have these types: the caller says so.
 */
export type TypedRecordedEvent<E extends EventShape> = E extends EventShape
  ? Omit<RecordedEvent, 'type' | 'data' | 'metadata'> & { type: E['type']; data: E['data']; metadata: MetadataOf<E> | undefined }
  : never;

/** Options of `appendToStream`. */
export interface AppendOptions {
  /** What the stream must be at (default `'any'`). See {@link ExpectedVersion}. */
  expectedVersion?: ExpectedVersion;
}

/** What a successful `appendToStream` resolves to. */
export interface AppendResult {
  /** The version of the last event written: pass it as `expectedVersion` to append after it. */
  nextExpectedVersion: number;
  /** The log position (sequence number) of the last event written. */
  position: number;
}

/** Options of `readStream`. */
export interface ReadStreamOptions {
  /**
   * First version to yield (default: 0 forwards, the stream's last version
   * backwards). Backwards, versions from `from` down to 0 are yielded.
   */
  from?: number;
  /** Most events to yield (default: all). */
  maxCount?: number;
  /** `'forwards'` (default) or `'backwards'`. */
  direction?: 'forwards' | 'backwards';
}

/**
 * Which events `readAll` and `subscribe` yield. Filters look at the event's
 * header only: an event a filter drops is never decoded (no JSON parsed).
 */
export interface EventFilter {
  /** Only events of streams whose names start with this (e.g. `'cart-'`). */
  streamPrefix?: string;
  /** Only events of these types. */
  eventTypes?: readonly string[];
  /**
   * Also yield the events of metadata streams (`$$<stream>`, written by
   * `setStreamMetadata`, `deleteStream`, `truncateStream`); default false.
   */
  includeMetadataStreams?: boolean;
}

/** Options of `readAll`. */
export interface ReadAllOptions extends EventFilter {
  /** First log position to read from (default: the first record of the log). */
  from?: number;
}

/** Options of `subscribe`. */
export interface SubscribeOptions extends EventFilter {
  /** Only this stream's events (default: every stream; the filters apply only without it). */
  stream?: string;
  /**
   * Where to start (default 0): with `stream`, the first stream version to
   * yield; without, the first log position (as in `readAll`).
   */
  from?: number;
  /** Ends the subscription: the loop rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** Options of `EventStore.open`: those of the log, plus the event store's own. */
export interface EventStoreOptions extends LogOptions {
  /**
   * How many caller-supplied event ids are remembered for idempotent retries
   * of appends with `expectedVersion` `'any'` or `'stream_exists'` (default
   * 10,000, the most recent first; 0 turns it off). At open the memory is
   * refilled with the caller-supplied ids among the last this-many records of
   * the log, so the window survives a restart. Retries with a numeric
   * expectation or `'no_stream'` are checked against the stream itself and
   * are idempotent for as long as the events are in the log, whatever this bound.
   */
  idempotencyWindow?: number;
  /**
   * Stream-index entries that may wait in memory for their LMDB commit
   * before appends wait for the index (default 100,000). A read-only store
   * holds at most this many entries in memory for the events the writer has
   * not committed to its index yet.
   */
  maxPendingIndexEntries?: number;
  /**
   * Pin the log from its first record so that retention never removes
   * events locally (default true). Turn off only with an archive configured,
   * from which reads fetch evicted segments back.
   */
  pinEvents?: boolean;
}

/** What `EventStore.open` found about the stream index and did with it. */
export interface StreamIndexReport {
  /**
   * `'ok'`: the index covered the whole log; `'caught-up'`: it was behind the
   * log (a crash between a log write and its index update) and was brought
   * up to date from the log; `'rebuilt'`: it was missing, from another
   * format, ahead of the log or inconsistent with it, and was rebuilt from
   * the whole log.
   */
  action: 'ok' | 'caught-up' | 'rebuilt';
  /** Why it was rebuilt, when it was. */
  reason: string | undefined;
  /** Log records read to catch up or rebuild. */
  recordsScanned: number;
  /** Events indexed while catching up or rebuilding. */
  eventsIndexed: number;
}

/** What `appendToStreams` appends to one stream. */
export interface StreamWrite {
  /** The stream. */
  stream: string;
  /** Its events (at least one). */
  events: readonly EventInput[];
  /** What the stream must be at (default `'any'`). */
  expectedVersion?: ExpectedVersion;
}

/**
 * A stream's metadata, stored as events of its metadata stream `$$<stream>`
 * (so it has its own version, survives restarts and index rebuilds, and is
 * replaced as a whole by each `setStreamMetadata`).
 */
export interface StreamMetadata {
  /** Events below this version are hidden from reads (`$tb`); `deleteStream` sets it past the last event. */
  truncateBefore?: number;
  /** Anything the application keeps about the stream (JSON). */
  custom?: Record<string, unknown>;
}

/** A stream's metadata and the version of its metadata stream. */
export interface StreamMetadataResult {
  metadata: StreamMetadata;
  /** The version of the metadata stream (0 for the first metadata written): pass it as `expectedMetadataVersion`. */
  metadataVersion: number;
}

/** Options of `setStreamMetadata`. */
export interface SetStreamMetadataOptions {
  /** What the metadata stream must be at (default `'any'`). */
  expectedMetadataVersion?: ExpectedVersion;
}

/** Options of `deleteStream` and `truncateStream`. */
export interface StreamOperationOptions {
  /** What the stream itself must be at (default `'any'`). */
  expectedVersion?: ExpectedVersion;
}
