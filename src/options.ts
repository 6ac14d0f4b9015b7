import { InvalidArgumentError } from './errors.js';
import type { FileSystem } from './fs/types.js';
import { nodeFs } from './fs/node-fs.js';
import type { FlushOptions } from './flush/strategy.js';
import { checkPath, positiveInt } from './validate.js';
import type { SegmentArchive } from './archive/archive.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './archive/backoff.js';
import { normalizeRetention, type RetentionOptions } from './archive/retention.js';
import { ARCHIVE_CACHE_MAX_BYTES_DEFAULT } from './archive/segment-cache.js';
import { normalizeFlushOptions, type NormalizedFlush } from './flush/strategy.js';

/** When the active segment is sealed and a new one started. */
export interface SegmentOptions {
  /**
   * Roll before the segment's header and frames would exceed this many bytes
   * (default 64 MiB); the footer written at sealing comes on top (64 + 16
   * bytes plus 24 per index entry). A single larger frame gets a segment of
   * its own.
   */
  maxBytes?: number;
  /** Roll once the segment holds this many records (default unbounded). */
  maxRecords?: number;
  /** Roll an append that arrives when the segment is older than this (default unbounded). */
  maxAgeMs?: number;
  /** Bytes of data between sparse-index entries (default 4096): the most a lookup scans. */
  indexIntervalBytes?: number;
  /**
   * Bytes the active segment is extended by ahead of the write position,
   * under the flush strategies that fdatasync before acknowledging (default
   * 1 MiB; 0 disables). An fdatasync that need not record a new file
   * size is cheaper: on the disk this was measured on, about 40% more
   * fdatasyncs per second. Recovery cuts the zero-filled space off.
   */
  preallocateBytes?: number;
}

/** Options of {@link Log.open}. Every bound has a default; see docs/DURABILITY.md for `flush`. */
export interface LogOptions {
  /** Segment rolling. */
  segment?: SegmentOptions;
  /** Flush strategy (default `{ strategy: 'batch', maxDelayMs: 2 }`: every acknowledged record is on stable storage; see docs/DURABILITY.md). */
  flush?: FlushOptions;
  /** Largest record accepted, in bytes (default 16 MiB). */
  maxRecordBytes?: number;
  /** Largest `appendBatch` in total payload bytes (default 64 MiB). */
  maxBatchBytes?: number;
  /** Most records in one `appendBatch` (default 1,000,000). */
  maxBatchRecords?: number;
  /** Bytes accepted but not yet written before further appends wait (default 16 MiB). */
  maxPendingBytes?: number;
  /** Size of the reusable buffer appends are copied into before one write (default 1 MiB). */
  writeBufferBytes?: number;
  /**
   * Under the flush strategies that do not sync before acknowledging (`none`,
   * `interval`): once this many bytes are written and not yet synced, an
   * fdatasync starts in the background, without holding appends up (default
   * 8 MiB; 0: never; one at a time). The sync when a segment is sealed (and
   * at close) then finds only what was written since the last one began,
   * instead of the whole segment. It promises nothing more: see
   * docs/DURABILITY.md.
   */
  writebackBytes?: number;
  /** Read-ahead window of readers and scans, in bytes (default 256 KiB). */
  readAheadBytes?: number;
  /**
   * Most descriptors this handle holds open on segment files for reading, at
   * any moment (default 64): readers, tail and read iterators, a read-only
   * handle's follower, archive fetches and uploads, and backups all share
   * them; the writer's active segment comes on top. A paused iterator holds
   * none; a read that finds every one busy waits for one (never fails).
   */
  maxOpenFiles?: number;
  /**
   * Appends' writes and readers' windows of at most this many bytes are done
   * with pwrite/pread on the calling thread (default 256 KiB; 0: always
   * through libuv's thread pool). A write lands in the page cache and a read
   * of recent data is served from it in microseconds, less than a thread-pool
   * round trip; a read of data not in the page cache waits for the disk on
   * the event loop, as a memory-mapped store such as LMDB does. Under the
   * `always` flush strategy, an fdatasync covering at most this many written
   * bytes runs on the calling thread too (as LMDB's synchronous commits do):
   * a producer awaiting each append then waits for the disk, not also for a
   * thread-pool round trip.
   */
  syncIoMaxBytes?: number;
  /**
   * Memory for the position tables of sealed segments (format version 3),
   * in bytes (default 16 MiB, about 4 million records' positions): a
   * `get` in a sealed segment reads its table once (one read) and keeps it,
   * least recently used segment out first. 0: no table is kept and each get
   * reads its segment's table again. The active segment's table is the
   * writer's and is not counted here.
   */
  positionCacheBytes?: number;
  /**
   * How often a read-only handle following a writer in another process polls
   * its watermark while a tail reader waits, in ms (default 25): the fallback
   * where `fs.watch` delivers no events.
   */
  tailPollIntervalMs?: number;
  /** Open without the writer lock, for reading only (another process may be writing). */
  readOnly?: boolean;
  /** Permission bits of files the log creates (default 0o600, owner only). */
  fileMode?: number;
  /** Permission bits of directories the log creates (default 0o700, owner only). */
  dirMode?: number;
  /** File-system adapter (default: the real one). `FaultFs` from `aof/testing` injects faults. */
  fs?: FileSystem;
  /** Clock in ms since the epoch (default `Date.now`); the log never lets timestamps go backwards. */
  clock?: () => number;
  /** Archive tier for sealed segments: `new FsArchive(dir)` or `new S3Archive({...})`. */
  archive?: SegmentArchive;
  /**
   * Local retention. With an archive, local copies of archived segments are
   * evicted (and fetched back on demand); without one, configuring retention
   * is asking for deletion. Pinned records are never removed.
   */
  retention?: RetentionOptions;
  /** Retention of the archive itself: the oldest archived segments beyond these bounds are deleted for good (never pinned ones). */
  archiveRetention?: RetentionOptions;
  /** Where segments fetched back from the archive are kept (default `<dir>/cache`). */
  archiveCacheDir?: string;
  /** Bound of that cache in bytes (default 256 MiB). */
  archiveCacheMaxBytes?: number;
  /**
   * The local-disk bound of the archive queue: when sealed segments not yet
   * archived hold this many bytes, the writer waits before sealing another
   * (appends wait, then back-pressure through `maxPendingBytes`) until uploads
   * catch up (default 4 GiB). Until then the archive never slows appends.
   */
  archiveMaxQueuedBytes?: number;
  /** Retry delays of failed uploads: exponential from `baseMs` to `maxMs`, with jitter (default 100 ms to 30 s). */
  archiveRetry?: Partial<BackoffOptions>;
}

