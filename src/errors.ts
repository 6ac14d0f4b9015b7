/**
 * Every error the engine raises on purpose is an {@link AofError} with a
 * stable `code` that callers can compare against; the message names the file
 * and byte offset wherever one exists.
 *
 * @module
 */
import { deniedAccess } from './fs/access.js';

/** Stable error codes. Never renamed: scripts and outside tests rely on them. */
export const ErrorCode = {
  /** Another writer (in this process or another) holds the directory's lock. */
  LOCKED: 'AOF_LOCKED',
  /** The log (or store) was closed; nothing more can be done with this handle. */
  CLOSED: 'AOF_CLOSED',
  /** A record is larger than `maxRecordBytes`. */
  RECORD_TOO_LARGE: 'AOF_RECORD_TOO_LARGE',
  /** A batch is larger than `maxBatchBytes` or `maxBatchRecords`. */
  BATCH_TOO_LARGE: 'AOF_BATCH_TOO_LARGE',
  /** Bytes on disk fail their checksum or structure checks. */
  CORRUPT: 'AOF_CORRUPT',
  /** A file was written by a format version this build does not understand. */
  UNSUPPORTED_FORMAT: 'AOF_UNSUPPORTED_FORMAT',
  /** An fsync failed earlier; the log refuses work until it is reopened. */
  LOG_FAILED: 'AOF_LOG_FAILED',
  /** A write or other I/O call failed; carries the errno. The log stays usable. */
  IO: 'AOF_IO',
  /** An argument or option is invalid; the message names it. */
  INVALID_ARGUMENT: 'AOF_INVALID_ARGUMENT',
  /** A write was attempted on a log opened with `readOnly: true`. */
  READ_ONLY: 'AOF_READ_ONLY',
  /** A read crossed a range of records that repair recorded as lost. */
  GAP: 'AOF_GAP',
  /** A reader's next record is no longer in the log (retention removed it): the error names the first available. */
  BEHIND_RETENTION: 'AOF_BEHIND_RETENTION',
  /** Optimistic concurrency: the stream is not at the expected version. */
  WRONG_EXPECTED_VERSION: 'AOF_WRONG_EXPECTED_VERSION',
  /** An archive tier is unreachable or failed transiently (5xx, timeout, throttling): retried with backoff. */
  ARCHIVE_UNAVAILABLE: 'AOF_ARCHIVE_UNAVAILABLE',
  /** An archive tier refused the request for good (credentials, missing bucket, permissions). */
  ARCHIVE_REJECTED: 'AOF_ARCHIVE_REJECTED',
  /** An archived object does not match what was stored (size or checksum). */
  ARCHIVE_CORRUPT: 'AOF_ARCHIVE_CORRUPT',
  /** A snapshot was requested while one is in flight and the scheduler rejects (or its bounded queue is full). */
  SNAPSHOT_BUSY: 'AOF_SNAPSHOT_BUSY',
  /** A snapshot file is damaged or truncated (bad magic, header, trailer, length or checksum). */
  SNAPSHOT_CORRUPT: 'AOF_SNAPSHOT_CORRUPT',
  /** A snapshot could not be taken or restored: the state function threw, the worker thread crashed, or the snapshot does not fit the log. */
  SNAPSHOT_FAILED: 'AOF_SNAPSHOT_FAILED',
  /** A read-only handle cannot tell acknowledged records from unacknowledged ones: the writer's commit watermark file is missing or damaged and no clean-close marker ends the data. Retry (a live writer puts it back) or open the log for writing. */
  WATERMARK_UNAVAILABLE: 'AOF_WATERMARK_UNAVAILABLE',
  /** A segment file belongs to another log (its header carries another log's identity): its records are never served as this log's. */
  FOREIGN_SEGMENT: 'AOF_FOREIGN_SEGMENT',
  /**
   * The data ends before a commit point the log recorded (catalog, clean close,
   * published watermark): acknowledged records `[from, to)` are missing (a
   * segment rolled back, deleted or cut). `Log.repair` accepts the loss as a gap.
   */
  DATA_LOST: 'AOF_DATA_LOST',
  /**
   * A read-only event store cannot serve stream reads: the writer's stream
   * index is missing or further behind the log than the reader may hold in
   * memory (`maxPendingIndexEntries`). Retry once a writer has caught its
   * index up (every writer open does), or raise the bound.
   */
  INDEX_UNAVAILABLE: 'AOF_INDEX_UNAVAILABLE',
  /** An internal invariant does not hold: a bug, never a user error. */
  INVARIANT: 'AOF_INVARIANT',
} as const;

