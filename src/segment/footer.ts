import { assert } from '../assert.js';
import { CorruptionError } from '../errors.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/**
 * The footer written when a segment is sealed: summary, sparse index and a
 * fixed-size trailer read from the end of the file. Layout in docs/FORMAT.md,
 * "Footer".
 *
 * @module
 */

/** Offset of the first frame (the header's size; not imported, to keep this module free of header concerns). */
const SEGMENT_DATA_START = 64;

/** Bytes before the index entries. */
export const FOOTER_FIXED_BYTES = 64;
/** Bytes per sparse-index entry (seq, offset, timestamp). */
export const INDEX_ENTRY_BYTES = 24;
/** Bytes of the trailer at the very end of a sealed segment. */
export const TRAILER_BYTES = 16;
/** Magic at the start of the footer. */
export const FOOTER_MAGIC = Buffer.from('AOFFOOTR', 'latin1').subarray(0, 4);
/** Magic in the last eight bytes of a sealed segment. */
export const TRAILER_MAGIC = Buffer.from('AOFSEAL1', 'latin1');

/** One sparse-index entry: the frame at `offset` starts with record `seq`, appended at `timestamp`. */
export interface IndexEntry {
  seq: number;
  offset: number;
  timestamp: number;
}

/** What a footer says about its segment. */
export interface SegmentSummary {
  /** Records stored (a gap's lost sequence numbers are not records). */
  recordCount: number;
  /** First sequence number covered (the base). */
  firstSeq: number;
  /** Sequence number after the last one covered. */
  nextSeq: number;
  /** Timestamp of the first frame (0 when empty). */
  firstTimestamp: number;
  /** Timestamp of the last frame (0 when empty). */
  lastTimestamp: number;
  /** Offset where frame data ends and the footer begins. */
  dataEnd: number;
  /** Sparse index, ordered by seq and offset. */
  index: IndexEntry[];
}

/** Encodes the footer (trailer included) for a segment with header salt `salt`. */
export function encodeFooter(summary: SegmentSummary, salt: Buffer): Buffer {
  assert(summary.nextSeq >= summary.firstSeq, 'footer nextSeq >= firstSeq');
  const bytes = FOOTER_FIXED_BYTES + summary.index.length * INDEX_ENTRY_BYTES + TRAILER_BYTES;
  const out = Buffer.alloc(bytes);
  FOOTER_MAGIC.copy(out, 0);
  out.writeUInt32LE(summary.index.length, 4);
  writeU64(out, 8, summary.recordCount);
  writeU64(out, 16, summary.firstSeq);
  writeU64(out, 24, summary.nextSeq);
  writeU64(out, 32, summary.firstTimestamp);
  writeU64(out, 40, summary.lastTimestamp);
  writeU64(out, 48, summary.dataEnd);
  salt.copy(out, 56);
  let at = FOOTER_FIXED_BYTES;
  for (const e of summary.index) {
    writeU64(out, at, e.seq);
    writeU64(out, at + 8, e.offset);
    writeU64(out, at + 16, e.timestamp);
    at += INDEX_ENTRY_BYTES;
  }
  out.writeUInt32LE(bytes, at);
  out.writeUInt32LE(crc32(out.subarray(0, at + 4)), at + 4);
  TRAILER_MAGIC.copy(out, at + 8);
  return out;
}

/** The trailer's claim: how long the footer is and its checksum. */
export interface Trailer {
  footerBytes: number;
  crc: number;
}

/** Reads a trailer from the last 16 bytes of a file, or undefined when the magic is absent (an unsealed segment). */
export function decodeTrailer(last16: Buffer): Trailer | undefined {
  if (last16.length !== TRAILER_BYTES || !last16.subarray(8).equals(TRAILER_MAGIC)) return undefined;
  return { footerBytes: last16.readUInt32LE(0), crc: last16.readUInt32LE(4) };
}

/**
 * Decodes a whole footer (trailer included) that ends at `fileSize`, checking
 * its checksum, its salt and that its numbers agree with each other.
 */
export function decodeFooter(buf: Buffer, fileSize: number, salt: Buffer, baseSeq: number, file: string, positionsBytes = 0): SegmentSummary {
  const start = fileSize - buf.length;
  const bad = (why: string): CorruptionError => new CorruptionError(`damaged footer: ${why}`, { file, offset: start });
  const trailerAt = buf.length - TRAILER_BYTES;
  if (trailerAt < FOOTER_FIXED_BYTES || !buf.subarray(0, 4).equals(FOOTER_MAGIC)) throw bad('bad footer magic');
  if (crc32(buf.subarray(0, trailerAt + 4)) !== buf.readUInt32LE(trailerAt + 4)) throw bad('checksum mismatch');
  if (!buf.subarray(56, 64).equals(salt)) throw bad('salt does not match the segment header');
  const entryCount = buf.readUInt32LE(4);
  if (FOOTER_FIXED_BYTES + entryCount * INDEX_ENTRY_BYTES !== trailerAt) throw bad(`index of ${entryCount} entries does not fill the footer`);
  const summary: SegmentSummary = {
    recordCount: readU64(buf, 8),
    firstSeq: readU64(buf, 16),
    nextSeq: readU64(buf, 24),
    firstTimestamp: readU64(buf, 32),
    lastTimestamp: readU64(buf, 40),
    dataEnd: readU64(buf, 48),
    index: [],
  };
  if (summary.firstSeq !== baseSeq) throw bad(`first sequence ${summary.firstSeq} is not the segment base ${baseSeq}`);
  // Version 3: the position table lies between the frames and the footer.
  if (summary.nextSeq < summary.firstSeq || summary.dataEnd !== start - positionsBytes) throw bad('summary fields disagree');
  if (summary.recordCount < 0 || summary.recordCount > summary.nextSeq - summary.firstSeq || summary.firstTimestamp < 0 || summary.lastTimestamp < summary.firstTimestamp) throw bad('summary values out of range');
  for (let i = 0, at = FOOTER_FIXED_BYTES; i < entryCount; i++, at += INDEX_ENTRY_BYTES) {
    const entry = { seq: readU64(buf, at), offset: readU64(buf, at + 8), timestamp: readU64(buf, at + 16) };
    const prev = summary.index[i - 1];
    if (entry.seq < summary.firstSeq || entry.seq >= summary.nextSeq || entry.offset < SEGMENT_DATA_START || entry.offset >= summary.dataEnd || entry.timestamp < 0) throw bad(`index entry ${i} out of range`);
    if (prev !== undefined && (entry.seq <= prev.seq || entry.offset <= prev.offset)) throw bad(`index entry ${i} out of order`);
    summary.index.push(entry);
  }
  return summary;
}
