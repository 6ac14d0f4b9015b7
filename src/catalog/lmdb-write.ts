import { constants } from 'node:os';
import { IoError } from '../errors.js';

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
 * After one failed commit the environment takes no more writes from this
 * process: on a full disk, further commits of lmdb-js 3.5 after a failed one
 * were seen to corrupt the native heap (glibc "corrupted size vs. prev_size",
 * SIGABRT). Its data stay readable; every later write rejects at once with
 * `AOF_IO`, and the next open brings the catalog up to date from the segment
 * files (a writer that saw a catalog error never marks a clean close).
 */
export async function lmdbWrite<T>(env: object, write: () => Promise<T>, what: string, file: string): Promise<T> {
  const earlier = failedEnvironments.get(env);
  if (earlier !== undefined) throw new IoError(`${what}: an earlier commit failed; no more writes until the log is reopened`, earlier, { file });
  try {
    return await write();
  } catch (err) {
    const cause = await commitCause(err);
    failedEnvironments.set(env, cause);
    throw new IoError(what, cause, { file });
  }
}

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
