import * as path from 'node:path';
import type { OpenMode } from './types.js';

/**
 * What a refused call needed, for permission errors (EACCES, EPERM): Node's
 * error names the call and the path but not what access was missing, which
 * is what an operator has to grant. The adapter's `open` records how the file
 * was opened ({@link noteOpenAccess}); other calls are read from `syscall`.
 *
 * @module
 */

/** True for the errno codes of a refused permission. */
export function isPermissionError(errno: string | undefined): boolean {
  return errno === 'EACCES' || errno === 'EPERM';
}

/** Records on a failed open's error the access it asked for (no-op for other errors). */
export function noteOpenAccess(err: unknown, file: string, how: OpenMode): void {
  if (typeof err !== 'object' || err === null || !isPermissionError((err as { code?: string }).code)) return;
  const access =
    how === 'read' ? `read access to ${file}` : how === 'readWrite' ? `read and write access to ${file}` : `write access to the directory ${path.dirname(file)} (to create ${path.basename(file)})`;
  Object.assign(err, { access });
}

/** The access a permission error says was refused, as words naming the path; undefined for other errors. */
export function deniedAccess(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; access?: unknown; syscall?: unknown; path?: unknown; dest?: unknown };
  if (typeof e.code !== 'string' || !isPermissionError(e.code)) return undefined;
  if (typeof e.access === 'string') return e.access;
  const p = typeof e.path === 'string' ? e.path : undefined;
  if (p === undefined) return undefined;
  switch (e.syscall) {
    case 'open':
      return `read or write access to ${p}`;
    case 'scandir':
    case 'opendir':
      return `read access to the directory ${p}`;
    case 'mkdir':
    case 'symlink':
    case 'link':
      return `write access to the directory ${path.dirname(p)} (to create ${path.basename(p)})`;
    case 'unlink':
    case 'rmdir':
      return `write access to the directory ${path.dirname(p)} (to remove ${path.basename(p)})`;
    case 'rename':
      return `write access to the directories of ${p}${typeof e.dest === 'string' ? ` and ${e.dest}` : ''}`;
    case 'stat':
    case 'lstat':
    case 'access':
      return `search (execute) access to every directory above ${p}`;
    case 'utime':
    case 'futime':
    case 'chmod':
    case 'chown':
      return `ownership of ${p}`;
    default:
      return `access to ${p}`;
  }
}
