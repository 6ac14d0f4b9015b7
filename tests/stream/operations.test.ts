import * as path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { EventStore, WrongExpectedVersionError } from '../../src/index.js';
import { prepareAppend, setVersions, streamNameBytes } from '../../src/stream/codec.js';
import { MAX_FILTER_EVENT_TYPES } from '../../src/stream/event-filter.js';
import { STREAM_INDEX_DBS } from '../../src/stream/stream-index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openStore } from './support.js';

const ev = (type: string, data: unknown = {}, id?: string) => ({ type, data, ...(id === undefined ? {} : { id }) });
const versions = async (es: EventStore, stream: string, options = {}): Promise<number[]> => (await collect(es.readStream(stream, options))).map((e) => e.version);

/** Removes the stream index's state, so that the next open rebuilds the whole index from the log. */
async function forgetStreamIndex(dir: string): Promise<void> {
  const env = openLmdb({ path: path.join(dir, 'index'), maxDbs: 8, compression: false });
  try {
    await env.openDB(STREAM_INDEX_DBS.meta, {}).remove('state');
  } finally {
    await env.close();
  }
}

describe('EventStore: reading a stream backwards, with maxCount, and its last event', () => {
  it('forwards and backwards, from a version, at most maxCount', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', Array.from({ length: 600 }, (_, i) => ev(`e${i}`)));
    expect(await versions(es, 's', { direction: 'backwards', maxCount: 1 })).toEqual([599]);
    expect(await versions(es, 's', { direction: 'backwards', from: 3 })).toEqual([3, 2, 1, 0]);
    expect(await versions(es, 's', { from: 598 })).toEqual([598, 599]);
    expect(await versions(es, 's', { from: 10, maxCount: 3 })).toEqual([10, 11, 12]);
    expect(await versions(es, 's', { direction: 'backwards', from: 900, maxCount: 2 })).toEqual([599, 598]);
    // Across read chunks (256 versions), backwards stays in order.
    const back = await versions(es, 's', { direction: 'backwards' });
    expect(back.length).toBe(600);
    expect(back.every((v, i) => v === 599 - i)).toBe(true);
    expect(await versions(es, 's', { maxCount: 0 })).toEqual([]);
    expect(() => es.readStream('s', { maxCount: -1 })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    await es.close();
  });
});

