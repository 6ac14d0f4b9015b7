import * as path from 'node:path';
import { writeFully } from './io.js';
import type { FileSystem } from './types.js';

/**
 * Whole files written durably through the adapter: the small records the
 * engine keeps beside its segments (repair's intent, a backup's marker, an
 * archived copy) must be there whole or not at all after a crash.
 *
 * @module
 */

/** Writes `content` to a new file `file` (EEXIST if present) and fsyncs it. */
export async function writeNewFileSynced(fs: FileSystem, file: string, content: Uint8Array, mode: number): Promise<void> {
  const handle = await fs.open(file, 'createNew', mode);
  try {
    await writeFully(handle, content, 0, content.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Puts `content` at `file` whole or not at all: written to the new file
 * `tmp`, fsynced, renamed over `file`, and the directory fsynced so the new
 * name survives a power loss. The caller removes a `tmp` a crash left.
 */
export async function replaceFileDurably(fs: FileSystem, file: string, tmp: string, content: Uint8Array, mode: number): Promise<void> {
  await writeNewFileSynced(fs, tmp, content, mode);
  await fs.rename(tmp, file);
  await fs.syncDir(path.dirname(file));
}
