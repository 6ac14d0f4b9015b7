import { assert } from '../assert.js';
import { readFullyPreferSync } from '../fs/io.js';
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
 * Windows are fresh buffers, so payloads sliced from them stay valid.
 */
export class FrameCursor {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  private position: number;

  constructor(
    private readonly file: FileHandle,
    start: number,
    private readonly end: number,
    private readonly readAheadBytes: number,
    private readonly crcSeed: number,
    /** Windows of at most this many bytes are read on the calling thread where the handle can (0: never). */
    private readonly syncReadMaxBytes = 0,
  ) {
    assert(start <= end, `cursor range [${start}, ${end}) is ordered`);
    this.position = start;
  }

  /** Offset of the next frame to be read. */
  get offset(): number {
    return this.position;
  }

  /** Reads the next frame, or says why there is none. Never advances past a bad frame. */
  async next(): Promise<CursorStep> {
    const offset = this.position;
    const available = this.end - offset;
    if (available === 0) return { kind: 'end', offset };
    if (available < FRAME_HEADER_BYTES) {
      const head = await this.load(offset, available);
      return { kind: 'bad', offset, reason: `${available} bytes at the end are too few for a frame header`, zeros: head.buf.subarray(head.at, head.at + available).every((b) => b === 0) };
    }
    const head = await this.load(offset, FRAME_HEADER_BYTES);
    const header = decodeFrameHeader(head.buf, head.at);
    const why = implausibleHeader(header, available);
    if (why !== undefined) return { kind: 'bad', offset, reason: why, zeros: header.frameBytes === 0 };
    const whole = await this.load(offset, header.frameBytes);
    if (!frameChecksumMatches(whole.buf, whole.at, header, this.crcSeed)) return { kind: 'bad', offset, reason: 'frame checksum mismatch', zeros: false };
    this.position = offset + header.frameBytes;
    return { kind: 'frame', offset, header, buf: whole.buf, at: whole.at };
  }

  private async load(offset: number, length: number): Promise<{ buf: Buffer; at: number }> {
    const inWindow = offset >= this.windowStart && offset + length <= this.windowStart + this.window.length;
    if (!inWindow) {
      const size = Math.min(Math.max(length, this.readAheadBytes), this.end - offset);
      const buf = Buffer.allocUnsafe(size);
      const read = readFullyPreferSync(this.file, buf, 0, size, offset, this.syncReadMaxBytes);
      const n = typeof read === 'number' ? read : await read;
      this.window = buf.subarray(0, n);
      this.windowStart = offset;
      if (n < length) {
        // The file is shorter than the range we were given: treat as end of data.
        return { buf: Buffer.concat([this.window, Buffer.alloc(length - n)]), at: 0 };
      }
    }
    return { buf: this.window, at: offset - this.windowStart };
  }
}
