import { assert } from '../assert.js';
import { writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { encodeEmptyFrame, FLAG_GAP, frameCrcSeed } from '../record/frame.js';
import { encodeFooter } from '../segment/footer.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../segment/header.js';
import { SparseIndexBuilder } from '../segment/sparse-index.js';

/** One piece of a rebuilt segment: valid frames copied from the original, or a gap for lost sequence numbers. */
export type RebuildPiece = { kind: 'frames'; from: number; to: number } | { kind: 'gap'; fromSeq: number; toSeq: number };

/** What to build. */
export interface RebuildPlan {
  baseSeq: number;
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
    const header = encodeSegmentHeader(plan.baseSeq, plan.createdMs, plan.salt, plan.logId);
    const crcSeed = frameCrcSeed(plan.salt);
    await writeFully(out, header, 0, header.length, 0);
    const state = { offset: SEGMENT_HEADER_BYTES, nextSeq: plan.baseSeq, recordCount: 0, firstTimestamp: 0, lastTimestamp: 0, index: new SparseIndexBuilder(plan.indexIntervalBytes) };
    for (const piece of plan.pieces) {
      if (piece.kind === 'gap') await writeGap(out, piece, state, crcSeed);
      else await copyFrames(source!, piece, out, state, plan.readAheadBytes, crcSeed);
    }
    if (plan.seal) {
      const footer = encodeFooter({ recordCount: state.recordCount, firstSeq: plan.baseSeq, nextSeq: state.nextSeq, firstTimestamp: state.firstTimestamp, lastTimestamp: state.lastTimestamp, dataEnd: state.offset, index: state.index.entries }, header.subarray(32, 40));
      await writeFully(out, footer, 0, footer.length, state.offset);
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
}

async function writeGap(out: FileHandle, piece: { fromSeq: number; toSeq: number }, s: BuildState, crcSeed: number): Promise<void> {
  assert(piece.fromSeq === s.nextSeq && piece.toSeq > piece.fromSeq, `gap ${piece.fromSeq}..${piece.toSeq} continues at ${s.nextSeq}`);
  const frame = encodeEmptyFrame(crcSeed, piece.fromSeq, piece.toSeq - piece.fromSeq, s.lastTimestamp, FLAG_GAP);
  await writeFully(out, frame, 0, frame.length, s.offset);
  s.index.add(piece.fromSeq, s.offset, s.lastTimestamp);
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
