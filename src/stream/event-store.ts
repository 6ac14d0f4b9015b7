import { SegmentCatalog } from '../catalog/catalog.js';
import { ClosedError, InvalidArgumentError, InvariantError, WrongExpectedVersionError, toAofError } from '../errors.js';
import { Log } from '../log.js';
import { wrapErrors } from '../log/wrap-errors.js';
import { DEFAULTS } from '../options.js';
import type { LogRecord } from '../read/record.js';
import { positiveInt } from '../validate.js';
import { decodeEvent, decodeHead, idGiven, idOf, isEventRecord, prepareAppend, setVersions, streamIs, streamNameBytes, type PreparedAppend } from './codec.js';
import { reconcileIndex } from './reconcile-index.js';
import { RecentIds } from './recent-ids.js';
import { StreamIndex } from './stream-index.js';
import { StreamLocks } from './stream-locks.js';
import type { AppendOptions, AppendResult, EventInput, EventStoreOptions, ExpectedVersion, ReadAllOptions, ReadStreamOptions, RecordedEvent, StreamIndexReport, SubscribeOptions } from './types.js';

/** Defaults of the event store's own options. */
export const EVENT_STORE_DEFAULTS = {
  /** Events whose ids are remembered for idempotent `'any'`/`'stream_exists'` retries. */
  idempotencyWindow: 10_000,
  /** Index entries that may wait in memory for their LMDB commit before appends wait. */
  maxPendingIndexEntries: 100_000,
} as const;

/** Versions looked up in the index per step of a stream read. */
const READ_CHUNK_VERSIONS = 256;

