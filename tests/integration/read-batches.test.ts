import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Log } from '../../src/log.js';
import type { LogRecord } from '../../src/read/record.js';
import { FRAME_HEADER_BYTES } from '../../src/record/frame.js';
import { seededBytes, seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor } from './support.js';

async function batchesOf(log: Log, options?: { from?: number; to?: number }): Promise<(readonly LogRecord[])[]> {
  const out: (readonly LogRecord[])[] = [];
  for await (const b of log.readBatches(options)) out.push(b);
  return out;
}

describe('log.readBatches', () => {
  it('yields what read() yields, a stored frame at a time, across segments and index intervals, for any range', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir, { segment: { maxBytes: 8 * 1024, indexIntervalBytes: 512 } });
    const rnd = seededRandom(7);
    const payloads: Buffer[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < 300; ) {
      const size = 1 + Math.floor(rnd() * 9);
      const batch = Array.from({ length: size }, (_, k) => seededBytes(i + k, Math.floor(rnd() * 200)));
      await log.appendBatch(batch);
      payloads.push(...batch);
      sizes.push(size);
      i += size;
    }
    expect(log.segments().length).toBeGreaterThan(3);
    // Each awaited appendBatch is one frame: the batches are exactly the appended batches.
    expect((await batchesOf(log)).map((b) => b.length)).toEqual(sizes);
    for (let k = 0; k < 60; k++) {
      const from = Math.floor(rnd() * (payloads.length + 5));
      const to = from + Math.floor(rnd() * 80);
      const batches = await batchesOf(log, { from, to });
      for (const b of batches) expect(b.length).toBeGreaterThan(0);
      const flat = batches.flat();
      expect(flat).toEqual(await collect(log.read({ from, to })));
      expect(flat.map((r) => r.seq)).toEqual(Array.from({ length: Math.max(0, Math.min(to, payloads.length) - from) }, (_, i) => from + i));
      for (const r of flat) expect(Buffer.from(r.payload)).toEqual(payloads[r.seq]);
    }
    await log.close();
    const reader = await openLog(dir, { readOnly: true });
    expect((await batchesOf(reader)).flat().map((r) => r.seq)).toEqual(payloads.map((_, i) => i));
  });

  it('stops at the watermark of when it was called, and a break ends it', async () => {
    const log = await openLog(tempLogDir());
    await log.appendBatch([payloadFor(0), payloadFor(1)]);
    const before = log.readBatches();
    await log.append(payloadFor(2));
    const seen: number[] = [];
    for await (const b of before) seen.push(...b.map((r) => r.seq));
    expect(seen).toEqual([0, 1]);
    for await (const b of log.readBatches({ from: 0 })) {
      expect(b.map((r) => r.seq)).toEqual([0, 1]);
      break;
    }
    expect((await batchesOf(log, { from: 2 })).flat().map((r) => r.seq)).toEqual([2]);
  });

  it('rejects at a damaged frame with AOF_CORRUPT naming the file and offset, after the batches before it', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    for (let i = 0; i < 3; i++) await log.append(payloadFor(i, 20));
    await log.roll();
    await log.append(payloadFor(3, 20));
    const sealed = log.segments()[0]!;
    await log.close();
    // Format version 3: each record has an 8-byte header (length, record CRC).
    const secondFrameAt = 64 + FRAME_HEADER_BYTES + 8 + 20;
    const bytes = fs.readFileSync(sealed.file);
    bytes[secondFrameAt + FRAME_HEADER_BYTES + 6] ^= 0x40;
    fs.writeFileSync(sealed.file, bytes);
    const again = await openLog(dir);
    const seen: number[] = [];
    const err = await (async () => {
      try {
        for await (const b of again.readBatches()) seen.push(...b.map((r) => r.seq));
      } catch (e) {
        return e as Error & { code?: string; file?: string; offset?: number };
      }
      return undefined;
    })();
    expect(seen).toEqual([0]);
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: sealed.file, offset: secondFrameAt });
  });

  it('checks its options as read() does', async () => {
    const log = await openLog(tempLogDir());
    expect(() => log.readBatches({ from: -1 })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => log.readBatches(null as unknown as {})).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    await log.close();
    expect(() => log.readBatches()).toThrow(expect.objectContaining({ code: 'AOF_CLOSED' }));
  });
});
