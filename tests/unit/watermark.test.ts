import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { FileHandle } from '../../src/fs/types.js';
import { decodeWatermark, readWatermarkState, WATERMARK_BYTES, WatermarkPublisher } from '../../src/tail/watermark.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { PassThroughFs } from '../../src/testing/pass-through-fs.js';
import { seededRandom } from '../../src/testing/random.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';

/** The 16 bytes a publisher writes for `nextSeq`, read back from a real file. */
async function encoded(nextSeq: number): Promise<Buffer> {
  const dir = tempDir();
  const p = await WatermarkPublisher.open(nodeFs, dir, nextSeq, 0o600);
  await p.close();
  return fs.readFileSync(path.join(dir, 'watermark'));
}

describe('the watermark file', () => {
  it('a torn write (any prefix of the new value over the old, or the reverse) never reads as a third value', async () => {
    const random = seededRandom(18);
    const pairs: Array<[number, number]> = [[0, 1], [255, 256], [2 ** 32 - 1, 2 ** 32], [2 ** 53 - 2, 2 ** 53 - 1], [5, 13]];
    for (let i = 0; i < 40; i++) pairs.push([Math.floor(random() * 2 ** 40), Math.floor(random() * 2 ** 40)]);
    for (const [a, b] of pairs) {
      const [old, neu] = [await encoded(a), await encoded(b)];
      expect(decodeWatermark(old)).toBe(a);
      for (let k = 1; k < WATERMARK_BYTES; k++) {
        for (const torn of [Buffer.concat([neu.subarray(0, k), old.subarray(k)]), Buffer.concat([old.subarray(0, k), neu.subarray(k)])]) {
          const got = decodeWatermark(torn);
          if (got !== undefined) expect([a, b]).toContain(got);
        }
      }
    }
  });

  it('a reader tells missing, damaged (short, bad magic, checksum) and valid apart, naming the file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'watermark');
    expect(await readWatermarkState(nodeFs, dir)).toEqual({ kind: 'missing', file });
    const good = await encoded(42);
    fs.writeFileSync(file, good.subarray(0, 9));
    expect(await readWatermarkState(nodeFs, dir)).toEqual({ kind: 'damaged', reason: '9 of 16 bytes', file });
    fs.writeFileSync(file, Buffer.concat([Buffer.from('XXXX'), good.subarray(4)]));
    expect(await readWatermarkState(nodeFs, dir)).toEqual({ kind: 'damaged', reason: 'bad magic', file });
    const flipped = Buffer.from(good);
    flipped[6]! ^= 1;
    fs.writeFileSync(file, flipped);
    expect(await readWatermarkState(nodeFs, dir)).toEqual({ kind: 'damaged', reason: 'checksum mismatch', file });
    fs.writeFileSync(file, Buffer.concat([good, Buffer.from('trailing bytes are not read')]));
    expect(await readWatermarkState(nodeFs, dir)).toEqual({ kind: 'valid', nextSeq: 42, file });
  });

  it('a short write of the watermark is completed, never left torn', async () => {
    class ShortFirstWriteFs extends PassThroughFs {
      shortened = 0;
      protected override wrapHandle(h: FileHandle): FileHandle {
        if (path.basename(h.path) !== 'watermark') return h;
        const short: FileHandle = Object.create(h) as FileHandle;
        Object.assign(short, {
          writeSync: undefined,
          write: (buf: Uint8Array, off: number, len: number, pos: number) => (this.shortened++ === 0 ? h.write(buf, off, Math.min(len, 5), pos) : h.write(buf, off, len, pos)),
        });
        return short;
      }
    }
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'watermark'), await encoded(1));
    const short = new ShortFirstWriteFs();
    const p = await WatermarkPublisher.open(short, dir, 77, 0o600);
    expect(short.shortened).toBeGreaterThan(0);
    expect(await readWatermarkState(nodeFs, dir)).toMatchObject({ kind: 'valid', nextSeq: 77 });
    p.publish(78);
    await p.close();
    expect(await readWatermarkState(nodeFs, dir)).toMatchObject({ kind: 'valid', nextSeq: 78 });
  });

  it('a writer puts back a watermark deleted or replaced behind its back, at the latest when it closes', async () => {
    for (const damage of [(f: string) => fs.unlinkSync(f), (f: string) => fs.writeFileSync(`${f}.x`, 'junk') === undefined && fs.renameSync(`${f}.x`, f)]) {
      const dir = tempLogDir();
      const log = await Log.open(dir);
      for (let i = 0; i < 3; i++) await log.append(`r${i}`);
      damage(path.join(dir, 'watermark'));
      await log.close();
      expect(await readWatermarkState(nodeFs, dir)).toMatchObject({ kind: 'valid', nextSeq: 3 });
      expect(fs.existsSync(path.join(dir, 'watermark.new'))).toBe(false);
    }
  });
});
