import { SegmentCatalog } from '../catalog/catalog.js';
import { ClosedError, InvalidArgumentError, InvariantError, ReadOnlyError, WrongExpectedVersionError, toAofError } from '../errors.js';
import { Log } from '../log.js';
import { wrapErrors } from '../log/wrap-errors.js';
import { DEFAULTS } from '../options.js';
import type { LogRecord } from '../read/record.js';
import { positiveInt } from '../validate.js';
import { ChunkIterator } from './chunk-iterator.js';
import { decodeEvent, decodeHead, idGiven, idOf, isEventRecord, prepareAppend, setVersions, streamIs, streamNameBytes, streamOf, type PreparedAppend } from './codec.js';
import { eventFilter, type RecordFilter } from './event-filter.js';
import { METADATA_EVENT_TYPE, isMetadataStream, metadataStreamOf, parseStreamMetadata, truncateBeforeArg } from './stream-metadata.js';
import { ReaderIndex } from './reader-index.js';
import { reconcileIndex } from './reconcile-index.js';
import { RecentIds } from './recent-ids.js';
import { StreamIndex, type StreamPositions } from './stream-index.js';
import { StreamLocks } from './stream-locks.js';
import type {
  AppendOptions,
  AppendResult,
  EventInput,
  EventShape,
  EventStoreOptions,
  ExpectedVersion,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SetStreamMetadataOptions,
  StreamIndexReport,
  StreamMetadata,
  StreamMetadataResult,
  StreamOperationOptions,
  StreamWrite,
  SubscribeOptions,
  TypedRecordedEvent,
} from './types.js';

/** One stream's part of an append, validated and encoded. */
interface Write {
  stream: string;
  streamBytes: Buffer;
  expected: ExpectedVersion;
  prepared: PreparedAppend;
}

/** Versions of a stream a read returns, `[lo, hi]`, decided when it starts. */
interface StreamRange {
  lo: number;
  hi: number;
}

/** Defaults of the event store's own options. */
export const EVENT_STORE_DEFAULTS = {
  /** Events whose ids are remembered for idempotent `'any'`/`'stream_exists'` retries. */
  idempotencyWindow: 10_000,
  /** Index entries that may wait in memory for their LMDB commit before appends wait. */
  maxPendingIndexEntries: 100_000,
} as const;

/** Tries of truncateStream/deleteStream's metadata write while setStreamMetadata calls race it. */
const HIDE_BEFORE_ATTEMPTS = 5;

/** Versions looked up and read per step of `readStream`: what one iteration holds in memory at most. */
export const READ_CHUNK_VERSIONS = 256;

/**
 * An event store on a {@link Log}: events in streams (one per aggregate),
 * appended with optimistic concurrency, read back by stream or all together,
 * and followed live. Every event is one log record; the events of one append
 * are one atomic batch frame. A stream index in LMDB (beside the segment
 * catalog) maps stream → version → log position; it is derived from the log
 * and rebuilt from it whenever it is missing or behind.
 *
 * A stream's metadata (truncation, soft deletion, the application's own) is
 * kept as events of its metadata stream `$$<stream>`: so it has a version of
 * its own and survives restarts and index rebuilds with the events.
 *
 * ```ts
 * const es = await EventStore.open('/var/lib/app/events');
 * const { nextExpectedVersion } = await es.appendToStream('account-42', [{ type: 'Opened', data: { owner: 'ada' } }], { expectedVersion: 'no_stream' });
 * for await (const e of es.readStream('account-42')) console.log(e.version, e.type, e.data);
 * await es.close();
 * ```
 */
export class EventStore {
  private state: 'open' | 'closing' | 'closed' = 'open';
  private readonly locks = new StreamLocks();
  private readonly recent: RecentIds;
  /** Every event at a position below this is in the index (in memory or LMDB). */
  private resolvedTo: number;
  private appendsInProgress = 0;
  private submissions: Array<{ payloads: Buffer[]; resolve: (seq: number) => void; reject: (err: unknown) => void }> = [];
  private appendsSettled: (() => void) | undefined;
  private readonly unpin: (() => void) | undefined;
  /** Where reads find a stream's events: the writer's index, or a reader's view of it. */
  private readonly view: StreamPositions;
  /** The log's end at open: the recent ids before it are read from the log on first need. */
  private readonly openedAt: number;
  /** True once the recent ids before the open were read (see `readRecentIds`). */
  private recentRead = false;
  private recentReading: Promise<void> | undefined;

  private constructor(
    /** The log the events live in. Append to it directly only records the store may skip: they are not events. */
    readonly log: Log,
    private readonly catalog: SegmentCatalog | undefined,
    /** The writer's index; undefined in a read-only store. */
    private readonly index: StreamIndex | undefined,
    /** A read-only store's view of the writer's index. */
    private readonly reader: ReaderIndex | undefined,
    /** What opening found about the stream index and did with it. */
    readonly indexReport: StreamIndexReport,
    private readonly maxPendingIndexEntries: number,
    idempotencyWindow: number,
    pinEvents: boolean,
  ) {
    this.recent = new RecentIds(idempotencyWindow);
    this.resolvedTo = log.nextSeq;
    this.view = (index ?? reader)!;
    this.openedAt = log.nextSeq;
    this.unpin = pinEvents && index !== undefined ? log.pin(log.firstSeq, 'event store: every event stays readable') : undefined;
  }

