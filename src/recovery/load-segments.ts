import * as path from 'node:path';
import { CorruptionError, errnoOf } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { readSegmentEnvelope, sealedFigures, type HeaderCheck, type SegmentEnvelope } from '../segment/load.js';
import type { SegmentState } from '../segment/loaded-segment.js';
import { parseSegmentFileName, SEGMENTS_DIR, segmentPath } from '../segment/names.js';
import type { FileHandle } from '../fs/types.js';
import type { CatalogEntry } from '../catalog/entry.js';
import { deferredSegment } from '../log/deferred-segment.js';
import { moveToRecovery, type RecoveryTarget } from './preserve.js';
import { openFromCloseMarker, recoverActiveSegment, unscannedActiveSegment, type ScanSettings, type TailRecovery } from './recover-active.js';

/** The result of opening a log directory's segments. */
export interface LoadedLog {
  /** Segments in sequence order; the last may be active (unsealed). */
  segments: SegmentState[];
  /** Open read-write handle of the unsealed last segment (writers only). */
  activeHandle: FileHandle | undefined;
  /** What recovery did at open. */
  recovery: TailRecovery | undefined;
  /** A file left by a crash during segment creation and moved to `recovery/`. */
  unbornMovedTo: string | undefined;
}

/** Sorted base sequence numbers of the segment files in `dir`. Other names are ignored. */
export async function listSegmentBases(fs: FileSystem, dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(path.join(dir, SEGMENTS_DIR));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  const bases = names.map(parseSegmentFileName).filter((b): b is number => b !== undefined);
  return bases.sort((a, b) => a - b);
}

/**
 * Loads every segment: headers and footers of sealed ones (never their data;
 * a sealed segment other than the last with an entry in `trusted` is opened
 * from that catalog entry alone and read on first use), and a scan of the
 * unsealed last one, which a writer recovers (torn tail
 * kept and cut, close marker removed), or after a clean close opens from its
 * close marker, its frames read on first use. Checks that segments join without
 * holes. Throws {@link CorruptionError} naming file and offset otherwise.
 */
export async function loadSegments(fs: FileSystem, dir: string, readOnly: boolean, target: RecoveryTarget, settings: ScanSettings, trusted: ReadonlyMap<number, CatalogEntry> = new Map(), guard?: HeaderCheck): Promise<LoadedLog> {
  const bases = await listSegmentBases(fs, dir);
  const result: LoadedLog = { segments: [], activeHandle: undefined, recovery: undefined, unbornMovedTo: undefined };
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const file = segmentPath(dir, base);
    const isLast = i === bases.length - 1;
    const entry = isLast ? undefined : trusted.get(base);
    if (entry !== undefined) {
      checkJoins(result.segments[result.segments.length - 1], base, file);
      result.segments.push(deferredSegment(dir, entry));
      continue;
    }
    const handle = await fs.open(file, readOnly || !isLast ? 'read' : 'readWrite');
    let keepHandle = false;
    try {
      const envelope = await readSegmentEnvelope(handle, base, guard);
      const prev = result.segments[result.segments.length - 1];
      if (envelope.kind !== 'unborn') checkJoins(prev, base, file);
      if (envelope.kind === 'sealed') {
        result.segments.push(sealedSegment(file, envelope));
      } else if (!isLast) {
        throw new CorruptionError('segment has no footer but later segments exist', { file, offset: envelope.size });
      } else if (envelope.kind === 'unborn') {
        if (!readOnly) result.unbornMovedTo = await moveToRecovery(target, file, 'unborn');
      } else if (readOnly) {
        result.segments.push(unscannedActiveSegment(file, envelope.header));
      } else {
        // A cleanly closed log's active segment opens from its close marker (its frames are checked on first use); otherwise it is scanned now.
        const recovered = (await openFromCloseMarker(handle, envelope.header, envelope.size, settings)) ?? (await recoverActiveSegment(handle, envelope.header, envelope.size, target, settings));
        result.segments.push(recovered.segment);
        result.recovery = recovered.recovery;
        result.activeHandle = handle;
        keepHandle = true;
      }
    } finally {
      if (!keepHandle) await handle.close();
    }
  }
  return result;
}

function checkJoins(prev: SegmentState | undefined, base: number, file: string): void {
  if (prev !== undefined && prev.nextSeq !== base) {
    throw new CorruptionError(`segments do not join: the previous segment ends before sequence ${prev.nextSeq}, this one starts at ${base}`, { file, offset: 0 });
  }
}

function sealedSegment(file: string, envelope: Extract<SegmentEnvelope, { kind: 'sealed' }>): SegmentState {
  return { baseSeq: envelope.header.baseSeq, file, gaps: [], damage: undefined, ...sealedFigures(envelope) };
}
