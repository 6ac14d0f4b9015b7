import type { ArchiveLocation, CatalogEntry } from '../catalog/entry.js';
import type { SegmentStatus } from '../catalog/status.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { segmentPath } from '../segment/names.js';

export type { SegmentStatus };

/** What the log reports about one segment (see `log.segments()`). */
export interface SegmentInfo {
  /** Sequence number of the first record (also the file name). */
  baseSeq: number;
  /** Sequence number after the last record. */
  nextSeq: number;
  /** Records held (a repair gap's lost numbers are not records). */
  recordCount: number;
  /** Bytes of the segment file: header and frames, and the footer once sealed. */
  bytes: number;
  /** Timestamp of the first record in ms, 0 when empty. */
  firstTimestamp: number;
  /** Timestamp of the last record in ms, 0 when empty. */
  lastTimestamp: number;
  /** Lifecycle state: `active` (receiving appends) → `sealed` → `archiving` → `archived` → `evicted` → `deleted`. */
  status: SegmentStatus;
  /** Path of the segment file (it may no longer exist once evicted or deleted). */
  file: string;
  /** Where the archive holds it, once archived. */
  archive: ArchiveLocation | null;
}

/** The view of a segment the log holds in memory (status from the file alone). */
export function toSegmentInfo(s: LoadedSegment): SegmentInfo {
  return {
    baseSeq: s.baseSeq, nextSeq: s.nextSeq, recordCount: s.recordCount, bytes: s.dataEnd + s.footerBytes,
    firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp, status: s.sealed ? 'sealed' : 'active', file: s.file, archive: null,
  };
}

/** The view of a segment from its catalog entry alone. */
export function infoFromEntry(e: CatalogEntry, dir: string): SegmentInfo {
  return {
    baseSeq: e.baseSeq, nextSeq: e.nextSeq, recordCount: e.recordCount, bytes: e.bytes,
    firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp, status: e.status, file: segmentPath(dir, e.baseSeq), archive: e.archive,
  };
}