  /**
   * Opens (creating if needed) the event store in `dir`: opens its log
   * (taking the writer lock; same options as `Log.open`), then checks the
   * stream index against the log and catches it up or rebuilds it
   * ({@link EventStore.indexReport} says which) before any append is decided.
   *
   * With `readOnly: true` it opens a reader instead, which takes no lock and
   * may run beside a writer in another process: it reads and subscribes to
   * what that writer acknowledged (never more), through the writer's stream
   * index plus the few events the writer has not indexed yet; appends reject
   * with `AOF_READ_ONLY`.
   */
  static async open(dir: string, options: EventStoreOptions = {}): Promise<EventStore> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const { idempotencyWindow, maxPendingIndexEntries, pinEvents, ...logOptions } = options;
    const window = positiveInt('idempotencyWindow', idempotencyWindow, EVENT_STORE_DEFAULTS.idempotencyWindow, 10_000_000, true);
    const maxPending = positiveInt('maxPendingIndexEntries', maxPendingIndexEntries, EVENT_STORE_DEFAULTS.maxPendingIndexEntries, Number.MAX_SAFE_INTEGER);
    if (pinEvents !== undefined && typeof pinEvents !== 'boolean') throw new InvalidArgumentError(`option pinEvents must be a boolean, got ${typeof pinEvents}`);
    if (logOptions.readOnly === true) return EventStore.openReader(dir, logOptions, maxPending);
    const log = await Log.open(dir, logOptions);
    let catalog: SegmentCatalog | undefined;
    try {
      // The log's LMDB environment, shared through the catalog's registry (one environment per process).
      catalog = await SegmentCatalog.open(dir, false, { fileMode: options.fileMode ?? DEFAULTS.fileMode, dirMode: options.dirMode ?? DEFAULTS.dirMode });
      if (catalog === undefined) throw new InvariantError('a writer opens its catalog');
      const index = StreamIndex.open(catalog.environment);
      const report = await reconcileIndex(log, index);
      // The recent ids are read from the log on first need (an append with ids of its own), not here: an open that only reads pays nothing for them.
      return new EventStore(log, catalog, index, undefined, report, maxPending, window, pinEvents ?? true);
    } catch (err) {
      await catalog?.close().catch(() => undefined);
      await log.close().catch(() => undefined);
      throw toAofError(err, 'cannot open the event store', dir);
    }
  }

  private static async openReader(dir: string, logOptions: EventStoreOptions, maxPending: number): Promise<EventStore> {
    const log = await Log.open(dir, logOptions);
    let catalog: SegmentCatalog | undefined;
    try {
      // The writer's LMDB environment, read-only; absent until a writer created it (then the log alone is read).
      catalog = await SegmentCatalog.open(dir, true).catch(() => undefined);
      const reader = new ReaderIndex(catalog?.environment, log, maxPending);
      const report: StreamIndexReport = { action: 'ok', reason: undefined, recordsScanned: 0, eventsIndexed: 0 };
      return new EventStore(log, catalog, undefined, reader, report, maxPending, 0, false);
    } catch (err) {
      await catalog?.close().catch(() => undefined);
      await log.close().catch(() => undefined);
      throw toAofError(err, 'cannot open the event store', dir);
    }
  }

  /** True when opened with `readOnly`: reads and subscriptions only. */
  get readOnly(): boolean {
    return this.index === undefined;
  }

  /**
   * Appends `events` to `stream` if it is at `expectedVersion` (default
   * `'any'`), atomically (one batch frame: after a crash all are there or
   * none). Resolves once they are durable under the log's flush strategy.
   *
   * - A stale expectation rejects with `AOF_WRONG_EXPECTED_VERSION`
   *   ({@link WrongExpectedVersionError}: stream, expected, actual); nothing is written.
   * - A retry of an append that was already written (same event ids, same
   *   expectation) resolves with the original result instead of writing twice.
   * - Bad input rejects with `AOF_INVALID_ARGUMENT`; nothing is written.
   *   Stream names beginning with `$$` are metadata streams, written only
   *   through {@link setStreamMetadata}.
   *
   * Appends to one stream are decided one after another in call order;
   * appends to different streams proceed together and share group commits.
   */
  appendToStream(stream: string, events: readonly EventInput[], options?: AppendOptions): Promise<AppendResult> {
    let write: Write;
    try {
      this.checkWritable();
      write = prepareWrite(stream, events, expectationOf(options), 'stream name');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.appendWrites([write]).then((r) => r[0]!);
  }

  /**
   * Appends to several streams in one atomic step: every stream's
   * expectation is checked, then all the events are written as one batch
   * frame (after a crash all are there or none); if any expectation fails,
   * nothing is written and the call rejects with
   * `AOF_WRONG_EXPECTED_VERSION` naming that stream. Resolves one result per
   * write, in the order given. Each stream may appear once.
   */
  appendToStreams(writes: readonly StreamWrite[]): Promise<AppendResult[]> {
    let prepared: Write[];
    try {
      this.checkWritable();
      if (!Array.isArray(writes) || writes.length === 0) throw new InvalidArgumentError(`appendToStreams takes a non-empty array of { stream, events, expectedVersion }, got ${Array.isArray(writes) ? 'an empty array' : typeof writes}`);
      const seen = new Set<string>();
      prepared = writes.map((w: unknown, i) => {
        if (typeof w !== 'object' || w === null) throw new InvalidArgumentError(`write ${i} must be an object like { stream, events, expectedVersion }, got ${w === null ? 'null' : typeof w}`);
        const { stream, events, expectedVersion } = w as StreamWrite;
        const write = prepareWrite(stream, events, expectationOf({ expectedVersion }), `write ${i}: stream name`);
        if (seen.has(write.stream)) throw new InvalidArgumentError(`write ${i}: stream ${JSON.stringify(write.stream.slice(0, 80))} appears twice in one appendToStreams`);
        seen.add(write.stream);
        return write;
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.appendWrites(prepared);
  }

  /** Appends validated writes: in the caller's turn when every stream is free and the index has room (so concurrent callers share a group commit), else once they are. */
  private appendWrites(writes: Write[]): Promise<AppendResult[]> {
    this.appendsInProgress++;
    if (writes.length === 1) {
      const release = this.locks.tryAcquire(writes[0]!.stream);
      if (release !== undefined && this.index!.hasRoom(this.maxPendingIndexEntries)) return this.appendLocked(writes, [release]);
      return this.appendWhenReady(writes, release);
    }
    return this.appendWhenReady(writes, undefined);
  }

  private async appendWhenReady(writes: Write[], held: (() => void) | undefined): Promise<AppendResult[]> {
    const releases: Array<() => void> = held === undefined ? [] : [held];
    try {
      if (held === undefined) {
        // Streams taken in name order: two multi-stream appends never wait for each other in a cycle.
        for (const stream of writes.map((w) => w.stream).sort()) releases.push(await this.locks.acquire(stream));
      }
      await this.index!.waitForRoom(this.maxPendingIndexEntries);
    } catch (err) {
      for (const r of releases) r();
      this.appendSettled();
      throw err;
    }
    return this.appendLocked(writes, releases);
  }

  /** Holding every stream's lock: checks each expectation against the stream's durable head, then appends all in one batch. */
  private async appendLocked(writes: Write[], releases: Array<() => void>): Promise<AppendResult[]> {
    try {
      // Ids given by the caller are checked against, and join, the recent ids: those of the log before this open are read first.
      if (!this.recentRead && writes.some((w) => w.prepared.callerIds)) await this.readRecentIds();
      const index = this.index!;
      const actuals = writes.map((w) => index.head(w.stream, w.streamBytes)?.version ?? -1);
      const failed = writes.findIndex((w, i) => !matches(w.expected, actuals[i]!));
      if (failed >= 0) {
        const again = await this.allAppended(writes, actuals);
        if (again !== undefined) return again;
        const w = writes[failed]!;
        const actual = actuals[failed]!;
        throw new WrongExpectedVersionError(w.stream, w.expected, actual < 0 ? 'no_stream' : actual);
      }
      if (writes.some((w) => w.prepared.callerIds && (w.expected === 'any' || w.expected === 'stream_exists'))) {
        const again = await this.allAppended(writes, actuals);
        if (again !== undefined) return again;
      }
      const payloads: Buffer[] = [];
      for (let i = 0; i < writes.length; i++) {
        setVersions(writes[i]!.prepared.payloads, actuals[i]! + 1);
        for (const p of writes[i]!.prepared.payloads) payloads.push(p);
      }
      let position = await this.submit(payloads);
      // Durable: now, and only now, the index and the in-memory state learn of it.
      const results: AppendResult[] = [];
      for (let i = 0; i < writes.length; i++) {
        const { stream, streamBytes, prepared } = writes[i]!;
        const firstVersion = actuals[i]! + 1;
        const count = prepared.payloads.length;
        index.record(stream, streamBytes, firstVersion, position, count, prepared.payloads[count - 1]!);
        if (prepared.callerIds) for (let k = 0; k < count; k++) this.recent.add(prepared.ids[k]!, { stream, version: firstVersion + k, position: position + k });
        results.push({ nextExpectedVersion: firstVersion + count - 1, position: position + count - 1 });
        position += count;
      }
      this.resolvedTo = position;
      return results;
    } finally {
      for (const r of releases) r();
      this.appendSettled();
    }
  }

  /**
   * The original results when every write was already appended (a retry);
   * undefined when none was. Some but not all of them is a conflict.
   */
  private async allAppended(writes: Write[], actuals: number[]): Promise<AppendResult[] | undefined> {
    const found: Array<AppendResult | undefined> = [];
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      found.push(await this.alreadyAppended(w.stream, w.streamBytes, w.expected, actuals[i]!, w.prepared.ids, w.prepared.callerIds));
    }
    if (found.every((r) => r !== undefined)) return found as AppendResult[];
    const partly = found.findIndex((r) => r !== undefined);
    if (partly >= 0 && found.some((r) => r === undefined)) {
      const w = writes[partly]!;
      const actual = actuals[partly]!;
      throw new WrongExpectedVersionError(w.stream, w.expected, actual < 0 ? 'no_stream' : actual, 'some streams of this multi-stream append already hold its events, others do not');
    }
    return undefined;
  }

  /**
   * Hands decided appends to the log together at the end of the current turn
   * of the event loop: callers decide one by one as their continuations run,
   * and one `setImmediate` later all of them enter the log's queue at once,
   * so they share one frame and one fsync instead of trickling into several.
   */
  private submit(payloads: Buffer[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.submissions.push({ payloads, resolve, reject });
      if (this.submissions.length === 1) setImmediate(this.submitAll);
    });
  }

  private readonly submitAll = (): void => {
    const batch = this.submissions;
    this.submissions = [];
    for (const s of batch) this.log.appendBatch(s.payloads).then(s.resolve, s.reject);
  };

  private appendSettled(): void {
    if (--this.appendsInProgress === 0) this.appendsSettled?.();
  }

  /**
   * The original result when these events (by id) were already appended to
   * this stream at this expectation; undefined when they were not. Numeric
   * and `'no_stream'` expectations look at the stream itself (as long as the
   * events are in the log); `'any'` and `'stream_exists'` at the recent ids.
   * Some but not all of the ids already there is a conflict.
   */
  private async alreadyAppended(stream: string, streamBytes: Buffer, expected: ExpectedVersion, actual: number, ids: readonly string[], callerIds: boolean): Promise<AppendResult | undefined> {
    if (!callerIds) return undefined;
    const k = ids.length;
    if (typeof expected === 'number' || expected === 'no_stream') {
      const firstVersion = expected === 'no_stream' ? 0 : expected + 1;
      const lastVersion = firstVersion + k - 1;
      if (lastVersion > actual) return undefined;
      const found = this.view.positions(stream, streamBytes, firstVersion, lastVersion);
      if (found.length !== k) return undefined;
      const records = await this.recordsAt(found.map((f) => f.position));
      for (let i = 0; i < k; i++) {
        const rec = records[i];
        if (rec === undefined || !isEventRecord(rec.payload)) throw new InvariantError(`the stream index maps ${stream}@${found[i]!.version} to log position ${found[i]!.position}, which holds no event`);
        if (idOf(rec.payload, decodeHead(rec.payload, rec.seq)) !== ids[i]) return undefined;
      }
      return { nextExpectedVersion: lastVersion, position: found[k - 1]!.position };
    }
    const firstHit = this.recent.get(ids[0]!);
    if (firstHit === undefined || firstHit.stream !== stream) return undefined;
    for (let i = 1; i < k; i++) {
      const hit = this.recent.get(ids[i]!);
      if (hit === undefined || hit.stream !== stream || hit.version !== firstHit.version + i) {
        throw new WrongExpectedVersionError(stream, expected, actual < 0 ? 'no_stream' : actual, `event ${ids[0]} was already appended at version ${firstHit.version}, but not the rest of this append after it`);
      }
    }
    return { nextExpectedVersion: firstHit.version + k - 1, position: firstHit.position + k - 1 };
  }

  /**
   * The log records at these positions, in the order asked (undefined where
   * the log holds none). Every read of events by position goes through here,
   * so that how records are fetched is decided in one place.
   */
  private recordsAt(positions: readonly number[]): Promise<Array<LogRecord | undefined>> {
    return this.log.getMany(positions);
  }

  /**
   * The version of the stream's last durable event, or undefined when the
   * stream has none. Appends in progress are not counted until they resolve.
   * It counts events hidden by truncation or deletion: appends continue
   * after them. A read-only store answers as of its last read or
   * {@link refresh}.
   */
  streamVersion(stream: string): number | undefined {
    this.checkOpen();
    return this.view.head(stream, streamNameBytes(stream))?.version;
  }

  /** True when the stream has events that reads return (not none, not all truncated or deleted). */
  async streamExists(stream: string): Promise<boolean> {
    this.checkOpen();
    const streamBytes = streamNameBytes(stream);
    await this.reader?.refresh();
    const head = this.view.head(stream, streamBytes);
    if (head === undefined) return false;
    return head.version >= (await this.truncatedBefore(stream));
  }

  /** A read-only store: moves its view of the writer's streams forward (reads do it themselves; this is for `streamVersion`). A writer: nothing to do. */
  async refresh(): Promise<void> {
    this.checkOpen();
    await this.reader?.refresh();
  }

  /**
   * The stream's events in version order (or backwards), as of when the
   * iteration starts: from `from` (default 0; backwards, the last version),
   * at most `maxCount`. A stream with no events yields nothing; events
   * below the stream's `truncateBefore` (truncated or deleted) are skipped.
   * Type the events with the application's event union:
   * `es.readStream<CartEvent>('cart-1')` yields events whose `data` narrows
   * with their `type`. Events are fetched {@link READ_CHUNK_VERSIONS} at a
   * time; to have them all in one array, {@link loadStream} is cheaper.
   */
  readStream<E extends EventShape = RecordedEvent>(stream: string, options: ReadStreamOptions = {}): AsyncIterable<TypedRecordedEvent<E>> {
    this.checkOpen();
    const streamBytes = streamNameBytes(stream);
    const { from, maxCount, backwards } = readStreamArgs(options, 'readStream');
    return this.streamEvents(stream, streamBytes, from, maxCount, backwards, true) as AsyncIterable<TypedRecordedEvent<E>>;
  }

  /**
   * The events {@link readStream} would yield with the same options, all in
   * one array: one stream-index lookup, one batch of reads (in log order, on
   * the calling thread while the segments are local), one decode per event.
   * What an aggregate load wants (`aof/emmett`'s `aggregateStream` uses it);
   * the array holds every event asked for, so bound long streams with
   * `maxCount` or iterate {@link readStream} instead.
   */
  async loadStream<E extends EventShape = RecordedEvent>(stream: string, options: ReadStreamOptions = {}): Promise<Array<TypedRecordedEvent<E>>> {
    this.checkOpen();
    const streamBytes = streamNameBytes(stream);
    const { from, maxCount, backwards } = readStreamArgs(options, 'loadStream');
    try {
      const range = await this.streamRange(stream, streamBytes, from, maxCount, backwards, true);
      if (range === undefined) return [];
      const events = await this.eventsAt(stream, streamBytes, range.lo, range.hi);
      return (backwards ? events.reverse() : events) as Array<TypedRecordedEvent<E>>;
    } catch (err) {
      throw toAofError(err, `cannot read stream ${JSON.stringify(stream.slice(0, 80))}`);
    }
  }

  /** The stream's events `[from, from + maxCount)` (backwards: down from `from`), fetched a chunk at a time. */
  private streamEvents(stream: string, streamBytes: Buffer, from: number | undefined, maxCount: number, backwards: boolean, refresh: boolean): ChunkIterator<RecordedEvent> {
    let range: StreamRange | undefined;
    let planned = false;
    let cursor = 0;
    return new ChunkIterator(async () => {
      if (!planned) {
        range = await this.streamRange(stream, streamBytes, from, maxCount, backwards, refresh);
        planned = true;
        if (range !== undefined) cursor = backwards ? range.hi : range.lo;
      }
      if (range === undefined) return undefined;
      if (!backwards) {
        if (cursor > range.hi) return undefined;
        const to = Math.min(range.hi, cursor + READ_CHUNK_VERSIONS - 1);
        const events = await this.eventsAt(stream, streamBytes, cursor, to);
        cursor = to + 1;
        return events;
      }
      if (cursor < range.lo) return undefined;
      const lo = Math.max(range.lo, cursor - READ_CHUNK_VERSIONS + 1);
      const events = await this.eventsAt(stream, streamBytes, lo, cursor);
      cursor = lo - 1;
      return events.reverse();
    }, `cannot read stream ${JSON.stringify(stream.slice(0, 80))}`);
  }

  /** Which versions a read returns, decided at its start (head and truncation as of now); undefined when none. */
  private async streamRange(stream: string, streamBytes: Buffer, from: number | undefined, maxCount: number, backwards: boolean, refresh: boolean): Promise<StreamRange | undefined> {
    if (refresh) await this.reader?.refresh();
    const head = this.view.head(stream, streamBytes);
    if (head === undefined || maxCount === 0) return undefined;
    const hidden = isMetadataStream(stream) ? 0 : await this.truncatedBefore(stream);
    let lo: number;
    let hi: number;
    if (!backwards) {
      lo = Math.max(from ?? 0, hidden);
      hi = Math.min(head.version, lo + maxCount - 1);
    } else {
      hi = Math.min(from ?? head.version, head.version);
      lo = Math.max(hidden, hi - maxCount + 1);
    }
    return lo <= hi ? { lo, hi } : undefined;
  }

  /**
   * Reads and decodes the stream's events of versions `[lo, hi]` in order:
   * their positions from the index, their records in one `getMany`, each
   * checked to be the event the index names (its stream compared as bytes,
   * so the name is never decoded).
   */
  private async eventsAt(stream: string, streamBytes: Buffer, lo: number, hi: number): Promise<RecordedEvent[]> {
    const found = this.view.positions(stream, streamBytes, lo, hi);
    const positions = new Array<number>(found.length);
    for (let i = 0; i < found.length; i++) positions[i] = found[i]!.position;
    const records = await this.recordsAt(positions);
    const out = new Array<RecordedEvent>(found.length);
    for (let i = 0; i < found.length; i++) {
      const want = found[i]!;
      const r = records[i];
      if (r === undefined || r.seq !== want.position || !isEventRecord(r.payload)) throw new InvariantError(`the stream index maps ${stream}@${want.version} to log position ${want.position}, which holds no event`);
      const head = decodeHead(r.payload, r.seq);
      if (!streamIs(r.payload, head, streamBytes) || head.version !== want.version) {
        throw new InvariantError(`the stream index maps ${stream}@${want.version} to log position ${want.position}, which holds ${streamOf(r.payload, head)}@${head.version}`);
      }
      out[i] = decodeEvent(r.payload, head, r.seq, r.timestamp, stream);
    }
    return out;
  }

  /**
   * Every event in the store in log order, from log position `from`
   * (default: the start), up to the last one durable when called; with
   * `streamPrefix` / `eventTypes`, only those (dropped events are never
   * decoded). Metadata streams' events only with `includeMetadataStreams`.
   * Truncated and deleted events are still here: they leave the log only
   * with its retention.
   */
  readAll<E extends EventShape = RecordedEvent>(options: ReadAllOptions = {}): AsyncIterable<TypedRecordedEvent<E>> {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('readAll options must be an object');
    const from = options.from === undefined ? undefined : versionArg('from', options.from);
    const filter = eventFilter(options, 'readAll');
    return wrapErrors(eventsOf(this.log.read({ from }), filter), 'cannot read the event store') as AsyncIterable<TypedRecordedEvent<E>>;
  }

  /**
   * Catch-up, then live: yields every matching event from `from` on (with
   * `stream`, from that stream version; without, from that log position,
   * filtered as in {@link readAll}), then each new one once its append is
   * durable, until `signal` aborts (the loop rejects with an `AbortError`),
   * the consumer breaks, or the store closes. Built on the log's tail
   * readers: a subscriber never sees an event that a crash could take back
   * (in a read-only store, one the writer has not acknowledged).
   */
  subscribe<E extends EventShape = RecordedEvent>(options: SubscribeOptions = {}): AsyncIterable<TypedRecordedEvent<E>> {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('subscribe options must be an object');
    const from = options.from === undefined ? undefined : versionArg('from', options.from);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('subscribe option signal must be an AbortSignal');
    if (options.stream === undefined) {
      const filter = eventFilter(options, 'subscribe');
      return wrapErrors(eventsOf(this.log.tail({ from: from ?? this.log.firstSeq, signal: options.signal }), filter), 'cannot follow the event store') as AsyncIterable<TypedRecordedEvent<E>>;
    }
    if (options.streamPrefix !== undefined || options.eventTypes !== undefined || options.includeMetadataStreams !== undefined) {
      throw new InvalidArgumentError('subscribe options streamPrefix, eventTypes and includeMetadataStreams filter a subscription to all streams; they do not combine with stream');
    }
    const stream = options.stream;
    const streamBytes = streamNameBytes(stream, 'subscribe option stream');
    return wrapErrors(this.followStream(stream, streamBytes, from ?? 0, options.signal), `cannot follow stream ${JSON.stringify(stream.slice(0, 80))}`) as AsyncIterable<TypedRecordedEvent<E>>;
  }

  private async *followStream(stream: string, streamBytes: Buffer, from: number, signal: AbortSignal | undefined): AsyncGenerator<RecordedEvent> {
    // Every event below `tailFrom` is in the index (or the reader's view) now, so the catch-up read sees it; later ones come from the tail.
    const tailFrom = this.reader === undefined ? this.resolvedTo : await this.reader.refresh();
    let next = from;
    for await (const e of this.streamEvents(stream, streamBytes, from, Number.MAX_SAFE_INTEGER, false, false)) {
      if (signal?.aborted) throw abortError(signal);
      yield e;
      next = e.version + 1;
    }
    for await (const r of this.log.tail({ from: tailFrom, signal })) {
      if (!isEventRecord(r.payload)) continue;
      const head = decodeHead(r.payload, r.seq);
      if (head.version < next || !streamIs(r.payload, head, streamBytes)) continue;
      yield decodeEvent(r.payload, head, r.seq, r.timestamp);
      next = head.version + 1;
    }
  }

  // --- stream metadata: truncation, soft deletion ---------------------------

  /** The stream's metadata and its version, or undefined when none was ever set. */
  async getStreamMetadata(stream: string): Promise<StreamMetadataResult | undefined> {
    this.checkOpen();
    streamNameBytes(stream);
    if (isMetadataStream(stream)) throw new InvalidArgumentError(`${JSON.stringify(stream.slice(0, 80))} is a metadata stream; ask for the metadata of the stream it belongs to`);
    await this.reader?.refresh();
    return this.metadataOf(stream);
  }

  /**
   * Replaces the stream's metadata (an event of its metadata stream
   * `$$<stream>`, so it has a version of its own: pass
   * `expectedMetadataVersion` to change it only if nobody did since you read
   * it). `truncateBefore` hides the events below that version from reads;
   * `custom` is the application's.
   */
  setStreamMetadata(stream: string, metadata: StreamMetadata, options: SetStreamMetadataOptions = {}): Promise<AppendResult> {
    try {
      this.checkWritable();
      streamNameBytes(stream);
      if (isMetadataStream(stream)) throw new InvalidArgumentError(`${JSON.stringify(stream.slice(0, 80))} is a metadata stream; a metadata stream has no metadata of its own`);
      if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('setStreamMetadata options must be an object like { expectedMetadataVersion }');
      const data = parseStreamMetadata(metadata, 'setStreamMetadata metadata');
      const write = prepareWrite(metadataStreamOf(stream), [{ type: METADATA_EVENT_TYPE, data }], expectationOf({ expectedVersion: options.expectedMetadataVersion }), 'stream name', true);
      return this.appendWrites([write]).then((r) => r[0]!);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Soft-deletes the stream: its events are hidden from reads (its
   * `truncateBefore` is set past its last event) and `streamExists` says
   * false; they stay in the log (and in `readAll`) until retention removes
   * them. Appending again continues the stream's versions, after the hidden
   * ones, as in EventStoreDB. Resolves the metadata append's result.
   */
  async deleteStream(stream: string, options: StreamOperationOptions = {}): Promise<AppendResult> {
    return this.hideBefore(stream, undefined, options, 'deleteStream');
  }

  /** Hides the stream's events below version `before` from reads (`$tb`): they stay in the log until retention removes them. */
  async truncateStream(stream: string, before: number, options: StreamOperationOptions = {}): Promise<AppendResult> {
    return this.hideBefore(stream, truncateBeforeArg(before, 'truncateStream before'), options, 'truncateStream');
  }

  /** Sets `truncateBefore` (undefined: past the last event), holding the stream's lock so its expectation holds while the metadata is written. */
  private async hideBefore(stream: string, before: number | undefined, options: StreamOperationOptions, what: string): Promise<AppendResult> {
    this.checkWritable();
    const streamBytes = streamNameBytes(stream);
    if (isMetadataStream(stream)) throw new InvalidArgumentError(`${what}: ${JSON.stringify(stream.slice(0, 80))} is a metadata stream`);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} options must be an object like { expectedVersion }`);
    const expected = expectationOf(options);
    const release = await this.locks.acquire(stream);
    try {
      this.checkWritable();
      const actual = this.index!.head(stream, streamBytes)?.version ?? -1;
      if (!matches(expected, actual)) throw new WrongExpectedVersionError(stream, expected, actual < 0 ? 'no_stream' : actual);
      // Read, change, write expecting the metadata version read: a concurrent setStreamMetadata is not overwritten
      // (its `custom` kept); the stream's own lock, held here, keeps its version where it was checked.
      for (let attempt = 1; ; attempt++) {
        const current = await this.metadataOf(stream);
        const metadata: StreamMetadata = { ...current?.metadata, truncateBefore: before ?? actual + 1 };
        const expectedMetadata: ExpectedVersion = current === undefined ? 'no_stream' : current.metadataVersion;
        const write = prepareWrite(metadataStreamOf(stream), [{ type: METADATA_EVENT_TYPE, data: metadata }], expectedMetadata, 'stream name', true);
        try {
          return (await this.appendWrites([write]))[0]!;
        } catch (err) {
          if (!(err instanceof WrongExpectedVersionError) || attempt >= HIDE_BEFORE_ATTEMPTS) throw err;
        }
      }
    } finally {
      release();
    }
  }

  private async metadataOf(stream: string): Promise<StreamMetadataResult | undefined> {
    const name = metadataStreamOf(stream);
    const nameBytes = Buffer.from(name, 'utf8');
    const head = this.view.head(name, nameBytes);
    if (head === undefined) return undefined;
    const [last] = await this.eventsAt(name, nameBytes, head.version, head.version);
    if (last === undefined) throw new InvariantError(`the stream index has no position for ${name}@${head.version}`);
    return { metadata: parseStreamMetadata(last.data, `the metadata of stream ${JSON.stringify(stream.slice(0, 80))} at log position ${last.position}`), metadataVersion: last.version };
  }

  /** The first version reads return: the stream's `truncateBefore`, 0 without one. */
  private async truncatedBefore(stream: string): Promise<number> {
    return (await this.metadataOf(stream))?.metadata.truncateBefore ?? 0;
  }

  /**
   * Reads the ids of the last `idempotencyWindow` events written before this
   * open into the recent ids, once, before the first append that gives ids
   * (concurrent ones share the read; one that fails is tried again by the next).
   * Appends since the open are later in the log, and are remembered after them.
   */
  private readRecentIds(): Promise<void> {
    this.recentReading ??= this.rememberRecentIds().then(
      () => {
        this.recentRead = true;
      },
      (err: unknown) => {
        this.recentReading = undefined;
        throw err;
      },
    );
    return this.recentReading;
  }

  /** Fills the recent ids from the last records of the log before the open (ids the callers gave), so retries stay idempotent across a restart. */
  private async rememberRecentIds(): Promise<void> {
    if (this.recent.capacity === 0) return;
    const end = this.openedAt;
    const from = Math.max(this.log.firstSeq, end - this.recent.capacity);
    for await (const r of this.log.read({ from, to: end })) {
      if (!isEventRecord(r.payload)) continue;
      const head = decodeHead(r.payload, r.seq);
      if (!idGiven(head)) continue;
      this.recent.add(idOf(r.payload, head), { stream: r.payload.toString('utf8', head.streamStart, head.streamEnd), version: head.version, position: r.seq });
    }
  }

  /** Index commits that failed (each retried); the next open reconciles the index with the log in any case. */
  get indexErrors(): readonly Error[] {
    return this.index?.errors ?? [];
  }

  /**
   * Waits for appends in progress, commits the stream index, closes the log
   * (marking its clean end) and the LMDB environment. Idempotent.
   */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    try {
      if (this.index !== undefined) {
        // Appends held back by the archive's local-disk bound would otherwise never settle: closing releases them.
        this.log.releaseArchiveWait();
        if (this.appendsInProgress > 0) await new Promise<void>((resolve) => (this.appendsSettled = resolve));
        await this.index.drain().catch(() => undefined);
      }
      this.unpin?.();
      await this.log.close();
    } finally {
      await this.catalog?.close().catch(() => undefined);
      this.state = 'closed';
    }
  }

  /** `await using es = await EventStore.open(dir)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new ClosedError('event store');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.index === undefined) throw new ReadOnlyError();
  }
}

/** Validates one stream's part of an append. `metadata` allows writing a metadata stream (the store's own writes). */
function prepareWrite(stream: string, events: readonly EventInput[], expected: ExpectedVersion, what: string, metadata = false): Write {
  // A metadata stream's name is `$$` and a valid name: up to 2 bytes over the limit, allowed for the store's own writes.
  const streamBytes = metadata ? Buffer.from(stream, 'utf8') : streamNameBytes(stream, what);
  if (!metadata && isMetadataStream(stream)) throw new InvalidArgumentError(`${what} ${JSON.stringify(stream.slice(0, 80))} begins with $$, which names a metadata stream: write its metadata with setStreamMetadata`);
  return { stream, streamBytes, expected, prepared: prepareAppend(streamBytes, events) };
}

/** The events among log records that pass the filter, decoded; other records are skipped undecoded. */
async function* eventsOf(records: AsyncIterable<LogRecord>, filter: RecordFilter): AsyncGenerator<RecordedEvent> {
  for await (const r of records) {
    if (!isEventRecord(r.payload)) continue;
    const head = decodeHead(r.payload, r.seq);
    if (!filter(r.payload, head)) continue;
    yield decodeEvent(r.payload, head, r.seq, r.timestamp);
  }
}

/** Checks readStream/loadStream options. */
function readStreamArgs(options: ReadStreamOptions, what: string): { from: number | undefined; maxCount: number; backwards: boolean } {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} options must be an object`);
  const from = options.from === undefined ? undefined : versionArg('from', options.from);
  const maxCount = options.maxCount === undefined ? Number.MAX_SAFE_INTEGER : versionArg('maxCount', options.maxCount);
  const direction = options.direction ?? 'forwards';
  if (direction !== 'forwards' && direction !== 'backwards') throw new InvalidArgumentError(`${what} option direction must be 'forwards' or 'backwards', got ${String(direction)}`);
  return { from, maxCount, backwards: direction === 'backwards' };
}

function expectationOf(options: unknown): ExpectedVersion {
  if (options === undefined) return 'any';
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('appendToStream options must be an object like { expectedVersion }');
  const e = (options as AppendOptions).expectedVersion;
  if (e === undefined) return 'any';
  if (typeof e === 'number') return versionArg('expectedVersion', e);
  if (e === 'no_stream' || e === 'stream_exists' || e === 'any') return e;
  throw new InvalidArgumentError(`expectedVersion must be a version (an integer >= 0), 'no_stream', 'stream_exists' or 'any', got ${typeof e === 'string' ? JSON.stringify(e) : typeof e}`);
}

function versionArg(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${name} must be an integer >= 0, got ${String(value)}`);
  return value;
}

/** Whether a stream whose last version is `actual` (-1: no events) meets the expectation. */
function matches(expected: ExpectedVersion, actual: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual < 0;
  if (expected === 'stream_exists') return actual >= 0;
  return actual === expected;
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
