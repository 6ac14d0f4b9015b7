import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEGMENT_HEADER_BYTES } from '../../src/segment/header.js';

/** Offsets of the frames of a segment file (from its header on, up to `end` or the file end), walked by their length fields. */
export function frameOffsets(file: string, end?: number): number[] {
  const bytes = fs.readFileSync(file);
  const stop = end ?? bytes.length;
  const out: number[] = [];
  for (let at = SEGMENT_HEADER_BYTES; at + 4 <= stop; ) {
    const len = bytes.readUInt32LE(at);
    if (len < 32 || at + len > stop) break;
    out.push(at);
    at += len;
  }
  return out;
}

/** The last segment file of a log. */
export function lastSegment(dir: string): string {
  const names = fs.readdirSync(path.join(dir, 'segments')).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
  return path.join(dir, 'segments', names[names.length - 1]!);
}

/** Every segment file of a log, sorted. */
export function segments(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'segments')).filter((n) => /^\d{20}\.seg$/.test(n)).sort().map((n) => path.join(dir, 'segments', n));
}
