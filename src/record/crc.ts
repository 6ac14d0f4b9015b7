import * as zlib from 'node:zlib';
import CRC32 from 'crc-32';

/** A CRC-32 (IEEE 802.3, the zlib/PNG polynomial) over `data`, continuing from `seed`. */
export type Crc32 = (data: Uint8Array, seed?: number) => number;

/** The portable implementation from the `crc-32` package; returns an unsigned value. */
export const crc32Portable: Crc32 = (data, seed = 0) => CRC32.buf(data, seed) >>> 0;

type ZlibWithCrc = { crc32?: (data: Uint8Array, value?: number) => number };
const builtin = (zlib as unknown as ZlibWithCrc).crc32;

/** Node's built-in `zlib.crc32` (native, Node ≥ 20.15), when this Node has it. */
export const crc32Native: Crc32 | undefined = builtin === undefined ? undefined : (data, seed = 0) => builtin(data, seed) >>> 0;

/**
 * The fastest correct CRC-32 available: `zlib.crc32` where the running Node has
 * it, the `crc-32` package otherwise. Both compute the same function; a test
 * proves it on edge cases and random data.
 */
export const crc32: Crc32 = crc32Native ?? crc32Portable;
