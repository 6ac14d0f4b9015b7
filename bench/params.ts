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
  /** Appends issued before one `Promise.all` in the user-shape append (issue 21). */
  userWindow: number;
  /** Records written (and then read) by the user-shape read and get workloads. */
  userReadN: number;
  /** Event store workloads (issue 19): shopping-cart streams, events in each, appendToStream calls in flight. */
  esStreams: number;
  esEventsPerStream: number;
  esInFlight: number;
  /** Whole-stream loads per timed run (or `getCapMs`). */
  esLoads: number;
  /** Fresh processes spawned per engine and run by the open-plus-first-load workload. */
  esOpenSpawns: number;
  /** The state saved by the snapshot-tick workload, and its runs (each reported). */
  snapshotMiB: number;
  snapshotRuns: number;
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
    userWindow: 10_000,
    userReadN: 1_000_000,
    esStreams: 20_000,
    esEventsPerStream: 10,
    esInFlight: 1000,
    esLoads: 20_000,
    esOpenSpawns: 3,
    snapshotMiB: 256,
    snapshotRuns: 3,
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
      userWindow: 1000,
      userReadN: 3000,
      esStreams: 200,
      esInFlight: 100,
      esLoads: 200,
      esOpenSpawns: 1,
      snapshotMiB: 8,
      snapshotRuns: 1,
    };
  }
  if (mode === 'long') {
    return { ...base, n: 5_000_000, runs: 5, capMs: 15_000, durableCapMs: 5000, readN: 5_000_000, gets: 1_000_000, getCapMs: 10_000, tailSamples: 10_000, rssBytes: 10 * 1024 * MiB, userReadN: 5_000_000, snapshotRuns: 5 };
  }
  return base;
}
