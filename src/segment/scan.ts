import type { FileHandle } from '../fs/types.js';
import { FLAG_CLOSE_MARKER, recordCrcProblem, recordHeaderBytesOf, walkRecords, type FrameHeader } from '../record/frame.js';
import type { IndexEntry, SegmentSummary } from './footer.js';
import { FrameCursor } from './frame-cursor.js';
import { SEGMENT_HEADER_BYTES } from './header.js';
import { Positions } from './positions.js';
import { SparseIndexBuilder } from './sparse-index.js';

/** Where and why a scan stopped before the end of the data. */
export interface ScanStop {
  /** Offset of the first byte that is not part of a valid frame. */
  offset: number;
  /** What is wrong there. */
  reason: string;
  /** True when the bytes there start with a zero length (unwritten or preallocated space). */
  zeros: boolean;
}

/** What a scan of a segment's frames found. */
export interface ScanResult extends SegmentSummary {
  /** Offset of a clean-close marker that is the last valid frame, if any. */
  closeMarkerAt: number | undefined;
  /** Set when the scan stopped at bytes that are not a valid frame. */
  stop: ScanStop | undefined;
  /** Lost sequence ranges recorded by repair as gap frames. */
  gaps: Array<{ from: number; to: number; offset: number }>;
  /** Version 3, a scan from the first frame: where each record lies (what the position table holds). */
  positions: Positions | undefined;
}

/**
 * Reads every frame of a segment from just after its header (or `from`) to `end`,
 * checking checksums, sequence continuity and timestamp order, and builds the
 * summary and sparse index a footer would hold. Stops at the first bad frame.
 */
export async function scanSegment(file: FileHandle, baseSeq: number, crcSeed: number, end: number, indexIntervalBytes: number, readAheadBytes: number, from: { offset: number; seq: number } | undefined, version: number, checkRecordCrcs = false): Promise<ScanResult> {
  const recordHeaderBytes = recordHeaderBytesOf(version);
  const start = from?.offset ?? SEGMENT_HEADER_BYTES;
  const cursor = new FrameCursor(file, start, end, readAheadBytes, crcSeed);
  const index = new SparseIndexBuilder(indexIntervalBytes);
  const result: ScanResult = {
    recordCount: 0, firstSeq: baseSeq, nextSeq: from?.seq ?? baseSeq, firstTimestamp: 0, lastTimestamp: 0,
    dataEnd: start, index: [], closeMarkerAt: undefined, stop: undefined, gaps: [],
    positions: version >= 3 && from === undefined ? new Positions(baseSeq, start) : undefined,
  };
  const positions = result.positions;
  for (;;) {
    const step = await cursor.next();
    if (step.kind === 'end') break;
    if (step.kind === 'bad') {
      result.stop = { offset: step.offset, reason: step.reason, zeros: step.zeros };
      break;
    }
    // A valid checksum over record lengths that do not add up is still damage (never written by us).
    const h = step.header;
    // Version 3 records carry their own CRC: `Log.verify` checks it too (sequential readers and recovery trust the frame's).
    const problem = continuityProblem(h, result) ?? walkRecords(step.buf, step.at, h, recordHeaderBytes) ?? (checkRecordCrcs && version >= 3 && h.flags === 0 ? recordCrcProblem(step.buf, step.at, h, crcSeed) : undefined);
    if (problem !== undefined) {
      result.stop = { offset: step.offset, reason: problem, zeros: false };
      break;
    }
    if (positions !== undefined) {
      if (h.flags !== 0) positions.addEmptyFrame(h.firstSeq, h.count, step.offset + h.frameBytes);
      else addRecordPositions(positions, step.buf, step.at, step.offset, h, recordHeaderBytes);
    }
    accept(result, step.header, step.offset, index);
  }
  result.index = index.entries;
  return result;
}

/** Adds where each record of a data frame (its layout already checked) starts: the frame is at file offset `offset`, at `at` in `buf`. */
function addRecordPositions(positions: Positions, buf: Buffer, at: number, offset: number, h: FrameHeader, recordHeaderBytes: number): void {
  positions.beginFrame(h.firstSeq, h.timestamp);
  walkRecords(buf, at, h, recordHeaderBytes, (payloadAt) => positions.addRecord(offset + (payloadAt - recordHeaderBytes - at)));
  positions.endFrame(offset + h.frameBytes);
}

function continuityProblem(h: FrameHeader, r: ScanResult): string | undefined {
  if (h.firstSeq !== r.nextSeq) return `frame starts at sequence ${h.firstSeq}, expected ${r.nextSeq}`;
  // Only records carry time: close markers and gaps do not take part in the order of timestamps.
  if (h.flags === 0 && h.timestamp < r.lastTimestamp) return `frame timestamp ${h.timestamp} is before the previous ${r.lastTimestamp}`;
  return undefined;
}

function accept(r: ScanResult, h: FrameHeader, offset: number, index: SparseIndexBuilder): void {
  r.closeMarkerAt = (h.flags & FLAG_CLOSE_MARKER) !== 0 ? offset : undefined;
  if (h.count > 0) {
    index.add(h.firstSeq, offset, h.timestamp);
    if (h.flags === 0) r.recordCount += h.count;
    else r.gaps.push({ from: h.firstSeq, to: h.firstSeq + h.count, offset });
    if (r.firstTimestamp === 0) r.firstTimestamp = h.timestamp;
  }
  if (h.flags === 0) r.lastTimestamp = h.timestamp;
  r.nextSeq = h.firstSeq + h.count;
  r.dataEnd = offset + h.frameBytes;
}

/** Re-exported for callers that build summaries by hand. */
export type { IndexEntry };
