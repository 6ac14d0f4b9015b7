import { assert } from '../assert.js';
import { writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { encodeEmptyFrame, FLAG_GAP, forEachRecord, frameCrcSeed, recordHeaderBytesOf } from '../record/frame.js';
import { encodeFooter } from '../segment/footer.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../segment/header.js';
import { Positions } from '../segment/positions.js';
import { SparseIndexBuilder } from '../segment/sparse-index.js';

/** One piece of a rebuilt segment: valid frames copied from the original, or a gap for lost sequence numbers. */
export type RebuildPiece = { kind: 'frames'; from: number; to: number } | { kind: 'gap'; fromSeq: number; toSeq: number };

/** What to build. */
export interface RebuildPlan {
  baseSeq: number;
  /** Format version of the new header: the source's (its record layout), 3 for a new gap segment. */
  version: number;
  /** Salt of the new header: the source's, so copied frames keep valid checksums. */
  salt: Buffer;
  createdMs: number;
  /** The log identity the header carries (version 2), or undefined for a version-1 header (a segment that had none). */
  logId: Buffer | undefined;
  pieces: RebuildPiece[];
  /** Write a footer (the segment is sealed). */
  seal: boolean;
  indexIntervalBytes: number;
  readAheadBytes: number;
}

/**
 * Writes a new segment file `out` (which must not exist; the caller gives it
 * a name that is not a segment name and renames it into place) from a plan:
 * a fresh header, the valid frames of `source` copied byte for byte
 * (checksums re-verified), gap frames for lost ranges, and a footer when
 * sealed. Fsynced. The same plan and source always give the same bytes, so
 * a repair killed part way can build it again.
 */
export async function rebuildSegment(fs: FileSystem, source: FileHandle | undefined, outPath: string, plan: RebuildPlan, fileMode: number): Promise<void> {
  const out = await fs.open(outPath, 'createNew', fileMode);
  try {
    const header = encodeSegmentHeader(plan.baseSeq, plan.createdMs, plan.salt, plan.logId, plan.logId === undefined ? undefined : plan.version);
    const version = plan.logId === undefined ? 1 : plan.version;
    const crcSeed = frameCrcSeed(plan.salt);
    await writeFully(out, header, 0, header.length, 0);
    const state: BuildState = {
      offset: SEGMENT_HEADER_BYTES, nextSeq: plan.baseSeq, recordCount: 0, firstTimestamp: 0, lastTimestamp: 0, index: new SparseIndexBuilder(plan.indexIntervalBytes),
      recordHeaderBytes: recordHeaderBytesOf(version), positions: version >= 3 ? new Positions(plan.baseSeq, SEGMENT_HEADER_BYTES) : undefined,
    };
    for (const piece of plan.pieces) {
      if (piece.kind === 'gap') await writeGap(out, piece, state, crcSeed);
      else await copyFrames(source!, piece, out, state, plan.readAheadBytes, crcSeed);
    }
    if (plan.seal) {
      const footer = encodeFooter({ recordCount: state.recordCount, firstSeq: plan.baseSeq, nextSeq: state.nextSeq, firstTimestamp: state.firstTimestamp, lastTimestamp: state.lastTimestamp, dataEnd: state.offset, index: state.index.entries }, header.subarray(32, 40));
      // Version 3: the position table of the rebuilt frames goes before the footer.
      const table = state.positions?.encode(crcSeed) ?? Buffer.alloc(0);
      await writeFully(out, table, 0, table.length, state.offset);
      await writeFully(out, footer, 0, footer.length, state.offset + table.length);
    }
    await out.sync();
  } finally {
    await out.close();
  }
}

interface BuildState {
  offset: number;
  nextSeq: number;
  recordCount: number;
  firstTimestamp: number;
  lastTimestamp: number;
  index: SparseIndexBuilder;
  recordHeaderBytes: number;
  positions: Positions | undefined;
}

async function writeGap(out: FileHandle, piece: { fromSeq: number; toSeq: number }, s: BuildState, crcSeed: number): Promise<void> {
  assert(piece.fromSeq === s.nextSeq && piece.toSeq > piece.fromSeq, `gap ${piece.fromSeq}..${piece.toSeq} continues at ${s.nextSeq}`);
  const frame = encodeEmptyFrame(crcSeed, piece.fromSeq, piece.toSeq - piece.fromSeq, s.lastTimestamp, FLAG_GAP);
  await writeFully(out, frame, 0, frame.length, s.offset);
  s.index.add(piece.fromSeq, s.offset, s.lastTimestamp);
  s.positions?.addEmptyFrame(piece.fromSeq, piece.toSeq - piece.fromSeq, s.offset + frame.length);
  s.offset += frame.length;
  s.nextSeq = piece.toSeq;
}

async function copyFrames(source: FileHandle, piece: { from: number; to: number }, out: FileHandle, s: BuildState, readAheadBytes: number, crcSeed: number): Promise<void> {
  const cursor = new FrameCursor(source, piece.from, piece.to, readAheadBytes, crcSeed);
  for (let step = await cursor.next(); step.kind !== 'end'; step = await cursor.next()) {
    assert(step.kind === 'frame', `frames to copy were verified (offset ${step.offset})`);
    const h = step.header;
    assert(h.firstSeq === s.nextSeq, `copied frames continue the sequence (${h.firstSeq} after ${s.nextSeq})`);
    await writeFully(out, step.buf, step.at, h.frameBytes, s.offset);
    const positions = s.positions;
    if (positions !== undefined) {
      if (h.flags !== 0) positions.addEmptyFrame(h.firstSeq, h.count, s.offset + h.frameBytes);
      else {
        positions.beginFrame(h.firstSeq, h.timestamp);
        const frameAt = s.offset;
        const problem = forEachRecord(step.buf, step.at, h, s.recordHeaderBytes, (_p, _i, recordOffset) => positions.addRecord(frameAt + recordOffset));
        assert(problem === undefined, `frames to copy hold whole records (offset ${step.offset})`);
        positions.endFrame(s.offset + h.frameBytes);
      }
    }
    if (h.count > 0) {
      s.index.add(h.firstSeq, s.offset, h.timestamp);
      if (h.flags === 0) s.recordCount += h.count;
      if (s.firstTimestamp === 0) s.firstTimestamp = h.timestamp;
    }
    s.lastTimestamp = Math.max(s.lastTimestamp, h.timestamp);
    s.offset += h.frameBytes;
    s.nextSeq = h.firstSeq + h.count;
  }
}
