import type { FlushOptions } from '../flush/strategy.js';
import type { Payload } from '../record/payload.js';

/**
 * A pure, in-memory model of what a log must hold, for model-based tests:
 * sequence numbers, atomic batches, reads, and which records may or must
 * survive a clean close, a process crash or a power loss under each flush
 * strategy. It does no I/O; tests apply the same operations to it and to a
 * real {@link Log} and compare.
 *
 * @module
 */

/** The flush strategies of `LogOptions.flush`. */
export type FlushStrategy = FlushOptions['strategy'];

/** Every flush strategy, in the order tests iterate them. */
export const FLUSH_STRATEGY_NAMES: readonly FlushStrategy[] = ['always', 'batch', 'adaptive', 'interval', 'none'];

/**
 * True when `append()` resolves only after an fdatasync covering the record
 * (`always`, `batch`, `adaptive`): every acknowledged record survives a power
 * loss. Under `interval` and `none` only what a completed flush (or seal, or
 * clean close) covered is sure to.
 */
export function syncsBeforeAck(strategy: FlushStrategy): boolean {
  return strategy === 'always' || strategy === 'batch' || strategy === 'adaptive';
}

/** A record as the model expects to read it. */
export interface ModelRecord {
  /** Sequence number. */
  seq: number;
  /** Payload bytes (a string payload is held as its UTF-8 bytes). */
  payload: Uint8Array;
  /** Timestamp the record must carry, in ms (the test's clock when it was appended). */
  timestamp: number;
}

/**
 * Sequence numbers `[from, to)` that a repair gave up as lost: reading any of
 * them rejects with `AOF_GAP` (a `GapError` carrying these bounds), and they
 * are never given to another record.
 */
export interface ModelGap {
  /** First lost sequence number. */
  from: number;
  /** First sequence number after the gap. */
  to: number;
}

/**
 * What a read of a range must do: yield exactly `records`, in order, then,
 * when the range reaches a gap, reject with `AOF_GAP` naming `gap`.
 */
export interface ExpectedRead {
  /** The records yielded before the read ends (or reaches the gap). */
  records: ModelRecord[];
  /** The first gap the range reaches, where the read must reject; undefined when it ends normally. */
  gap: ModelGap | undefined;
}

/** Bounds on input that the model checks the way the log does. */
export interface ModelLimits {
  /** `LogOptions.maxRecordBytes`. */
  maxRecordBytes: number;
  /** `LogOptions.maxBatchBytes`. */
  maxBatchBytes: number;
  /** `LogOptions.maxBatchRecords`. */
  maxBatchRecords: number;
}

/** Defaults of the model's {@link ModelLimits}: the engine's defaults. */
export const DEFAULT_MODEL_LIMITS: ModelLimits = { maxRecordBytes: 16 * 1024 * 1024, maxBatchBytes: 64 * 1024 * 1024, maxBatchRecords: 1_000_000 };

/** What the log must answer to an append, judged from its input alone. */
export type InputVerdict =
  /** Valid: these are the bytes that will be stored. */
  | {
      /** The input is valid. */
      ok: true;
      /** The bytes the log stores, one per record. */
      payloads: Uint8Array[];
    }
  /** Invalid: the append must reject with this code and change nothing. */
  | {
      /** The input is invalid. */
      ok: false;
      /** The error code the append must reject with. */
      code: 'AOF_RECORD_TOO_LARGE' | 'AOF_BATCH_TOO_LARGE' | 'AOF_INVALID_ARGUMENT';
    };

/**
 * How a log was brought down before it was opened again:
 * - `close`: `log.close()` (after which everything acknowledged is there;
 *   after a failed state, appends whose fsync failed may be there too);
 * - `crash`: the process died; the machine kept every byte written;
 * - `power-loss`: the machine lost what was not synced.
 */
export type RestartKind = 'close' | 'crash' | 'power-loss';

/** Which `nextSeq` a reopened log may have after a {@link RestartKind}. */
export interface SurvivalBounds {
  /** Records below this must be there. */
  min: number;
  /** Records at or above this were never written. */
  max: number;
  /** Allowed values: ends of whole appends (a batch is never torn) within `[min, max]`. */
  allowed: readonly number[];
}

/** A check of the real log against the model failed: a bug in the log (or in the model). */
export class ModelViolation extends Error {
  /** @param message What differs between the log and the model. */
  constructor(message: string) {
    super(message);
    this.name = 'ModelViolation';
  }
}

interface PendingAppend {
  payloads: Uint8Array[];
  timestamp: number;
}

/** Copies a payload into the bytes the log stores. */
export function payloadBytes(payload: Payload): Uint8Array {
  return typeof payload === 'string' ? new Uint8Array(Buffer.from(payload, 'utf8')) : new Uint8Array(payload);
}

