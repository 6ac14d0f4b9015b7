import * as path from 'node:path';
import { assert } from '../assert.js';

/** Subdirectory of the log directory holding segment files. */
export const SEGMENTS_DIR = 'segments';
/** Subdirectory receiving every byte that repair cuts off. */
export const RECOVERY_DIR = 'recovery';

const SEGMENT_NAME = /^(\d{20})\.seg$/;

/** File name of the segment whose first sequence number is `baseSeq`. */
export function segmentFileName(baseSeq: number): string {
  assert(Number.isSafeInteger(baseSeq) && baseSeq >= 0, `segment base ${baseSeq} is a non-negative integer`);
  return `${String(baseSeq).padStart(20, '0')}.seg`;
}

/**
 * The base sequence number encoded in a segment file name, or undefined for
 * any other name. Only names of exactly this shape are ever turned into paths,
 * so nothing read from disk can lead outside the log directory.
 */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Path of a segment file in log directory `dir`. */
export function segmentPath(dir: string, baseSeq: number): string {
  return path.join(dir, SEGMENTS_DIR, segmentFileName(baseSeq));
}
