import * as path from 'node:path';
import { AofError, errnoOf, InvalidArgumentError, IoError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { SEGMENTS_DIR } from '../segment/names.js';

/**
 * Makes sure `dir` is a usable log directory: creates it (and `segments/`)
 * for a writer, with each new entry's parent fsynced; refuses a path that is
 * a file; reports permission problems naming the path.
 */
export async function prepareLogDir(fs: FileSystem, dir: string, readOnly: boolean, dirMode: number): Promise<void> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('log directory must be a non-empty path string');
  const existed = await isDirectory(fs, dir);
  if (readOnly) {
    if (!existed) throw new IoError('log directory does not exist', Object.assign(new Error('ENOENT'), { code: 'ENOENT' }), { file: dir });
    return;
  }
  const segments = path.join(dir, SEGMENTS_DIR);
  try {
    if (!existed) {
      await fs.mkdir(dir, dirMode);
      await fs.syncDir(path.dirname(path.resolve(dir)));
    }
    if (!(await isDirectory(fs, segments))) {
      await fs.mkdir(segments, dirMode);
      await fs.syncDir(dir);
    }
  } catch (err) {
    // Already typed (a path that could not be inspected): its errno and refused access stay visible.
    if (err instanceof AofError) throw err;
    throw new IoError('cannot create the log directory', err, { file: dir });
  }
}

async function isDirectory(fs: FileSystem, p: string): Promise<boolean> {
  try {
    const stat = await fs.stat(p);
    if (!stat.isDirectory) throw new InvalidArgumentError(`${p} exists and is not a directory`);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    if (err instanceof InvalidArgumentError) throw err;
    throw new IoError('cannot inspect the log directory', err, { file: p });
  }
}
