import { assert } from '../assert.js';
import { CorruptionError } from '../errors.js';
import { crc32 } from '../record/crc.js';
import { readU64, writeU64 } from '../record/u64.js';

/**
 * The position table of a format-version-3 segment: where each record starts
 * in the file, which frame (and so which timestamp) it belongs to, and which
 * sequence numbers are gaps. A point get finds its record here and reads
 * exactly that record's bytes: one positioned read, one record CRC. Layout of
 * the on-disk copy (written between a sealed segment's last frame and its
 * footer) in docs/FORMAT.md, "Position table".
 *
 * @module
 */

/** Bytes of the table's trailer: records, frames, gaps, flags, crc (u32 each) and the magic. */
export const POSITIONS_TRAILER_BYTES = 24;
/** Bytes per record entry: its offset in the file (u32). */
export const POSITION_RECORD_BYTES = 4;
/** Bytes per frame entry: index of its first record (u32), timestamp (u64). */
export const POSITION_FRAME_BYTES = 12;
/** Bytes per gap entry: first lost number (u64), first number after (u64). */
export const POSITION_GAP_BYTES = 16;
/** The last four bytes of a position table. */
export const POSITIONS_MAGIC = Buffer.from('AOFP', 'latin1');
/** Trailer flag: the segment's offsets do not fit u32 (a segment past 4 GiB): the table is empty and gets scan frames instead. */
export const POSITIONS_ABSENT = 0x1;
/** True where typed arrays store little-endian, as the on-disk table does. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Record offsets are u32: a segment whose data reaches past this has no table. */
const OFFSET_MAX = 0xffff_ffff;
/** The initial capacity of a growing table (records and frames), doubled as it fills. */
const INITIAL_CAPACITY = 64;

/** Where a record lies: its bytes are within `[offset, end)`, which holds at most a few empty frame headers after it. */
export interface RecordPosition {
  offset: number;
  end: number;
  timestamp: number;
}

/** A lost range in a segment (repair's gap frame). */
export interface PositionGap {
  from: number;
  to: number;
}

/**
 * A segment's record positions, in memory: grown frame by frame for the
 * active segment (by the writer as it publishes, by the recovery scan at
 * open), decoded whole from a sealed segment's table.
 */
export class Positions {
  private offsets: Uint32Array;
  private records = 0;
  private frameFirst: Uint32Array;
  private frameTs: Float64Array;
  private frames = 0;
  private readonly gapList: PositionGap[] = [];
  /** The sequence number after the last one covered. */
  nextSeq: number;
  /** The offset after the last frame covered: the end of the last record's range. */
  end: number;
  /** True when an offset did not fit u32: the table holds nothing usable. */
  absent = false;

  constructor(
    readonly baseSeq: number,
    end: number,
    capacity = INITIAL_CAPACITY,
    frameCapacity = INITIAL_CAPACITY,
  ) {
    this.nextSeq = baseSeq;
    this.end = end;
    // A decoded table is sized exactly (the cache counts these bytes); a growing one doubles.
    this.offsets = new Uint32Array(Math.max(1, capacity));
    this.frameFirst = new Uint32Array(Math.max(1, frameCapacity));
    this.frameTs = new Float64Array(Math.max(1, frameCapacity));
  }

  /** Records covered. */
  get recordCount(): number {
    return this.records;
  }

  /** Data frames covered. */
  get frameCount(): number {
    return this.frames;
  }

  /** Lost ranges covered. */
  get gaps(): readonly PositionGap[] {
    return this.gapList;
  }

  /** Memory held, in bytes (what the position cache counts). */
  get bytes(): number {
    return this.offsets.byteLength + this.frameFirst.byteLength + this.frameTs.byteLength + this.gapList.length * 32 + 64;
  }

