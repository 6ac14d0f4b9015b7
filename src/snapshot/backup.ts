/**
 * `log.backup(dest)`: a point-in-time copy of a log taken while appends go
 * on. The view of the segments is taken in the same turn as the call, so the
 * copy holds exactly the records acknowledged before it (`[firstSeq,
 * nextSeq)`). Sealed segments never change again: they are hard-linked where
 * the file system allows (same device, the real file system) and copied
 * otherwise. The active segment is copied up to its published `dataEnd`
 * only: never the writer's in-flight frames beyond the watermark, nor the
 * zeros it preallocated. The copy then gets a clean-close marker, so it opens
 * as a cleanly closed log. The catalog (`index/`) is not copied: the copy
 * rebuilds it from the files at its first open. Everything is written into a
 * temporary directory beside `dest`, fsynced, and renamed to `dest` at the
 * end: `dest` never holds half a backup. Records from `firstSeq` on are
 * pinned on the log while the backup runs. Segments that retention evicted
 * to the archive tier are not on this disk: the backup starts after them.
 *
 * @module
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AofError, errnoOf, InvalidArgumentError, IoError, toAofError } from '../errors.js';
import { pathExists, readFully, removeTree as removeTreeStrict, writeFully } from '../fs/io.js';
import type { FileSystem } from '../fs/types.js';
import { encodeEmptyFrame, FLAG_CLOSE_MARKER, frameCrcSeed } from '../record/frame.js';
import type { HandlePool } from '../segment/handle-pool.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { SEGMENTS_DIR, segmentFileName } from '../segment/names.js';
import { abortError, isAbortError, throwIfAborted } from './abort.js';
import { TMP_PREFIX } from './format.js';
import { notePendingBackup, sweepKilledBackups, type PendingBackup } from './backup-pending.js';

/** Options of `log.backup(dest, options)`. */
export interface BackupOptions {
  /** Stops the backup: the temporary directory is removed and the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Hard-link sealed segments when the file system allows (default true).
   * A link shares the file with the log: the bytes are the same (damage to
   * one is damage to both). `Log.repair` never changes a segment file in
   * place (it renames a new file over it), so repairing either leaves the
   * other's copy as it was. `false` copies every byte.
   */
  link?: boolean;
}

/** One segment of a backup and how it got there. */
export interface BackupSegment {
  baseSeq: number;
  nextSeq: number;
  /** Bytes of the file in the backup. */
  bytes: number;
  /** `link`: hard link of a sealed segment; `copy`: copy of a sealed segment; `prefix`: the active segment's acknowledged prefix plus a close marker. */
  how: 'link' | 'copy' | 'prefix';
}

/** What `log.backup` made. */
export interface BackupReport {
  /** The backup's log directory (`dest`). */
  dir: string;
  /** First record in the backup. */
  firstSeq: number;
  /** The commit watermark at the call: the backup holds `[firstSeq, nextSeq)`. */
  nextSeq: number;
  /** Records `[from, to)` of segments that retention had evicted to the archive tier: not on this disk, so not in the backup (they are in the archive). */
  archived: { from: number; to: number } | undefined;
  /** Segments, oldest first. */
  segments: BackupSegment[];
  /** Bytes of all segment files in the backup. */
  bytes: number;
  /** Bytes written (copies); linked files cost none. */
  bytesCopied: number;
  /** True when the copy ends with a clean-close marker (always, unless the log was between sealing a segment and starting the next). */
  cleanClose: boolean;
  /** Wall-clock duration. */
  durationMs: number;
}

/** What the log hands over: its own view of its segments, read in the calling turn, and its pins. */
export interface BackupSource {
  dir: string;
  fs: FileSystem;
  fileMode: number;
  dirMode: number;
  segments: readonly LoadedSegment[];
  /** The log's descriptor budget: each segment is read through a handle leased from it. */
  files: HandlePool;
  pin(fromSeq: number, reason: string): () => void;
  /** A read-only handle writes nothing in the log directory (no marker of its backup, see backup-pending.ts). */
  readOnly?: boolean;
}

