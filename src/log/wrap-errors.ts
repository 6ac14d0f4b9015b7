import { toAofError } from '../errors.js';

/** Iterates `source`, turning raw system errors into `AOF_IO`; an `AbortError` and our own errors pass unchanged. */
export async function* wrapErrors<T>(source: AsyncGenerator<T>, message: string): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    throw (err as Error | undefined)?.name === 'AbortError' ? err : toAofError(err, message);
  }
}