/** One of the values of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where in the file system an error happened, when it happened in a file. */
export interface ErrorLocation {
  /** Path of the file concerned. */
  file?: string;
  /** Byte offset within `file`. */
  offset?: number;
}

/** Base class of every error the engine throws on purpose. */
export class AofError extends Error {
  /** Stable code; see {@link ErrorCode}. */
  readonly code: ErrorCodeValue;
  /** File concerned, when there is one. */
  readonly file: string | undefined;
  /** Byte offset in {@link AofError.file}, when there is one. */
  readonly offset: number | undefined;

  constructor(code: ErrorCodeValue, message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(withLocation(message, where), options);
    this.name = new.target.name;
    this.code = code;
    this.file = where.file;
    this.offset = where.offset;
  }
}

function withLocation(message: string, where: ErrorLocation): string {
  if (where.file === undefined) return message;
  const at = where.offset === undefined ? where.file : `${where.file} at offset ${where.offset}`;
  return `${message} (${at})`;
}

/** The directory is locked by another writer. */
export class LockedError extends AofError {
  /** Process id of the holder, when known. */
  readonly holderPid: number | undefined;
  constructor(message: string, where: ErrorLocation, holderPid?: number) {
    super(ErrorCode.LOCKED, message, where);
    this.holderPid = holderPid;
  }
}

/** The handle is closed. */
export class ClosedError extends AofError {
  constructor(what = 'log') {
    super(ErrorCode.CLOSED, `${what} is closed`);
  }
}

/** A record exceeds `maxRecordBytes`. */
export class RecordTooLargeError extends AofError {
  /** Size of the rejected record in bytes. */
  readonly bytes: number;
  /** The configured bound in bytes. */
  readonly limitBytes: number;
  constructor(bytes: number, limitBytes: number, index?: number) {
    const which = index === undefined ? 'record' : `record ${index} of the batch`;
    super(ErrorCode.RECORD_TOO_LARGE, `${which} is ${bytes} bytes, over maxRecordBytes = ${limitBytes}`);
    this.bytes = bytes;
    this.limitBytes = limitBytes;
  }
}

/** A batch exceeds `maxBatchBytes` or `maxBatchRecords`. */
export class BatchTooLargeError extends AofError {
  constructor(message: string) {
    super(ErrorCode.BATCH_TOO_LARGE, message);
  }
}

/** Damaged bytes on disk. Never returned as data, never silently dropped. */
export class CorruptionError extends AofError {
  constructor(message: string, where: ErrorLocation) {
    super(ErrorCode.CORRUPT, message, where);
  }
}

/** A file of a format version this build cannot read. */
export class UnsupportedFormatError extends AofError {
  /** The version found in the file. */
  readonly version: number;
  constructor(version: number, where: ErrorLocation) {
    super(ErrorCode.UNSUPPORTED_FORMAT, `unsupported format version ${version}`, where);
    this.version = version;
  }
}

/** The log is in the failed state after an fsync failure; reopen to clear. */
export class LogFailedError extends AofError {
  /** errno code of the failure that put the log in the failed state (e.g. `EIO`). */
  readonly errno: string | undefined;
  constructor(message: string, cause: unknown, where: ErrorLocation = {}) {
    super(ErrorCode.LOG_FAILED, message, where, { cause });
    this.errno = errnoOf(cause);
  }
}