interface PlannedSegment {
  baseSeq: number;
  nextSeq: number;
  file: string;
  sealed: boolean;
  /** Bytes to take: header, acknowledged frames and, once sealed, the footer. */
  length: number;
  salt: Buffer;
  lastTimestamp: number;
}

const COPY_BUFFER_BYTES = 1024 * 1024;

/**
 * Takes the point-in-time view of `source` synchronously, before returning,
 * then copies it to `dest`. See the module comment.
 */
export function backupLog(source: BackupSource, dest: string, options: BackupOptions = {}): Promise<BackupReport> {
  try {
    checkBackupArgs(source, dest, options);
  } catch (err) {
    return Promise.reject(err);
  }
  if (options.signal?.aborted === true) return Promise.reject(abortError(options.signal));
  // Segments evicted to the archive tier are not on this disk: the backup holds the local suffix of the log.
  let firstLocal = 0;
  source.segments.forEach((s, i) => {
    if (s.location !== 'local') firstLocal = i + 1;
  });
  const archived = firstLocal === 0 ? undefined : { from: source.segments[0]!.baseSeq, to: source.segments[firstLocal - 1]!.nextSeq };
  const plan: PlannedSegment[] = source.segments.slice(firstLocal).map((s) => ({
    baseSeq: s.baseSeq, nextSeq: s.nextSeq, file: s.file, sealed: s.sealed, length: s.dataEnd + (s.sealed ? s.footerBytes : 0),
    salt: Buffer.from(s.salt), lastTimestamp: s.lastTimestamp,
  }));
  const firstSeq = plan[0]?.baseSeq ?? archived?.to ?? 0;
  const nextSeq = plan[plan.length - 1]?.nextSeq ?? archived?.to ?? 0;
  const release = source.pin(firstSeq, `backup to ${dest}`);
  return copyPlan(source, plan, firstSeq, nextSeq, archived, path.resolve(dest), options).finally(release);
}

function checkBackupArgs(source: BackupSource, dest: string, options: BackupOptions): void {
  if (typeof dest !== 'string' || dest.length === 0) throw new InvalidArgumentError('backup destination must be a non-empty path string');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('backup options must be an object');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('backup option signal must be an AbortSignal');
  if (options.link !== undefined && typeof options.link !== 'boolean') throw new InvalidArgumentError('backup option link must be a boolean');
  const from = path.resolve(source.dir);
  const to = path.resolve(dest);
  if (to === from || to.startsWith(from + path.sep) || from.startsWith(to + path.sep)) throw new InvalidArgumentError(`backup destination ${dest} must lie outside the log directory ${source.dir}`);
}

