/**
 * A backup's temporary directory must not outlive a kill of the process
 * writing it. Before it creates that directory, a writer's backup records
 * its path, durably, in a marker in the log directory
 * (`backup-pending-<hex>`: temporary name, fsync, rename, directory fsync),
 * and removes the marker when the backup ends either way. The next writer
 * open of the log, or its next backup, removes the directories that
 * markers left by another process name, then the markers. One writer per
 * log means those processes are gone; markers of backups running in this
 * process are skipped. Read-only handles write nothing in the log
 * directory, so a killed read-only backup is not covered.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { errnoOf } from '../errors.js';
import { readAt, unlinkIfExists } from '../fs/io.js';
import { replaceFileDurably } from '../fs/durable-file.js';
import type { FileSystem } from '../fs/types.js';
import { removeTree } from './backup.js';

const MARKER = /^backup-pending-[0-9a-f]{16}$/;
const MARKER_TMP = /^\.backup-pending-[0-9a-f]{16}\.tmp$/;
/** The only directories a marker may name: a backup's temporary directory (see backup.ts). */
const BACKUP_TMP = /^\.tmp-\d+-.+-[0-9a-f]{8}$/;
const MAX_MARKER_BYTES = 64 * 1024;

/** Markers of backups under way in this process: never swept. */
const live = new Set<string>();

/** A recorded backup; `done()` removes its marker. */
export interface PendingBackup {
  done(): Promise<void>;
}

/** Records, durably, that a backup is about to write the temporary directory `tmp`. */
export async function notePendingBackup(fs: FileSystem, dir: string, tmp: string, fileMode: number): Promise<PendingBackup> {
  const id = randomBytes(8).toString('hex');
  const marker = path.join(dir, `backup-pending-${id}`);
  const staging = path.join(dir, `.backup-pending-${id}.tmp`);
  live.add(marker);
  await replaceFileDurably(fs, marker, staging, Buffer.from(path.resolve(tmp), 'utf8'), fileMode);
  return {
    async done() {
      await unlinkIfExists(fs, marker);
      live.delete(marker);
    },
  };
}

/** Removes what killed backups of this log left: their temporary directories, then their markers. */
export async function sweepKilledBackups(fs: FileSystem, dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const marker = path.join(dir, name);
    if (MARKER_TMP.test(name)) await unlinkIfExists(fs, marker); // killed before it was in place: no directory yet
    if (!MARKER.test(name) || live.has(marker)) continue;
    const tmp = await readMarker(fs, marker);
    // Only a path shaped like a backup's temporary directory is ever removed: a forged marker cannot aim elsewhere.
    if (tmp !== undefined && path.isAbsolute(tmp) && BACKUP_TMP.test(path.basename(tmp))) await removeTree(fs, tmp);
    await unlinkIfExists(fs, marker);
  }
}

async function readMarker(fs: FileSystem, marker: string): Promise<string | undefined> {
  try {
    const handle = await fs.open(marker, 'read');
    try {
      return (await readAt(handle, 0, MAX_MARKER_BYTES)).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}
