import { assert } from '../assert.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import type { SegmentStatus } from './status.js';

/** Where an archived segment lives. */
export interface ArchiveLocation {
  /** Tier-specific location (a path, an `s3://bucket/key` URL). */
  location: string;
  /** When it was verified in the archive, ms since the epoch. */
  archivedMs: number;
}

/** One catalog record: everything but `status` and `archive` can be rebuilt from the segment file. */
export interface CatalogEntry {
  baseSeq: number;
  /** Sequence number after the last record. */
  nextSeq: number;
  recordCount: number;
  /** File size in bytes (footer included once sealed). */
  bytes: number;
  firstTimestamp: number;
  lastTimestamp: number;
  status: SegmentStatus;
  /** CRC-32 of the footer once sealed (from its trailer), null while active. */
  footerCrc: number | null;
  /** Creation time from the segment header. */
  createdMs: number;
  /** Set once archived. */
  archive: ArchiveLocation | null;
}

/** The entry a segment file implies (status active or sealed, no archive). */
export function entryFromSegment(s: LoadedSegment, bytes: number): CatalogEntry {
  return {
    baseSeq: s.baseSeq, nextSeq: s.nextSeq, recordCount: s.recordCount, bytes,
    firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp,
    status: s.sealed ? 'sealed' : 'active', footerCrc: s.sealed ? (s.footerCrc ?? null) : null, createdMs: s.createdMs, archive: null,
  };
}

/** Why an entry's values are impossible on their own, or undefined. */
export function impossibleEntry(e: CatalogEntry): string | undefined {
  if (!Number.isSafeInteger(e.baseSeq) || e.baseSeq < 0) return 'base sequence out of range';
  if (!(e.nextSeq >= e.baseSeq)) return `next sequence ${e.nextSeq} is below the base ${e.baseSeq}`;
  if (!(e.recordCount >= 0 && e.recordCount <= e.nextSeq - e.baseSeq)) return `record count ${e.recordCount} does not fit the range`;
  if (!(e.lastTimestamp >= e.firstTimestamp)) return 'last timestamp is before the first';
  return undefined;
}

/** The fields a file determines, compared; returns what differs. */
export function fileFactsDiffer(catalog: CatalogEntry, file: CatalogEntry): string | undefined {
  assert(catalog.baseSeq === file.baseSeq, 'entries compared for the same segment');
  const fields = ['nextSeq', 'recordCount', 'firstTimestamp', 'lastTimestamp', 'createdMs'] as const;
  const differing = fields.filter((f) => catalog[f] !== file[f]);
  if (file.status === 'sealed' && (catalog.bytes !== file.bytes || catalog.footerCrc !== file.footerCrc)) differing.push('bytes' as never);
  return differing.length === 0 ? undefined : `catalog disagrees with the file on ${differing.join(', ')}`;
}

/** True when an active segment's stored entry already says what its file says: rewriting it would only cost a commit. */
export function activeEntryCurrent(stored: CatalogEntry | undefined, fromFile: CatalogEntry): boolean {
  return stored !== undefined && stored.status === 'active' && impossibleEntry(stored) === undefined && fileFactsDiffer(stored, fromFile) === undefined && stored.bytes === fromFile.bytes;
}
