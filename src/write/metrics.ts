import { assert } from '../assert.js';
import type { ArchiveMetrics } from '../archive/archiver.js';

/** Fsync latency samples kept for percentiles (a ring: the most recent ones). */
export const LATENCY_SAMPLES_MAX = 4096;

/** A snapshot of the writer's counters, returned by `log.metrics()`. */
export interface LogMetrics {
  /** Records acknowledged since open. */
  records: number;
  /** Append calls acknowledged since open. */
  appends: number;
  /** write(2) calls of frames (each may carry many appends). */
  writes: number;
  /** Frame bytes written since open. */
  bytesWritten: number;
  /** fdatasync calls on data. */
  fsyncs: number;
  /** fsync latency in ms over the most recent samples. */
  fsyncLatencyMs: { p50: number; p99: number; max: number };
  /** Mean records and bytes covered by one fsync. */
  recordsPerFsync: number;
  bytesPerFsync: number;
  /** Mean append calls per write (how much group commit coalesced). */
  appendsPerWrite: number;
  /** Bytes accepted and not yet written, now and at most. */
  pendingBytes: number;
  pendingBytesMax: number;
  /** Appends that had to wait for room (back-pressure), in total. */
  appendsWaited: number;
  /** Failed writes (each rejected its append and was cut back). */
  writeErrors: number;
  /** Segments rolled since open. */
  rolls: number;
  /** True once an fsync failed: the log rejects work until reopened. */
  failed: boolean;
  /** The archive tier: queue, uploads, failures, and the cache of fetched segments (zeros without an archive). */
  archive?: ArchiveMetrics & { cacheBytes: number; fetches: number };
}

/** Counters kept by the writer; cheap to update on every write. */
export class WriterMetrics {
  records = 0;
  appends = 0;
  writes = 0;
  bytesWritten = 0;
  fsyncs = 0;
  syncedRecords = 0;
  syncedBytes = 0;
  pendingBytes = 0;
  pendingBytesMax = 0;
  appendsWaited = 0;
  writeErrors = 0;
  rolls = 0;
  private readonly latencies = new Float64Array(LATENCY_SAMPLES_MAX);
  private latencyCount = 0;
  private latencyMax = 0;

  observeWrite(records: number, bytes: number, appends: number): void {
    this.records += records;
    this.appends += appends;
    this.writes++;
    this.bytesWritten += bytes;
  }

  observeSync(durationMs: number, records: number, bytes: number): void {
    assert(durationMs >= 0, 'fsync duration is non-negative');
    this.fsyncs++;
    this.syncedRecords += records;
    this.syncedBytes += bytes;
    this.latencies[this.latencyCount % LATENCY_SAMPLES_MAX] = durationMs;
    this.latencyCount++;
    this.latencyMax = Math.max(this.latencyMax, durationMs);
  }

  observePending(pendingBytes: number, waiting: number): void {
    this.pendingBytes = pendingBytes;
    this.pendingBytesMax = Math.max(this.pendingBytesMax, pendingBytes);
    if (waiting > 0) this.appendsWaited++;
  }

  snapshot(failed: boolean, pendingBytes: number): LogMetrics {
    const n = Math.min(this.latencyCount, LATENCY_SAMPLES_MAX);
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    const pick = (q: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!);
    return {
      records: this.records, appends: this.appends, writes: this.writes, bytesWritten: this.bytesWritten, fsyncs: this.fsyncs,
      fsyncLatencyMs: { p50: pick(0.5), p99: pick(0.99), max: this.latencyMax },
      recordsPerFsync: this.fsyncs === 0 ? 0 : this.syncedRecords / this.fsyncs,
      bytesPerFsync: this.fsyncs === 0 ? 0 : this.syncedBytes / this.fsyncs,
      appendsPerWrite: this.writes === 0 ? 0 : this.appends / this.writes,
      pendingBytes, pendingBytesMax: this.pendingBytesMax, appendsWaited: this.appendsWaited,
      writeErrors: this.writeErrors, rolls: this.rolls, failed,
    };
  }
}

/** The metrics of a handle that does not write (read-only). */
export function emptyMetrics(): LogMetrics {
  return {
    records: 0, appends: 0, writes: 0, bytesWritten: 0, fsyncs: 0, fsyncLatencyMs: { p50: 0, p99: 0, max: 0 },
    recordsPerFsync: 0, bytesPerFsync: 0, appendsPerWrite: 0, pendingBytes: 0, pendingBytesMax: 0, appendsWaited: 0,
    writeErrors: 0, rolls: 0, failed: false,
  };
}
