import { AofError } from '../errors.js';
import type { FileHandle } from '../fs/types.js';
import type { SegmentSummary } from '../segment/footer.js';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES, type SegmentHeader } from '../segment/header.js';
import { isRangeZero, readSegmentEnvelope } from '../segment/load.js';
import { findFrameAfter } from '../segment/resync.js';
import { scanSegment } from '../segment/scan.js';
import { readAt } from '../fs/io.js';
import { decodeFrameHeader, FLAG_GAP, FRAME_HEADER_BYTES, frameChecksumMatches, frameCrcSeed, implausibleHeader, recordCrcProblem, type FrameHeader } from '../record/frame.js';
import { FORMAT_VERSION, FORMAT_VERSION_V2 } from '../segment/header.js';
import { decodePositions } from '../segment/positions.js';
import { decodeTrailer, TRAILER_BYTES } from '../segment/footer.js';

/** A damaged span inside a segment: bytes from `offset` up to `resumeAt` hold no valid frame. */
export interface DamagedSpan {
  /** Offset of the first bad byte. */
  offset: number;
  /** Why the frame there is not valid. */
  reason: string;
  /** First sequence number that is not readable because of the damage. */
  lostFrom: number;
  /** Where valid frames resume in this segment, and at which sequence, if they do. */
  resumeAt: { offset: number; seq: number } | undefined;
  /** True when the frame there starts with zeros (a frame length of 0): unwritten or preallocated space, not a bad frame. */
  zeros: boolean;
}

/** Everything a full check of one segment file found. */
export interface SegmentAnalysis {
  file: string;
  baseSeq: number;
  size: number;
  header: SegmentHeader | undefined;
  /** Why the header is unusable (the base from the file name is used to scan on). */
  headerError: AofError | undefined;
  /** The footer, when present and valid. */
  footer: SegmentSummary | undefined;
  /** Why a present footer is unusable. */
  footerError: AofError | undefined;
  /** Offset where frame data ends (the footer start, or the end of the last valid frame). */
  dataEnd: number;
  /** Sequence number after the last valid frame. */
  nextSeq: number;
  /** Records in valid frames. */
  recordCount: number;
  /** Damaged spans, in file order. A trailing span with no `resumeAt` may be a torn tail. */
  damage: DamagedSpan[];
  /** True when the trailing bytes after the last valid frame are all zero. */
  trailingZeros: boolean;
  /** Offset of a clean-close marker that is the last valid frame. */
  closeMarkerAt: number | undefined;
  /** How the footer disagrees with the frames, if it does. */
  footerMismatch: string | undefined;
  /** True when the file holds no header at all (empty or all zeros): a crash right after its creation. */
  unborn: boolean;
  /** Format version of the record layout: the header's, or for a damaged header what the first frame shows (3 when its records check as version 3). */
  version: number;
  /** Salt the frames are checksummed with (from the header, even a damaged one: the best guess there is). */
  salt: Buffer;
  /** Lost ranges already recorded as gaps by an earlier repair. */
  gaps: Array<{ from: number; to: number; offset: number }>;
}

/** Settings for a full check. */
export interface AnalyzeSettings {
  readAheadBytes: number;
  indexIntervalBytes: number;
}

/**
 * Reads every byte of a segment: header, footer, all frames, and past any
 * damage (resynchronising on the next valid frame) so that each damaged span
 * and the sequence numbers it hides are known. Changes nothing.
 */
export async function analyzeSegment(handle: FileHandle, baseSeq: number, settings: AnalyzeSettings): Promise<SegmentAnalysis> {
  const size = await handle.size();
  const a: SegmentAnalysis = {
    file: handle.path, baseSeq, size, header: undefined, headerError: undefined, footer: undefined, footerError: undefined,
    dataEnd: SEGMENT_HEADER_BYTES, nextSeq: baseSeq, recordCount: 0, damage: [], trailingZeros: false,
    closeMarkerAt: undefined, footerMismatch: undefined, gaps: [], salt: Buffer.alloc(8), unborn: false, version: FORMAT_VERSION,
  };
  const positionsBytes = await readEnvelope(handle, baseSeq, size, a);
  a.salt = a.header?.salt ?? (await guessSalt(handle, size));
  const crcSeed = frameCrcSeed(a.salt);
  a.version = a.header?.version ?? (await guessVersion(handle, size, crcSeed));
  // A sealed version-3 segment's position table is checked before it is trusted: damage there is a damaged footer (repair writes a fresh one).
  if (a.footer !== undefined && positionsBytes > 0) {
    try {
      decodePositions(await readAt(handle, a.footer.dataEnd, positionsBytes), crcSeed, { baseSeq, nextSeq: a.footer.nextSeq, recordCount: a.footer.recordCount, dataEnd: a.footer.dataEnd }, handle.path);
    } catch (err) {
      if (!(err instanceof AofError)) throw err;
      a.footerError = err;
    }
  }
  const end = Math.max(a.footer?.dataEnd ?? size, SEGMENT_HEADER_BYTES);
  let from = { offset: SEGMENT_HEADER_BYTES, seq: baseSeq };
  for (;;) {
    const scan = await scanSegment(handle, baseSeq, crcSeed, end, settings.indexIntervalBytes, settings.readAheadBytes, from, a.version, true);
    a.recordCount += scan.recordCount;
    a.nextSeq = scan.nextSeq;
    a.dataEnd = scan.dataEnd;
    a.closeMarkerAt = scan.closeMarkerAt;
    a.gaps.push(...scan.gaps);
    if (scan.stop === undefined) break;
    const hit = await findFrameAfter(handle, scan.stop.offset + 1, end, scan.nextSeq, crcSeed);
    a.damage.push({ offset: scan.stop.offset, reason: scan.stop.reason, lostFrom: scan.nextSeq, resumeAt: hit && { offset: hit.offset, seq: hit.firstSeq }, zeros: scan.stop.zeros });
    if (hit === undefined) {
      a.trailingZeros = scan.stop.zeros && (await isRangeZero(handle, scan.stop.offset, end));
      break;
    }
    from = { offset: hit.offset, seq: hit.firstSeq };
  }
  if (a.footer !== undefined) a.footerMismatch = compareFooter(a.footer, a);
  return a;
}

