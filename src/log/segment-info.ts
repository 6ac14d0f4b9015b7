import type { LoadedSegment } from '../segment/loaded-segment.js';

/** Lifecycle state of a segment. */
export type SegmentStatus = 'active' | 'sealed';

/** What the log reports about one segment (see `log.segments()`). */
export interface SegmentInfo {
  /** Sequence number of the first record (also the file name). */
  baseSeq: number;
  /** Sequence number after the last record. */
  nextSeq: number;
  /** Records held (a repair gap's lost numbers are not records). */
  recordCount: number;
  /** Bytes of frame data, header included, footer excluded. */
  bytes: number;
  /** Timestamp of the first record in ms, 0 when empty. */
  firstTimestamp: number;
  /** Timestamp of the last record in ms, 0 when empty. */
  lastTimestamp: number;
  /** `active` (receiving appends, or the unsealed tail) or `sealed` (has its footer, never changes). */
  status: SegmentStatus;
  /** Path of the segment file. */
  file: string;
}

/** The public view of a loaded segment. */
export function toSegmentInfo(s: LoadedSegment): SegmentInfo {
  return {
    baseSeq: s.baseSeq, nextSeq: s.nextSeq, recordCount: s.recordCount, bytes: s.dataEnd,
    firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp, status: s.sealed ? 'sealed' : 'active', file: s.file,
  };
}