async function copyPlan(source: BackupSource, plan: PlannedSegment[], firstSeq: number, nextSeq: number, archived: BackupReport['archived'], dest: string, options: BackupOptions): Promise<BackupReport> {
  const started = performance.now();
  const fs = source.fs;
  const signal = options.signal;
  await checkDestination(fs, dest);
  const parent = path.dirname(dest);
  const tmp = path.join(parent, `${TMP_PREFIX}${process.pid}-${path.basename(dest)}-${randomBytes(4).toString('hex')}`);
  const report: BackupReport = { dir: dest, firstSeq, nextSeq, archived, segments: [], bytes: 0, bytesCopied: 0, cleanClose: false, durationMs: 0 };
  let made = false;
  let pending: PendingBackup | undefined;
  try {
    if (source.readOnly !== true) {
      await sweepKilledBackups(fs, source.dir);
      pending = await notePendingBackup(fs, source.dir, tmp, source.fileMode);
    }
    if (!(await pathExists(fs, parent))) {
      await fs.mkdir(parent, source.dirMode);
      await fs.syncDir(path.dirname(parent));
    }
    await fs.mkdir(path.join(tmp, SEGMENTS_DIR), source.dirMode);
    made = true;
    for (const seg of plan) {
      throwIfAborted(signal);
      const target = path.join(tmp, SEGMENTS_DIR, segmentFileName(seg.baseSeq));
      let how: BackupSegment['how'];
      let bytes = seg.length;
      if (seg.sealed) {
        how = options.link !== false && (await tryLink(fs, seg.file, target)) ? 'link' : 'copy';
        if (how === 'copy') report.bytesCopied += await copyPrefix(fs, source.files, seg.file, target, seg.length, source.fileMode, undefined, signal);
      } else {
        how = 'prefix';
        const marker = encodeEmptyFrame(frameCrcSeed(seg.salt), seg.nextSeq, 0, Math.max(Date.now(), seg.lastTimestamp), FLAG_CLOSE_MARKER);
        report.bytesCopied += await copyPrefix(fs, source.files, seg.file, target, seg.length, source.fileMode, marker, signal);
        bytes += marker.length;
        report.cleanClose = true;
      }
      report.segments.push({ baseSeq: seg.baseSeq, nextSeq: seg.nextSeq, bytes, how });
      report.bytes += bytes;
    }
    throwIfAborted(signal);
    await fs.syncDir(path.join(tmp, SEGMENTS_DIR));
    await fs.syncDir(tmp);
    await fs.rename(tmp, dest);
    made = false;
    await fs.syncDir(parent);
    await pending?.done();
  } catch (err) {
    if (made) await removeTree(fs, tmp);
    await pending?.done().catch(() => undefined);
    if (isAbortError(err) || err instanceof AofError) throw err;
    throw toAofError(err, 'backup failed', dest);
  }
  report.durationMs = performance.now() - started;
  return report;
}

/** `dest` must not exist, or be an empty directory. */
async function checkDestination(fs: FileSystem, dest: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await fs.stat(dest)).isDirectory;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw toAofError(err, 'cannot inspect the backup destination', dest);
  }
  if (!isDirectory || (await fs.readdir(dest)).length > 0) throw new InvalidArgumentError(`backup destination ${dest} exists and is not an empty directory`);
}


/** Hard-links `from` to `to` through the adapter; false where linking is not possible (another device, no hard links). */
async function tryLink(fs: FileSystem, from: string, to: string): Promise<boolean> {
  try {
    await fs.link(from, to);
    return true;
  } catch (err) {
    if (['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS'].includes(errnoOf(err) ?? '')) return false;
    throw err;
  }
}

/** Copies the first `length` bytes of `from` into a new file `to` (then `tail`, if given), fdatasynced. Resolves bytes written. */
async function copyPrefix(fs: FileSystem, files: HandlePool, from: string, to: string, length: number, fileMode: number, tail: Buffer | undefined, signal: AbortSignal | undefined): Promise<number> {
  return files.withHandle(from, async (src) => {
    const dst = await fs.open(to, 'createNew', fileMode);
    try {
      const buffer = Buffer.allocUnsafe(Math.min(COPY_BUFFER_BYTES, Math.max(1, length)));
      let done = 0;
      while (done < length) {
        throwIfAborted(signal);
        const want = Math.min(buffer.length, length - done);
        const n = await readFully(src, buffer, 0, want, done);
        if (n !== want) throw new IoError(`segment is ${done + n} bytes, shorter than the ${length} bytes acknowledged`, Object.assign(new Error('short read'), { code: 'EIO' }), { file: from, offset: done + n });
        await writeFully(dst, buffer, 0, n, done);
        done += n;
      }
      if (tail !== undefined) await writeFully(dst, tail, 0, tail.length, done);
      await dst.datasync();
      return done + (tail?.length ?? 0);
    } finally {
      await dst.close();
    }
  });
}

/**
 * Removes a directory tree through the adapter, best effort: it only ever
 * removes a backup's own temporary or pruned directory, whose leftovers the
 * next open of the store removes, so its failure must not hide the error
 * that led here.
 */
export async function removeTree(fs: FileSystem, dir: string): Promise<void> {
  await removeTreeStrict(fs, dir).catch(() => undefined);
}