  /** Starts a data frame at `firstSeq` with `timestamp`; its records follow through {@link addRecord}. */
  beginFrame(firstSeq: number, timestamp: number): void {
    assert(firstSeq === this.nextSeq, `position table frames are contiguous (${firstSeq} after ${this.nextSeq})`);
    if (this.frames === this.frameFirst.length) {
      this.frameFirst = grow(this.frameFirst, new Uint32Array(this.frames * 2));
      this.frameTs = grow(this.frameTs, new Float64Array(this.frames * 2));
    }
    this.frameFirst[this.frames] = this.records;
    this.frameTs[this.frames] = timestamp;
    this.frames++;
  }

  /** The next record (sequence `nextSeq`) starts at file offset `offset`. */
  addRecord(offset: number): void {
    if (offset > OFFSET_MAX) this.absent = true;
    if (this.records === this.offsets.length) this.offsets = grow(this.offsets, new Uint32Array(this.records * 2));
    this.offsets[this.records++] = offset;
    this.nextSeq++;
  }

  /**
   * Adds the records starting at the file offsets `starts` (in order, modulo
   * 2^32: past 4 GiB, {@link endFrame} marks the table absent). What the
   * writer calls per frame, with the starts its encoder noted: one copy.
   */
  addRecordStarts(starts: Uint32Array): void {
    const n = starts.length;
    if (this.records + n > this.offsets.length) this.offsets = grow(this.offsets, new Uint32Array(Math.max(this.offsets.length * 2, this.records + n)));
    this.offsets.set(starts, this.records);
    this.records += n;
    this.nextSeq += n;
  }

  /** A data frame's end: the last record's range ends here (until the next frame's first record). */
  endFrame(frameEnd: number): void {
    if (frameEnd > OFFSET_MAX) this.absent = true;
    this.end = frameEnd;
  }

  /** An empty frame (gap or close marker) of `count` lost numbers ending at `frameEnd`. */
  addEmptyFrame(firstSeq: number, count: number, frameEnd: number): void {
    assert(firstSeq === this.nextSeq, `position table frames are contiguous (${firstSeq} after ${this.nextSeq})`);
    if (count > 0) this.gapList.push({ from: firstSeq, to: firstSeq + count });
    this.nextSeq = firstSeq + count;
    this.end = frameEnd;
  }

  /**
   * Appends every frame of `later`, a table that starts where this one ends
   * (the frames appended since a clean open, after the frames that open
   * left unchecked). `later` holds data frames only: nothing but repair
   * writes gaps, and repair never runs under a writer.
   */
  appendTable(later: Positions): void {
    assert(later.baseSeq === this.nextSeq, `a table appended continues the sequence (${later.baseSeq} after ${this.nextSeq})`);
    assert(later.gapList.length === 0, 'a table appended holds no gaps');
    for (let k = 0; k < later.frames; k++) {
      const first = later.frameFirst[k]!;
      const last = k + 1 < later.frames ? later.frameFirst[k + 1]! : later.records;
      this.beginFrame(later.baseSeq + first, later.frameTs[k]!);
      for (let r = first; r < last; r++) this.addRecord(later.offsets[r]!);
    }
    if (later.absent) this.absent = true;
    this.nextSeq = later.nextSeq;
    this.end = later.end;
  }

  /** Cuts the table back to the records below `nextSeq` ending at `end` (a write that failed after its frames were added). */
  truncate(nextSeq: number, end: number): void {
    while (this.gapList.length > 0 && this.gapList[this.gapList.length - 1]!.from >= nextSeq) this.gapList.pop();
    const keep = this.recordIndex(nextSeq);
    this.records = typeof keep === 'number' ? keep : this.records;
    while (this.frames > 0 && this.frameFirst[this.frames - 1]! >= this.records) this.frames--;
    this.nextSeq = nextSeq;
    this.end = end;
  }

  /** The index of record `seq` in the table, or the gap that holds `seq`. */
  private recordIndex(seq: number): number | PositionGap {
    let index = seq - this.baseSeq;
    for (const g of this.gapList) {
      if (seq < g.from) break;
      if (seq < g.to) return g;
      index -= g.to - g.from;
    }
    return index;
  }