/** An I/O call failed. The append that hit it was rejected and its partial bytes cut off. */
export class IoError extends AofError {
  /** errno code of the failed call (e.g. `ENOSPC`). */
  readonly errno: string | undefined;
  /** For a permission error (EACCES, EPERM): the access that was refused, naming the path (e.g. `read access to /logs/a/segments/…seg`). */
  readonly access: string | undefined;
  constructor(message: string, cause: unknown, where: ErrorLocation = {}) {
    const errno = errnoOf(cause);
    const access = deniedAccess(cause);
    const detail = errno === undefined ? '' : access === undefined ? `: ${errno}` : `: ${errno}, permission denied: needs ${access}`;
    super(ErrorCode.IO, `${message}${detail}`, where, { cause });
    this.errno = errno;
    this.access = access;
  }
}

/** An argument or option is invalid. */
export class InvalidArgumentError extends AofError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.INVALID_ARGUMENT, message, {}, options);
  }
}

/**
 * A read-only handle found frames past what it has seen, but no valid commit
 * watermark (and no clean-close marker) to say which were acknowledged: it
 * returns none of them rather than guess. A live writer puts the watermark
 * back; a writer's open recovers a crashed log and publishes a new one.
 */
export class WatermarkUnavailableError extends AofError {
  /** `missing`: no watermark file; `damaged`: it does not hold a whole, checksummed value. */
  readonly reason: 'missing' | 'damaged';
  constructor(reason: 'missing' | 'damaged', detail: string, file: string) {
    super(ErrorCode.WATERMARK_UNAVAILABLE, `the commit watermark is ${reason}${detail === '' ? '' : ` (${detail})`} and no clean-close marker ends the data: records past the last one seen cannot be told from unacknowledged ones, so none are returned; retry once the writer republishes it, or open the log for writing to recover it`, { file });
    this.reason = reason;
  }
}

/** A write on a read-only handle. */
export class ReadOnlyError extends AofError {
  constructor() {
    super(ErrorCode.READ_ONLY, 'log is opened read-only');
  }
}

/**
 * A read reached records that `Log.repair(dir, { mode: 'skip' })` recorded as
 * lost. Resume with `read({ from: err.to })`.
 */
export class GapError extends AofError {
  /** First lost sequence number. */
  readonly from: number;
  /** First sequence number after the gap. */
  readonly to: number;
  constructor(from: number, to: number, where: ErrorLocation) {
    super(ErrorCode.GAP, `records ${from}..${to - 1} were lost to corruption and cut out by repair`, where);
    this.from = from;
    this.to = to;
  }
}

/** A segment file carries another log's identity (or none where this log's is required); see docs/FORMAT.md, "Log identity". */
export class ForeignSegmentError extends AofError {
  constructor(message: string, where: ErrorLocation) {
    super(ErrorCode.FOREIGN_SEGMENT, message, where);
  }
}

/**
 * The data ends before what the log had acknowledged: records `[from, to)`
 * are missing. Raised by `Log.open` instead of carrying on (and giving their
 * sequence numbers to new records); `Log.repair` records them as a gap.
 */
export class DataLostError extends AofError {
  /** First missing sequence number. */
  readonly from: number;
  /** The sequence number after the last missing one (the recorded commit point). */
  readonly to: number;
  /** Which record said the log reached `to`: `catalog`, `clean close`, `watermark`. */
  readonly witness: string;
  constructor(from: number, to: number, witness: string, where: ErrorLocation) {
    super(ErrorCode.DATA_LOST, `acknowledged records ${from}..${to - 1} are missing: the data ends at sequence ${from} but the ${witness} recorded ${to} (a segment rolled back to an older copy, deleted or cut); run Log.repair to accept the loss as a gap`, where);
    this.from = from;
    this.to = to;
    this.witness = witness;
  }
}

/** A reader is behind the start of the log: its next record was removed (retention, repair). */
export class BehindRetentionError extends AofError {
  /** The sequence number the reader wanted. */
  readonly wanted: number;
  /** The first sequence number the log still holds. */
  readonly firstAvailable: number;
  constructor(wanted: number, firstAvailable: number) {
    super(ErrorCode.BEHIND_RETENTION, `record ${wanted} is no longer in the log; the first available is ${firstAvailable}`);
    this.wanted = wanted;
    this.firstAvailable = firstAvailable;
  }
}

