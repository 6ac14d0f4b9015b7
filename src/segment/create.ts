import * as path from 'node:path';
import { writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { encodeSegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_BYTES } from './header.js';
import { Positions } from './positions.js';
import type { SegmentState } from './loaded-segment.js';
import { segmentPath } from './names.js';

/**
 * Creates the segment file for `baseSeq`: header written and fsynced, then
 * the directory fsynced, so the file exists after power loss before any
 * record is acknowledged in it. The header carries the log's identity
 * `logId`. Resolves the open handle and its state.
 */
export async function createSegment(fs: FileSystem, dir: string, baseSeq: number, createdMs: number, fileMode: number, logId: Buffer): Promise<{ handle: FileHandle; segment: SegmentState }> {
  const file = segmentPath(dir, baseSeq);
  // Every segment a writer creates carries the log's identity, in the format this build writes (version 3).
  const header = encodeSegmentHeader(baseSeq, createdMs, undefined, logId);
  const handle = await fs.open(file, 'createNew', fileMode);
  try {
    await writeFully(handle, header, 0, header.length, 0);
    await handle.datasync();
    await fs.syncDir(path.dirname(file));
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  const segment: SegmentState = {
    baseSeq, version: FORMAT_VERSION, positionsBytes: 0, positions: new Positions(baseSeq, SEGMENT_HEADER_BYTES), file, salt: Buffer.from(header.subarray(32, 40)), createdMs, sealed: false,
    nextSeq: baseSeq, recordCount: 0, dataEnd: SEGMENT_HEADER_BYTES, firstTimestamp: 0, lastTimestamp: 0,
    index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false,
  };
  return { handle, segment };
}
