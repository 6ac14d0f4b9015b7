import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs } from '../../src/fs/node-fs.js';
import type { SegmentState } from '../../src/segment/loaded-segment.js';
import { Segment } from '../../src/segment/segment.js';
import { SegmentList } from '../../src/segment/segment-list.js';
import { SEGMENT_HEADER_BYTES } from '../../src/segment/header.js';
import { tempDir } from '../helpers/tmp.js';

function state(baseSeq: number, over: Partial<SegmentState> = {}): SegmentState {
  return {
    baseSeq, file: `/nowhere/${baseSeq}.seg`, salt: Buffer.alloc(8), createdMs: 1, sealed: false, nextSeq: baseSeq, recordCount: 0, dataEnd: SEGMENT_HEADER_BYTES,
    firstTimestamp: 0, lastTimestamp: 0, index: [], gaps: [], damage: undefined, footerCrc: undefined, footerBytes: 0, location: 'local', needsFetch: false, ...over,
  };
}

describe('Segment: the one place segment state changes', () => {
  it('publishes frames in order: records counted, timestamps kept, the sparse index built every interval', () => {
    const seg = new Segment(state(10));
    let offset = SEGMENT_HEADER_BYTES;
    for (let i = 0; i < 10; i++) {
      seg.publishFrame({ firstSeq: 10 + i * 2, count: 2, frameBytes: 100, timestamp: 1000 + i }, offset, 250);
      offset += 100;
    }
    expect(seg).toMatchObject({ nextSeq: 30, recordCount: 20, dataEnd: offset, firstTimestamp: 1000, lastTimestamp: 1009 });
    expect(seg.index.map((e) => e.offset)).toEqual([64, 364, 664, 964]);
  });

  it('a gap frame advances the sequence but holds no records', () => {
    const seg = new Segment(state(0));
    seg.publishFrame({ firstSeq: 0, count: 5, frameBytes: 40, timestamp: 7, flags: 2 }, SEGMENT_HEADER_BYTES, 4096);
    expect(seg).toMatchObject({ nextSeq: 5, recordCount: 0, firstTimestamp: 0 });
  });

  it('refuses a frame out of order, out of place, or after the seal', () => {
    const seg = new Segment(state(0));
    expect(() => seg.publishFrame({ firstSeq: 1, count: 1, frameBytes: 40, timestamp: 1 }, SEGMENT_HEADER_BYTES, 4096)).toThrow(/strictly increase/);
    expect(() => seg.publishFrame({ firstSeq: 0, count: 1, frameBytes: 40, timestamp: 1 }, 100, 4096)).toThrow(/file order/);
    seg.publishFrame({ firstSeq: 0, count: 1, frameBytes: 40, timestamp: 1 }, SEGMENT_HEADER_BYTES, 4096);
    seg.seal(80, 1234);
    expect(seg).toMatchObject({ sealed: true, footerBytes: 80, footerCrc: 1234 });
    expect(() => seg.publishFrame({ firstSeq: 1, count: 1, frameBytes: 40, timestamp: 1 }, 104, 4096)).toThrow(/unsealed/);
    expect(() => seg.seal(80, 1234)).toThrow(/sealed once/);
  });

  it('moves through the tiers only in order: evicted once sealed and local, fetched back only while evicted', () => {
    const seg = new Segment(state(0));
    expect(() => seg.evict()).toThrow(/sealed local/);
    seg.seal(80, 1);
    seg.evict();
    expect(seg.location).toBe('archive');
    expect(() => seg.evict()).toThrow(/sealed local/);
    const figures = { salt: Buffer.alloc(8, 1), createdMs: 1, sealed: true, nextSeq: 0, recordCount: 0, dataEnd: 64, firstTimestamp: 0, lastTimestamp: 0, index: [], footerCrc: 1, footerBytes: 80, location: 'local' as const, needsFetch: false, deferred: false };
    seg.fetched('/cache/0.seg', figures);
    expect(seg).toMatchObject({ file: '/cache/0.seg', location: 'archive', needsFetch: false });
    expect(() => new Segment(state(0, { sealed: true })).fetched('/x', figures)).toThrow(/evicted/);
  });

  it('owns the write handle of the active segment: one per segment, closed once however often asked, never used after', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.seg');
    fs.writeFileSync(file, '');
    const handle = await nodeFs.open(file, 'readWrite');
    let closes = 0;
    const counted = Object.assign(Object.create(handle) as typeof handle, { close: () => (closes++, handle.close()) });
    const seg = new Segment(state(0, { file }));
    seg.attachAppendHandle(counted);
    expect(() => seg.attachAppendHandle(counted)).toThrow(/one write handle/);
    expect(seg.appendHandle).toBe(counted);
    await Promise.all([seg.closeAppendHandle(), seg.closeAppendHandle()]);
    await seg.closeAppendHandle();
    expect(closes).toBe(1);
    expect(() => seg.appendHandle).toThrow(/never used after it was closed/);
  });

  it('a deferred load runs once for concurrent readers', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.seg');
    fs.writeFileSync(file, 'x');
    const seg = new Segment(state(0, { file, sealed: true, deferred: true }));
    const list = new SegmentList(nodeFs, 2);
    let reads = 0;
    const read = async () => {
      reads++;
      return { salt: Buffer.alloc(8), createdMs: 1, sealed: true, nextSeq: 0, recordCount: 0, dataEnd: 64, firstTimestamp: 0, lastTimestamp: 0, index: [], footerCrc: 1, footerBytes: 80, location: 'local' as const, needsFetch: false, deferred: false };
    };
    await Promise.all([seg.loadDeferred(list.files, read), seg.loadDeferred(list.files, read), seg.loadDeferred(list.files, read)]);
    expect(reads).toBe(1);
    expect(seg.deferred).toBe(false);
    await seg.loadDeferred(list.files, read);
    expect(reads).toBe(1);
    await list.close();
  });
});

describe('SegmentList: the set, its order and its descriptors', () => {
  it('adds a segment only after a sealed last one, joining it', () => {
    const list = new SegmentList(nodeFs, 4, [state(0, { sealed: true, nextSeq: 5 })]);
    expect(() => list.append(new Segment(state(6)))).toThrow(/follows a sealed segment/);
    list.append(new Segment(state(5)));
    expect(list.active.baseSeq).toBe(5);
    expect(() => list.append(new Segment(state(5)))).toThrow(/follows a sealed segment/);
    expect(list.find(4)?.baseSeq).toBe(0);
    expect(list.find(7)?.baseSeq).toBe(5);
  });

  it('removing a local file forgets its cached handle first; an evicted segment stays, a deleted one leaves', async () => {
    const dir = tempDir();
    const files = [0, 5, 10].map((b) => {
      const f = path.join(dir, `${b}.seg`);
      fs.writeFileSync(f, `segment ${b}`);
      return f;
    });
    const list = new SegmentList(nodeFs, 4, [
      state(0, { file: files[0], sealed: true, nextSeq: 5 }),
      state(5, { file: files[1], sealed: true, nextSeq: 10 }),
      state(10, { file: files[2] }),
    ]);
    (await list.files.lease(files[0]!)).release();
    expect(list.files.cachedCount).toBe(1);
    await list.removeLocal(0, 'evict', files[0]!);
    expect(list.files.cachedCount).toBe(0);
    expect(fs.existsSync(files[0]!)).toBe(false);
    expect(list.first?.location).toBe('archive');
    await list.removeLocal(5, 'delete', files[1]!);
    expect(list.view.map((s) => s.baseSeq)).toEqual([0, 10]);
    await list.close();
    expect(list.files.inUse).toBe(0);
  });
});
