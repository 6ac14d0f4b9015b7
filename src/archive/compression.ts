import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ArchiveCompression } from './archive.js';

/** A compressing stream (zlib works on the thread pool, off the event loop), or undefined for none. */
export function compressor(kind: ArchiveCompression): Transform | undefined {
  if (kind === 'gzip') return zlib.createGzip();
  if (kind === 'brotli') return zlib.createBrotliCompress();
  return undefined;
}

/** The matching decompressing stream, or undefined for none. */
export function decompressor(kind: ArchiveCompression): Transform | undefined {
  if (kind === 'gzip') return zlib.createGunzip();
  if (kind === 'brotli') return zlib.createBrotliDecompress();
  return undefined;
}

/** Validates a compression option. */
export function isCompression(value: unknown): value is ArchiveCompression {
  return value === 'none' || value === 'gzip' || value === 'brotli';
}
