import type { CatalogEntry } from '../catalog/entry.js';
import { CorruptionError } from '../errors.js';
import { readAt } from '../fs/io.js';
import { listSegmentBases } from '../recovery/load-segments.js';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES, type SegmentHeader } from '../segment/header.js';
import { segmentPath } from '../segment/names.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import type { NormalizedOptions } from '../options.js';
import { analyzeSegment } from '../recovery/analyze.js';
import type { ScanSettings } from '../recovery/recover-active.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { catalogCommitPoint, type CommitPoint, checkDataReaches, fileHolding, highestCommitPoint, identityCommitPoint, syncsBeforeAcknowledging, watermarkCommitPoint } from './commit-points.js';
import type { IdentityGuard } from './identity-guard.js';
import { newLogId, readIdentity, WATERMARK_DURABLE, writeIdentity, type IdentityRecord } from './identity-file.js';
import * as path from 'node:path';
import { WATERMARK_FILE } from '../tail/watermark.js';

/**
 * How `Log.open` uses the log's identity and commit points (issue 18,
 * breaks 8 and 10): read the identity file, check the end of the data
 * against every recorded commit point, adopt an identity for a log that has
 * none, and record the commit point of a clean close.
 *
 * @module
 */

/** A writer's identity, as written in the identity file. */
export interface OpenedIdentity {
  record: IdentityRecord;
}

/** The identity file as found at open, and how a writer adopts one when it is missing or damaged. */
export interface FoundIdentity {
  /** The valid record, or undefined (missing or damaged: the identity is learned from the segment headers). */
  record: IdentityRecord | undefined;
  /** What the guard starts from: the record's identity, or the oldest stamped header's. */
  known: Pick<IdentityRecord, 'logId' | 'since'> | undefined;
  /** Writers: the record to use, written (durably) first when the file was missing or damaged. */
  adopt(opts: NormalizedOptions, segments: readonly LoadedSegment[], guard: IdentityGuard, active: FileHandle | undefined): Promise<OpenedIdentity>;
}

/**
 * Without an identity file, the log's identity is the one in the header of
 * its oldest stamped segment: read here, header by header from the oldest,
 * before anything else is loaded, so that a newer foreign segment (the last
 * one, read first at open when the catalog vouches for the sealed ones) is
 * never taken for the log's own. One 64-byte read per version-1 segment,
 * only while the log has no identity file.
 */
async function oldestStampedIdentity(fs: FileSystem, dir: string): Promise<Pick<IdentityRecord, 'logId' | 'since'> | undefined> {
  for (const base of await listSegmentBases(fs, dir)) {
    const file = segmentPath(dir, base);
    let header: SegmentHeader;
    const handle = await fs.open(file, 'read');
    try {
      if ((await handle.size()) < SEGMENT_HEADER_BYTES) continue;
      header = decodeSegmentHeader(await readAt(handle, 0, SEGMENT_HEADER_BYTES), file);
    } catch {
      continue; // damage is reported when the segment is loaded
    } finally {
      await handle.close();
    }
    if (header.logId !== undefined) return { logId: header.logId, since: base };
  }
  return undefined;
}

/**
 * Reads the identity file of `dir` (or, when it is missing or damaged, the
 * identity the healthy catalog recorded, `catalogWitness`, else the oldest
 * stamped segment header).
 */
export async function identityAtOpen(fs: FileSystem, dir: string, catalogWitness?: Pick<IdentityRecord, 'logId' | 'since'>): Promise<FoundIdentity> {
  const found = await readIdentity(fs, dir);
  const record = found.state === 'ok' ? found.record : undefined;
  // Without the identity file, the identity a healthy catalog recorded is the witness (segments replaced by another log's carry theirs); only then the headers.
  const learned = record ?? catalogWitness ?? (await oldestStampedIdentity(fs, dir));
  return {
    record,
    known: learned,
    async adopt(opts, segments, guard, active) {
      if (record !== undefined) {
        // A writer whose watermark may run ahead of durable data clears the flag durably before it acknowledges anything.
        if (syncsBeforeAcknowledging(opts.flush) || (record.flags & WATERMARK_DURABLE) === 0) return { record };
        const cleared = { ...record, flags: record.flags & ~WATERMARK_DURABLE };
        try {
          await writeIdentity(opts.fs, dir, cleared, opts.fileMode);
        } catch (err) {
          await active?.close().catch(() => undefined);
          throw err;
        }
        return { record: cleared };
      }
      const last = segments[segments.length - 1];
      // Learned from a stamped header when there is one; otherwise a new identity, required from the segment after the last one found (which may be version 1).
      const adopted: IdentityRecord = {
        logId: guard.logId ?? newLogId(),
        since: guard.since ?? (last === undefined ? 0 : last.baseSeq + 1),
        committedSeq: last?.nextSeq ?? 0,
        flags: 0, // the watermark is vouched for only once the writer set the flag (announceStrategy)
      };
      try {
        await writeIdentity(opts.fs, dir, adopted, opts.fileMode);
      } catch (err) {
        await active?.close().catch(() => undefined);
        throw err;
      }
      return { record: adopted };
    },
  };
}

/**
 * A writer's commit point: the highest the log recorded (catalog, identity
 * file, and the published watermark when the writer that published it
 * acknowledged only after fdatasync, as the identity file's flag says). Its data must reach it before the writer creates or
 * acknowledges anything; otherwise `AOF_DATA_LOST` names the missing range.
 */
