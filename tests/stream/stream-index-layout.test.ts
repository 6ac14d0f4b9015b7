import * as path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { POSITIONS_PER_ENTRY, STREAM_INDEX_FORMAT, StreamIndex, type PendingRun } from '../../src/stream/stream-index.js';
import { tempLogDir } from '../helpers/tmp.js';

/** A run of `count` events of `stream` from `firstVersion`, at positions from `firstPosition`. */
function run(stream: string, firstVersion: number, firstPosition: number, count: number): PendingRun {
  return { stream, streamBytes: Buffer.from(stream, 'utf8'), firstVersion, firstPosition, count };
}

describe('the stream index layout (format 2: positions packed 64 versions a value, the tail with the head)', () => {
  it('serves every range of streams that cross values, and of a stream that begins past version 0 (a rebuild after retention)', async () => {
    const env = openLmdb({ path: path.join(tempLogDir(), 'index'), maxDbs: 8, compression: false });
    try {
      const index = StreamIndex.open(env);
      const K = POSITIONS_PER_ENTRY;
      // 'a': versions 0..(2K+5) in three commits, interleaved with 'late', which begins at version K - 3 (its start removed by retention).
      await index.commitScan([run('a', 0, 0, K - 1), run('late', K - 3, 1000, 10)], { format: STREAM_INDEX_FORMAT, indexedTo: 2000, lastCrc: null });
      await index.commitScan([run('a', K - 1, 3000, 2), run('late', K + 7, 4000, K)], { format: STREAM_INDEX_FORMAT, indexedTo: 5000, lastCrc: null });
      await index.commitScan([run('a', K + 1, 6000, K + 5)], { format: STREAM_INDEX_FORMAT, indexedTo: 7000, lastCrc: null });
      const positionOfA = (v: number): number => (v < K - 1 ? v : v < K + 1 ? 3000 + v - (K - 1) : 6000 + v - (K + 1));
      const positionOfLate = (v: number): number => (v < K + 7 ? 1000 + v - (K - 3) : 4000 + v - (K + 7));
      const lastA = 2 * K + 5;
      const lastLate = 2 * K + 6;
      const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
      expect(index.head('a', bytes('a'))).toEqual({ version: lastA, position: positionOfA(lastA) });
      expect(index.head('late', bytes('late'))).toEqual({ version: lastLate, position: positionOfLate(lastLate) });
      expect(index.head('none', bytes('none'))).toBeUndefined();
      for (const [from, to] of [[0, lastA], [0, 0], [K - 2, K + 1], [K, 2 * K - 1], [2 * K, lastA + 10], [5, 3]]) {
        const want = [];
        for (let v = from!; v <= Math.min(to!, lastA); v++) want.push({ version: v, position: positionOfA(v) });
        expect(index.positions('a', bytes('a'), from!, to!)).toEqual(want);
      }
      for (const [from, to] of [[0, lastLate], [K - 4, K - 2], [K - 1, K + 8], [2 * K, lastLate]]) {
        const want = [];
        for (let v = Math.max(from!, K - 3); v <= Math.min(to!, lastLate); v++) want.push({ version: v, position: positionOfLate(v) });
        expect(index.positions('late', bytes('late'), from!, to!)).toEqual(want);
      }
      expect(index.positions('late', bytes('late'), 0, K - 4)).toEqual([]);
    } finally {
      await env.close();
    }
  });
});
