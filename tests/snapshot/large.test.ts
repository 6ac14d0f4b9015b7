/**
 * Memory stays bounded: a snapshot larger than 1 GiB, saved from an async
 * iterable and streamed back, never holds more than a few slices in memory.
 * `AOF_SNAPSHOT_LARGE_MIB` changes the size (default 1100 MiB).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openStore, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.AOF_SNAPSHOT_LARGE_MIB ?? 1100);

describe('SnapshotStore: a snapshot larger than the memory bound', () => {
  it(`streams ${SIZE_MIB} MiB from an async iterable with bounded memory, and streams it back verified`, async () => {
    const store = await openStore(tempDir(), { memoryBytes: 4 * MiB });
    // One 4 MiB buffer, restamped for each chunk: the source itself holds no more than that.
    const chunk = Buffer.alloc(4 * MiB);
    const expected = createHash('sha256');
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < SIZE_MIB / 4; i++) {
        for (let off = 0; off < chunk.length; off += 4096) chunk.writeUInt32LE(i * 1024 + off / 4096, off);
        expected.update(chunk);
        rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
        yield chunk;
      }
    }
    const t0 = performance.now();
    const info = await store.save(1, source());
    const saveMs = performance.now() - t0;
    expect(info.bytes).toBe(SIZE_MIB * MiB);
    expect(info.checksum).toBe(`sha256:${expected.digest('hex')}`);
    expect(rssPeak - rssBefore).toBeLessThan(128 * MiB); // far below the snapshot's size

    let bytes = 0;
    let readPeak = process.memoryUsage.rss();
    const readBefore = readPeak;
    for await (const piece of store.read(info.name)) {
      bytes += piece.length; // the checksum is checked by read() itself: it rejects at the end on a mismatch
      readPeak = Math.max(readPeak, process.memoryUsage.rss());
    }
    expect(bytes).toBe(SIZE_MIB * MiB);
    expect(readPeak - readBefore).toBeLessThan(128 * MiB);
    // Diagnostic only (timings are never asserted): throughput on this machine.
    console.log(`[snapshot] ${SIZE_MIB} MiB saved in ${saveMs.toFixed(0)} ms (RSS +${((rssPeak - rssBefore) / MiB).toFixed(1)} MiB), read back in ${(performance.now() - t0 - saveMs).toFixed(0)} ms (RSS +${((readPeak - readBefore) / MiB).toFixed(1)} MiB)`);
  });
});
