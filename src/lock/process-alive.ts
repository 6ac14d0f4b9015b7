import * as fs from 'node:fs';
import { errnoOf } from '../errors.js';

/**
 * Process liveness by pid, for display only (`aof stat` says whether the
 * recorded holder looks alive). Never used to decide who may write: a pid is
 * only meaningful in the PID namespace it came from, and in another one it is
 * absent or names an unrelated process (issue #18). The writer lock asks the
 * kernel instead (see kernel-lock.ts).
 *
 * @module
 */

/** Whether `pid` is a live process in our PID namespace; with `processStart` recorded, a reused pid counts as dead. */
export function processAlive(pid: number, processStart?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoOf(err) === 'ESRCH') return false;
  }
  if (processStart === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === processStart;
}

/** Start time of a process from /proc (Linux), so a reused pid is told from the original. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
