import type { IndexEntry } from './footer.js';
import type { Positions } from './positions.js';

/** A lost sequence range recorded by repair as a gap frame. */
export interface Gap {
  /** First lost sequence number. */
  from: number;
  /** First sequence number after the gap. */
  to: number;
  /** Offset of the gap frame. */
  offset: number;
}

/** The frames of a cleanly closed active segment that its open did not read, and what the close recorded about them. */
export interface UncheckedFrames {
  /** Where they end: the offset of the close marker the open removed. */
  end: number;
  /** The sequence number after them (the marker's). */
  nextSeq: number;
  /** Records among them, and the timestamps of the first and last, as the catalog recorded them at the close. */
  recordCount: number;
  firstTimestamp: number;
  lastTimestamp: number;
  /** How the check scans them. */
  indexIntervalBytes: number;
  readAheadBytes: number;
}

/**
 * What the log knows about one segment file in memory, as plain data: what
 * loaders build (from a header and footer, a scan, a catalog entry) before a
 * {@link Segment} takes it over. Nothing mutates it after that: the log's
 * segments are read through the readonly {@link LoadedSegment} view, and only
 * the `Segment` that owns the state changes it.
 */
export interface SegmentState {
  /** Sequence number of the first record; also the file name. */
  baseSeq: number;
  /** Path of the segment file. */
  file: string;
  /** Format version from the header (decides the record layout); 0 while not known (a deferred or evicted segment not yet read). */
  version: number;
  /** Version 3 sealed segments: bytes of the position table between `dataEnd` and the footer; 0 otherwise. */
  positionsBytes: number;
  /**
   * Version 3 unsealed segments: where each published record lies, kept by
   * the writer (and the recovery scan) as frames are published; undefined
   * where nobody keeps one (read-only handles, older versions): gets then
   * scan frames.
   */
  positions?: Positions | undefined;
  /** Random bytes from the header that the footer must repeat. */
  salt: Buffer;
  /** Creation time from the header, in ms. */
  createdMs: number;
  /** True once a footer was written: the file never changes again. */
  sealed: boolean;
  /** Sequence number after the last readable record. */
  nextSeq: number;
  /** Records readable (gaps not counted). */
  recordCount: number;
  /** Offset where readable frames end. */
  dataEnd: number;
  /** Timestamp of the first frame, 0 if none. */
  firstTimestamp: number;
  /** Timestamp of the last frame, 0 if none. */
  lastTimestamp: number;
  /** Sparse index (seq, offset, timestamp); grows while the segment is active. */
  index: IndexEntry[];
  /** Lost ranges that repair recorded. */
  gaps: Gap[];
  /** CRC-32 of the footer (from its trailer) once sealed. */
  footerCrc: number | undefined;
  /** Bytes of the footer once sealed, 0 while active: the file holds `dataEnd + footerBytes` bytes. */
  footerBytes: number;
  /**
   * `local` while the segment file is in `segments/`; `archive` once
   * retention evicted it: reads fetch it into the bounded local cache first,
   * and until then only the catalog's figures are known.
   */
  location: 'local' | 'archive';
  /**
   * True while something of the file must be read before the segment is:
   * for a sealed local segment opened from its catalog entry alone, its
   * header and footer (its salt and index are unknown until they are read,
   * and checked against the entry, on first use); for the active segment of
   * a cleanly closed log, its frames (see {@link UncheckedFrames}).
   */
  deferred?: boolean;
  /**
   * The active segment of a cleanly closed log, opened from its verified
   * close marker and the commit points recorded with it: the frames it held
   * then, `[64, end)`, not read yet. They are read and checked, and the
   * sparse index built, on first use (`Segment.checkFrames`).
   */
  uncheckedFrames?: UncheckedFrames;
  /** True while an evicted segment's figures (salt, index) are not yet known from a fetched copy. */
  needsFetch: boolean;
  /** Damage found after `dataEnd` that is not a torn tail: reads past `dataEnd` reject with it. */
  damage: { offset: number; reason: string } | undefined;
}

/** The public view of a segment: every field readonly. Only its owner, `Segment` (src/segment/segment.ts), changes them. */
export type LoadedSegment = {
  readonly [K in keyof SegmentState]: SegmentState[K] extends Array<infer E> ? readonly Readonly<E>[] : SegmentState[K] extends object | undefined ? Readonly<SegmentState[K]> : SegmentState[K];
};
