import { constants } from 'node:os';
import { IoError } from '../errors.js';
import { reserveCommitSpace } from './lmdb-reserve.js';

/**
 * lmdb-js rejects every write of a failed commit with a generic
 * "Commit failed" error and hangs the real cause (ENOSPC, EIO, MDB_MAP_FULL)
 * on it as `commitError`, a second promise that it rejects too and on which
 * nothing listens (kriszyp/lmdb-js#368): however well the caller handles its
 * own write, that second rejection is unhandled and, under Node's default
 * `--unhandled-rejections=throw`, kills the process. So every LMDB write of
 * ours goes through here: the cause is taken off `commitError` (which marks
 * it handled) and thrown as an `AOF_IO` error naming the errno and the file.
 *
 * A full disk must not reach LMDB at all: a failed page write in lmdb-js 3.5
 * can corrupt the native heap (see {@link reserveCommitSpace}), so each
 * commit first has its space reserved, and a full disk rejects there, before
 * LMDB is asked. Should a commit fail all the same, the environment takes no
 * more writes from this process: its data stay readable, every later write
 * rejects at once with `AOF_IO`, and the next open brings the catalog up to
 * date from the segment files (a writer that saw a catalog error never marks
 * a clean close).
 */
export function lmdbWrite<T>(env: object, write: () => Promise<T>, what: string, file: string, reserveBytes = CATALOG_RESERVE_BYTES): Promise<T> {
  // One commit at a time per environment: the space for the next one is reserved between them (see reserveCommitSpace).
  const next = (queues.get(env) ?? Promise.resolve()).then(() => writeNow(env, write, what, file, reserveBytes));
  queues.set(env, next.catch(() => undefined));
  return next;
}

/**
 * Settles once every write queued on `env` so far has settled (either way):
 * an environment is closed only after, or a queued write would run on a
 * closed environment (lmdb-js then throws "The environment is already
 * closed") and be lost.
 */
export function writesSettled(env: object): Promise<void> {
  return (queues.get(env) ?? Promise.resolve()).then(() => undefined);
}

/** Space kept allocated past the catalog's last page: far more than a commit of a few entries needs. */
export const CATALOG_RESERVE_BYTES = 512 * 1024;

async function writeNow<T>(env: object, write: () => Promise<T>, what: string, file: string, reserveBytes: number): Promise<T> {
  const earlier = failedEnvironments.get(env);
  if (earlier !== undefined) throw new IoError(`${what}: an earlier commit failed; no more writes until the log is reopened`, earlier, { file });
  try {
    reserveCommitSpace(file, reserveBytes);
  } catch (err) {
    // Nothing was asked of LMDB: the environment is as it was, and a later write may find room again.
    throw new IoError(`${what}: no room on disk for the commit`, err, { file });
  }
  try {
    return await write();
  } catch (err) {
    const cause = await commitCause(err);
    // A commit that failed (not a write refused before it, such as a key too long) stops the environment's writes.
    if ((err as { commitError?: unknown } | null)?.commitError !== undefined) failedEnvironments.set(env, cause);
    throw new IoError(what, cause, { file });
  }
}

/** The last write queued per environment. */
const queues = new WeakMap<object, Promise<unknown>>();

/** Environments of this process with a failed commit, and its cause. */
const failedEnvironments = new WeakMap<object, unknown>();

/** Not settled yet: the commit's cause is not known (see {@link commitCause}). */
const PENDING = Symbol('pending');

/**
 * The real error behind a failed lmdb-js write. lmdb-js rejects `commitError`
 * in the same callback, just after the write: by the time a handler of the
 * write runs it is settled, and a race against an already resolved promise
 * reads it without waiting (it may also never settle: then the write's own
 * error is the cause). Either way a handler is now attached to it.
 */
async function commitCause(err: unknown): Promise<unknown> {
  const commit = (err as { commitError?: unknown } | null)?.commitError;
  if (!(commit instanceof Promise)) return withErrno(err);
  commit.catch(() => undefined);
  const cause = await Promise.race([commit.then(() => PENDING, (e: unknown) => e), Promise.resolve().then(() => Promise.resolve(PENDING))]);
  return withErrno(cause === PENDING ? err : cause);
}

/** lmdb-js reports a system error with its number (`code: 28`): give it the errno name (`ENOSPC`) our errors carry. */
function withErrno(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return err;
  const name = Object.entries(constants.errno).find(([, n]) => n === code)?.[0];
  if (name === undefined) return err;
  return Object.assign(new Error(err instanceof Error ? err.message : String(err), { cause: err }), { code: name });
}
