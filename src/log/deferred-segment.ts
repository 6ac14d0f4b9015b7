/**
 * Sealed segments opened from the catalog alone. A sealed segment never
 * changes, and its catalog entry is written only once its footer is durable,
 * so an open need not read a thousand headers and footers to learn what the
 * catalog already says (Kafka trusts its index files the same way). The
 * header and footer are read on first use and checked against the entry:
 * damage or a file changed behind the log's back then fails that read with
 * `AOF_CORRUPT`, as damage to the data itself always did. `Log.verify` reads
 * everything.
 */
import type { CatalogEntry } from '../catalog/entry.js';
import { impossibleEntry } from '../catalog/entry.js';
import { CorruptionError } from '../errors.js';
import type { FileHandle } from '../fs/types.js';
import type { HandlePool } from '../segment/handle-pool.js';
import { readSegmentEnvelope, sealedFigures, type HeaderCheck, type SealedFigures, type SegmentEnvelope } from '../segment/load.js';
import type { LoadedSegment, SegmentState } from '../segment/loaded-segment.js';
import type { Segment } from '../segment/segment.js';
import { segmentPath } from '../segment/names.js';
import type { CleanCloseRecord } from '../recovery/recover-active.js';
import type { CommitPoint } from './commit-points.js';

/** Entries a loader may open a sealed local segment from without reading its file. */
export function trustedSealedEntries(entries: readonly CatalogEntry[]): Map<number, CatalogEntry> {
  const trusted = new Map<number, CatalogEntry>();
  for (const e of entries) {
    const sealedLocally = e.status === 'sealed' || e.status === 'archiving' || e.status === 'archived';
    if (sealedLocally && e.footerCrc !== null && e.bytes > 0 && impossibleEntry(e) === undefined) trusted.set(e.baseSeq, e);
  }
  return trusted;
}

/**
 * What a clean close recorded about the active segment: the catalog's entry
 * of the last segment when it is active (with the commit point the log
 * recorded), for an open that trusts the segment's close marker
 * (`openFromCloseMarker`). Only for a catalog marked closed cleanly.
 */
export function cleanCloseRecord(entries: readonly CatalogEntry[], committed: CommitPoint | undefined): CleanCloseRecord | undefined {
  const last = entries[entries.length - 1];
  if (last === undefined || last.status !== 'active') return undefined;
  return { entry: last, committedSeq: committed?.seq };
}

/**
 * A sealed local segment known from its catalog entry. Until loaded, its salt
 * and index are unknown, `dataEnd` is the file size and `footerBytes` 0 (so
 * `dataEnd + footerBytes` is the size either way).
 */
export function deferredSegment(dir: string, e: CatalogEntry): SegmentState {
  return {
    baseSeq: e.baseSeq, version: 0, positionsBytes: 0, file: segmentPath(dir, e.baseSeq), salt: Buffer.alloc(0), createdMs: e.createdMs, sealed: true,
    nextSeq: e.nextSeq, recordCount: e.recordCount, dataEnd: e.bytes, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp,
    index: [], gaps: [], damage: undefined, footerCrc: e.footerCrc ?? undefined, footerBytes: 0, location: 'local', needsFetch: false, deferred: true,
  };
}

/**
 * Called when a sealed segment's checksummed header and footer are intact but
 * disagree with its catalog entry: the catalog is what is wrong (it is
 * derived data), so the file's figures are used and the entry is corrected.
 */
export type CatalogMismatch = (baseSeq: number, error: CorruptionError, figures: SealedFigures) => void;

/** Reads a deferred segment's header and footer, checks them against what the catalog said, and fills in the rest. Concurrent calls share one load. */
export function loadDeferredSegment(files: HandlePool, seg: Segment, guard?: HeaderCheck, mismatch?: CatalogMismatch): Promise<void> {
  return seg.loadDeferred(files, (handle, s) => load(handle, s, guard, mismatch));
}

async function load(handle: FileHandle, seg: LoadedSegment, guard: HeaderCheck | undefined, mismatch: CatalogMismatch | undefined): Promise<SealedFigures> {
  const envelope = await readSegmentEnvelope(handle, seg.baseSeq, guard);
  if (envelope.kind !== 'sealed') throw new CorruptionError('the catalog lists this segment as sealed but its footer is missing or damaged (run Log.verify)', { file: seg.file, offset: envelope.size });
  const s = envelope.summary;
  const differs = sealedFileDiffers({ bytes: seg.dataEnd + seg.footerBytes, footerCrc: seg.footerCrc ?? null, nextSeq: seg.nextSeq, recordCount: seg.recordCount, firstTimestamp: seg.firstTimestamp, lastTimestamp: seg.lastTimestamp, createdMs: seg.createdMs }, envelope);
  const figures = sealedFigures(envelope);
  if (differs.length === 0) return figures;
  // The header and footer passed their checksums and name this segment's base: the file is intact and is the truth.
  // A catalog entry that disagrees with it is a damaged catalog, not a damaged segment: use the file's figures.
  const error = new CorruptionError(`catalog entry of sealed segment ${seg.baseSeq} disagrees with its intact file: ${differs.join(', ')}; the file's figures are used (\`aof repair\` rebuilds the catalog)`, { file: seg.file, offset: s.dataEnd });
  if (mismatch === undefined) throw error;
  mismatch(seg.baseSeq, error, figures);
  return figures;
}

/** The figures a catalog entry records about a sealed segment's file. */
export type SealedEntryFigures = Pick<CatalogEntry, 'bytes' | 'footerCrc' | 'nextSeq' | 'recordCount' | 'firstTimestamp' | 'lastTimestamp' | 'createdMs'>;

/** What differs between a catalog entry and the intact sealed file it describes (empty when they agree). */
export function sealedFileDiffers(e: SealedEntryFigures, envelope: Extract<SegmentEnvelope, { kind: 'sealed' }>): string[] {
  const s = envelope.summary;
  return [
    envelope.size !== e.bytes && `size ${envelope.size} (catalog: ${e.bytes})`,
    envelope.footerCrc !== e.footerCrc && 'footer checksum',
    s.nextSeq !== e.nextSeq && `next sequence ${s.nextSeq} (catalog: ${e.nextSeq})`,
    s.recordCount !== e.recordCount && 'record count',
    (s.firstTimestamp !== e.firstTimestamp || s.lastTimestamp !== e.lastTimestamp) && 'timestamps',
    envelope.header.createdMs !== e.createdMs && 'creation time',
  ].filter((d): d is string => d !== false);
}