/**
 * An event store on a {@link Log}: events in streams (one per aggregate),
 * appended with optimistic concurrency, read back by stream or all together,
 * and followed live. Every event is one log record; the events of one append
 * are one atomic batch frame. A stream index in LMDB (beside the segment
 * catalog) maps stream → version → log position; it is derived from the log
 * and rebuilt from it whenever it is missing or behind.
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
  /** The log's end at open: the recent ids before it are read from the log on first need. */
  private readonly openedAt: number;
  /** True once the recent ids before the open were read (see `readRecentIds`). */
  private recentRead = false;
  private recentReading: Promise<void> | undefined;

  private constructor(
    /** The log the events live in. Append to it directly only records the store may skip: they are not events. */
    readonly log: Log,
    private readonly catalog: SegmentCatalog,
    private readonly index: StreamIndex,
    /** What opening found about the stream index and did with it. */
    readonly indexReport: StreamIndexReport,
    private readonly maxPendingIndexEntries: number,
    idempotencyWindow: number,
    pinEvents: boolean,
  ) {
    this.recent = new RecentIds(idempotencyWindow);
    this.resolvedTo = log.nextSeq;
    this.openedAt = log.nextSeq;
    this.unpin = pinEvents ? log.pin(log.firstSeq, 'event store: every event stays readable') : undefined;
  }

  /**
   * Opens (creating if needed) the event store in `dir`: opens its log
   * (taking the writer lock; same options as `Log.open`), then checks the
   * stream index against the log and catches it up or rebuilds it
   * ({@link EventStore.indexReport} says which) before any append is decided.
   */
  static async open(dir: string, options: EventStoreOptions = {}): Promise<EventStore> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const { idempotencyWindow, maxPendingIndexEntries, pinEvents, ...logOptions } = options;
    const window = positiveInt('idempotencyWindow', idempotencyWindow, EVENT_STORE_DEFAULTS.idempotencyWindow, 10_000_000, true);
    const maxPending = positiveInt('maxPendingIndexEntries', maxPendingIndexEntries, EVENT_STORE_DEFAULTS.maxPendingIndexEntries, Number.MAX_SAFE_INTEGER);
    if (pinEvents !== undefined && typeof pinEvents !== 'boolean') throw new InvalidArgumentError(`option pinEvents must be a boolean, got ${typeof pinEvents}`);
    if (logOptions.readOnly === true) throw new InvalidArgumentError('an EventStore is a writer; follow its log from another process with Log.open(dir, { readOnly: true })');
    const log = await Log.open(dir, logOptions);
    let catalog: SegmentCatalog | undefined;
    try {
      // The log's LMDB environment, shared through the catalog's registry (one environment per process).
      catalog = await SegmentCatalog.open(dir, false, { fileMode: options.fileMode ?? DEFAULTS.fileMode, dirMode: options.dirMode ?? DEFAULTS.dirMode });
      if (catalog === undefined) throw new InvariantError('a writer opens its catalog');
      const index = StreamIndex.open(catalog.environment);
      const report = await reconcileIndex(log, index);
      // The recent ids are read from the log on first need (an append with ids of its own), not here: an open that only reads pays nothing for them.
      return new EventStore(log, catalog, index, report, maxPending, window, pinEvents ?? true);
    } catch (err) {
      await catalog?.close().catch(() => undefined);
      await log.close().catch(() => undefined);
      throw toAofError(err, 'cannot open the event store', dir);
    }
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
   *
   * Appends to one stream are decided one after another in call order;
   * appends to different streams proceed together and share group commits.
   */
  appendToStream(stream: string, events: readonly EventInput[], options?: AppendOptions): Promise<AppendResult> {
    let streamBytes: Buffer;
    let expected: ExpectedVersion;
    let prepared: PreparedAppend;
    try {
      this.checkOpen();
      streamBytes = streamNameBytes(stream);
      expected = expectationOf(options);
      prepared = prepareAppend(streamBytes, events);
    } catch (err) {
      return Promise.reject(err);
    }
    this.appendsInProgress++;
    // The common case decides and hands the events to the log in the caller's turn, so that concurrent
    // callers' appends land in the same group commit; otherwise it waits for the stream or the index.
    const release = this.locks.tryAcquire(stream);
    if (release !== undefined && this.index.hasRoom(this.maxPendingIndexEntries)) return this.appendLocked(stream, streamBytes, expected, prepared, release);
    return this.appendWhenReady(stream, streamBytes, expected, prepared, release);
  }

  private async appendWhenReady(stream: string, streamBytes: Buffer, expected: ExpectedVersion, prepared: PreparedAppend, held: (() => void) | undefined): Promise<AppendResult> {
    let release = held;
    try {
      release ??= await this.locks.acquire(stream);
      await this.index.waitForRoom(this.maxPendingIndexEntries);
    } catch (err) {
      release?.();
      this.appendSettled();
      throw err;
    }
    return this.appendLocked(stream, streamBytes, expected, prepared, release);
  }

  /** Holding the stream's lock: checks the expectation against the stream's durable head, then appends. */
  private async appendLocked(stream: string, streamBytes: Buffer, expected: ExpectedVersion, prepared: PreparedAppend, release: () => void): Promise<AppendResult> {
    try {
      // Ids given by the caller are checked against, and join, the recent ids: those of the log before this open are read first.
      if (prepared.callerIds && !this.recentRead) await this.readRecentIds();
      const head = this.index.head(stream, streamBytes);
      const actual = head === undefined ? -1 : head.version;
      if (!matches(expected, actual)) {
        const again = await this.alreadyAppended(stream, streamBytes, expected, actual, prepared.ids, prepared.callerIds);
        if (again !== undefined) return again;
        throw new WrongExpectedVersionError(stream, expected, actual < 0 ? 'no_stream' : actual);
      }
      if (prepared.callerIds && (expected === 'any' || expected === 'stream_exists')) {
        const again = await this.alreadyAppended(stream, streamBytes, expected, actual, prepared.ids, true);
        if (again !== undefined) return again;
      }
      const firstVersion = actual + 1;
      setVersions(prepared.payloads, firstVersion);
      const first = await this.submit(prepared.payloads);
      // Durable: now, and only now, the index and the in-memory state learn of it.
      const count = prepared.payloads.length;
      this.index.record(stream, streamBytes, firstVersion, first, count, prepared.payloads[count - 1]!);
      if (prepared.callerIds) for (let i = 0; i < count; i++) this.recent.add(prepared.ids[i]!, { stream, version: firstVersion + i, position: first + i });
      this.resolvedTo = first + count;
      return { nextExpectedVersion: firstVersion + count - 1, position: first + count - 1 };
    } finally {
      release();
      this.appendSettled();
    }
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
      const found = this.index.positions(stream, streamBytes, firstVersion, lastVersion);
      if (found.length !== k) return undefined;
      for (let i = 0; i < k; i++) {
        if ((await this.idAt(found[i]!.position, stream, found[i]!.version)) !== ids[i]) return undefined;
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

  /** The id of the event at `position` (known to be `stream`'s `version`). */
  private async idAt(position: number, stream: string, version: number): Promise<string> {
    const rec = await this.log.get(position);
    if (rec === undefined || !isEventRecord(rec.payload)) throw new InvariantError(`the stream index maps ${stream}@${version} to log position ${position}, which holds no event`);
    return idOf(rec.payload, decodeHead(rec.payload, position));
  }

  /**
   * The version of the stream's last durable event, or undefined when the
   * stream has none. Appends in progress are not counted until they resolve.
   */
  streamVersion(stream: string): number | undefined {
    this.checkOpen();
    return this.index.head(stream, streamNameBytes(stream))?.version;
  }

  /**
   * The stream's events in version order (or backwards), as of when the
   * iteration starts: from `from` (default 0; backwards, the last version),
   * at most `maxCount`. A stream with no events yields nothing.
   */
  readStream(stream: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    const streamBytes = streamNameBytes(stream);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('readStream options must be an object');
    const from = options.from === undefined ? undefined : versionArg('from', options.from);
    const maxCount = options.maxCount === undefined ? Number.MAX_SAFE_INTEGER : versionArg('maxCount', options.maxCount);
    const direction = options.direction ?? 'forwards';
    if (direction !== 'forwards' && direction !== 'backwards') throw new InvalidArgumentError(`readStream option direction must be 'forwards' or 'backwards', got ${String(direction)}`);
    return wrapErrors(this.readStreamFrom(stream, streamBytes, from, maxCount, direction === 'backwards'), `cannot read stream ${JSON.stringify(stream.slice(0, 80))}`);
  }

  private async *readStreamFrom(stream: string, streamBytes: Buffer, from: number | undefined, maxCount: number, backwards: boolean): AsyncGenerator<RecordedEvent> {
    const head = this.index.head(stream, streamBytes);
    if (head === undefined || maxCount === 0) return;
    if (!backwards) {
      const lo = from ?? 0;
      const hi = Math.min(head.version, lo + maxCount - 1);
      for (let a = lo; a <= hi; a += READ_CHUNK_VERSIONS) {
        yield* this.eventsAt(stream, this.index.positions(stream, streamBytes, a, Math.min(hi, a + READ_CHUNK_VERSIONS - 1)));
      }
    } else {
      const hi = Math.min(from ?? head.version, head.version);
      const lo = Math.max(0, hi - maxCount + 1);
      for (let b = hi; b >= lo; b -= READ_CHUNK_VERSIONS) {
        const found = this.index.positions(stream, streamBytes, Math.max(lo, b - READ_CHUNK_VERSIONS + 1), b);
        const events: RecordedEvent[] = [];
        for await (const e of this.eventsAt(stream, found)) events.push(e);
        for (let i = events.length - 1; i >= 0; i--) yield events[i]!;
      }
    }
  }

  /** Reads the events at these index entries, runs of consecutive positions in one read. */
  private async *eventsAt(stream: string, found: ReadonlyArray<{ version: number; position: number }>): AsyncGenerator<RecordedEvent> {
    let i = 0;
    while (i < found.length) {
      let j = i + 1;
      while (j < found.length && found[j]!.position === found[j - 1]!.position + 1) j++;
      const from = found[i]!.position;
      let k = i;
      const records: AsyncIterable<LogRecord> = j - i === 1 ? this.single(from) : this.log.read({ from, to: from + (j - i) });
      for await (const r of records) {
        const want = found[k++]!;
        if (r.seq !== want.position || !isEventRecord(r.payload)) throw new InvariantError(`the stream index maps ${stream}@${want.version} to log position ${want.position}, which holds no event`);
        const head = decodeHead(r.payload, r.seq);
        const e = decodeEvent(r.payload, head, r.seq, r.timestamp);
        if (e.stream !== stream || e.version !== want.version) throw new InvariantError(`the stream index maps ${stream}@${want.version} to log position ${want.position}, which holds ${e.stream}@${e.version}`);
        yield e;
      }
      if (k !== j) throw new InvariantError(`log positions ${from}..${from + j - i - 1} of stream ${stream} could not be read`);
      i = j;
    }
  }

  private async *single(seq: number): AsyncGenerator<LogRecord> {
    const r = await this.log.get(seq);
    if (r !== undefined) yield r;
  }

  /** Every event in the store in log order, from log position `from` (default: the start), up to the last one durable when called. */
  readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('readAll options must be an object');
    const from = options.from === undefined ? undefined : versionArg('from', options.from);
    return wrapErrors(eventsOf(this.log.read({ from })), 'cannot read the event store');
  }

  /**
   * Catch-up, then live: yields every matching event from `from` on (with
   * `stream`, from that stream version; without, from that log position),
   * then each new one once its append is durable, until `signal` aborts
   * (the loop rejects with an `AbortError`), the consumer breaks, or the
   * store closes. Built on the log's tail readers: a subscriber never sees
   * an event that a crash could take back.
   */
  subscribe(options: SubscribeOptions = {}): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('subscribe options must be an object');
    const from = options.from === undefined ? undefined : versionArg('from', options.from);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('subscribe option signal must be an AbortSignal');
    if (options.stream === undefined) {
      return wrapErrors(eventsOf(this.log.tail({ from: from ?? this.log.firstSeq, signal: options.signal })), 'cannot follow the event store');
    }
    const stream = options.stream;
    const streamBytes = streamNameBytes(stream, 'subscribe option stream');
    return wrapErrors(this.followStream(stream, streamBytes, from ?? 0, options.signal), `cannot follow stream ${JSON.stringify(stream.slice(0, 80))}`);
  }

  private async *followStream(stream: string, streamBytes: Buffer, from: number, signal: AbortSignal | undefined): AsyncGenerator<RecordedEvent> {
    // Every event below `tailFrom` is in the index now, so the catch-up read sees it; later ones come from the tail.
    const tailFrom = this.resolvedTo;
    let next = from;
    for await (const e of this.readStreamFrom(stream, streamBytes, from, Number.MAX_SAFE_INTEGER, false)) {
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

  /** Fills the recent ids from the last records of the log (ids the callers gave), so retries stay idempotent across a restart. */
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
    return this.index.errors;
  }

  /**
   * Waits for appends in progress, commits the stream index, closes the log
   * (marking its clean end) and the LMDB environment. Idempotent.
   */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    try {
      // Appends held back by the archive's local-disk bound would otherwise never settle: closing releases them.
      this.log.releaseArchiveWait();
      if (this.appendsInProgress > 0) await new Promise<void>((resolve) => (this.appendsSettled = resolve));
      await this.index.drain().catch(() => undefined);
      this.unpin?.();
      await this.log.close();
    } finally {
      await this.catalog.close().catch(() => undefined);
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
}

/** The events among log records, decoded; other records are skipped. */
async function* eventsOf(records: AsyncIterable<LogRecord>): AsyncGenerator<RecordedEvent> {
  for await (const r of records) {
    if (!isEventRecord(r.payload)) continue;
    yield decodeEvent(r.payload, decodeHead(r.payload, r.seq), r.seq, r.timestamp);
  }
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
