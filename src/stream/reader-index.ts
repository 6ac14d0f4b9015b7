import { assert } from '../assert.js';
import { IndexUnavailableError } from '../errors.js';
import type { Log } from '../log.js';
import { decodeHead, isEventRecord } from './codec.js';
import { STREAM_INDEX_FORMAT, StreamIndex, type StreamHead, type StreamPositions } from './stream-index.js';
import type { RootDatabase } from 'lmdb';

/** Events of one stream the writer's index does not hold yet: contiguous versions from `base`, at these positions (ascending). */
interface Pending {
  base: number;
  positions: number[];
}

/**
 * A read-only event store's view of the stream index, for a store whose
 * writer is another process: the writer's LMDB index (committed entries,
 * every event below its `indexedTo`), plus the events past it, read from the
 * log as far as the writer acknowledged and held in memory (at most
 * `maxEntries`: the writer commits its index every 50 ms, so this is the few
 * events of the last moments). {@link refresh} moves the view forward; it
 * never goes past what the read-only log serves, which is never past what
 * the writer acknowledged.
 *
 * Without a usable LMDB index (none yet, another format, or a writer
 * clearing it to rebuild) the view is read from the whole log, and a log
 * with more than `maxEntries` events then fails with `AOF_INDEX_UNAVAILABLE`.
 */
export class ReaderIndex implements StreamPositions {
  private stored: StreamIndex | undefined;
  /** The LMDB index holds every event below this; meaningful while `useStored`. */
  private storedTo = 0;
  private useStored = false;
  /** Every event below this is in view (in LMDB or in `pending`). */
  private scannedTo: number;
  private readonly pending = new Map<string, Pending>();
  private entries = 0;
  private refreshing: Promise<number> | undefined;

  constructor(
    private readonly env: RootDatabase | undefined,
    private readonly log: Log,
    /** Most entries held in memory. */
    readonly maxEntries: number,
  ) {
    this.scannedTo = log.firstSeq;
  }

  /** Entries held in memory (events the writer's index did not hold at the last refresh). */
  get memoryEntries(): number {
    return this.entries;
  }

  /**
   * Brings the view up to the writer's latest acknowledged events; resolves
   * the log position below which every event is in view. Concurrent calls
   * share one refresh.
   */
  refresh(): Promise<number> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<number> {
    if (this.stored === undefined && this.env !== undefined) this.stored = StreamIndex.openExisting(this.env);
    // A fresh LMDB snapshot: what the writer committed since the last refresh.
    this.env?.resetReadTxn();
    const state = this.stored?.readState();
    const usable = state !== undefined && state.format === STREAM_INDEX_FORMAT && state.indexedTo >= this.log.firstSeq;
    if (usable) {
      if (!this.useStored || state.indexedTo < this.storedTo) {
        // First use, or the writer rebuilt its index (it went back): what is held in memory may not join it.
        this.forgetPending(state.indexedTo);
      }
      this.useStored = true;
      this.storedTo = state.indexedTo;
      this.trim(this.storedTo);
      if (this.scannedTo < this.storedTo) this.scannedTo = this.storedTo;
    } else if (this.useStored || this.scannedTo < this.log.firstSeq) {
      // The index went away (a writer clearing it to rebuild): read the log itself.
      this.useStored = false;
      this.forgetPending(this.log.firstSeq);
    }
    await this.scan();
    return this.scannedTo;
  }

  private forgetPending(from: number): void {
    this.pending.clear();
    this.entries = 0;
    this.scannedTo = from;
  }

  /** Drops what the LMDB index now holds (positions below `to`) from memory. */
  private trim(to: number): void {
    for (const [stream, p] of this.pending) {
      let n = 0;
      while (n < p.positions.length && p.positions[n]! < to) n++;
      if (n === 0) continue;
      p.positions.splice(0, n);
      p.base += n;
      this.entries -= n;
      if (p.positions.length === 0) this.pending.delete(stream);
    }
  }

  /** Reads the events past `scannedTo` that the log serves (up to the writer's watermark). */
  private async scan(): Promise<void> {
    for await (const r of this.log.read({ from: this.scannedTo })) {
      this.scannedTo = r.seq + 1;
      if (!isEventRecord(r.payload)) continue;
      const head = decodeHead(r.payload, r.seq);
      const stream = r.payload.toString('utf8', head.streamStart, head.streamEnd);
      let p = this.pending.get(stream);
      if (p === undefined) {
        p = { base: head.version, positions: [] };
        this.pending.set(stream, p);
      }
      assert(p.base + p.positions.length === head.version, `stream ${JSON.stringify(stream.slice(0, 80))} continues at version ${p.base + p.positions.length} in log record ${r.seq}, which holds version ${head.version}`);
      p.positions.push(r.seq);
      if (++this.entries > this.maxEntries) {
        const why = this.useStored ? `the writer's stream index stops at log position ${this.storedTo}` : 'there is no stream index to read (no writer has built one, or one is rebuilding it)';
        this.forgetPending(this.useStored ? this.storedTo : this.log.firstSeq);
        throw new IndexUnavailableError(`a read-only event store cannot read streams: ${why}, and more than maxPendingIndexEntries (${this.maxEntries}) events follow it; retry once a writer has caught its index up, or raise the bound`, { file: this.log.dir });
      }
    }
  }

  head(stream: string, streamBytes: Buffer): StreamHead | undefined {
    const p = this.pending.get(stream);
    if (p !== undefined) return { version: p.base + p.positions.length - 1, position: p.positions[p.positions.length - 1]! };
    return this.useStored ? this.stored!.storedHead(streamBytes) : undefined;
  }

  positions(stream: string, streamBytes: Buffer, from: number, to: number): Array<{ version: number; position: number }> {
    const p = this.pending.get(stream);
    const storedUpTo = p === undefined ? to : Math.min(to, p.base - 1);
    const out = this.useStored && from <= storedUpTo ? this.stored!.positions(stream, streamBytes, from, storedUpTo) : [];
    if (p !== undefined) {
      for (let v = Math.max(from, p.base); v <= to && v - p.base < p.positions.length; v++) out.push({ version: v, position: p.positions[v - p.base]! });
    }
    return out;
  }
}
