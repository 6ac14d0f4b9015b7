import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { readAt, writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { RECOVERY_DIR } from '../segment/names.js';

/** Window used when copying bytes into `recovery/`. */
const COPY_WINDOW_BYTES = 1 << 20;

/** Where preserved bytes go and with which permissions. */
export interface RecoveryTarget {
  fs: FileSystem;
  /** The log directory. */
  dir: string;
  fileMode: number;
  dirMode: number;
}

/**
 * A name under `recovery/` that says where the bytes came from, unique even
 * for two cuts of the same file in the same millisecond. Built only from our
 * own segment names and numbers, so it never leaves the directory.
 */
export function recoveryName(sourceName: string, offset: number, label: string): string {
  return `${sourceName}.at-${offset}.${label}.${Date.now()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Copies bytes `[from, to)` of `source` into a new file under `recovery/`,
 * made durable (file and directory fsync) before the caller cuts them off.
 * Resolves the new file's path.
 */
export async function preserveRange(target: RecoveryTarget, source: FileHandle, from: number, to: number, label: string): Promise<string> {
  const recoveryDir = path.join(target.dir, RECOVERY_DIR);
  await target.fs.mkdir(recoveryDir, target.dirMode);
  const dest = path.join(recoveryDir, recoveryName(path.basename(source.path), from, label));
  const out = await target.fs.open(dest, 'createNew', target.fileMode);
  try {
    for (let at = from; at < to; at += COPY_WINDOW_BYTES) {
      const chunk = await readAt(source, at, Math.min(COPY_WINDOW_BYTES, to - at));
      await writeFully(out, chunk, 0, chunk.length, at - from);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  await target.fs.syncDir(recoveryDir);
  return dest;
}

/** Moves a whole file under `recovery/`, durably. Resolves its new path. */
export async function moveToRecovery(target: RecoveryTarget, file: string, label: string): Promise<string> {
  const recoveryDir = path.join(target.dir, RECOVERY_DIR);
  await target.fs.mkdir(recoveryDir, target.dirMode);
  const dest = path.join(recoveryDir, recoveryName(path.basename(file), 0, label));
  await target.fs.rename(file, dest);
  await target.fs.syncDir(recoveryDir);
  await target.fs.syncDir(path.dirname(file));
  return dest;
}