/** True when two payloads hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Options of {@link LogModel}. */
export interface LogModelOptions {
  /** The flush options the real log was opened with (default: the engine's default, `batch`). */
  flush?: FlushOptions;
  /** Input bounds the real log was opened with. */
  limits?: Partial<ModelLimits>;
  /** The test clock's time at the start, in ms. */
  now?: number;
  /**
   * Under a syncing strategy, require that whatever a reopened log shows is
   * durable (default true). DESIGN.md promises that a reader never sees a
   * record a power loss could take back under `always`/`batch`: a writer
   * that reopens after a crash must make the records it adopts durable
   * before it publishes them.
   */
  visibleImpliesDurable?: boolean;
}

/**
 * The model. State:
 * - **acknowledged** records `[firstSeq, nextSeq)`: appends that resolved;
 *   reads must return exactly these;
 * - **durable** watermark: records below it are on stable storage for sure
 *   (every acknowledged one under `always`/`batch`/`adaptive`; under
 *   `interval`/`none`, what a completed `flush()`, seal or clean close
 *   covered);
 * - **in doubt**: appends that were written but rejected (their fsync
 *   failed, or the process died first). A later open may find them there
 *   (as the next appends after the acknowledged ones, whole and in order)
 *   or not;
 * - **gaps**: ranges below `nextSeq` that a repair gave up
 *   ({@link acceptLoss}); readers must get `AOF_GAP` there, never a record.
 *
 * A restart ({@link restarted}) checks the reopened log's `nextSeq` against
 * {@link survivalBounds} and adopts what it found. Extension points for later
 * features: `firstSeq` moves when retention deletes segments; a tail reader
 * must deliver exactly {@link expectedRead} of what was acknowledged.
 */
export class LogModel {
  /** The flush strategy being modelled. */
  readonly strategy: FlushStrategy;
  /** Whether acknowledged means synced (see {@link syncsBeforeAck}). */
  readonly syncsBeforeAck: boolean;
  /** Input bounds. */
  readonly limits: ModelLimits;
  /** The test clock, in ms; appended records carry it as their timestamp. */
  now: number;
  /** True while the real log must be in the failed state (an fsync failed): writes reject with `AOF_LOG_FAILED` until a restart. */
  failed = false;
  /** One slot per sequence number of `[firstSeq, nextSeq)`; undefined inside a gap. */
  private records: (ModelRecord | undefined)[] = [];
  /** Ascending, disjoint, each within `[firstSeq, nextSeq)`. */
  private lost: ModelGap[] = [];
  /** Sequence numbers at which an acknowledged append ended (ascending). */
  private appendEnds: number[] = [];
  private doubtful: PendingAppend[] = [];
  private durable = 0;
  private first = 0;
  private readonly visibleImpliesDurable: boolean;

  constructor(options: LogModelOptions = {}) {
    this.visibleImpliesDurable = options.visibleImpliesDurable ?? true;
    this.strategy = options.flush?.strategy ?? 'batch';
    this.syncsBeforeAck = syncsBeforeAck(this.strategy);
    this.limits = { ...DEFAULT_MODEL_LIMITS, ...options.limits };
    this.now = options.now ?? 0;
  }

  /** Sequence number of the first record held. */
  get firstSeq(): number {
    return this.first;
  }

  /** The commit watermark: the sequence number after the last acknowledged record. */
  get nextSeq(): number {
    return this.first + this.records.length;
  }

  /** Records below this are surely on stable storage. */
  get durableSeq(): number {
    return this.durable;
  }

  /** The gaps repairs left, ascending. */
  get gaps(): readonly ModelGap[] {
    return this.lost.map((g) => ({ ...g }));
  }

  /** Number of records held: `[firstSeq, nextSeq)` less the gaps. */
  get recordCount(): number {
    return this.lost.reduce((n, g) => n - (g.to - g.from), this.nextSeq - this.first);
  }

  /** Records written but neither acknowledged nor known absent, in append order. */
  get inDoubt(): readonly (readonly Uint8Array[])[] {
    return this.doubtful.map((d) => d.payloads);
  }

  /** Number of records in doubt. */
  get inDoubtRecords(): number {
    return this.doubtful.reduce((n, d) => n + d.payloads.length, 0);
  }

