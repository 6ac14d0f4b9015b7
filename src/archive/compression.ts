import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ArchiveCompression } from './archive.js';

/** Brotli quality used for archived segments. */
export const BROTLI_QUALITY = 4;

/** A compressing stream (zlib works on the thread pool, off the event loop), or undefined for none. */
export function compressor(kind: ArchiveCompression): Transform | undefined {
  if (kind === 'gzip') return zlib.createGzip();
  // Brotli's default quality (11) is very slow on 64 MiB segments; 4 keeps most of the gain.
  if (kind === 'brotli') return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } });
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
