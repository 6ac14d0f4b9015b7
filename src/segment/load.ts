import { CorruptionError } from '../errors.js';
import { readAt } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import { decodeFooter, decodeTrailer, FOOTER_FIXED_BYTES, TRAILER_BYTES, type SegmentSummary } from './footer.js';
import { decodeSegmentHeader, FORMAT_VERSION, isAllZero, SEGMENT_HEADER_BYTES, type SegmentHeader } from './header.js';
import { decodePositionsTrailer, POSITIONS_TRAILER_BYTES } from './positions.js';
import type { SegmentState } from './loaded-segment.js';

/** Bytes read from the end of a segment in the first read, enough for the footer of most segments. */
export const FOOTER_READ_BYTES = 64 * 1024;

/** What the header and end of a segment file say, without reading its data. */
export type SegmentEnvelope =
  /** The file holds no header at all (a crash right after it was created). */
  | { kind: 'unborn'; size: number }
  /** Header valid, no trailer: the active segment, whose data must be scanned. */
  | { kind: 'unsealed'; header: SegmentHeader; size: number }
  /** Header and footer valid. */
  | { kind: 'sealed'; header: SegmentHeader; size: number; summary: SegmentSummary; footerCrc: number; positionsBytes: number };

/** Checks that a header is this log's (see `IdentityGuard`); throws otherwise. */
export interface HeaderCheck {
  check(header: SegmentHeader, file: string): void;
}

/**
 * Reads a segment's header and, when present, its footer: two or three reads
 * whatever the segment's size, never its data. Damage throws
 * {@link CorruptionError} naming the file and offset; a `guard` refuses
 * another log's segment (`AOF_FOREIGN_SEGMENT`) before its footer is read.
 */
export async function readSegmentEnvelope(file: FileHandle, baseSeq: number, guard?: HeaderCheck): Promise<SegmentEnvelope> {
  const size = await file.size();
  if (size < SEGMENT_HEADER_BYTES) return { kind: 'unborn', size };
  const headBytes = await readAt(file, 0, SEGMENT_HEADER_BYTES);
  if (isAllZero(headBytes) && (await isRangeZero(file, SEGMENT_HEADER_BYTES, size))) return { kind: 'unborn', size };
  const header = decodeSegmentHeader(headBytes, file.path);
  if (header.baseSeq !== baseSeq) throw new CorruptionError(`segment header says base ${header.baseSeq}, file name says ${baseSeq}`, { file: file.path, offset: 16 });
  // Before anything else of the file is believed: another log's segment with this name is not data of this one.
  guard?.check(header, file.path);
  if (size < SEGMENT_HEADER_BYTES + TRAILER_BYTES) return { kind: 'unsealed', header, size };
  const tailLength = Math.min(size - SEGMENT_HEADER_BYTES, FOOTER_READ_BYTES);
  const tail = await readAt(file, size - tailLength, tailLength);
  const trailer = decodeTrailer(tail.subarray(tail.length - TRAILER_BYTES));
  if (trailer === undefined) return { kind: 'unsealed', header, size };
  const footerStart = size - trailer.footerBytes;
  if (trailer.footerBytes < FOOTER_FIXED_BYTES + TRAILER_BYTES || footerStart < SEGMENT_HEADER_BYTES) {
    throw new CorruptionError(`damaged footer: trailer claims ${trailer.footerBytes} bytes`, { file: file.path, offset: size - TRAILER_BYTES });
  }
  const footer = trailer.footerBytes <= tail.length ? tail.subarray(tail.length - trailer.footerBytes) : await readAt(file, footerStart, trailer.footerBytes);
  let positionsBytes = 0;
  if (header.version >= FORMAT_VERSION) {
    // Version 3: the position table's trailer ends where the footer starts; its size says where the frames end. Its CRC is checked when a get loads it.
    const at = footerStart - POSITIONS_TRAILER_BYTES;
    if (at < SEGMENT_HEADER_BYTES) throw new CorruptionError('damaged position table: no room for its trailer before the footer', { file: file.path, offset: footerStart });
    const inTail = tail.length - trailer.footerBytes - POSITIONS_TRAILER_BYTES;
    const bytes = inTail >= 0 ? tail.subarray(inTail, inTail + POSITIONS_TRAILER_BYTES) : await readAt(file, at, POSITIONS_TRAILER_BYTES);
    const positions = decodePositionsTrailer(bytes);
    if (typeof positions === 'string') throw new CorruptionError(`damaged position table: ${positions}`, { file: file.path, offset: at });
    if (positions.tableBytes > footerStart - SEGMENT_HEADER_BYTES) throw new CorruptionError(`damaged position table: ${positions.tableBytes} bytes do not fit before the footer`, { file: file.path, offset: at });
    positionsBytes = positions.tableBytes;
  }
  const summary = decodeFooter(footer, size, header.salt, baseSeq, file.path, positionsBytes);
  return { kind: 'sealed', header, size, summary, footerCrc: trailer.crc, positionsBytes };
}

/** A sealed envelope's figures, as a loaded segment holds them (sealed, local, nothing deferred or to fetch). */
export type SealedFigures = Pick<SegmentState, 'version' | 'positionsBytes' | 'salt' | 'createdMs' | 'sealed' | 'nextSeq' | 'recordCount' | 'dataEnd' | 'firstTimestamp' | 'lastTimestamp' | 'index' | 'footerCrc' | 'footerBytes' | 'location' | 'needsFetch' | 'deferred'>;

/** What a sealed segment's header and footer say about it, in the fields of {@link LoadedSegment}. */
export function sealedFigures(envelope: Extract<SegmentEnvelope, { kind: 'sealed' }>): SealedFigures {
  const s = envelope.summary;
  return {
    version: envelope.header.version, positionsBytes: envelope.positionsBytes, salt: envelope.header.salt, createdMs: envelope.header.createdMs, sealed: true, nextSeq: s.nextSeq, recordCount: s.recordCount, dataEnd: s.dataEnd,
    firstTimestamp: s.firstTimestamp, lastTimestamp: s.lastTimestamp, index: s.index, footerCrc: envelope.footerCrc, footerBytes: envelope.size - s.dataEnd,
    location: 'local', needsFetch: false, deferred: false,
  };
}

/** Window used when checking that a range of a file holds only zero bytes. */
const ZERO_CHECK_WINDOW_BYTES = 1 << 20;

/** True when every byte of `[from, to)` is zero: space a crash or preallocation left unwritten. */
export async function isRangeZero(file: FileHandle, from: number, to: number): Promise<boolean> {
  for (let at = from; at < to; at += ZERO_CHECK_WINDOW_BYTES) {
    const chunk = await readAt(file, at, Math.min(ZERO_CHECK_WINDOW_BYTES, to - at));
    if (!isAllZero(chunk)) return false;
  }
  return true;
}