/** An archive tier failed; `retryable` says whether the archiver retries it. Never carries credentials. */
export class ArchiveError extends AofError {
  /** True for transient failures (the archiver retries with backoff). */
  readonly retryable: boolean;
  constructor(code: typeof ErrorCode.ARCHIVE_UNAVAILABLE | typeof ErrorCode.ARCHIVE_REJECTED | typeof ErrorCode.ARCHIVE_CORRUPT, message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(code, message, where, options);
    this.retryable = code === ErrorCode.ARCHIVE_UNAVAILABLE;
  }
}

/** A snapshot request met a snapshot in flight: the scheduler rejects, or its bounded queue is full. */
export class SnapshotBusyError extends AofError {
  /** Requests waiting when this one was refused. */
  readonly queued: number;
  constructor(message: string, queued: number) {
    super(ErrorCode.SNAPSHOT_BUSY, message);
    this.queued = queued;
  }
}

/** A damaged or truncated snapshot file: `file` and `offset` say where, `reason` what. */
export class SnapshotCorruptError extends AofError {
  /** The snapshot's name. */
  readonly snapshot: string;
  /** What is wrong, without the location. */
  readonly reason: string;
  /** Where `latest()` moved the file (under the store's `recovery/`), once moved. */
  movedTo: string | undefined;
  constructor(snapshot: string, reason: string, where: ErrorLocation) {
    super(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${snapshot} is damaged: ${reason}`, where);
    this.snapshot = snapshot;
    this.reason = reason;
    this.movedTo = undefined;
  }
}

/** A snapshot failed for a reason other than I/O (which is `AOF_IO`): `stage` says where. */
export class SnapshotFailedError extends AofError {
  /** `produce`: the application's state function threw; `apply`/`replay`: restoring threw; `worker`: the worker thread crashed; `restore`: the snapshot does not fit the log. */
  readonly stage: 'produce' | 'apply' | 'replay' | 'worker' | 'restore';
  constructor(stage: SnapshotFailedError['stage'], message: string, options?: { cause?: unknown; file?: string }) {
    super(ErrorCode.SNAPSHOT_FAILED, message, { file: options?.file }, { cause: options?.cause });
    this.stage = stage;
  }
}

/**
 * Optimistic concurrency: `appendToStream` was told to expect the stream at a
 * version it is no longer (or not yet) at. Nothing was written.
 */
export class WrongExpectedVersionError extends AofError {
  /** The stream appended to. */
  readonly stream: string;
  /** What the caller expected: the version of the stream's last event, `'no_stream'` or `'stream_exists'`. */
  readonly expected: number | 'no_stream' | 'stream_exists' | 'any';
  /** The version of the stream's last event when the append was decided, or `'no_stream'` when it had none. */
  readonly actual: number | 'no_stream';
  constructor(stream: string, expected: number | 'no_stream' | 'stream_exists' | 'any', actual: number | 'no_stream', detail?: string) {
    const shown = stream.length > 80 ? `${stream.slice(0, 80)}...` : stream;
    super(ErrorCode.WRONG_EXPECTED_VERSION, `stream ${JSON.stringify(shown)} was expected at ${String(expected)} but is at ${String(actual)}${detail === undefined ? '' : ` (${detail})`}`);
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A read-only event store cannot find a stream's events without holding more than its bound in memory: see `ErrorCode.INDEX_UNAVAILABLE`. */
export class IndexUnavailableError extends AofError {
  constructor(message: string, where: ErrorLocation = {}) {
    super(ErrorCode.INDEX_UNAVAILABLE, message, where);
  }
}

/** An internal invariant failed: a bug in aof. */
export class InvariantError extends AofError {
  constructor(message: string) {
    super(ErrorCode.INVARIANT, `invariant violated: ${message}`);
  }
}

/** The errno code (`'ENOSPC'`, ...) carried by a Node.js system error, if any. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
  }
  return undefined;
}

/**
 * Passes an {@link AofError} through; wraps anything else (a raw system error
 * from the file system) in an {@link IoError} naming the path it concerns.
 */
export function toAofError(err: unknown, message: string, file?: string): AofError {
  if (err instanceof AofError) return err;
  const path = (err as { path?: unknown } | null)?.path;
  return new IoError(message, err, { file: typeof path === 'string' ? path : file });
}
