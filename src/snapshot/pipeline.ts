/**
 * Streaming a snapshot's bytes between memory, the worker and the file,
 * through a ring of a few shared slots: the main thread copies one slice
 * (default 1 MiB) into a free slot and yields to the event loop; the worker
 * hashes (and deflates) it; the file-system adapter writes it from the slot
 * (or the deflated block) at its position. At most `slots` slices are in
 * flight, so memory stays bounded whatever the snapshot's size.
 *
 * @module
 */
import { assert } from '../assert.js';
import { InvalidArgumentError, SnapshotCorruptError } from '../errors.js';
import { readAt, readFully, writeFully } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import {
  BLOCK_HEADER_BYTES,
  decodeHeader,
  decodeTrailer,
  encodeHeader,
  encodeTrailer,
  FLAG_DEFLATE,
  maxStoredBlockBytes,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_TRAILER_BYTES,
  type SnapshotHeader,
  type SnapshotTrailer,
} from './format.js';
import { WorkerJobError, type ProcessedSlice, type SnapshotWorker } from './worker-pool.js';
import { abortError, raceAbort, throwIfAborted } from './abort.js';

/** What a snapshot holds: the whole state at once, or chunks of it in order. */
export type SnapshotData = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** How slices move. */
export interface PipelineSettings {
  /** Bytes copied to the worker per slice (and per deflate block). */
  sliceBytes: number;
  /** Slices in flight at most. */
  slots: number;
  /** Deflate level (0-9), or -1 for no compression. */
  level: number;
}

/** What was written. */
export interface WrittenSnapshot {
  dataBytes: number;
  storedBytes: number;
  digest: Buffer;
  fileBytes: number;
}

const noop = (): void => undefined;

/** Lets timers and I/O callbacks run between two slices. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The slices of `data`, each at most `sliceBytes`, in order; waiting on the source races `signal`. */
async function* slicesOf(data: SnapshotData, sliceBytes: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) {
    for (let off = 0; off < data.byteLength; off += sliceBytes) yield data.subarray(off, Math.min(off + sliceBytes, data.byteLength));
    return;
  }
  const iterator = Symbol.asyncIterator in data ? data[Symbol.asyncIterator]() : (data as Iterable<Uint8Array>)[Symbol.iterator]();
  let done = false;
  try {
    for (;;) {
      const next = await raceAbort(Promise.resolve(iterator.next()), signal);
      if (next.done === true) {
        done = true;
        return;
      }
      const chunk: unknown = next.value;
      if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError(`snapshot data chunks must be Uint8Arrays, got ${chunk === null ? 'null' : typeof chunk}`);
      for (let off = 0; off < chunk.byteLength; off += sliceBytes) yield chunk.subarray(off, Math.min(off + sliceBytes, chunk.byteLength));
    }
  } finally {
    // Stopped early (abort, failure): let the source release what it holds. Not awaited: a stuck source must not block the cleanup.
    if (!done && typeof iterator.return === 'function') void Promise.resolve(iterator.return()).catch(noop);
  }
}

/**
 * Writes header, body and trailer of a snapshot to `handle` (a new, empty
 * file), then fdatasyncs it. The caller renames it into place.
 *
 * When the handle has a descriptor (the real file system), the worker writes
 * each slice itself, right after hashing it: the main thread's whole share
 * of a slice is one copy of at most `sliceBytes` into a free slot, and only
 * one thread of ours besides the main one is busy (a second, the thread
 * pool's write, competed with the main thread for the cores and delayed its
 * timers). Otherwise (`FaultFs` and other adapters) the adapter writes each
 * slot, or deflated block, from the main thread's promise chain.
 */
