import * as fs from 'node:fs';
import * as path from 'node:path';
import { AofError } from '../errors.js';
import { readAt } from '../fs/io.js';
import type { FileHandle } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { DEFAULTS } from '../options.js';
import {
  decodeFrameHeader, FLAG_CLOSE_MARKER, FLAG_GAP, forEachRecord, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES_V3, recordHeaderBytesOf, FRAME_HEADER_BYTES, frameChecksumMatches, frameCrcSeed, implausibleHeader, type FrameHeader,
} from '../record/frame.js';
import { decodePositionsTrailer, POSITIONS_TRAILER_BYTES } from '../segment/positions.js';
import { decodeFooter, decodeTrailer, FOOTER_FIXED_BYTES, TRAILER_BYTES, type SegmentSummary } from '../segment/footer.js';
import { FrameCursor } from '../segment/frame-cursor.js';
import { decodeSegmentHeader, isAllZero, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, type SegmentHeader } from '../segment/header.js';
import { isRangeZero } from '../segment/load.js';
import { parseSegmentFileName, RECOVERY_DIR, SEGMENTS_DIR } from '../segment/names.js';
import { readU64 } from '../record/u64.js';
import { findFrameAfter } from '../segment/resync.js';

/**
 * Frame-by-frame decoding of one file, for `aof dump --raw`: a segment file,
 * or a file under `recovery/` (a whole segment moved there, or bytes cut from
 * the middle or tail of one, which start with no header). Emits what it finds
 * in file order, so a big file is never held in memory.
 *
 * @module
 */

/** Names of files under `recovery/`: `<segment>.seg.at-<offset>.<label>.<ms>-<hex>` (docs/FORMAT.md). */
const RECOVERY_NAME = /^(\d{20}\.seg)\.at-(\d+)\.([a-z-]+)\.(\d+)-([0-9a-f]+)$/;

/** Where the file came from. */
export interface RawOrigin {
  kind: 'raw-file';
  file: string;
  bytes: number;
  /** The segment the bytes belong to (from the file name), when known. */
  segment: string | null;
  /** Offset in that segment of the file's first byte (0 for a segment file or a whole copy). */
  segmentOffset: number;
  /** For a file under recovery/: why it was put there (`torn-tail`, `cut`, `moved`, `before-repair`, `unborn`). */
  label: string | null;
  /** For a file under recovery/: when, in ms since the epoch. */
  keptAtMs: number | null;
  /** True when the file starts with a segment header. */
  hasHeader: boolean;
}

/** The segment header, when the file has one. */
export interface RawHeader {
  kind: 'header';
  ok: boolean;
  error: string | null;
  version: number | null;
  baseSeq: number | null;
  createdMs: number | null;
  salt: string;
  saltCopy: string;
}

/** Which salt frame checksums are verified with. */
export interface RawSalt {
  kind: 'salt';
  /** Hex, or null when none was found: frames are then decoded but not verified. */
  salt: string | null;
  source: string;
}

/** One frame. Offsets are in the segment (equal to file offsets unless the file is a piece cut from a segment). */
export interface RawFrame {
  kind: 'frame';
  offset: number;
  fileOffset: number;
  bytes: number;
  firstSeq: number;
  count: number;
  timestamp: number;
  type: 'data' | 'close' | 'gap' | 'unknown';
  flags: number;
  /** `ok`: checksum verified; `bad`: mismatch (its records are never shown); `unverified`: no salt to check with. */
  crc: 'ok' | 'bad' | 'unverified';
  /** Something odd about the frame that is not a checksum failure (out of sequence, time going back). */
  note: string | null;
  /** With `records`, each record of a verified (or unverifiable) data frame. */
  records?: Array<{ seq: number; payload: Buffer }>;
}

/** Bytes that hold no valid frame. */
export interface RawDamage {
  kind: 'damage';
  offset: number;
  fileOffset: number;
  bytes: number;
  reason: string;
  /** `corrupt`: valid frames follow; `torn-tail`: nothing valid follows (what a crash leaves); `zeros`: all zero bytes (unwritten or preallocated space). */
  type: 'corrupt' | 'torn-tail' | 'zeros';
  /** Offset (in the segment) where valid frames resume, if they do. */
  resumesAt: number | null;
}

