import { readFully } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import { decodeFrameHeader, FRAME_HEADER_BYTES, frameChecksumMatches, implausibleHeader } from '../record/frame.js';

/** Bytes examined per window while searching for a frame after damage. */
export const RESYNC_WINDOW_BYTES = 1 << 20;

/** A valid frame found after damaged bytes. */
export interface ResyncHit {
  offset: number;
  firstSeq: number;
}

/**
 * Searches `[from, end)` byte by byte for the first position where a whole,
 * checksummed frame starts whose first sequence number is at least `minSeq`.
 * This is what tells corruption in the middle (good frames follow the damage)
 * from a torn tail (nothing valid follows). Memory stays within one window
 * plus the largest candidate frame, which is bounded by `end`.
 */
export async function findFrameAfter(file: FileHandle, from: number, end: number, minSeq: number, crcSeed: number): Promise<ResyncHit | undefined> {
  let windowStart = from;
  while (windowStart + FRAME_HEADER_BYTES <= end) {
    const size = Math.min(RESYNC_WINDOW_BYTES + FRAME_HEADER_BYTES, end - windowStart);
    const buf = Buffer.allocUnsafe(size);
    const n = await readFully(file, buf, 0, size, windowStart);
    const lastCandidate = Math.min(n - FRAME_HEADER_BYTES, RESYNC_WINDOW_BYTES - 1);
    for (let i = 0; i <= lastCandidate; i++) {
      if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) continue;
      const header = decodeFrameHeader(buf, i);
      if (header.firstSeq < minSeq) continue;
      const offset = windowStart + i;
      if (implausibleHeader(header, end - offset) !== undefined) continue;
      if (await checksumMatchesAt(file, buf, i, offset, header, crcSeed)) return { offset, firstSeq: header.firstSeq };
    }
    windowStart += RESYNC_WINDOW_BYTES;
  }
  return undefined;
}

async function checksumMatchesAt(file: FileHandle, buf: Buffer, i: number, offset: number, header: ReturnType<typeof decodeFrameHeader>, crcSeed: number): Promise<boolean> {
  if (i + header.frameBytes <= buf.length) return frameChecksumMatches(buf, i, header, crcSeed);
  const whole = Buffer.allocUnsafe(header.frameBytes);
  const n = await readFully(file, whole, 0, header.frameBytes, offset);
  return n === header.frameBytes && frameChecksumMatches(whole, 0, header, crcSeed);
}

