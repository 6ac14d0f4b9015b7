import { Readable, Writable } from 'node:stream';
import { readFully, writeFully } from './io.js';
import type { FileHandle, FileSystem } from './types.js';

/** Bytes per read of {@link adapterReadStream}. */
const READ_CHUNK_BYTES = 1 << 20;

/**
 * A readable stream of a whole file, read through the adapter (so that a
 * fault-injecting adapter reaches streamed copies too). The file is opened
 * on the first read and closed at the end, on error, and on destroy.
 */
export function adapterReadStream(fs: FileSystem, path: string): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const handle = await fs.open(path, 'read');
    try {
      for (let position = 0; ; ) {
        const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        const n = await readFully(handle, buffer, 0, buffer.length, position);
        if (n > 0) yield buffer.subarray(0, n);
        if (n < buffer.length) return;
        position += n;
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/**
 * A writable stream into a new file (it must not exist), written through the
 * adapter. With `sync`, the file is fsynced before the stream finishes, so a
 * finished stream's bytes are durable. The handle is closed exactly once, on
 * finish, error or destroy.
 */
export function adapterWriteStream(fs: FileSystem, path: string, mode: number, options: { sync?: boolean } = {}): Writable {
  let handle: FileHandle | undefined;
  let position = 0;
  const settle = (done: (err?: Error | null) => void) => (err?: unknown) => done(err === undefined ? null : (err as Error));
  return new Writable({
    construct(done) {
      fs.open(path, 'createNew', mode).then((h) => {
        handle = h;
        done();
      }, settle(done));
    },
    write(chunk: Buffer, _encoding, done) {
      writeFully(handle!, chunk, 0, chunk.length, position).then(() => {
        position += chunk.length;
        done();
      }, settle(done));
    },
    final(done) {
      if (options.sync !== true) return done();
      handle!.sync().then(() => done(), settle(done));
    },
    destroy(err, done) {
      const h = handle;
      handle = undefined;
      if (h === undefined) return done(err);
      h.close().then(() => done(err), (closeErr: unknown) => done(err ?? (closeErr as Error)));
    },
  });
}

/** The whole content of a (small) file, read through the adapter. */
export async function readWholeFile(fs: FileSystem, path: string): Promise<Buffer> {
  const handle = await fs.open(path, 'read');
  try {
    const size = await handle.size();
    const buffer = Buffer.allocUnsafe(size);
    const n = await readFully(handle, buffer, 0, size, 0);
    return buffer.subarray(0, n);
  } finally {
    await handle.close();
  }
}
