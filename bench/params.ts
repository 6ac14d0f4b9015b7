/** Sizes of the workloads, by mode. */
export interface Params {
  mode: 'quick' | 'default' | 'long';
  /** Records per throughput run (appends, batches). */
  n: number;
  /** Appends kept in flight by the pipelined workloads. */
  window: number;
  /** Records per appendBatch. */
  batch: number;
  /** Timed runs per figure (the median is reported), after one warm-up run. */
  runs: number;
  /** A throughput run stops after `n` records or this many ms. */
  capMs: number;
  /** A durable run (fsync-bound) stops after `n` records or this many ms. */
  durableCapMs: number;
  /** Concurrent durable producers. */
  producers: number;
  /** Records in the data set of the read workloads. */
  readN: number;
  /** Random gets per run (or `getCapMs`). */
  gets: number;
  getCapMs: number;
  /** Sealed segments of the open-time workload, and records in each. */
  openSegments: number;
  openRecordsPerSegment: number;
  /** Appends whose tail latency is measured. */
  tailSamples: number;
  /** Bytes written by the writer-RSS run. */
  rssBytes: number;
}

const MiB = 1024 * 1024;

/** The parameters of a mode. */
export function paramsFor(mode: Params['mode']): Params {
  const base: Params = {
    mode,
    n: 1_000_000,
    window: 1024,
    batch: 1000,
    runs: 3,
    capMs: 2000,
    durableCapMs: 1000,
    producers: 64,
    readN: 1_000_000,
    gets: 200_000,
    getCapMs: 1000,
    openSegments: 1000,
    openRecordsPerSegment: 1000,
    tailSamples: 2000,
    rssBytes: 512 * MiB,
  };
  if (mode === 'quick') {
    return {
      ...base,
      n: 3000,
      window: 256,
      runs: 1,
      capMs: 300,
      durableCapMs: 100,
      readN: 3000,
      gets: 1000,
      getCapMs: 200,
      openSegments: 20,
      openRecordsPerSegment: 50,
      tailSamples: 50,
      rssBytes: 4 * MiB,
    };
  }
  if (mode === 'long') {
    return { ...base, n: 5_000_000, runs: 5, capMs: 15_000, durableCapMs: 5000, readN: 5_000_000, gets: 1_000_000, getCapMs: 10_000, tailSamples: 10_000, rssBytes: 10 * 1024 * MiB };
  }
  return base;
}
