import { assert } from '../assert.js';
import { syncsBeforeAck, type NormalizedFlush } from './strategy.js';

/** Weight of the newest sample in the moving averages (fsync latency, gap between arrivals). */
const EWMA_WEIGHT = 0.2;
/** Gathering stops once no append arrived for this many average arrival gaps: the burst is over. */
const ARRIVAL_GAPS_PATIENCE = 2;

/**
 * Decides, for the writer, when to fdatasync: whether acknowledgements wait
 * for it, how long to keep gathering appends into one fsync, and when enough
 * is waiting to sync at once. It never makes a producer wait for a timer
 * that cannot help: gathering happens only when appends kept arriving while
 * the last fdatasync ran (producers that do not wait for their acks). A lone
 * producer, or a fixed set that each await their append, are all in the
 * batch already, and waiting would only add latency.
 */
export class FlushController {
  /** Moving average of fdatasync latency in ms. */
  private latencyMs = 0;
  private arrivalsDuringSync = false;
  /** Moving average of the time between append arrivals, in ms. */
  private arrivalGapMs = 0;
  private lastArrivalMs: number | undefined;

  /** True when appends are acknowledged only after an fdatasync covering them. */
  readonly syncBeforeAck: boolean;
  /** True for the strategies that may gather appends before an fdatasync (and so need to watch arrivals). */
  readonly gathers: boolean;

  constructor(readonly flush: NormalizedFlush) {
    // Fields, not getters: the writer asks on every append.
    this.syncBeforeAck = syncsBeforeAck(flush);
    this.gathers = flush.strategy === 'batch' || flush.strategy === 'adaptive';
  }

  /** Period of the background fdatasync, for `interval`; undefined otherwise. */
  get intervalMs(): number | undefined {
    return this.flush.strategy === 'interval' ? this.flush.intervalMs : undefined;
  }

  /** Tells the controller how long an fdatasync took and whether appends arrived meanwhile. */
  observeSync(durationMs: number, appendsArrived: boolean): void {
    assert(durationMs >= 0, 'fsync duration is non-negative');
    this.arrivalsDuringSync = appendsArrived;
    this.latencyMs = this.latencyMs === 0 ? durationMs : this.latencyMs + EWMA_WEIGHT * (durationMs - this.latencyMs);
  }

  /** Tells the controller an append arrived at `nowMs` (a monotonic clock). */
  observeArrival(nowMs: number): void {
    if (this.lastArrivalMs !== undefined) {
      const gap = nowMs - this.lastArrivalMs;
      this.arrivalGapMs = this.arrivalGapMs === 0 ? gap : this.arrivalGapMs + EWMA_WEIGHT * (gap - this.arrivalGapMs);
    }
    this.lastArrivalMs = nowMs;
  }

  /** How long gathering waits for the next arrival before deciding the burst is over, in ms. */
  arrivalPatienceMs(): number {
    return ARRIVAL_GAPS_PATIENCE * this.arrivalGapMs;
  }

  /** How long to keep gathering appends before the fdatasync, in ms (0: sync now). */
  gatherDelayMs(): number {
    if (!this.arrivalsDuringSync) return 0;
    if (this.flush.strategy === 'batch') return this.flush.maxDelayMs;
    if (this.flush.strategy === 'adaptive') return Math.max(0, this.flush.targetLatencyMs - this.latencyMs);
    return 0;
  }

  /** True when enough is waiting for an fdatasync that gathering should stop. */
  enoughGathered(records: number, bytes: number): boolean {
    if (this.flush.strategy !== 'batch') return false;
    return records >= this.flush.maxRecords || bytes >= this.flush.maxBytes;
  }
}