  /**
   * Judges an append's input as the log does, before anything is queued:
   * `batch` for `appendBatch(payloads)`, else `append(payloads[0])`.
   */
  judgeInput(payloads: readonly unknown[], batch: boolean): InputVerdict {
    if (batch && payloads.length === 0) return { ok: false, code: 'AOF_INVALID_ARGUMENT' };
    if (batch && payloads.length > this.limits.maxBatchRecords) return { ok: false, code: 'AOF_BATCH_TOO_LARGE' };
    const out: Uint8Array[] = [];
    let total = 0;
    for (const p of payloads) {
      if (typeof p !== 'string' && !(p instanceof Uint8Array)) return { ok: false, code: 'AOF_INVALID_ARGUMENT' };
      const bytes = payloadBytes(p);
      if (bytes.byteLength > this.limits.maxRecordBytes) return { ok: false, code: 'AOF_RECORD_TOO_LARGE' };
      total += bytes.byteLength;
      if (batch && total > this.limits.maxBatchBytes) return { ok: false, code: 'AOF_BATCH_TOO_LARGE' };
      out.push(bytes);
    }
    return { ok: true, payloads: out };
  }

  /**
   * An append (one frame's worth of whole records) was acknowledged; returns
   * the sequence number it must have got. Under a syncing strategy it is
   * durable too.
   */
  acknowledge(payloads: readonly Uint8Array[], timestamp = this.now): number {
    if (this.doubtful.length > 0 || this.failed) throw new ModelViolation(`an append was acknowledged after an earlier one failed the log (${this.doubtful.length} appends in doubt, failed state ${this.failed})`);
    const first = this.nextSeq;
    payloads.forEach((payload, i) => this.records.push({ seq: first + i, payload: new Uint8Array(payload), timestamp }));
    this.appendEnds.push(this.nextSeq);
    if (this.syncsBeforeAck) this.durable = this.nextSeq;
    return first;
  }

  /** An append was rejected, written in part or whole, and may reappear after a restart. */
  inDoubtAppend(payloads: readonly Uint8Array[], timestamp = this.now): void {
    this.doubtful.push({ payloads: payloads.map((p) => new Uint8Array(p)), timestamp });
  }

  /** The log entered the failed state (an fsync, or a cut-back after a failed write, failed). */
  enterFailedState(): void {
    this.failed = true;
  }

  /** `flush()` resolved: everything acknowledged is durable. */
  flushed(): void {
    this.durable = this.nextSeq;
  }

  /** A segment ending before `seq` was sealed (its footer fdatasynced): what it holds is durable. */
  sealedUpTo(seq: number): void {
    this.durable = Math.max(this.durable, Math.min(seq, this.nextSeq));
  }

  /** `close()` resolved: without a failed state, everything acknowledged is durable. */
  closed(): void {
    if (!this.failed) this.durable = this.nextSeq;
  }

  /**
   * A truncating repair cut the log at `from` (damage the test itself put
   * there) and, because the log had acknowledged sequence numbers up to `to`,
   * recorded `[from, to)` as a gap rather than give those numbers to new
   * records. Records from `from` on are gone (and any gap there is swallowed
   * by the new one), the next append gets `to`, everything up to `to` is on
   * disk (repair syncs), nothing is in doubt, and the log is not failed.
   * `from === to` is a cut that lost nothing acknowledged. Throws
   * {@link ModelViolation} for a cut outside the records held or inside a
   * gap (repair cuts at frame boundaries), and for `to` below `nextSeq`
   * (acknowledged numbers would be reused).
   */
  acceptLoss(from: number, to: number): void {
    if (from < this.first || from > this.nextSeq) throw new ModelViolation(`a repair cut the log at ${from}, outside the records held [${this.first}, ${this.nextSeq})`);
    const inside = this.gapAt(from);
    if (inside !== undefined && inside.from !== from) throw new ModelViolation(`a repair cut the log at ${from}, inside the gap [${inside.from}, ${inside.to})`);
    if (to < this.nextSeq) throw new ModelViolation(`a repair resumed the log at ${to}, but sequence numbers up to ${this.nextSeq - 1} were acknowledged: ${to}..${this.nextSeq - 1} would be given to new records`);
    this.records.length = from - this.first;
    this.lost = this.lost.filter((g) => g.to <= from);
    if (to > from) {
      for (let seq = from; seq < to; seq++) this.records.push(undefined);
      this.lost.push({ from, to });
    }
    // Only `to` matters as an end from now on: the durable watermark is there, so no restart goes below it.
    this.appendEnds = this.appendEnds.filter((e) => e <= from);
    if (this.appendEnds[this.appendEnds.length - 1] !== to) this.appendEnds.push(to);
    this.doubtful = [];
    this.failed = false;
    this.durable = to;
  }

  /** Moves the test clock forward. */
  advanceClock(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('the test clock only moves forward');
    this.now += ms;
  }

  /** The record `seq`, or undefined when the log must not hold it (in a gap, {@link gapAt} says so). */
  get(seq: number): ModelRecord | undefined {
    return seq >= this.first ? this.records[seq - this.first] : undefined;
  }

  /** The gap holding `seq`, where `log.get(seq)` must reject with `AOF_GAP`; undefined elsewhere. */
  gapAt(seq: number): ModelGap | undefined {
    const gap = this.lost.find((g) => seq >= g.from && seq < g.to);
    return gap === undefined ? undefined : { ...gap };
  }

