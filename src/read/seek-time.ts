import { CorruptionError } from '../errors.js';
import { frameCrcSeed } from '../record/frame.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { SEGMENT_HEADER_BYTES } from '../segment/header.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { floorBeforeTime } from '../segment/sparse-index.js';
import type { HandlePool } from '../segment/handle-pool.js';

/**
 * The first sequence number whose timestamp is at or after `ms`, or
 * undefined past the end. Timestamps never decrease along the log, so this
 * bisects segments by their last timestamp, then the segment's sparse index
 * by time, then scans at most one index interval of frames.
 */
export async function seekTime(segments: readonly LoadedSegment[], files: HandlePool, ms: number, readAheadBytes: number, prepare: (seg: LoadedSegment) => Promise<void> = async () => undefined): Promise<number | undefined> {
  // Segments without records (an empty active tail, a gap left by repair) have no time to compare.
  const seg = await firstSegmentEndingAtOrAfter(segments.filter((s) => s.recordCount > 0), ms, prepare);
  if (seg === undefined) return undefined;
  await prepare(seg);
  const start = floorBeforeTime(seg.index, ms)?.offset ?? SEGMENT_HEADER_BYTES;
  return files.withHandle(seg.file, async (handle) => {
    const cursor = new FrameCursor(handle, start, seg.dataEnd, readAheadBytes, frameCrcSeed(seg.salt));
    for (let step = await cursor.next(); step.kind !== 'end'; step = await cursor.next()) {
      if (step.kind === 'bad') throw new CorruptionError(step.reason, { file: seg.file, offset: step.offset });
      // Records of a frame share its timestamp; gap frames and close markers hold no records.
      if (step.header.flags === 0 && step.header.timestamp >= ms) return step.header.firstSeq;
    }
    return undefined;
  });
}

/** Bisects by last timestamp; a segment known only by name (read from an archive alone) is fetched to learn it. */
async function firstSegmentEndingAtOrAfter(segments: readonly LoadedSegment[], ms: number, prepare: (seg: LoadedSegment) => Promise<void>): Promise<LoadedSegment | undefined> {
  let lo = 0;
  let hi = segments.length - 1;
  let found: LoadedSegment | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = segments[mid]!;
    if (s.needsFetch) await prepare(s);
    if (s.lastTimestamp >= ms) {
      found = s;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  return found;
}