/** Options with every default applied. */
export interface NormalizedOptions {
  segment: Required<SegmentOptions>;
  flush: NormalizedFlush;
  maxRecordBytes: number;
  maxBatchBytes: number;
  maxBatchRecords: number;
  maxPendingBytes: number;
  writeBufferBytes: number;
  writebackBytes: number;
  readAheadBytes: number;
  maxOpenFiles: number;
  syncIoMaxBytes: number;
  positionCacheBytes: number;
  tailPollIntervalMs: number;
  readOnly: boolean;
  fileMode: number;
  dirMode: number;
  fs: FileSystem;
  clock: () => number;
  archive: SegmentArchive | undefined;
  retention: RetentionOptions | undefined;
  archiveRetention: RetentionOptions | undefined;
  archiveCacheDir: string | undefined;
  archiveCacheMaxBytes: number;
  archiveMaxQueuedBytes: number;
  archiveRetry: BackoffOptions;
}

/** Default bounds, each named with its unit. */
export const DEFAULTS = {
  segmentMaxBytes: 64 * 1024 * 1024,
  segmentMaxRecords: Number.MAX_SAFE_INTEGER,
  segmentMaxAgeMs: Number.MAX_SAFE_INTEGER,
  indexIntervalBytes: 4096,
  preallocateBytes: 1024 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
  maxBatchBytes: 64 * 1024 * 1024,
  maxBatchRecords: 1_000_000,
  maxPendingBytes: 16 * 1024 * 1024,
  writeBufferBytes: 1024 * 1024,
  writebackBytes: 8 * 1024 * 1024,
  readAheadBytes: 256 * 1024,
  maxOpenFiles: 64,
  syncIoMaxBytes: 256 * 1024,
  positionCacheBytes: 16 * 1024 * 1024,
  tailPollIntervalMs: 25,
  archiveMaxQueuedBytes: 4 * 1024 * 1024 * 1024,
  fileMode: 0o600,
  dirMode: 0o700,
} as const;

/** Largest value accepted for byte-size options: frames never exceed 1 GiB. */
const BYTES_OPTION_MAX = 0x4000_0000;

