import { assert } from '../assert.js';
import { readFully } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import { decodeFrameHeader, FRAME_HEADER_BYTES, frameChecksumMatches, implausibleHeader, type FrameHeader } from '../record/frame.js';

/** One step of a {@link FrameCursor}. */
export type CursorStep =
  /** A checksummed frame; its bytes are `buf[at, at + header.frameBytes)`. */
  | { kind: 'frame'; offset: number; header: FrameHeader; buf: Buffer; at: number }
  /** The cursor reached the end of the range exactly on a frame boundary. */
  | { kind: 'end'; offset: number }
  /** No valid frame starts at `offset`; `zeros` when its length field is zero (unwritten or preallocated space). */
  | { kind: 'bad'; offset: number; reason: string; zeros: boolean };

/**
 * Reads checksummed frames in order from `[start, end)` of a file, through a
 * read-ahead window of bounded size. Every frame's length is checked against
 * what remains before anything is allocated, so hostile lengths cost nothing.
 * Windows are fresh buffers (unless a scratch buffer is given), so payloads
 * sliced from them stay valid.
 */
export class FrameCursor {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  private position: number;

  constructor(
    /** Undefined: no handle to read through now (a reader between leases); steps within the window still run. */
    private file: FileHandle | undefined,
    start: number,
    private readonly end: number,
    private readonly readAheadBytes: number,
    private readonly crcSeed: number,
    /** Windows of at most this many bytes are read on the calling thread where the handle can (0: never). */
    private readonly syncReadMaxBytes = 0,
    /**
     * Where windows read on the calling thread go when they fit, instead of a
     * fresh buffer (fresh memory costs page faults, more than the read):
     * each such window overwrites the last, so a caller passing one copies
     * out what it keeps before its next step or turn of the event loop.
     */
    private readonly scratch?: Buffer,
  ) {
    assert(start <= end, `cursor range [${start}, ${end}) is ordered`);
    this.position = start;
  }

  /**
   * Reads on through `file` from here: a handle of the same segment leased
   * again after a pause (readers hold no handle while their consumer is
   * paused), possibly a copy fetched back from the archive; undefined while
   * none is held (then `nextSync` steps only through the window). The window
   * read so far stays valid.
   */
  rebind(file: FileHandle | undefined): void {
    this.file = file;
  }

  /** Offset of the next frame to be read. */
  get offset(): number {
    return this.position;
  }

  /** Reads the next frame, or says why there is none. Never advances past a bad frame. */
  async next(): Promise<CursorStep> {
    await this.prefetch();
    const step = this.nextSync();
    assert(step !== undefined, 'a prefetched frame is stepped over without further reads');
    return step;
  }

  /**
   * As {@link next}, without waiting: undefined when the frame needs a read
   * that may not run on the calling thread (the handle has no `readSync`, or
   * the window is larger than `syncReadMaxBytes`); then call `next`.
   */
  nextSync(): CursorStep | undefined {
    const offset = this.position;
    const available = this.end - offset;
    if (available === 0) return { kind: 'end', offset };
    if (available < FRAME_HEADER_BYTES) {
      const head = this.loadSync(offset, available);
      if (head === undefined) return undefined;
      return { kind: 'bad', offset, reason: `${available} bytes at the end are too few for a frame header`, zeros: head.buf.subarray(head.at, head.at + available).every((b) => b === 0) };
    }
    const head = this.loadSync(offset, FRAME_HEADER_BYTES);
    if (head === undefined) return undefined;
    const header = decodeFrameHeader(head.buf, head.at);
    const why = implausibleHeader(header, available);
    if (why !== undefined) return { kind: 'bad', offset, reason: why, zeros: header.frameBytes === 0 };
    const whole = this.loadSync(offset, header.frameBytes);
    if (whole === undefined) return undefined;
    if (!frameChecksumMatches(whole.buf, whole.at, header, this.crcSeed)) return { kind: 'bad', offset, reason: 'frame checksum mismatch', zeros: false };
    this.position = offset + header.frameBytes;
    return { kind: 'frame', offset, header, buf: whole.buf, at: whole.at };
  }

  /** Brings into the window, asynchronously where it must, everything the next `nextSync` reads. */
  async prefetch(): Promise<void> {
    const offset = this.position;
    const available = this.end - offset;
    if (available === 0) return;
    const head = this.loadSync(offset, Math.min(available, FRAME_HEADER_BYTES)) ?? (await this.loadAsync(offset, Math.min(available, FRAME_HEADER_BYTES)));
    if (available < FRAME_HEADER_BYTES) return;
    const header = decodeFrameHeader(head.buf, head.at);
    if (implausibleHeader(header, available) !== undefined) return;
    if (this.loadSync(offset, header.frameBytes) === undefined) await this.loadAsync(offset, header.frameBytes);
  }

  private inWindow(offset: number, length: number): boolean {
    return offset >= this.windowStart && offset + length <= this.windowStart + this.window.length;
  }

  /** The window size a load of `length` bytes at `offset` reads. */
  private windowSize(offset: number, length: number): number {
    return Math.min(Math.max(length, this.readAheadBytes), this.end - offset);
  }

  /** `[offset, offset + length)` from the window, read on this thread if needed; undefined if that read may not run here. */
  private loadSync(offset: number, length: number): { buf: Buffer; at: number } | undefined {
    if (this.inWindow(offset, length)) return { buf: this.window, at: offset - this.windowStart };
    const size = this.windowSize(offset, length);
    const file = this.file;
    if (file?.readSync === undefined || size > this.syncReadMaxBytes) return undefined;
    const buf = this.scratch !== undefined && size <= this.scratch.length ? this.scratch : Buffer.allocUnsafe(size);
    let n = 0;
    while (n < size) {
      const got = file.readSync(buf, n, size - n, offset + n);
      if (got === 0) break;
      n += got;
    }
    return this.adopt(buf, n, offset, length);
  }

  private async loadAsync(offset: number, length: number): Promise<{ buf: Buffer; at: number }> {
    assert(this.file !== undefined, 'a cursor reads only through a handle it was given');
    const size = this.windowSize(offset, length);
    const buf = Buffer.allocUnsafe(size);
    return this.adopt(buf, await readFully(this.file, buf, 0, size, offset), offset, length);
  }

  /** Makes `buf[0, n)` the window starting at `offset`. */
  private adopt(buf: Buffer, n: number, offset: number, length: number): { buf: Buffer; at: number } {
    // The file is shorter than the range we were given: what is missing reads as zeros, the end of data.
    this.window = n < length ? Buffer.concat([buf.subarray(0, n), Buffer.alloc(length - n)]) : buf.subarray(0, n);
    this.windowStart = offset;
    return { buf: this.window, at: 0 };
  }
}
