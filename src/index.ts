/**
 * aof: a segmented append-only log for Node.js. Records are CRC-checksummed,
 * batched into frames, stored in rolling segment files that get a footer when
 * sealed; appends resolve per the flush strategy (docs/DURABILITY.md).
 *
 * @packageDocumentation
 */
export { Log, type ArchiveEvent, type LogEvents, type OpenReport, type ReadOptions } from './log.js';
export type { LogOptions, SegmentOptions } from './options.js';
export { DEFAULTS } from './options.js';
export type { FlushOptions } from './flush/strategy.js';
export type { LogRecord } from './read/record.js';
export type { TailOptions } from './tail/tail.js';
export type { Payload } from './record/payload.js';
export type { SegmentInfo, SegmentStatus } from './log/segment-info.js';
export type { LogMetrics } from './write/metrics.js';
export type { TailRecovery } from './recovery/recover-active.js';
export type { VerifyReport, VerifyProblem, VerifyOptions } from './recovery/verify.js';
export type { RepairReport, RepairAction, RepairOptions } from './recovery/repair.js';
export type { FileSystem, FileHandle, FileStat, OpenMode } from './fs/types.js';
export { NodeFs } from './fs/node-fs.js';
export { FsArchive, type FsArchiveOptions } from './archive/fs-archive.js';
export { S3Archive, type S3ArchiveOptions } from './archive/s3-archive.js';
export type { SegmentArchive, ArchivedObject, ArchiveCompression, SegmentSource, ArchiveCallOptions } from './archive/archive.js';
export type { RetentionOptions } from './archive/retention.js';
export type { BackoffOptions } from './archive/backoff.js';
export type { ArchiveMetrics } from './archive/archiver.js';
export {
  AofError,
  ErrorCode,
  type ErrorCodeValue,
  type ErrorLocation,
  LockedError,
  ClosedError,
  RecordTooLargeError,
  BatchTooLargeError,
  CorruptionError,
  UnsupportedFormatError,
  LogFailedError,
  IoError,
  InvalidArgumentError,
  ReadOnlyError,
  GapError,
  ForeignSegmentError,
  DataLostError,
  BehindRetentionError,
  InvariantError,
  ArchiveError,
} from './errors.js';
export { FORMAT_VERSION } from './segment/header.js';
export {
  SnapshotStore,
  type SnapshotStoreOptions,
  type SnapshotStoreEvents,
  type SnapshotInfo,
  type Snapshot,
  type SnapshotData,
  type SaveOptions,
  type BackupInfo,
  type PruneReport,
} from './snapshot/store.js';
export {
  SnapshotScheduler,
  type SnapshotSchedulerOptions,
  type SnapshotSchedulerEvents,
  type SnapshotState,
  type SnapshotReason,
  type SnapshotRequestOptions,
  type ProduceContext,
  type RestoreReport,
  type SchedulerStats,
} from './snapshot/scheduler.js';
export type { BackupOptions, BackupReport, BackupSegment } from './snapshot/backup.js';
export { SnapshotBusyError, SnapshotCorruptError, SnapshotFailedError } from './errors.js';
export { EventStore, EVENT_STORE_DEFAULTS, READ_CHUNK_VERSIONS } from './stream/event-store.js';
export { EVENT_LIMITS } from './stream/codec.js';
export { encodeEvent, decodeEvent, isEventRecord } from './stream/event-codec.js';
export { METADATA_STREAM_PREFIX, METADATA_EVENT_TYPE } from './stream/stream-metadata.js';
export type {
  EventInput,
  RecordedEvent,
  EventShape,
  MetadataOf,
  TypedRecordedEvent,
  ExpectedVersion,
  AppendOptions,
  AppendResult,
  ReadStreamOptions,
  ReadAllOptions,
  EventFilter,
  SubscribeOptions,
  EventStoreOptions,
  StreamIndexReport,
  StreamWrite,
  StreamMetadata,
  StreamMetadataResult,
  SetStreamMetadataOptions,
  StreamOperationOptions,
} from './stream/types.js';
export { WrongExpectedVersionError, IndexUnavailableError } from './errors.js';