/** Validates options and fills in defaults; names the offending option in the error. */
export function normalizeOptions(options: LogOptions | undefined): NormalizedOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidArgumentError('options must be an object');
  const o = options ?? {};
  const seg = o.segment ?? {};
  if (typeof seg !== 'object' || seg === null) throw new InvalidArgumentError('option segment must be an object');
  const n: NormalizedOptions = {
    segment: {
      maxBytes: positiveInt('segment.maxBytes', seg.maxBytes, DEFAULTS.segmentMaxBytes, Number.MAX_SAFE_INTEGER),
      maxRecords: positiveInt('segment.maxRecords', seg.maxRecords, DEFAULTS.segmentMaxRecords, Number.MAX_SAFE_INTEGER),
      maxAgeMs: positiveInt('segment.maxAgeMs', seg.maxAgeMs, DEFAULTS.segmentMaxAgeMs, Number.MAX_SAFE_INTEGER),
      indexIntervalBytes: positiveInt('segment.indexIntervalBytes', seg.indexIntervalBytes, DEFAULTS.indexIntervalBytes, BYTES_OPTION_MAX),
      preallocateBytes: positiveInt('segment.preallocateBytes', seg.preallocateBytes, DEFAULTS.preallocateBytes, BYTES_OPTION_MAX, true),
    },
    flush: normalizeFlushOptions(o.flush),
    maxRecordBytes: positiveInt('maxRecordBytes', o.maxRecordBytes, DEFAULTS.maxRecordBytes, BYTES_OPTION_MAX / 2, true),
    maxBatchBytes: positiveInt('maxBatchBytes', o.maxBatchBytes, DEFAULTS.maxBatchBytes, BYTES_OPTION_MAX / 2),
    maxBatchRecords: positiveInt('maxBatchRecords', o.maxBatchRecords, DEFAULTS.maxBatchRecords, 0xffff_ffff),
    maxPendingBytes: positiveInt('maxPendingBytes', o.maxPendingBytes, DEFAULTS.maxPendingBytes, Number.MAX_SAFE_INTEGER),
    writeBufferBytes: positiveInt('writeBufferBytes', o.writeBufferBytes, DEFAULTS.writeBufferBytes, BYTES_OPTION_MAX),
    writebackBytes: positiveInt('writebackBytes', o.writebackBytes, DEFAULTS.writebackBytes, Number.MAX_SAFE_INTEGER, true),
    readAheadBytes: positiveInt('readAheadBytes', o.readAheadBytes, DEFAULTS.readAheadBytes, BYTES_OPTION_MAX),
    maxOpenFiles: positiveInt('maxOpenFiles', o.maxOpenFiles, DEFAULTS.maxOpenFiles, 1 << 16),
    syncIoMaxBytes: positiveInt('syncIoMaxBytes', o.syncIoMaxBytes, DEFAULTS.syncIoMaxBytes, BYTES_OPTION_MAX, true),
    positionCacheBytes: positiveInt('positionCacheBytes', o.positionCacheBytes, DEFAULTS.positionCacheBytes, Number.MAX_SAFE_INTEGER, true),
    tailPollIntervalMs: positiveInt('tailPollIntervalMs', o.tailPollIntervalMs, DEFAULTS.tailPollIntervalMs, 60_000),
    readOnly: bool('readOnly', o.readOnly, false),
    fileMode: mode('fileMode', o.fileMode, DEFAULTS.fileMode),
    dirMode: mode('dirMode', o.dirMode, DEFAULTS.dirMode),
    fs: fileSystem(o.fs),
    clock: clock(o.clock),
    archive: archiveTier(o.archive),
    retention: normalizeRetention(o.retention),
    archiveRetention: normalizeRetention(o.archiveRetention, 'archiveRetention'),
    archiveCacheDir: o.archiveCacheDir === undefined ? undefined : nonEmptyString('archiveCacheDir', o.archiveCacheDir),
    archiveCacheMaxBytes: positiveInt('archiveCacheMaxBytes', o.archiveCacheMaxBytes, ARCHIVE_CACHE_MAX_BYTES_DEFAULT, Number.MAX_SAFE_INTEGER),
    archiveMaxQueuedBytes: positiveInt('archiveMaxQueuedBytes', o.archiveMaxQueuedBytes, DEFAULTS.archiveMaxQueuedBytes, Number.MAX_SAFE_INTEGER),
    archiveRetry: {
      baseMs: positiveInt('archiveRetry.baseMs', o.archiveRetry?.baseMs, DEFAULT_BACKOFF.baseMs, 3_600_000),
      maxMs: positiveInt('archiveRetry.maxMs', o.archiveRetry?.maxMs, DEFAULT_BACKOFF.maxMs, 86_400_000),
    },
  };
  return n;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`option ${name} must be a boolean, got ${typeof value}`);
  return value;
}

function mode(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0o777) throw new InvalidArgumentError(`option ${name} must be permission bits from 0 to 0o777, got ${String(value)}`);
  return value;
}

function fileSystem(value: unknown): FileSystem {
  if (value === undefined) return nodeFs;
  const f = value as Partial<FileSystem>;
  const needed = ['open', 'readdir', 'mkdir', 'rename', 'unlink', 'link', 'rmdir', 'stat', 'lstat', 'syncDir'] as const;
  if (typeof value !== 'object' || value === null || needed.some((k) => typeof f[k] !== 'function')) {
    throw new InvalidArgumentError(`option fs must implement ${needed.join(', ')}`);
  }
  return value as FileSystem;
}

function archiveTier(value: unknown): SegmentArchive | undefined {
  if (value === undefined) return undefined;
  const a = value as Partial<SegmentArchive>;
  const needed = ['put', 'verify', 'fetch', 'delete', 'list'] as const;
  if (typeof value !== 'object' || value === null || needed.some((k) => typeof a[k] !== 'function')) {
    throw new InvalidArgumentError(`option archive must be an archive tier (FsArchive, S3Archive) implementing ${needed.join(', ')}`);
  }
  return value as SegmentArchive;
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`option ${name} must be a non-empty path`);
  return checkPath(`option ${name}`, value);
}

function clock(value: unknown): () => number {
  if (value === undefined) return Date.now;
  if (typeof value !== 'function') throw new InvalidArgumentError('option clock must be a function returning ms since the epoch');
  return value as () => number;
}
