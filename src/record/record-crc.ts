import { crc32Native } from './crc.js';

/**
 * The per-record CRC of format version 3 (docs/FORMAT.md, "Record checksum"):
 * CRC-32 (IEEE, the zlib polynomial) over `seq` as u64 little-endian ‖ the
 * record's length as u32 little-endian ‖ its payload, continuing from the
 * segment's frame seed (the CRC of its salt). Sequence number and salt are in
 * the checksum but not in the record, so a read at a stale position, in
 * another segment or another log's file fails it.
 *
 * Point gets check one small record per call, where a native call's fixed
 * cost (about 200 ns, plus a `subarray`) dominates: small inputs run through
 * a slicing-by-16 table walk over (buffer, start, end) with no allocation,
 * large ones through `zlib.crc32`. Both give the same value (a test proves it).
 *
 * @module
 */

/** Payloads of at least this many bytes go to the native CRC (measured crossover on Node 20, x86-64: about 256 bytes). */
export const RECORD_CRC_NATIVE_MIN_BYTES = 256;
/**
 * As {@link RECORD_CRC_NATIVE_MIN_BYTES}, for the word walk over a view (the
 * encoder): it is faster than the byte walk, and the native call needs a new
 * Uint8Array from a view. Measured on Node 20, x86-64: even at about 512
 * bytes, the native call a third faster at 1 KiB, twice as fast at 4 KiB.
 */
export const RECORD_CRC_VIEW_NATIVE_MIN_BYTES = 512;

const T = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 16; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** Continues the (finalised, unsigned) CRC `crc` over `buf[start, end)`; returns it finalised and unsigned. */
export function crc32Range(buf: Uint8Array, start: number, end: number, crc: number): number {
  if (end - start >= RECORD_CRC_NATIVE_MIN_BYTES && crc32Native !== undefined) return crc32Native(buf.subarray(start, end), crc);
  return ~walkBytes(buf, start, end, ~crc) >>> 0;
}

/**
 * The table walk over `buf[start, end)` from the raw (unfinalised) state `c`,
 * returning the raw state, reading bytes: for one record at a time (a point
 * get), where making a DataView would cost more than it saves.
 */
function walkBytes(buf: Uint8Array, start: number, end: number, c: number): number {
  let i = start;
  // Slicing-by-16: sixteen table lookups per sixteen bytes, no dependency between them but the running CRC.
  for (; i + 16 <= end; i += 16) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      T[3840 + (a & 0xff)]! ^ T[3584 + ((a >>> 8) & 0xff)]! ^ T[3328 + ((a >>> 16) & 0xff)]! ^ T[3072 + (a >>> 24)]! ^
      T[2816 + buf[i + 4]!]! ^ T[2560 + buf[i + 5]!]! ^ T[2304 + buf[i + 6]!]! ^ T[2048 + buf[i + 7]!]! ^
      T[1792 + buf[i + 8]!]! ^ T[1536 + buf[i + 9]!]! ^ T[1280 + buf[i + 10]!]! ^ T[1024 + buf[i + 11]!]! ^
      T[768 + buf[i + 12]!]! ^ T[512 + buf[i + 13]!]! ^ T[256 + buf[i + 14]!]! ^ T[buf[i + 15]!]!;
  }
  for (; i + 4 <= end; i += 4) c = word(c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)));
  for (; i < end; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** A DataView over exactly the bytes of `buf` (offsets in it are offsets in `buf`). */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The table walk over `view[start, end)` from the raw (unfinalised) state
 * `c`, returning the raw state. Reads four bytes per `getInt32` (one bounds
 * check and load where a byte walk takes four): about a third faster than
 * byte reads on a 100-byte record (Node 20, x86-64), which is most of what
 * a version-3 record costs the writer. Making the view costs about 200 ns:
 * worth it only for many records of one buffer.
 */
function walkView(view: DataView, start: number, end: number, c: number): number {
  let i = start;
  // Slicing-by-16: sixteen table lookups per sixteen bytes, no dependency between them but the running CRC.
  for (; i + 16 <= end; i += 16) {
    const a = c ^ view.getInt32(i, true);
    const b = view.getInt32(i + 4, true);
    const d = view.getInt32(i + 8, true);
    const e = view.getInt32(i + 12, true);
    c =
      T[3840 + (a & 0xff)]! ^ T[3584 + ((a >>> 8) & 0xff)]! ^ T[3328 + ((a >>> 16) & 0xff)]! ^ T[3072 + (a >>> 24)]! ^
      T[2816 + (b & 0xff)]! ^ T[2560 + ((b >>> 8) & 0xff)]! ^ T[2304 + ((b >>> 16) & 0xff)]! ^ T[2048 + (b >>> 24)]! ^
      T[1792 + (d & 0xff)]! ^ T[1536 + ((d >>> 8) & 0xff)]! ^ T[1280 + ((d >>> 16) & 0xff)]! ^ T[1024 + (d >>> 24)]! ^
      T[768 + (e & 0xff)]! ^ T[512 + ((e >>> 8) & 0xff)]! ^ T[256 + ((e >>> 16) & 0xff)]! ^ T[e >>> 24]!;
  }
  for (; i + 4 <= end; i += 4) c = word(c ^ view.getInt32(i, true));
  for (; i < end; i++) c = T[(c ^ view.getUint8(i)) & 0xff]! ^ (c >>> 8);
  return c;
}

/** The raw CRC state after four bytes whose little-endian value, xored with the state before, is `a`. */
function word(a: number): number {
  return T[768 + (a & 0xff)]! ^ T[512 + ((a >>> 8) & 0xff)]! ^ T[256 + ((a >>> 16) & 0xff)]! ^ T[a >>> 24]!;
}

/**
 * The record CRC of the record with sequence number `seq` whose payload is
 * `buf[start, start + length)`, in a segment whose frame seed is `seed`.
 */
export function recordCrc(seed: number, seq: number, buf: Uint8Array, start: number, length: number): number {
  const c = headerState(seed, seq, length);
  if (length >= RECORD_CRC_NATIVE_MIN_BYTES && crc32Native !== undefined) return crc32Native(buf.subarray(start, start + length), ~c >>> 0);
  return ~walkBytes(buf, start, start + length, c) >>> 0;
}

/** The raw CRC state after the seed, `seq` (u64 LE) and `length` (u32 LE): three words, no finalisation between them. */
function headerState(seed: number, seq: number, length: number): number {
  const c = word(~seed ^ (seq >>> 0));
  return word(word(c ^ Math.floor(seq / 0x1_0000_0000)) ^ length);
}

/**
 * As {@link recordCrc}, over a view: an encoder or checker walking many
 * records of one buffer makes one view for all of them.
 */
export function recordCrcOfView(seed: number, seq: number, view: DataView, start: number, length: number): number {
  const c = headerState(seed, seq, length);
  if (length >= RECORD_CRC_VIEW_NATIVE_MIN_BYTES && crc32Native !== undefined) return crc32Native(new Uint8Array(view.buffer, view.byteOffset + start, length), ~c >>> 0);
  return ~walkView(view, start, start + length, c) >>> 0;
}
