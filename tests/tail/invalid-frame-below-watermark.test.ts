import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { payloadFor } from '../integration/support.js';
import { frameOffsets, lastSegment } from '../identity/support.js';

/**
 * A reader's scan that stops at an invalid frame while the published
 * watermark (or another commit point) says records lie beyond it must not
 * serve a silently shorter log: open, read and tail reject with AOF_CORRUPT
 * naming the file and offset.
 */
const HUGE = 0x7fffffff;

function breakFrameLength(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(HUGE);
  fs.writeSync(fd, b, 0, 4, offset);
  fs.closeSync(fd);
}

describe('an invalid frame below the watermark in the last segment', () => {
  it('a read-only open rejects AOF_CORRUPT with file and offset, not a log that ends early', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxBytes: 8192 }, flush: { strategy: 'always' } });
    for (let i = 0; i < 600; i++) await log.append(payloadFor(i));
    await log.close();
    const file = lastSegment(dir);
    const first = frameOffsets(file)[0]!;
    breakFrameLength(file, first);
    await expect(Log.open(dir, { readOnly: true })).rejects.toMatchObject({ code: 'AOF_CORRUPT', file, offset: first });
  });

  it('without a watermark the catalog and identity file are the witnesses: AOF_CORRUPT for an invalid frame, AOF_DATA_LOST for a frame cut short', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxBytes: 8192 }, flush: { strategy: 'always' } });
    for (let i = 0; i < 600; i++) await log.append(payloadFor(i));
    await log.close();
    fs.rmSync(`${dir}/watermark`);
    const file = lastSegment(dir);
    const offsets = frameOffsets(file);
    const copy = fs.readFileSync(file);
    breakFrameLength(file, offsets[0]!);
    await expect(Log.open(dir, { readOnly: true })).rejects.toMatchObject({ code: 'AOF_CORRUPT', file, offset: offsets[0] });
    // Cut inside the last record frame (the last frame is the close marker): an end that stops early, not an invalid frame with valid ones after it.
    fs.writeFileSync(file, copy.subarray(0, offsets[offsets.length - 2]! + 10));
    await expect(Log.open(dir, { readOnly: true })).rejects.toMatchObject({ code: 'AOF_DATA_LOST' });
  });

  it('a reader following a live writer: tail rejects AOF_CORRUPT when the watermark moves past an invalid frame', async () => {
    const dir = tempLogDir();
    const writer = await Log.open(dir, { segment: { maxBytes: 1024 * 1024 }, flush: { strategy: 'always' } });
    for (let i = 0; i < 10; i++) await writer.append(payloadFor(i));
    const reader = await Log.open(dir, { readOnly: true });
    try {
      expect(reader.nextSeq).toBe(10);
      const file = lastSegment(dir);
      const before = frameOffsets(file);
      for (let i = 10; i < 30; i++) await writer.append(payloadFor(i));
      // The frame of record 10, written after the reader's view ends, is broken; later frames are valid and the watermark says 30.
      const at = frameOffsets(file).find((o) => !before.includes(o))!;
      breakFrameLength(file, at);
      const seen: number[] = [];
      const following = (async () => {
        for await (const r of reader.tail({ from: 0 })) seen.push(r.seq);
      })();
      await expect(following).rejects.toMatchObject({ code: 'AOF_CORRUPT', file, offset: at });
      // Whatever it yielded before the rejection is the valid prefix, never past the invalid frame.
      expect(seen.every((s, i) => s === i && s < 10)).toBe(true);
      await expect((async () => { for await (const _ of reader.read({ from: 0 })) void _; })()).rejects.toMatchObject({ code: 'AOF_CORRUPT', file, offset: at });
    } finally {
      await reader.close();
      await writer.close().catch(() => undefined);
    }
  });
});