export async function writerCommitPoint(opts: NormalizedOptions, dir: string, entries: readonly CatalogEntry[], record: IdentityRecord | undefined): Promise<CommitPoint | undefined> {
  // Whether the watermark vouches for durable data depends on the strategy of the writer that published it, as it recorded it.
  const watermark = record !== undefined && (record.flags & WATERMARK_DURABLE) !== 0 ? await watermarkCommitPoint(opts.fs, dir) : undefined;
  return highestCommitPoint([catalogCommitPoint(entries), identityCommitPoint(record), watermark]);
}

/** The check recovery runs on the active segment before it cuts anything (see `ScanSettings.checkEnd`). */
export function endCheck(dir: string, entries: readonly CatalogEntry[], point: CommitPoint | undefined): (nextSeq: number, file: string) => void {
  return (nextSeq, file) => checkDataReaches(nextSeq, point, fileHolding(dir, nextSeq, entries, file));
}

/** After loading: the same check where no active segment was scanned (the last file deleted, or sealed). */
export async function checkWriterEnd(point: CommitPoint | undefined, dir: string, segments: readonly LoadedSegment[], entries: readonly CatalogEntry[], active: FileHandle | undefined): Promise<void> {
  const last = segments[segments.length - 1];
  const end = last?.nextSeq ?? 0;
  try {
    checkDataReaches(end, point, fileHolding(dir, end, entries, last?.file));
  } catch (err) {
    await active?.close().catch(() => undefined);
    throw err;
  }
}

/**
 * A read-only handle's check after it caught up with the published
 * watermark: the data must reach the catalog's and the identity file's
 * commit points, and the published watermark read before the segments were
 * loaded (`watermark`) when its writer synced before acknowledging. A live writer may not have published its watermark yet
 * right after its own open, so before declaring loss the last segment's
 * frames are read in full.
 */
export async function checkEndAfterOpen(opts: NormalizedOptions, dir: string, segments: readonly LoadedSegment[], entries: readonly CatalogEntry[], record: IdentityRecord | undefined, settings: ScanSettings, watermark?: CommitPoint): Promise<void> {
  const point = highestCommitPoint([catalogCommitPoint(entries), identityCommitPoint(record), watermark]);
  const last = segments[segments.length - 1];
  const visible = last?.nextSeq ?? 0;
  if (point === undefined || visible >= point.seq || last === undefined || last.location !== 'local') {
    checkDataReaches(visible, point, fileHolding(dir, visible, entries, last?.file));
    return;
  }
  const handle = await opts.fs.open(last.file, 'read');
  let end: number;
  try {
    const a = await analyzeSegment(handle, last.baseSeq, settings);
    // The view stops at an invalid frame below the commit point, valid frames after it: damage, named by file and offset, not a shorter log.
    // (A frame cut short at the end, or zeros, is an end that stops early: AOF_DATA_LOST below.)
    const bad = a.footer === undefined ? a.damage.find((d) => d.lostFrom === visible && !d.zeros && d.resumeAt !== undefined) : undefined;
    if (bad !== undefined) throw new CorruptionError(`${bad.reason}: records ${visible}..${point.seq - 1}, recorded by the ${point.witness}, lie beyond this invalid frame`, { file: last.file, offset: bad.offset });
    const first = a.footer === undefined ? a.damage[0] : undefined;
    end = a.footer?.nextSeq ?? (first !== undefined ? first.lostFrom : a.nextSeq);
  } finally {
    await handle.close();
  }
  checkDataReaches(end, point, fileHolding(dir, end, entries, last.file));
}

/**
 * A writer that acknowledges only after fdatasync sets `WATERMARK_DURABLE`
 * in the identity file once it has published the watermark of the end it
 * found (durable data): first that watermark is made durable itself, so a
 * watermark left ahead of the data by an earlier `none` writer never
 * survives a power loss under a flag that vouches for it. (Clearing the flag,
 * for `interval` and `none`, happens at adoption, before the writer exists.)
 * A failure only leaves the flag clear: one witness fewer, never a false one.
 */
export async function announceStrategy(opts: NormalizedOptions, dir: string, identity: OpenedIdentity): Promise<void> {
  if (!syncsBeforeAcknowledging(opts.flush) || (identity.record.flags & WATERMARK_DURABLE) !== 0) return;
  const next = { ...identity.record, flags: identity.record.flags | WATERMARK_DURABLE };
  try {
    const watermark = await opts.fs.open(path.join(dir, WATERMARK_FILE), 'readWrite');
    try {
      await watermark.datasync();
    } finally {
      await watermark.close();
    }
    await writeIdentity(opts.fs, dir, next, opts.fileMode);
    identity.record = next;
  } catch {
    // Without the flag the next open does not count the watermark: slower to catch a rollback after a crash, never wrong.
  }
}

/** At a writer's clean close: the new commit point goes to the identity file. A failure only leaves the older (still true) one. */
export async function recordCleanClose(opts: NormalizedOptions, dir: string, identity: OpenedIdentity, nextSeq: number): Promise<void> {
  if (nextSeq <= identity.record.committedSeq) return;
  const next = { ...identity.record, committedSeq: nextSeq };
  try {
    await writeIdentity(opts.fs, dir, next, opts.fileMode);
    identity.record = next;
  } catch {
    // ENOSPC and the like: close must still return, and the older commit point remains a true lower bound.
  }
}