  /**
   * Records `[from, to)` clipped to what is held, gaps left out: everything
   * a reader that resumes after each `AOF_GAP` collects. Without gaps, what
   * `log.read({ from, to })` must yield; with them, see {@link expectedRead}.
   */
  read(from = this.first, to = this.nextSeq): ModelRecord[] {
    return this.held(Math.max(from, this.first), Math.min(to, this.nextSeq));
  }

  /**
   * What `log.read({ from, to })` (and a tail from `from` once the log holds
   * `to`) must do: yield the records up to the first gap in the range, then
   * reject with `AOF_GAP` naming that gap; without one, yield them all.
   */
  expectedRead(from = this.first, to = this.nextSeq): ExpectedRead {
    const lo = Math.max(from, this.first);
    const hi = Math.min(to, this.nextSeq);
    // An empty range reads nothing, even where it sits in a gap.
    const gap = lo >= hi ? undefined : this.lost.find((g) => g.to > lo && g.from < hi);
    return { records: this.held(lo, gap === undefined ? hi : Math.max(lo, gap.from)), gap: gap === undefined ? undefined : { ...gap } };
  }

  private held(lo: number, hi: number): ModelRecord[] {
    if (lo >= hi) return [];
    return this.records.slice(lo - this.first, hi - this.first).filter((r): r is ModelRecord => r !== undefined);
  }

  /**
   * The record a reopened log may hold at `seq`: an acknowledged one, or one
   * of the appends in doubt (in order after them); undefined in a gap.
   */
  candidate(seq: number): ModelRecord | undefined {
    const held = this.get(seq);
    if (seq < this.nextSeq) return held;
    let at = this.nextSeq;
    for (const d of this.doubtful) {
      if (seq < at + d.payloads.length) return { seq, payload: d.payloads[seq - at]!, timestamp: d.timestamp };
      at += d.payloads.length;
    }
    return undefined;
  }

  /** Which `nextSeq` a log reopened after `kind` may have. */
  survivalBounds(kind: RestartKind): SurvivalBounds {
    const min = kind === 'power-loss' ? this.durable : this.nextSeq;
    const ends = [this.first, ...this.appendEnds];
    let at = this.nextSeq;
    for (const d of this.doubtful) {
      at += d.payloads.length;
      ends.push(at);
    }
    return { min, max: at, allowed: ends.filter((e) => e >= min) };
  }

  /**
   * The log was reopened after `kind` and reports `observedNextSeq`. Throws
   * {@link ModelViolation} when that is not allowed (acknowledged records
   * lost, records that were never written, a torn batch); otherwise adopts
   * it: records in doubt that came back become acknowledged, records a
   * power loss took (under `interval`/`none`) are forgotten, and the failed
   * state is cleared. The caller then compares contents with {@link expectedRead}.
   */
  restarted(kind: RestartKind, observedNextSeq: number): void {
    const bounds = this.survivalBounds(kind);
    const n = observedNextSeq;
    if (n < bounds.min) {
      const why = kind === 'power-loss' ? (this.syncsBeforeAck ? 'acknowledged' : 'flushed, sealed or closed') : 'acknowledged';
      throw new ModelViolation(`after ${kind} the log resumes at sequence ${n}, but records up to ${bounds.min - 1} were ${why} (strategy ${this.strategy}): ${bounds.min - n} record(s) lost`);
    }
    if (n > bounds.max) throw new ModelViolation(`after ${kind} the log resumes at sequence ${n}, but only records below ${bounds.max} were ever written`);
    if (!bounds.allowed.includes(n)) throw new ModelViolation(`after ${kind} the log resumes at sequence ${n}, inside an append (a batch was torn); append boundaries: ${bounds.allowed.join(', ')}`);
    if (n < this.nextSeq) {
      this.records.length = n - this.first;
      // The bounds keep n at or past every gap (a repair made its end durable): none is cut in two.
      this.lost = this.lost.filter((g) => g.to <= n);
      this.appendEnds = this.appendEnds.filter((e) => e <= n);
    } else {
      for (const d of this.doubtful) {
        if (this.nextSeq >= n) break;
        const first = this.nextSeq;
        d.payloads.forEach((payload, i) => this.records.push({ seq: first + i, payload, timestamp: d.timestamp }));
        this.appendEnds.push(this.nextSeq);
      }
    }
    this.doubtful = [];
    this.failed = false;
    // After a power loss what is on disk is what survived. After a crash or a close, adopted records
    // may still be unsynced, unless visible must mean durable (syncing strategies, by default).
    const mustBeDurable = kind === 'power-loss' || (this.syncsBeforeAck && this.visibleImpliesDurable);
    this.durable = mustBeDurable ? n : Math.min(this.durable, n);
  }
}
