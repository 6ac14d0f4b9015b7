/**
 * Carries out a repair plan. Each step is idempotent and crash-safe: it
 * checks what is already done, never modifies a segment file in place (a
 * backup may share it through a hard link; a new file is written and
 * renamed over it), and makes every copy under `recovery/` whole before its
 * final name appears (temporary name, fsync, rename, directory fsync). So
 * after a kill at any point, doing the same step again completes it.
 *
 * @module
 */
import * as path from 'node:path';
import { assert } from '../assert.js';
import { CorruptionError, errnoOf } from '../errors.js';
import { pathExists, readAt, unlinkIfExists, writeFully } from '../fs/io.js';
import type { FileSystem } from '../fs/types.js';
import { RECOVERY_DIR, segmentPath } from '../segment/names.js';
import type { PlannedAction } from './repair-intent.js';
import { rebuildSegment, type RebuildPiece, type RebuildPlan } from './rebuild.js';
import type { RecoveryTarget } from './preserve.js';

const COPY_WINDOW_BYTES = 1 << 20;
/** Suffix of the file a step writes before renaming it into place; not a segment name, so no reader picks it up. */
const TMP_SUFFIX = '.repair-tmp';

/** What a step needs besides its action. */
export interface ApplySettings {
  target: RecoveryTarget;
  indexIntervalBytes: number;
  readAheadBytes: number;
}

/** Path under `recovery/` of a planned name. */
export function recoveryPath(dir: string, name: string): string {
  return path.join(dir, RECOVERY_DIR, name);
}

/** Does one planned step (again, if a kill interrupted it). */
export async function applyAction(s: ApplySettings, a: PlannedAction): Promise<void> {
  const { fs, dir } = s.target;
  const file = segmentPath(dir, a.base);
  switch (a.kind) {
    case 'cut': {
      const size = await sizeOf(fs, file);
      if (size === a.offset) return finishReplace(fs, file); // replaced before the kill
      if (size !== a.size) throw changedSince(file, size, `${a.size} (before the cut) or ${a.offset} (after)`);
      if (a.keep !== null) await keepCopy(s.target, file, a.offset, a.size, a.keep);
      await replaceWith(fs, file, s.target.fileMode, async (tmp) => copyRange(fs, file, 0, a.offset, tmp, s.target.fileMode));
      return;
    }
    case 'move': {
      const dest = recoveryPath(dir, a.to);
      if (await pathExists(fs, file)) {
        await fs.mkdir(path.dirname(dest), s.target.dirMode);
        await fs.rename(file, dest);
      } else if (!(await pathExists(fs, dest))) {
        throw new CorruptionError(`segment to move to ${dest} by an interrupted repair is missing, and it is not there either`, { file });
      }
      await fs.syncDir(path.dirname(dest));
      await fs.syncDir(path.dirname(file));
      return;
    }
    case 'rewrite': {
      // The rebuild reads the kept original, so it can be done again after the segment itself was replaced.
      const original = recoveryPath(dir, a.keep);
      if (!(await pathExists(fs, original))) {
        const size = await sizeOf(fs, file);
        if (size !== a.size) throw changedSince(file, size, `${a.size}`);
        await keepCopy(s.target, file, 0, a.size, a.keep);
      }
      const source = await fs.open(original, 'read');
      try {
        await replaceWith(fs, file, s.target.fileMode, async (tmp) => {
          await rebuildSegment(fs, source, tmp, plan(s, a.base, a.salt, a.createdMs, a.logId, a.pieces, a.seal, a.version), s.target.fileMode);
        });
      } finally {
        await source.close();
      }
      return;
    }
    case 'fill':
      await replaceWith(fs, file, s.target.fileMode, async (tmp) => {
        await rebuildSegment(fs, undefined, tmp, plan(s, a.base, a.salt, a.createdMs, a.logId, [{ kind: 'gap', fromSeq: a.base, toSeq: a.toSeq }], true, a.version), s.target.fileMode);
      });
      return;
  }
}

function plan(s: ApplySettings, baseSeq: number, salt: string, createdMs: number, logId: string | undefined, pieces: RebuildPiece[], seal: boolean, version: number | undefined): RebuildPlan {
  // Records written by older builds name no version: theirs was 2 with an identity, 1 without. A version-1 segment given an identity becomes version 2 (the same record layout).
  return { baseSeq, version: logId === undefined ? 1 : Math.max(version ?? 2, 2), salt: Buffer.from(salt, 'hex'), createdMs, logId: logId === undefined ? undefined : Buffer.from(logId, 'hex'), pieces, seal, indexIntervalBytes: s.indexIntervalBytes, readAheadBytes: s.readAheadBytes };
}

function changedSince(file: string, size: number, expected: string): CorruptionError {
  return new CorruptionError(`segment changed since the interrupted repair planned its change: ${size} bytes, expected ${expected}; not touched`, { file, offset: size });
}

/**
 * Writes a new file with `write(tmp)`, fsynced, and renames it over `file`:
 * the old file (and any hard link to it) keeps its bytes. A temporary file
 * left by a kill is replaced.
 */
async function replaceWith(fs: FileSystem, file: string, fileMode: number, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = file + TMP_SUFFIX;
  await unlinkIfExists(fs, tmp);
  await write(tmp);
  await fs.rename(tmp, file);
  await finishReplace(fs, file);
}

/** The rename of a replacement reaches the disk (again, after a kill right after it). */
async function finishReplace(fs: FileSystem, file: string): Promise<void> {
  await fs.syncDir(path.dirname(file));
}

/** Keeps bytes `[from, to)` of `file` as `recovery/<name>`, once: the name appears only when the copy is whole and durable. */
async function keepCopy(target: RecoveryTarget, file: string, from: number, to: number, name: string): Promise<void> {
  const dest = recoveryPath(target.dir, name);
  if (await pathExists(target.fs, dest)) return;
  await target.fs.mkdir(path.dirname(dest), target.dirMode);
  const tmp = dest + TMP_SUFFIX;
  await unlinkIfExists(target.fs, tmp);
  await copyRange(target.fs, file, from, to, tmp, target.fileMode);
  await target.fs.rename(tmp, dest);
  await target.fs.syncDir(path.dirname(dest));
}

/** Copies bytes `[from, to)` of `file` into the new file `dest`, fsynced. */
async function copyRange(fs: FileSystem, file: string, from: number, to: number, dest: string, fileMode: number): Promise<void> {
  assert(to >= from, `a range to copy is not negative (${from}..${to} of ${file})`);
  const source = await fs.open(file, 'read');
  try {
    const out = await fs.open(dest, 'createNew', fileMode);
    try {
      for (let at = from; at < to; at += COPY_WINDOW_BYTES) {
        const chunk = await readAt(source, at, Math.min(COPY_WINDOW_BYTES, to - at));
        if (chunk.length === 0) throw new CorruptionError(`segment ended at ${at} while ${to - from} bytes from ${from} were being copied`, { file, offset: at });
        await writeFully(out, chunk, 0, chunk.length, at - from);
      }
      await out.sync();
    } finally {
      await out.close();
    }
  } finally {
    await source.close();
  }
}

async function sizeOf(fs: FileSystem, file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new CorruptionError('segment planned for repair is missing', { file });
    throw err;
  }
}