/** The footer of a sealed segment. */
export interface RawFooter {
  kind: 'footer';
  offset: number;
  bytes: number;
  ok: boolean;
  error: string | null;
  summary: Omit<SegmentSummary, 'index'> & { indexEntries: number } | null;
  /** How the footer disagrees with the frames, if it does (checked only when no frame is damaged). */
  mismatch: string | null;
}

/** Totals, last. */
export interface RawSummary {
  kind: 'summary';
  frames: number;
  records: number;
  badFrames: number;
  damagedBytes: number;
  /** True when nothing is damaged and every frame was verified (a torn or zero tail is a warning, as in verify). */
  ok: boolean;
  verdict: string;
}

export type RawEvent = RawOrigin | RawHeader | RawSalt | RawFrame | RawDamage | RawFooter | RawSummary;

/** Options of {@link decodeRawFile}. */
export interface RawOptions {
  /** Include each data frame's records. */
  records: boolean;
  readAheadBytes?: number;
}

/** Decodes `file` and passes each finding to `emit` in file order. Resolves the summary. */
export async function decodeRawFile(file: string, options: RawOptions, emit: (e: RawEvent) => Promise<void>): Promise<RawSummary> {
  const handle = await nodeFs.open(file, 'read');
  try {
    return await new RawDecoder(handle, file, options, emit).run();
  } finally {
    await handle.close();
  }
}

class RawDecoder {
  private readonly readAhead: number;
  private readonly summary: RawSummary = { kind: 'summary', frames: 0, records: 0, badFrames: 0, damagedBytes: 0, ok: true, verdict: '' };
  private expectedSeq: number | undefined;
  private lastTimestamp = 0;
  private problems: string[] = [];
  /** Record header bytes (format version 3: 8, else 4); undefined without a header: each frame shows which layout fits. */
  private recordHeaderBytes: number | undefined;
  /** Bytes of a version-3 position table between the frames and the footer. */
  private positionsBytes = 0;
  private warnings: string[] = [];

  constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    private readonly options: RawOptions,
    private readonly emit: (e: RawEvent) => Promise<void>,
  ) {
    this.readAhead = options.readAheadBytes ?? DEFAULTS.readAheadBytes;
  }

  async run(): Promise<RawSummary> {
    const size = await this.handle.size();
    const origin = await this.origin(size);
    await this.emit(origin);
    let header: SegmentHeader | undefined;
    let start = 0;
    let end = size;
    let footer: RawFooter | undefined;
    let salt: RawSalt;
    const base = origin.segmentOffset;
    const nameSeq = origin.segment === null ? undefined : parseSegmentFileName(origin.segment);
    if (origin.hasHeader) {
      start = SEGMENT_HEADER_BYTES;
      const raw = await readAt(this.handle, 0, SEGMENT_HEADER_BYTES);
      header = await this.header(raw);
      if (header !== undefined) this.recordHeaderBytes = recordHeaderBytesOf(header.version);
      salt = await this.segmentSalt(raw, header, size);
      this.expectedSeq = header?.baseSeq ?? nameSeq;
    } else {
      salt = await this.fragmentSalt(origin);
      if (origin.segment === null) this.warnings.push('no segment header and no recovery/ name: frames are read from offset 0');
    }
    // A piece cut from a sealed segment ends with that segment's footer.
    footer = await this.footer(size, base, salt.salt, header?.baseSeq ?? nameSeq, header?.version);
    // Frames end where the footer (version 3: its position table) starts, even a damaged one (whose bytes are reported as the footer, not as frames).
    if (footer !== undefined && footer.offset - base - this.positionsBytes >= start) end = footer.offset - base - this.positionsBytes;
    if (salt.salt !== null && !(await this.saltVerifiesAnything(Buffer.from(salt.salt, 'hex'), start, end))) {
      salt = { kind: 'salt', salt: null, source: `${salt.source} verifies no frame of this file: frames decoded without checking checksums` };
    }
    await this.emit(salt);
    // Bad bytes that end a segment (or a piece of one) with no footer are what a crash leaves; in a file of unknown origin they are just bad.
    const tailMayBeTorn = footer === undefined && origin.segment !== null;
    if (salt.salt === null) await this.walkUnverified(start, end, base, tailMayBeTorn);
    else await this.walkVerified(frameCrcSeed(Buffer.from(salt.salt, 'hex')), start, end, base, tailMayBeTorn);
    if (footer !== undefined) {
      if (origin.hasHeader && footer.ok && this.summary.badFrames === 0 && this.summary.damagedBytes === 0 && footer.summary !== null) footer.mismatch = this.footerMismatch(footer.summary);
      if (!footer.ok || footer.mismatch !== null) this.problems.push(footer.error ?? `footer disagrees with the frames: ${footer.mismatch}`);
      await this.emit(footer);
    }
    if (salt.salt === null && this.summary.frames > 0) this.problems.push('frame checksums could not be verified');
    this.summary.ok = this.problems.length === 0;
    this.summary.verdict = this.summary.ok ? (this.warnings.length === 0 ? 'OK' : `OK (${this.warnings.join('; ')})`) : `DAMAGED: ${this.problems.join('; ')}`;
    await this.emit(this.summary);
    return this.summary;
  }

  private async origin(size: number): Promise<RawOrigin> {
    const name = path.basename(this.file);
    const head = size >= SEGMENT_MAGIC.length ? await readAt(this.handle, 0, SEGMENT_MAGIC.length) : Buffer.alloc(0);
    const magic = head.equals(SEGMENT_MAGIC);
    const origin: RawOrigin = { kind: 'raw-file', file: this.file, bytes: size, segment: null, segmentOffset: 0, label: null, keptAtMs: null, hasHeader: magic };
    const m = RECOVERY_NAME.exec(name);
    if (m !== null) {
      origin.segment = m[1]!;
      origin.segmentOffset = Number(m[2]);
      origin.label = m[3]!;
      origin.keptAtMs = Number(m[4]);
      // A whole segment kept under recovery/ starts with its header, even a damaged one.
      origin.hasHeader = magic || (origin.segmentOffset === 0 && size >= SEGMENT_HEADER_BYTES);
    } else if (parseSegmentFileName(name) !== undefined) {
      origin.segment = name;
      origin.hasHeader = size >= SEGMENT_HEADER_BYTES || magic;
    }
    return origin;
  }

  private async header(raw: Buffer): Promise<SegmentHeader | undefined> {
    const e: RawHeader = {
      kind: 'header', ok: false, error: null, version: raw.length >= 10 ? raw.readUInt16LE(8) : null, baseSeq: null, createdMs: null,
      salt: raw.subarray(32, 40).toString('hex'), saltCopy: raw.subarray(40, 48).toString('hex'),
    };
    let header: SegmentHeader | undefined;
    try {
      header = decodeSegmentHeader(raw, this.file);
      Object.assign(e, { ok: true, baseSeq: header.baseSeq, createdMs: header.createdMs });
    } catch (err) {
      if (!(err instanceof AofError)) throw err;
      e.error = `${err.code}: ${err.message}`;
      this.problems.push(`header: ${err.message}`);
      if (isAllZero(raw)) e.error += ' (all zero: a segment created just before a crash)';
    }
    await this.emit(e);
    return header;
  }

  /** A segment's salt: the header's; with a damaged header, whichever of its two copies and the footer's verifies the first frame. */
  private async segmentSalt(raw: Buffer, header: SegmentHeader | undefined, size: number): Promise<RawSalt> {
    if (header !== undefined) return { kind: 'salt', salt: header.salt.toString('hex'), source: 'the segment header' };
    const candidates: Array<{ salt: Buffer; source: string }> = [
      { salt: raw.subarray(32, 40), source: 'the damaged header (first copy)' },
      { salt: raw.subarray(40, 48), source: 'the damaged header (second copy)' },
    ];
    const trailer = size >= SEGMENT_HEADER_BYTES + TRAILER_BYTES ? decodeTrailer(await readAt(this.handle, size - TRAILER_BYTES, TRAILER_BYTES)) : undefined;
    if (trailer !== undefined && trailer.footerBytes <= size - SEGMENT_HEADER_BYTES) candidates.push({ salt: await readAt(this.handle, size - trailer.footerBytes + 56, 8), source: 'the footer' });
    for (const c of candidates) if (c.salt.length === 8 && (await this.firstFrameVerifies(c.salt, SEGMENT_HEADER_BYTES, size))) return { kind: 'salt', salt: c.salt.toString('hex'), source: c.source };
    return { kind: 'salt', salt: null, source: 'the header is damaged and no copy of the salt verifies the first frame' };
  }

  /** A piece cut from a segment has no header: take the salt of the segment it came from, if it can still be found. */
  private async fragmentSalt(origin: RawOrigin): Promise<RawSalt> {
    if (origin.segment === null) return { kind: 'salt', salt: null, source: 'the file has no header and its name does not say which segment it came from' };
    const dir = path.dirname(path.resolve(this.file));
    const candidates: string[] = [];
    if (path.basename(dir) === RECOVERY_DIR) {
      const logDir = path.dirname(dir);
      candidates.push(path.join(logDir, SEGMENTS_DIR, origin.segment));
      // A whole copy of the same segment kept under recovery/ (moved by repair, or its original before a rewrite).
      for (const name of safeReaddir(dir).sort()) {
        const m = RECOVERY_NAME.exec(name);
        if (m !== null && m[1] === origin.segment && m[2] === '0') candidates.push(path.join(dir, name));
      }
    }
    for (const candidate of candidates) {
      const salt = await headerSaltOf(candidate);
      if (salt !== undefined) return { kind: 'salt', salt: salt.toString('hex'), source: `the header of ${candidate}` };
    }
    return { kind: 'salt', salt: null, source: `no readable header of segment ${origin.segment} was found${candidates.length === 0 ? ' (the file is not under a log directory\'s recovery/)' : ''}` };
  }

  private async firstFrameVerifies(salt: Buffer, start: number, end: number): Promise<boolean> {
    if (end - start < FRAME_HEADER_BYTES) return false;
    const h = decodeFrameHeader(await readAt(this.handle, start, FRAME_HEADER_BYTES), 0);
    if (implausibleHeader(h, end - start) !== undefined) return false;
    return frameChecksumMatches(await readAt(this.handle, start, h.frameBytes), 0, h, frameCrcSeed(salt));
  }

  /**
   * False when `salt` is evidently not this file's: a whole, plausible frame
   * starts the data and fails its checksum, and no frame anywhere verifies.
   * (A torn tail holding only part of a frame has nothing to verify: the salt
   * is kept.)
   */
  private async saltVerifiesAnything(salt: Buffer, start: number, end: number): Promise<boolean> {
    if (end - start < FRAME_HEADER_BYTES) return true;
    const h = decodeFrameHeader(await readAt(this.handle, start, FRAME_HEADER_BYTES), 0);
    if (implausibleHeader(h, end - start) !== undefined) return true;
    if (frameChecksumMatches(await readAt(this.handle, start, h.frameBytes), 0, h, frameCrcSeed(salt))) return true;
    return (await findFrameAfter(this.handle, start + 1, end, 0, frameCrcSeed(salt))) !== undefined;
  }

  /** The footer at the end of the file, if a trailer says there is one; offsets in the segment (`base` = the file's first byte). */
  /** The record header size of a frame: the header's version's, or without one the layout whose records fill the frame (version 3's first). */
  private recordHeaderFor(buf: Buffer, at: number, h: FrameHeader): number {
    if (this.recordHeaderBytes !== undefined) return this.recordHeaderBytes;
    return forEachRecord(buf, at, h, RECORD_HEADER_BYTES_V3, () => undefined) === undefined ? RECORD_HEADER_BYTES_V3 : RECORD_HEADER_BYTES;
  }

  private async footer(size: number, base: number, saltHex: string | null, baseSeq: number | undefined, version: number | undefined): Promise<RawFooter | undefined> {
    if (size < TRAILER_BYTES) return undefined;
    const trailer = decodeTrailer(await readAt(this.handle, size - TRAILER_BYTES, TRAILER_BYTES));
    if (trailer === undefined) return undefined;
    const fileOffset = size - trailer.footerBytes;
    const e: RawFooter = { kind: 'footer', offset: fileOffset + base, bytes: trailer.footerBytes, ok: false, error: null, summary: null, mismatch: null };
    if (trailer.footerBytes < FOOTER_FIXED_BYTES + TRAILER_BYTES || fileOffset + base < SEGMENT_HEADER_BYTES || fileOffset < 0) {
      e.offset = size - TRAILER_BYTES + base;
      e.error = `damaged footer: trailer claims ${trailer.footerBytes} bytes`;
      return e;
    }
    try {
      const buf = await readAt(this.handle, fileOffset, trailer.footerBytes);
      const salt = saltHex === null ? buf.subarray(56, 64) : Buffer.from(saltHex, 'hex');
      if ((version ?? 0) >= 3 && fileOffset >= SEGMENT_HEADER_BYTES + POSITIONS_TRAILER_BYTES) {
        const t = decodePositionsTrailer(await readAt(this.handle, fileOffset - POSITIONS_TRAILER_BYTES, POSITIONS_TRAILER_BYTES));
        if (typeof t !== 'string' && t.tableBytes <= fileOffset - SEGMENT_HEADER_BYTES) this.positionsBytes = t.tableBytes;
      }
      const s = decodeFooter(buf, size + base, salt, baseSeq ?? readU64(buf, 16), this.file, this.positionsBytes);
      const { index, ...rest } = s;
      Object.assign(e, { ok: true, summary: { ...rest, indexEntries: index.length } });
    } catch (err) {
      if (!(err instanceof AofError)) throw err;
      e.error = err.message;
    }
    return e;
  }

  private footerMismatch(s: Omit<SegmentSummary, 'index'>): string | null {
    if (this.expectedSeq !== undefined && s.nextSeq !== this.expectedSeq) return `footer says the segment ends before sequence ${s.nextSeq}, frames end before ${this.expectedSeq}`;
    if (s.recordCount !== this.summary.records) return `footer counts ${s.recordCount} records, frames hold ${this.summary.records}`;
    return null;
  }

  /** Walks frames whose checksums can be verified, resynchronising after each damaged span. */
  private async walkVerified(seed: number, start: number, end: number, base: number, tailMayBeTorn: boolean): Promise<void> {
    let position = start;
    while (position < end) {
      const cursor = new FrameCursor(this.handle, position, end, this.readAhead, seed);
      let step = await cursor.next();
      for (; step.kind === 'frame'; step = await cursor.next()) await this.frame(step.header, step.offset, base, 'ok', step.buf, step.at);
      if (step.kind === 'end') return;
      const at = step.offset;
      if (step.reason === 'frame checksum mismatch') {
        await this.frame(decodeFrameHeader(await readAt(this.handle, at, FRAME_HEADER_BYTES), 0), at, base, 'bad', undefined, 0);
      }
      const hit = await findFrameAfter(this.handle, at + 1, end, 0, seed);
      const spanEnd = hit?.offset ?? end;
      await this.damage(at, spanEnd, step.reason, base, hit === undefined ? null : hit.offset + base, hit === undefined && tailMayBeTorn);
      position = spanEnd;
      // The frames after damage start a new run: their sequence numbers are not compared with those before it.
      this.expectedSeq = undefined;
    }
  }

  /**
   * Without a salt, frames are decoded by structure alone: a plausible header
   * whose records exactly fill it. After bytes that are not such a frame, the
   * walk resumes at the next position that is (which may be a false match in
   * a payload: the output says the frames are unverified). The range is read
   * into memory: such files are pieces of one segment.
   */
  private async walkUnverified(start: number, end: number, base: number, tailMayBeTorn: boolean): Promise<void> {
    const data = await readAt(this.handle, start, Math.max(0, end - start));
    const frameAt = (i: number): FrameHeader | undefined => {
      if (i + FRAME_HEADER_BYTES > data.length) return undefined;
      const h = decodeFrameHeader(data, i);
      if (h.frameBytes === 0 || implausibleHeader(h, data.length - i) !== undefined) return undefined;
      return forEachRecord(data, i, h, this.recordHeaderFor(data, i, h), () => undefined) === undefined ? h : undefined;
    };
    let i = 0;
    while (i < data.length) {
      const h = frameAt(i);
      if (h !== undefined) {
        await this.frame(h, start + i, base, 'unverified', data, i);
        i += h.frameBytes;
        continue;
      }
      let next = i + 1;
      while (next < data.length && frameAt(next) === undefined) next++;
      const found = next < data.length;
      const reason = i + FRAME_HEADER_BYTES > data.length ? `${data.length - i} bytes at the end are too few for a frame header` : (implausibleHeader(decodeFrameHeader(data, i), data.length - i) ?? 'records do not fill the frame');
      await this.damage(start + i, start + next, reason, base, found ? start + next + base : null, !found && tailMayBeTorn);
      i = next;
    }
  }

  private async frame(h: FrameHeader, fileOffset: number, base: number, crc: RawFrame['crc'], buf: Buffer | undefined, at: number): Promise<void> {
    const type = h.flags === 0 ? 'data' : h.flags === FLAG_CLOSE_MARKER ? 'close' : h.flags === FLAG_GAP ? 'gap' : 'unknown';
    const e: RawFrame = { kind: 'frame', offset: fileOffset + base, fileOffset, bytes: h.frameBytes, firstSeq: h.firstSeq, count: h.count, timestamp: h.timestamp, type, flags: h.flags, crc, note: null };
    this.summary.frames++;
    if (crc === 'bad') {
      this.summary.badFrames++;
      this.problems.push(`bad checksum at offset ${e.offset}`);
    } else {
      const notes: string[] = [];
      if (this.expectedSeq !== undefined && h.firstSeq !== this.expectedSeq) notes.push(`out of sequence: expected ${this.expectedSeq}`);
      if (type === 'data' && h.timestamp < this.lastTimestamp) notes.push(`timestamp before the previous frame's ${this.lastTimestamp}`);
      if (notes.length > 0) e.note = notes.join('; ');
      this.expectedSeq = h.firstSeq + h.count;
      if (type === 'data') {
        this.lastTimestamp = h.timestamp;
        this.summary.records += h.count;
      }
      if (this.options.records && type === 'data' && buf !== undefined) {
        const records: Array<{ seq: number; payload: Buffer }> = [];
        forEachRecord(buf, at, h, this.recordHeaderFor(buf, at, h), (payload, i) => records.push({ seq: h.firstSeq + i, payload: Buffer.from(payload) }));
        e.records = records;
      }
    }
    await this.emit(e);
  }

  private async damage(from: number, to: number, reason: string, base: number, resumesAt: number | null, tailMayBeTorn: boolean): Promise<void> {
    const zeros = await isRangeZero(this.handle, from, to);
    const type: RawDamage['type'] = zeros && resumesAt === null ? 'zeros' : resumesAt === null && tailMayBeTorn ? 'torn-tail' : 'corrupt';
    if (type === 'corrupt') {
      this.summary.damagedBytes += to - from;
      this.problems.push(`${to - from} damaged bytes at offset ${from + base}`);
    } else {
      this.warnings.push(type === 'zeros' ? `${to - from} zero bytes at the end` : `a torn tail of ${to - from} bytes`);
    }
    await this.emit({ kind: 'damage', offset: from + base, fileOffset: from, bytes: to - from, reason, type, resumesAt });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The salt in the valid header of `file`, if it has one. */
async function headerSaltOf(file: string): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await nodeFs.open(file, 'read');
  } catch {
    return undefined;
  }
  try {
    return decodeSegmentHeader(await readAt(handle, 0, SEGMENT_HEADER_BYTES), file).salt;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}
