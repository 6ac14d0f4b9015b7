import { assert } from '../assert.js';
import { encodeFooter } from './footer.js';
import type { LoadedSegment } from './loaded-segment.js';

/**
 * The footer that seals `segment`, to be written at its data end. The caller
 * writes it, cuts it back off if the write fails, and fsyncs it before
 * marking the segment sealed; after that the file never changes again.
 */
export function encodeSegmentFooter(segment: LoadedSegment): Buffer {
  assert(!segment.sealed, `segment ${segment.file} is sealed only once`);
  return encodeFooter(
    {
      recordCount: segment.recordCount, firstSeq: segment.baseSeq, nextSeq: segment.nextSeq,
      firstTimestamp: segment.firstTimestamp, lastTimestamp: segment.lastTimestamp, dataEnd: segment.dataEnd, index: segment.index.slice(),
    },
    segment.salt,
  );
}
