import { readFully } from '../fs/io.js';
import type { FileSystem } from '../fs/types.js';
import { crc32 } from '../record/crc.js';

/** Window used when checksumming a file. */
const CRC_WINDOW_BYTES = 1 << 20;

/**
 * CRC-32 and size of a whole file, read in bounded windows (each read is
 * asynchronous), through the log's adapter so that a fault can reach it.
 */
export async function fileCrc(fs: FileSystem, path: string): Promise<{ crc: number; bytes: number }> {
  const handle = await fs.open(path, 'read');
  try {
    const buf = Buffer.allocUnsafe(CRC_WINDOW_BYTES);
    let crc = 0;
    let bytes = 0;
    for (;;) {
      const n = await readFully(handle, buf, 0, buf.length, bytes);
      if (n === 0) break;
      crc = crc32(buf.subarray(0, n), crc);
      bytes += n;
      if (n < buf.length) break;
    }
    return { crc, bytes };
  } finally {
    await handle.close();
  }
}

/** A transform-free way to checksum a stream of chunks as they pass. */
export class RunningCrc {
  crc = 0;
  bytes = 0;
  update(chunk: Uint8Array): void {
    this.crc = crc32(chunk, this.crc);
    this.bytes += chunk.byteLength;
  }
}