/** Fills in header and footer; resolves the bytes of a version-3 position table (0 when none). */
async function readEnvelope(handle: FileHandle, baseSeq: number, size: number, a: SegmentAnalysis): Promise<number> {
  try {
    const envelope = await readSegmentEnvelope(handle, baseSeq);
    if (envelope.kind !== 'unborn') a.header = envelope.header;
    if (envelope.kind === 'sealed') a.footer = envelope.summary;
    return envelope.kind === 'sealed' ? envelope.positionsBytes : 0;
    if (envelope.kind === 'unborn') {
      a.unborn = true;
      a.headerError = new AofError('AOF_CORRUPT', 'segment file holds no header (created just before a crash)', { file: handle.path, offset: 0 });
    }
  } catch (err) {
    if (!(err instanceof AofError)) throw err;
    if ((err.offset ?? 0) < SEGMENT_HEADER_BYTES) a.headerError = err;
    else a.footerError = err;
    if (a.header === undefined && a.headerError === undefined) a.header = tryHeader(await readAt(handle, 0, Math.min(size, SEGMENT_HEADER_BYTES)), handle.path);
    return 0;
  }
}

/** The record layout of a segment whose header is damaged: version 3 when the first data frame's records check as version 3 (else 2: versions 1 and 2 share it). */
async function guessVersion(handle: FileHandle, size: number, crcSeed: number): Promise<number> {
  const first = await firstFrame(handle, size);
  if (first === undefined || (first.header.flags & FLAG_GAP) !== 0 || first.header.flags !== 0) return FORMAT_VERSION;
  return recordCrcProblem(first.buf, 0, first.header, crcSeed) === undefined ? FORMAT_VERSION : FORMAT_VERSION_V2;
}

/**
 * The salt of a segment whose header is damaged: of the header's two copies
 * and the footer's, the one its first frame verifies with (or, failing that,
 * the first copy).
 */
async function guessSalt(handle: FileHandle, size: number): Promise<Buffer> {
  const raw = await readAt(handle, 0, Math.min(size, SEGMENT_HEADER_BYTES));
  const candidates: Buffer[] = [raw.subarray(32, 40), raw.subarray(40, 48)].filter((c) => c.length === 8).map((c) => Buffer.from(c));
  const trailer = size >= SEGMENT_HEADER_BYTES + TRAILER_BYTES ? decodeTrailer(await readAt(handle, size - TRAILER_BYTES, TRAILER_BYTES)) : undefined;
  if (trailer !== undefined && trailer.footerBytes <= size - SEGMENT_HEADER_BYTES) candidates.push(Buffer.from(await readAt(handle, size - trailer.footerBytes + 56, 8)));
  const first = await firstFrame(handle, size);
  for (const salt of candidates) if (first !== undefined && frameChecksumMatches(first.buf, 0, first.header, frameCrcSeed(salt))) return salt;
  return candidates[0] ?? Buffer.alloc(8);
}

/** The frame at the start of a segment's data, if its header is plausible. */
async function firstFrame(handle: FileHandle, size: number): Promise<{ buf: Buffer; header: FrameHeader } | undefined> {
  const available = size - SEGMENT_HEADER_BYTES;
  if (available < FRAME_HEADER_BYTES) return undefined;
  const header = decodeFrameHeader(await readAt(handle, SEGMENT_HEADER_BYTES, FRAME_HEADER_BYTES), 0);
  if (implausibleHeader(header, available) !== undefined) return undefined;
  return { buf: await readAt(handle, SEGMENT_HEADER_BYTES, header.frameBytes), header };
}

function tryHeader(buf: Buffer, file: string): SegmentHeader | undefined {
  try {
    return decodeSegmentHeader(buf, file);
  } catch {
    return undefined;
  }
}

function compareFooter(footer: SegmentSummary, a: SegmentAnalysis): string | undefined {
  if (a.damage.length > 0) return undefined;
  if (footer.nextSeq !== a.nextSeq) return `footer says the segment ends before sequence ${footer.nextSeq}, frames end before ${a.nextSeq}`;
  if (footer.recordCount !== a.recordCount) return `footer counts ${footer.recordCount} records, frames hold ${a.recordCount}`;
  return undefined;
}
