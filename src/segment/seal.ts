import { assert } from '../assert.js';
import { frameCrcSeed } from '../record/frame.js';
import { encodeFooter } from './footer.js';
import { Positions } from './positions.js';
import type { LoadedSegment } from './loaded-segment.js';

/**
 * The footer that seals `segment`, to be written at its data end. The caller
 * writes it, cuts it back off if the write fails, and fsyncs it before
 * marking the segment sealed; after that the file never changes again.
 * Version 3: the segment's position table, then the footer.
 */
export function encodeSegmentFooter(segment: LoadedSegment): Buffer {
  assert(!segment.sealed, `segment ${segment.file} is sealed only once`);
  const footer = encodeFooter(
    {
      recordCount: segment.recordCount, firstSeq: segment.baseSeq, nextSeq: segment.nextSeq,
      firstTimestamp: segment.firstTimestamp, lastTimestamp: segment.lastTimestamp, dataEnd: segment.dataEnd, index: segment.index.slice(),
    },
    segment.salt,
  );
  if (segment.version < 3) return footer;
  let positions = segment.positions;
  if (positions === undefined || positions.nextSeq !== segment.nextSeq || positions.end !== segment.dataEnd) {
    // Nobody kept the positions (never the case for the writer): an empty table flagged absent, and gets scan frames.
    const none = new Positions(segment.baseSeq, segment.dataEnd);
    none.absent = true;
    positions = none;
  }
  assert(positions.absent || positions.recordCount === segment.recordCount, `position table of ${segment.file} holds every record`);
  return Buffer.concat([positions.encode(frameCrcSeed(segment.salt)), footer]);
}
