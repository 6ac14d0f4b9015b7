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
import { readSegmentEnvelope, sealedFigures, type HeaderCheck, type SealedFigures } from '../segment/load.js';
import type { LoadedSegment, SegmentState } from '../segment/loaded-segment.js';
import type { Segment } from '../segment/segment.js';
import { segmentPath } from '../segment/names.js';

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
 * A sealed local segment known from its catalog entry. Until loaded, its salt
 * and index are unknown, `dataEnd` is the file size and `footerBytes` 0 (so
 * `dataEnd + footerBytes` is the size either way).
 */
export function deferredSegment(dir: string, e: CatalogEntry): SegmentState {
  return {
    baseSeq: e.baseSeq, file: segmentPath(dir, e.baseSeq), salt: Buffer.alloc(0), createdMs: e.createdMs, sealed: true,
    nextSeq: e.nextSeq, recordCount: e.recordCount, dataEnd: e.bytes, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp,
    index: [], gaps: [], damage: undefined, footerCrc: e.footerCrc ?? undefined, footerBytes: 0, location: 'local', needsFetch: false, deferred: true,
  };
}

/** Reads a deferred segment's header and footer, checks them against what the catalog said, and fills in the rest. Concurrent calls share one load. */
export function loadDeferredSegment(files: HandlePool, seg: Segment, guard?: HeaderCheck): Promise<void> {
  return seg.loadDeferred(files, (handle, s) => load(handle, s, guard));
}

async function load(handle: FileHandle, seg: LoadedSegment, guard: HeaderCheck | undefined): Promise<SealedFigures> {
  const envelope = await readSegmentEnvelope(handle, seg.baseSeq, guard);
  if (envelope.kind !== 'sealed') throw new CorruptionError('the catalog lists this segment as sealed but its footer is missing or damaged (run Log.verify)', { file: seg.file, offset: envelope.size });
  const s = envelope.summary;
  const differs = [
    envelope.size !== seg.dataEnd + seg.footerBytes && `size ${envelope.size} (catalog: ${seg.dataEnd + seg.footerBytes})`,
    envelope.footerCrc !== seg.footerCrc && 'footer checksum',
    s.nextSeq !== seg.nextSeq && `next sequence ${s.nextSeq} (catalog: ${seg.nextSeq})`,
    s.recordCount !== seg.recordCount && 'record count',
    (s.firstTimestamp !== seg.firstTimestamp || s.lastTimestamp !== seg.lastTimestamp) && 'timestamps',
    envelope.header.createdMs !== seg.createdMs && 'creation time',
  ].filter((d): d is string => d !== false);
  if (differs.length > 0) throw new CorruptionError(`sealed segment changed since the catalog recorded it: ${differs.join(', ')} (run Log.verify)`, { file: seg.file, offset: s.dataEnd });
  return sealedFigures(envelope);
}