describe('EventStore: stream metadata, truncation and soft deletion', () => {
  it('metadata has its own version, checked by expectedMetadataVersion; bad metadata is refused', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', [ev('a'), ev('b')]);
    expect(await es.getStreamMetadata('s')).toBeUndefined();
    expect(await es.setStreamMetadata('s', { custom: { owner: 'ada' } }, { expectedMetadataVersion: 'no_stream' })).toMatchObject({ nextExpectedVersion: 0 });
    expect(await es.getStreamMetadata('s')).toEqual({ metadata: { custom: { owner: 'ada' } }, metadataVersion: 0 });
    await expect(es.setStreamMetadata('s', { custom: { owner: 'bob' } }, { expectedMetadataVersion: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await es.setStreamMetadata('s', { custom: { owner: 'bob' } }, { expectedMetadataVersion: 0 });
    expect(await es.getStreamMetadata('s')).toEqual({ metadata: { custom: { owner: 'bob' } }, metadataVersion: 1 });
    // The stream itself did not move.
    expect(es.streamVersion('s')).toBe(1);
    for (const bad of [null, [], { truncateBefore: -1 }, { truncateBefore: 1.5 }, { custom: 'x' }, { color: 'red' }]) {
      await expect(es.setStreamMetadata('s', bad as never)).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    }
    // Metadata streams are the store's: not appended to directly, and with no metadata of their own.
    await expect(es.appendToStream('$$s', [ev('x')])).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await expect(es.appendToStreams([{ stream: '$$s', events: [ev('x')] }])).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await expect(es.setStreamMetadata('$$s', {})).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await expect(es.getStreamMetadata('$$s')).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await es.close();
  });

  it('truncateStream hides the events below a version from reads, forwards and backwards; appends continue', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', [ev('a'), ev('b'), ev('c'), ev('d')]);
    await es.truncateStream('s', 2);
    expect(await versions(es, 's')).toEqual([2, 3]);
    expect(await versions(es, 's', { from: 0, maxCount: 1 })).toEqual([2]);
    expect(await versions(es, 's', { direction: 'backwards' })).toEqual([3, 2]);
    expect(await versions(es, 's', { direction: 'backwards', from: 1 })).toEqual([]);
    expect(await es.streamExists('s')).toBe(true);
    expect((await es.getStreamMetadata('s'))?.metadata).toEqual({ truncateBefore: 2 });
    await es.appendToStream('s', [ev('e')], { expectedVersion: 3 });
    expect(await versions(es, 's')).toEqual([2, 3, 4]);
    await expect(es.truncateStream('s', -1)).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await expect(es.truncateStream('s', 1, { expectedVersion: 2 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    // readAll still has every event (they leave the log with retention only), but not the metadata stream's.
    expect((await collect(es.readAll())).map((e) => `${e.stream}@${e.version}`)).toEqual(['s@0', 's@1', 's@2', 's@3', 's@4']);
    expect((await collect(es.readAll({ includeMetadataStreams: true }))).map((e) => e.stream)).toContain('$$s');
    await es.close();
  });

  it('deleteStream soft-deletes: reads are empty, streamExists is false, a new append continues after the hidden versions', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', [ev('a'), ev('b')]);
    await expect(es.deleteStream('s', { expectedVersion: 0 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await es.deleteStream('s', { expectedVersion: 1 });
    expect(await versions(es, 's')).toEqual([]);
    expect(await versions(es, 's', { direction: 'backwards', maxCount: 1 })).toEqual([]);
    expect(await es.streamExists('s')).toBe(false);
    expect(es.streamVersion('s')).toBe(1);
    await es.appendToStream('s', [ev('c')], { expectedVersion: 1 });
    expect((await collect(es.readStream('s'))).map((e) => [e.version, e.type])).toEqual([[2, 'c']]);
    expect(await es.streamExists('s')).toBe(true);
    await es.close();
  });

  it('truncation and deletion survive a restart and a rebuild of the stream index from the log', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    await es.appendToStream('t', [ev('a'), ev('b'), ev('c')]);
    await es.appendToStream('d', [ev('a')]);
    await es.truncateStream('t', 1);
    await es.deleteStream('d');
    await es.setStreamMetadata('u', { custom: { note: 'kept' } });
    await es.close();
    es = await openStore(dir);
    expect(await versions(es, 't')).toEqual([1, 2]);
    expect(await es.streamExists('d')).toBe(false);
    await es.close();
    await forgetStreamIndex(dir);
    es = await openStore(dir);
    expect(es.indexReport.action).toBe('rebuilt');
    expect(await versions(es, 't')).toEqual([1, 2]);
    expect(await es.streamExists('d')).toBe(false);
    expect(await es.getStreamMetadata('u')).toEqual({ metadata: { custom: { note: 'kept' } }, metadataVersion: 0 });
    expect(await es.getStreamMetadata('t')).toEqual({ metadata: { truncateBefore: 1 }, metadataVersion: 0 });
    await es.close();
  });
});

describe('EventStore: readAll and subscribe filtered by stream prefix or event type', () => {
  it('yields only matching events, and never decodes the ones it drops', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('cart-1', [ev('Added', { sku: 'a' }), ev('Confirmed')]);
    await es.appendToStream('user-1', [ev('Added', { name: 'ada' })]);
    // An event record whose data is not JSON, in a stream the filters drop: decoding it would throw AOF_CORRUPT.
    const [bad] = prepareAppend(streamNameBytes('junk-1'), [ev('Added', 0)]).payloads;
    setVersions([bad!], 0);
    bad![bad!.length - 1] = 0x7b; // '{': a data field that does not parse
    await es.log.append(bad!);
    await es.appendToStream('cart-2', [ev('Added', { sku: 'b' })]);
    await expect(collect(es.readAll())).rejects.toMatchObject({ code: 'AOF_CORRUPT' });
    expect((await collect(es.readAll({ streamPrefix: 'cart-' }))).map((e) => `${e.stream}:${e.type}`)).toEqual(['cart-1:Added', 'cart-1:Confirmed', 'cart-2:Added']);
    expect((await collect(es.readAll({ eventTypes: ['Confirmed'] }))).map((e) => e.stream)).toEqual(['cart-1']);
    expect((await collect(es.readAll({ streamPrefix: 'user-', eventTypes: ['Added', 'Removed'] }))).map((e) => e.data)).toEqual([{ name: 'ada' }]);
    const live = collect(es.subscribe({ streamPrefix: 'cart-', eventTypes: ['Added'], signal: AbortSignal.abort() })).catch((e: Error) => e.name);
    expect(await live).toBe('AbortError');
    const ac = new AbortController();
    const got: string[] = [];
    const sub = (async () => {
      for await (const e of es.subscribe({ streamPrefix: 'cart-', eventTypes: ['Added'], signal: ac.signal })) {
        got.push(`${e.stream}@${e.version}`);
        if (got.length === 3) ac.abort();
      }
    })().catch((e: Error) => e.name);
    await es.appendToStream('user-2', [ev('Added')]);
    await es.appendToStream('cart-3', [ev('Added')]);
    expect(await sub).toBe('AbortError');
    expect(got).toEqual(['cart-1@0', 'cart-2@0', 'cart-3@0']);
    for (const bad of [{ streamPrefix: '' }, { eventTypes: [] }, { eventTypes: [''] }, { eventTypes: 'Added' }, { includeMetadataStreams: 'yes' }]) {
      expect(() => es.readAll(bad as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    }
    expect(() => es.subscribe({ stream: 'cart-1', eventTypes: ['Added'] })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    // The bound on the types one filter names.
    const many = Array.from({ length: MAX_FILTER_EVENT_TYPES }, (_, i) => `T${i}`);
    expect((await collect(es.readAll({ eventTypes: [...many.slice(1), 'Confirmed'] }))).length).toBe(1);
    expect(() => es.readAll({ eventTypes: [...many, 'Confirmed'] })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    await es.close();
  });
});

describe('EventStore: appendToStreams, several streams in one atomic append', () => {
  it('checks every expectation: all are written, in one batch, or none', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('a', [ev('x')]);
    const results = await es.appendToStreams([
      { stream: 'a', events: [ev('a1'), ev('a2')], expectedVersion: 0 },
      { stream: 'b', events: [ev('b1')], expectedVersion: 'no_stream' },
    ]);
    expect(results).toEqual([
      { nextExpectedVersion: 2, position: 2 },
      { nextExpectedVersion: 0, position: 3 },
    ]);
    const end = es.log.nextSeq;
    const stale = es.appendToStreams([
      { stream: 'a', events: [ev('a3')], expectedVersion: 2 },
      { stream: 'b', events: [ev('b2')], expectedVersion: 5 },
    ]);
    await expect(stale).rejects.toMatchObject({ code: 'AOF_WRONG_EXPECTED_VERSION', stream: 'b', expected: 5, actual: 0 });
    expect(es.log.nextSeq).toBe(end);
    expect(es.streamVersion('a')).toBe(2);
    // One batch frame: the events of one call are read back as one frame's records.
    const batches: number[][] = [];
    for await (const records of es.log.readBatches({ from: 1 })) batches.push(records.map((r) => r.seq));
    expect(batches[0]).toEqual([1, 2, 3]);
    await es.close();
  });

  it('a retry with the same ids resolves with the original results; bad input is refused', async () => {
    const es = await openStore(tempLogDir());
    const writes = [
      { stream: 'a', events: [ev('a1', {}, 'id-a1')], expectedVersion: 'no_stream' as const },
      { stream: 'b', events: [ev('b1', {}, 'id-b1')], expectedVersion: 'no_stream' as const },
    ];
    const first = await es.appendToStreams(writes);
    expect(await es.appendToStreams(writes)).toEqual(first);
    expect(es.log.nextSeq).toBe(2);
    // A retry of which only part was written is a conflict, not a partial write.
    await expect(es.appendToStreams([writes[0]!, { stream: 'c', events: [ev('c1', {}, 'id-c1')], expectedVersion: 'no_stream' }])).rejects.toBeInstanceOf(WrongExpectedVersionError);
    for (const bad of [[], 'x', [null], [{ stream: 'a', events: [] }], [{ stream: '', events: [ev('x')] }], [{ stream: 'a', events: [ev('x')] }, { stream: 'a', events: [ev('y')] }], [{ stream: 'a', events: [ev('x')], expectedVersion: -1 }]]) {
      await expect(es.appendToStreams(bad as never), JSON.stringify(bad)).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    }
    expect(es.log.nextSeq).toBe(2);
    await es.close();
  });

  it('concurrent multi-stream appends over overlapping streams neither deadlock nor lose an event', async () => {
    const es = await openStore(tempLogDir());
    const streams = ['p', 'q', 'r', 's'];
    const calls = Array.from({ length: 40 }, (_, i) => {
      const pick = [streams[i % 4]!, streams[(i + 1 + (i % 3)) % 4]!];
      return es.appendToStreams(pick.map((stream) => ({ stream, events: [ev(`e${i}`)] })));
    });
    await Promise.all(calls);
    let total = 0;
    for (const s of streams) {
      const vs = await versions(es, s);
      expect(vs).toEqual(vs.map((_, k) => k));
      total += vs.length;
    }
    expect(total).toBe(80);
    await es.close();
  });
});

describe('EventStore: truncation beside concurrent metadata writes', () => {
  it('deleteStream racing setStreamMetadata: both land, the deletion does not overwrite the custom metadata', async () => {
    const es = await openStore(tempLogDir());
    await es.appendToStream('s', [ev('a'), ev('b')]);
    await Promise.all([es.setStreamMetadata('s', { custom: { owner: 'ada' } }), es.deleteStream('s')]);
    const { metadata, metadataVersion } = (await es.getStreamMetadata('s'))!;
    expect(metadataVersion).toBe(1);
    // setStreamMetadata, called first, is decided first; deleteStream read the metadata before that landed, so its
    // write conflicts on the metadata version and is retried on top of it: the deletion keeps the custom field.
    expect(metadata).toEqual({ truncateBefore: 2, custom: { owner: 'ada' } });
    expect(await es.streamExists('s')).toBe(false);
    await es.close();
  });
});
