/**
 * 64-bit little-endian integers stored as two 32-bit halves, read into a JS
 * number. Sequence numbers, offsets and timestamps never exceed 2^53, so a
 * number is exact; a value above that in a file is damage and reads as -1.
 */

const TWO_32 = 0x1_0000_0000;

/** Writes a non-negative safe integer as u64 LE. */
export function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

/** Reads a u64 LE; -1 when the value is not a safe integer (a sign of damage). */
export function readU64(buf: Buffer, offset: number): number {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi > 0x1f_ffff) return -1;
  return hi * TWO_32 + lo;
}