export async function writeSnapshotBody(
  handle: FileHandle,
  worker: SnapshotWorker,
  head: { seq: number; createdMicros: number },
  data: SnapshotData,
  settings: PipelineSettings,
  signal: AbortSignal | undefined,
): Promise<WrittenSnapshot> {
  const compress = settings.level >= 0;
  const header = encodeHeader({ flags: compress ? FLAG_DEFLATE : 0, blockBytes: settings.sliceBytes, seq: head.seq, createdMicros: head.createdMicros });
  await writeFully(handle, header, 0, header.length, 0);
  const sab = new SharedArrayBuffer(settings.slots * settings.sliceBytes);
  const view = new Uint8Array(sab);
  const fd = handle.fd;
  const workerWrites = fd !== undefined;
  const job = worker.job(sab, settings.level, workerWrites ? { fd, position: SNAPSHOT_HEADER_BYTES } : undefined);
  const onAbort = (): void => job.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  let position = SNAPSHOT_HEADER_BYTES;
  let dataBytes = 0;
  // Each slice's promise settles once it is hashed and written (its slot free again); they settle in order.
  const inflight: Promise<void>[] = [];
  let chain = Promise.resolve();
  let slice = 0;
  try {
    for await (const piece of slicesOf(data, settings.sliceBytes, signal)) {
      throwIfAborted(signal);
      if (inflight.length >= settings.slots) await inflight.shift();
      assert(inflight.length < settings.slots, 'a free slot before a slice is copied');
      const offset = (slice++ % settings.slots) * settings.sliceBytes;
      const length = piece.byteLength;
      view.set(piece, offset);
      dataBytes += length;
      const processed = job.chunk(offset, length);
      processed.catch(noop);
      if (workerWrites) {
        // The worker wrote it; its replies come in order, so the stored bytes add up in file order.
        chain = processed.then((done: ProcessedSlice) => {
          assert(done.stored !== undefined, 'the worker reports the bytes it wrote');
          position += done.stored;
        });
      } else {
        chain = chain.then(async () => {
          const { block } = await processed;
          const bytes = block ?? view.subarray(offset, offset + length);
          await writeFully(handle, bytes, 0, bytes.byteLength, position);
          position += bytes.byteLength;
        });
      }
      chain.catch(noop);
      inflight.push(chain);
      await yieldToLoop();
    }
    throwIfAborted(signal);
    await Promise.all(inflight);
    const digest = await job.finish();
    const trailer = encodeTrailer({ dataBytes, storedBytes: position - SNAPSHOT_HEADER_BYTES, digest, headerCrc: header.readUInt32LE(60) });
    await writeFully(handle, trailer, 0, trailer.length, position);
    await handle.datasync();
    return { dataBytes, storedBytes: position - SNAPSHOT_HEADER_BYTES, digest, fileBytes: position + trailer.length };
  } catch (err) {
    job.cancel();
    // Nothing may still write to the handle once the caller closes and removes it: the worker answers in order,
    // so once every slice sent is answered (or its thread gone) it no longer touches the descriptor.
    await Promise.allSettled(inflight);
    if (signal?.aborted === true) throw abortError(signal);
    if (err instanceof WorkerJobError && err.syscall !== undefined && !err.cancelled) throw workerIoError(err, handle.path);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A write that failed in the worker, as the same call on this thread would have failed: errno `code`, `syscall`, `path`. */
function workerIoError(err: WorkerJobError, file: string): Error {
  return Object.assign(new Error(`${err.message} (in the snapshot worker)`), { code: err.code, syscall: err.syscall, path: file });
}

/** A snapshot file opened and its envelope checked. */
export interface OpenedSnapshot {
  header: SnapshotHeader;
  trailer: SnapshotTrailer;
  fileBytes: number;
}

/**
 * Reads and checks the header and trailer of a snapshot file. Throws
 * {@link SnapshotCorruptError} for anything that is not a whole snapshot.
 */
export async function readEnvelope(handle: FileHandle, name: string): Promise<OpenedSnapshot> {
  const fileBytes = await handle.size();
  const corrupt = (reason: string, offset: number): SnapshotCorruptError => new SnapshotCorruptError(name, reason, { file: handle.path, offset });
  if (fileBytes < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES) throw corrupt(`truncated: ${fileBytes} bytes, less than a header and a trailer`, 0);
  const header = decodeHeader(await readAt(handle, 0, SNAPSHOT_HEADER_BYTES));
  if (typeof header === 'string') throw corrupt(header, 0);
  const trailerAt = fileBytes - SNAPSHOT_TRAILER_BYTES;
  const trailer = decodeTrailer(await readAt(handle, trailerAt, SNAPSHOT_TRAILER_BYTES));
  if (typeof trailer === 'string') throw corrupt(trailer, trailerAt);
  if (trailer.headerCrc !== header.crc) throw corrupt('trailer belongs to another header', trailerAt);
  if (trailer.storedBytes !== trailerAt - SNAPSHOT_HEADER_BYTES) throw corrupt(`body is ${trailerAt - SNAPSHOT_HEADER_BYTES} bytes, the trailer says ${trailer.storedBytes}`, trailerAt);
  const deflated = (header.flags & FLAG_DEFLATE) !== 0;
  if (!deflated && trailer.dataBytes !== trailer.storedBytes) throw corrupt(`uncompressed body is ${trailer.storedBytes} bytes, the trailer says the state is ${trailer.dataBytes}`, trailerAt);
  if (header.blockBytes <= 0 || header.blockBytes > 64 * 1024 * 1024) throw corrupt(`implausible block size ${header.blockBytes}`, 12);
  // Each deflate block takes at least its 8-byte header and inflates to at most blockBytes: a larger claim is damage.
  if (deflated && trailer.dataBytes > Math.ceil(trailer.storedBytes / BLOCK_HEADER_BYTES) * header.blockBytes) throw corrupt(`trailer claims ${trailer.dataBytes} bytes of state, more than ${trailer.storedBytes} stored bytes can hold`, trailerAt);
  return { header, trailer, fileBytes };
}

/**
 * Yields the state's bytes of an opened snapshot in order, each chunk a view
 * valid only until the next is requested, while the worker hashes them. With
 * `into` (as large as the state), an uncompressed body is read straight into
 * it and the chunks are views of it, already in place. Once
 * every byte is delivered, checks the total and the SHA-256: a mismatch
 * throws {@link SnapshotCorruptError} at the end, so a consumer must apply
 * nothing before the iteration completes.
 */
export async function* readSnapshotBody(
  handle: FileHandle,
  name: string,
  opened: OpenedSnapshot,
  worker: SnapshotWorker,
  settings: PipelineSettings,
  signal: AbortSignal | undefined,
  into?: Uint8Array,
): AsyncGenerator<Uint8Array> {
  const { header, trailer } = opened;
  const deflated = (header.flags & FLAG_DEFLATE) !== 0;
  const bodyEnd = SNAPSHOT_HEADER_BYTES + trailer.storedBytes;
  const corrupt = (reason: string, offset: number): SnapshotCorruptError => new SnapshotCorruptError(name, reason, { file: handle.path, offset });
  const slotBytes = deflated ? maxStoredBlockBytes(header.blockBytes) : settings.sliceBytes;
  const slots = Math.max(2, settings.slots);
  const sab = new SharedArrayBuffer(slots * slotBytes);
  const view = new Uint8Array(sab);
  const job = worker.job(sab, -1);
  const onAbort = (): void => job.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const inflight: Promise<unknown>[] = [];
  let slice = 0;
  let delivered = 0;
  let finished = false;
  try {
    let position = SNAPSHOT_HEADER_BYTES;
    while (position < bodyEnd) {
      throwIfAborted(signal);
      if (inflight.length >= slots) await inflight.shift();
      const offset = (slice++ % slots) * slotBytes;
      if (!deflated) {
        const length = Math.min(settings.sliceBytes, bodyEnd - position);
        let chunk: Uint8Array;
        if (into !== undefined) {
          // Read straight into the destination: the I/O thread, not the event loop, first touches its fresh pages.
          if (delivered + length > into.byteLength) throw corrupt('body longer than the trailer says', position);
          chunk = into.subarray(delivered, delivered + length);
          const n = await readFully(handle, chunk, 0, length, position);
          if (n !== length) throw corrupt('file ended while being read', position + n);
          view.set(chunk, offset);
        } else {
          const n = await readFully(handle, view, offset, length, position);
          if (n !== length) throw corrupt('file ended while being read', position + n);
          chunk = view.subarray(offset, offset + length);
        }
        const hashed = job.chunk(offset, length);
        hashed.catch(noop);
        inflight.push(hashed);
        position += length;
        delivered += length;
        yield chunk;
        await yieldToLoop();
      } else {
        if (bodyEnd - position < BLOCK_HEADER_BYTES) throw corrupt('block header cut short', position);
        const blockHead = await readAt(handle, position, BLOCK_HEADER_BYTES);
        const rawLength = blockHead.readUInt32LE(0);
        const storedLength = blockHead.readUInt32LE(4);
        if (rawLength === 0 || rawLength > header.blockBytes) throw corrupt(`block of ${rawLength} bytes (blocks hold 1..${header.blockBytes})`, position);
        if (storedLength > slotBytes || position + BLOCK_HEADER_BYTES + storedLength > bodyEnd) throw corrupt(`compressed block of ${storedLength} bytes does not fit`, position);
        const n = await readFully(handle, view, offset, storedLength, position + BLOCK_HEADER_BYTES);
        if (n !== storedLength) throw corrupt('file ended while being read', position + BLOCK_HEADER_BYTES + n);
        const at = position;
        let raw: Uint8Array;
        try {
          raw = await job.inflate(offset, storedLength, rawLength);
        } catch (err) {
          if (err instanceof WorkerJobError && !err.cancelled) throw corrupt(`block does not inflate: ${err.message}`, at);
          throw err;
        }
        position += BLOCK_HEADER_BYTES + storedLength;
        delivered += rawLength;
        yield raw;
        await yieldToLoop();
      }
    }
    throwIfAborted(signal);
    await Promise.all(inflight);
    const digest = await job.finish();
    finished = true;
    if (delivered !== trailer.dataBytes) throw corrupt(`body holds ${delivered} bytes of state, the trailer says ${trailer.dataBytes}`, bodyEnd);
    if (!digest.equals(trailer.digest)) throw corrupt('SHA-256 of the state does not match the trailer', bodyEnd);
  } catch (err) {
    job.cancel();
    await Promise.allSettled(inflight);
    if (signal?.aborted === true) throw abortError(signal);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // The consumer stopped early: the worker forgets the job.
    if (!finished) job.cancel();
  }
}