  /**
   * Where record `seq` lies, the gap that holds it, or undefined when the
   * table does not cover it (past its end, or absent).
   */
  locate(seq: number): RecordPosition | PositionGap | undefined {
    if (this.absent || seq < this.baseSeq || seq >= this.nextSeq) return undefined;
    const index = this.gapList.length === 0 ? seq - this.baseSeq : this.recordIndex(seq);
    if (typeof index !== 'number') return index;
    assert(index < this.records, `record ${seq} is within the table`);
    // The last frame whose first record is at most `index`.
    let lo = 0;
    let hi = this.frames - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.frameFirst[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    const end = index + 1 < this.records ? this.offsets[index + 1]! : this.end;
    return { offset: this.offsets[index]!, end, timestamp: this.frameTs[lo]! };
  }

  /** Bytes of the on-disk table. */
  encodedBytes(): number {
    if (this.absent) return POSITIONS_TRAILER_BYTES;
    return this.records * POSITION_RECORD_BYTES + this.frames * POSITION_FRAME_BYTES + this.gapList.length * POSITION_GAP_BYTES + POSITIONS_TRAILER_BYTES;
  }

  /** The on-disk table, its CRC seeded with the segment's frame seed (so another segment's table never checks). */
  encode(crcSeed: number): Buffer {
    const out = Buffer.alloc(this.encodedBytes());
    let at = 0;
    if (!this.absent) {
      if (LITTLE_ENDIAN) {
        // The record entries are the in-memory offsets, byte for byte: one copy, where a write per entry took about 20 ms for the 620,000 entries of a 64 MiB segment of 100 B records.
        out.set(new Uint8Array(this.offsets.buffer, this.offsets.byteOffset, this.records * POSITION_RECORD_BYTES), 0);
        at = this.records * POSITION_RECORD_BYTES;
      } else for (let i = 0; i < this.records; i++, at += POSITION_RECORD_BYTES) out.writeUInt32LE(this.offsets[i]!, at);
      for (let i = 0; i < this.frames; i++, at += POSITION_FRAME_BYTES) {
        out.writeUInt32LE(this.frameFirst[i]!, at);
        writeU64(out, at + 4, this.frameTs[i]!);
      }
      for (const g of this.gapList) {
        writeU64(out, at, g.from);
        writeU64(out, at + 8, g.to);
        at += POSITION_GAP_BYTES;
      }
    }
    out.writeUInt32LE(this.absent ? 0 : this.records, at);
    out.writeUInt32LE(this.absent ? 0 : this.frames, at + 4);
    out.writeUInt32LE(this.absent ? 0 : this.gapList.length, at + 8);
    out.writeUInt32LE(this.absent ? POSITIONS_ABSENT : 0, at + 12);
    out.writeUInt32LE(crc32(out.subarray(0, at + 16), crcSeed), at + 16);
    POSITIONS_MAGIC.copy(out, at + 20);
    return out;
  }
}

function grow<A extends Uint32Array | Float64Array>(from: A, to: A): A {
  to.set(from);
  return to;
}

/** What a table's trailer says: its counts and so its size. */
export interface PositionsTrailer {
  records: number;
  frames: number;
  gaps: number;
  flags: number;
  /** Bytes of the whole table, trailer included. */
  tableBytes: number;
}

/** Reads a table trailer (24 bytes), or says why it is not one. */
export function decodePositionsTrailer(buf: Buffer): PositionsTrailer | string {
  if (buf.length !== POSITIONS_TRAILER_BYTES || !buf.subarray(20).equals(POSITIONS_MAGIC)) return 'position table trailer has no AOFP magic';
  const records = buf.readUInt32LE(0);
  const frames = buf.readUInt32LE(4);
  const gaps = buf.readUInt32LE(8);
  const flags = buf.readUInt32LE(12);
  if ((flags & ~POSITIONS_ABSENT) !== 0) return `unknown position table flags 0x${flags.toString(16)}`;
  const tableBytes = records * POSITION_RECORD_BYTES + frames * POSITION_FRAME_BYTES + gaps * POSITION_GAP_BYTES + POSITIONS_TRAILER_BYTES;
  return { records, frames, gaps, flags, tableBytes };
}

/** What a sealed segment says the table must agree with. */
export interface PositionsExpected {
  baseSeq: number;
  nextSeq: number;
  recordCount: number;
  dataEnd: number;
}

/**
 * Decodes and checks a whole table read from `[dataEnd, dataEnd + buf.length)`
 * of `file`: its CRC, its counts against the footer, offsets increasing
 * within the data, frames and gaps in order. Any failure is AOF_CORRUPT at
 * the table's offset: a damaged table never yields a wrong record.
 */
export function decodePositions(buf: Buffer, crcSeed: number, expected: PositionsExpected, file: string): Positions {
  const bad = (why: string): CorruptionError => new CorruptionError(`damaged position table: ${why}`, { file, offset: expected.dataEnd });
  if (buf.length < POSITIONS_TRAILER_BYTES) throw bad(`${buf.length} bytes are too few`);
  const trailer = decodePositionsTrailer(buf.subarray(buf.length - POSITIONS_TRAILER_BYTES));
  if (typeof trailer === 'string') throw bad(trailer);
  if (trailer.tableBytes !== buf.length) throw bad(`counts say ${trailer.tableBytes} bytes, the table has ${buf.length}`);
  if (crc32(buf.subarray(0, buf.length - 8), crcSeed) !== buf.readUInt32LE(buf.length - 8)) throw bad('checksum mismatch');
  const p = new Positions(expected.baseSeq, expected.dataEnd, trailer.records, trailer.frames);
  if ((trailer.flags & POSITIONS_ABSENT) !== 0) {
    p.absent = true;
    return p;
  }
  if (trailer.records !== expected.recordCount) throw bad(`${trailer.records} records, the footer says ${expected.recordCount}`);
  const frameAt = trailer.records * POSITION_RECORD_BYTES;
  const gapAt = frameAt + trailer.frames * POSITION_FRAME_BYTES;
  // Gaps first: they decide which sequence number each record has.
  const gaps: PositionGap[] = [];
  for (let i = 0, at = gapAt; i < trailer.gaps; i++, at += POSITION_GAP_BYTES) {
    const g = { from: readU64(buf, at), to: readU64(buf, at + 8) };
    const prevTo = gaps[i - 1]?.to ?? expected.baseSeq;
    if (g.from < prevTo || g.to <= g.from || g.to > expected.nextSeq) throw bad(`gap entry ${i} out of range`);
    gaps.push(g);
  }
  const lost = gaps.reduce((n, g) => n + g.to - g.from, 0);
  if (trailer.records + lost !== expected.nextSeq - expected.baseSeq) throw bad('records and gaps do not cover the segment');
  let frame = 0;
  let gap = 0;
  let seq = expected.baseSeq;
  let prevOffset = 0;
  let prevTs = -1;
  for (let r = 0; r < trailer.records; r++) {
    while (gap < gaps.length && gaps[gap]!.from === seq) p.addEmptyFrame(seq, gaps[gap]!.to - seq, p.end), (seq = gaps[gap++]!.to);
    while (frame < trailer.frames && buf.readUInt32LE(frameAt + frame * POSITION_FRAME_BYTES) === r) {
      const ts = readU64(buf, frameAt + frame * POSITION_FRAME_BYTES + 4);
      if (ts < prevTs) throw bad(`frame entry ${frame} goes back in time`);
      p.beginFrame(seq, ts);
      prevTs = ts;
      frame++;
    }
    if (p.frameCount === 0) throw bad('the first record has no frame entry');
    const offset = buf.readUInt32LE(r * POSITION_RECORD_BYTES);
    if (offset <= prevOffset || offset < 64 || offset >= expected.dataEnd) throw bad(`record entry ${r} (offset ${offset}) out of order or outside the data`);
    p.addRecord(offset);
    prevOffset = offset;
    seq++;
  }
  while (gap < gaps.length) p.addEmptyFrame(seq, gaps[gap]!.to - seq, p.end), (seq = gaps[gap++]!.to);
  if (frame !== trailer.frames) throw bad(`frame entry ${frame} out of order`);
  p.endFrame(expected.dataEnd);
  return p;
}
