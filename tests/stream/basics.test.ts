import { describe, expect, it } from 'vitest';
import { ErrorCode, EVENT_LIMITS, EventStore, Log, WrongExpectedVersionError, type EventInput } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openStore, versionsAndTypes } from './support.js';

const ev = (type: string, data: unknown = {}, extra: Partial<EventInput> = {}): EventInput => ({ type, data, ...extra });

describe('EventStore: append and read', () => {
  it('versions start at 0 per stream; positions are log sequence numbers; reads give back what was appended', async () => {
    const es = await openStore(tempLogDir());
    expect(es.streamVersion('cart-1')).toBeUndefined();
    expect(await es.appendToStream('cart-1', [ev('Opened', { by: 'ada' }), ev('ItemAdded', { sku: 'x', qty: 2 })])).toEqual({ nextExpectedVersion: 1, position: 1 });
    expect(await es.appendToStream('cart-2', [ev('Opened', { by: 'bob' }, { metadata: { correlation: 'c-9' } })])).toEqual({ nextExpectedVersion: 0, position: 2 });
    expect(await es.appendToStream('cart-1', [ev('CheckedOut')], { expectedVersion: 1 })).toEqual({ nextExpectedVersion: 2, position: 3 });
    expect(es.streamVersion('cart-1')).toBe(2);
    expect(es.streamVersion('cart-2')).toBe(0);

    const cart1 = await collect(es.readStream('cart-1'));
    expect(versionsAndTypes(cart1)).toEqual([
      [0, 'Opened'],
      [1, 'ItemAdded'],
      [2, 'CheckedOut'],
    ]);
    expect(cart1.map((e) => e.position)).toEqual([0, 1, 3]);
    expect(cart1[1]!.data).toEqual({ sku: 'x', qty: 2 });
    expect(cart1[1]!.metadata).toBeUndefined();
    expect(cart1.every((e) => e.stream === 'cart-1' && typeof e.id === 'string' && e.id.length > 0 && e.timestamp > 0)).toBe(true);
    const [cart2] = await collect(es.readStream('cart-2'));
    expect(cart2!.metadata).toEqual({ correlation: 'c-9' });

    const all = await collect(es.readAll());
    expect(all.map((e) => [e.stream, e.version, e.position])).toEqual([
      ['cart-1', 0, 0],
      ['cart-1', 1, 1],
      ['cart-2', 0, 2],
      ['cart-1', 2, 3],
    ]);
    expect((await collect(es.readAll({ from: 2 }))).map((e) => e.position)).toEqual([2, 3]);
    await es.close();
  });

  it('reads forwards and backwards, from a version, at most maxCount; an unknown stream yields nothing', async () => {
    const es = await openStore(tempLogDir());
    for (let i = 0; i < 10; i++) await es.appendToStream('s', [ev(`e${i}`)], { expectedVersion: i === 0 ? 'no_stream' : i - 1 });
    const versions = async (o: Parameters<EventStore['readStream']>[1]): Promise<number[]> => (await collect(es.readStream('s', o))).map((e) => e.version);
    expect(await versions({})).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await versions({ from: 7 })).toEqual([7, 8, 9]);
    expect(await versions({ from: 2, maxCount: 3 })).toEqual([2, 3, 4]);
    expect(await versions({ from: 12 })).toEqual([]);
    expect(await versions({ maxCount: 0 })).toEqual([]);
    expect(await versions({ direction: 'backwards' })).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(await versions({ direction: 'backwards', maxCount: 2 })).toEqual([9, 8]);
    expect(await versions({ direction: 'backwards', from: 3 })).toEqual([3, 2, 1, 0]);
    expect(await versions({ direction: 'backwards', from: 50, maxCount: 1 })).toEqual([9]);
    expect(await collect(es.readStream('nope'))).toEqual([]);
    await es.close();
  });

  it('reads streams longer than one index chunk, interleaved with other streams, in order', async () => {
    const es = await openStore(tempLogDir());
    const N = 700;
    for (let i = 0; i < N; i += 7) {
      await Promise.all([es.appendToStream('long', Array.from({ length: 7 }, (_, j) => ev('n', i + j))), es.appendToStream(`other-${i % 3}`, [ev('o')])]);
    }
    const long = await collect(es.readStream('long'));
    expect(long.map((e) => e.data)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect((await collect(es.readStream('long', { direction: 'backwards' }))).map((e) => e.version)).toEqual(Array.from({ length: N }, (_, i) => N - 1 - i));
    await es.close();
  });

  it('loadStream returns what readStream yields, for every range, from the in-memory index and from LMDB (positions packed 64 versions a value)', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    // 150 events in appends of 1..9, so that appends straddle the 64-version values of the index; other streams between them.
    let v = 0;
    for (let k = 0; v < 150; k++) {
      const n = Math.min(150 - v, 1 + (k % 9));
      await es.appendToStream('long', Array.from({ length: n }, (_, j) => ev('n', v + j)));
      await es.appendToStream(`other-${k % 4}`, [ev('o')]);
      v += n;
    }
    const ranges: Array<Parameters<EventStore['readStream']>[1]> = [{}, { from: 63 }, { from: 60, maxCount: 10 }, { from: 64, maxCount: 64 }, { from: 127, maxCount: 3 }, { from: 149 }, { from: 150 }, { maxCount: 0 }, { direction: 'backwards' }, { direction: 'backwards', from: 65, maxCount: 5 }, { direction: 'backwards', maxCount: 1 }];
    const check = async (): Promise<void> => {
      for (const o of ranges) {
        const loaded = await es.loadStream('long', o);
        expect(loaded).toEqual(await collect(es.readStream('long', o)));
        expect(loaded.map((e) => e.data)).toEqual(loaded.map((e) => e.version));
      }
      expect((await es.loadStream('long')).map((e) => e.version)).toEqual(Array.from({ length: 150 }, (_, i) => i));
      expect(await es.loadStream('nope')).toEqual([]);
    };
    await check();
    await es.close();
    es = await openStore(dir);
    await check();
    await es.appendToStream('long', [ev('n', 150)], { expectedVersion: 149 });
    expect((await es.loadStream('long', { from: 148 })).map((e) => e.data)).toEqual([148, 149, 150]);
    await expect(es.loadStream('long', { maxCount: -1 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await es.close();
  });

  it('stores bytes as bytes and JSON as JSON, including unicode names and values', async () => {
    const es = await openStore(tempLogDir());
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    await es.appendToStream('flux/é✓', [ev('Raw', bytes), ev('Json', { s: 'ünïcødé ✓', n: [1, null, true] }), ev('Scalar', 42), ev('Null', null)]);
    const got = await collect(es.readStream('flux/é✓'));
    expect(got[0]!.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(got[0]!.data as Uint8Array)).toEqual(Buffer.from(bytes));
    expect(got.slice(1).map((e) => e.data)).toEqual([{ s: 'ünïcødé ✓', n: [1, null, true] }, 42, null]);
    await es.close();
  });

  it('survives close and reopen: versions, events and ids are all there and appends continue', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    await es.appendToStream('a', [ev('A0', 0, { id: 'id-a0' }), ev('A1', 1)]);
    await es.appendToStream('b', [ev('B0')]);
    await es.close();
    es = await openStore(dir);
    expect(es.indexReport.action).toBe('ok');
    expect(es.streamVersion('a')).toBe(1);
    expect(es.streamVersion('b')).toBe(0);
    expect((await collect(es.readStream('a')))[0]!.id).toBe('id-a0');
    expect(await es.appendToStream('a', [ev('A2')], { expectedVersion: 1 })).toEqual({ nextExpectedVersion: 2, position: 3 });
    await es.close();
  });

  it('the log underneath is es.log; records appended to it directly are not events and are skipped', async () => {
    const dir = tempLogDir();
    const es = await openStore(dir);
    await es.appendToStream('a', [ev('A0')]);
    expect(es.log).toBeInstanceOf(Log);
    await es.log.append('{"not":"an event"}');
    await es.appendToStream('a', [ev('A1')]);
    expect((await collect(es.readAll())).map((e) => e.position)).toEqual([0, 2]);
    await es.close();
    const again = await openStore(dir);
    expect(again.streamVersion('a')).toBe(1);
    await again.close();
  });
});

describe('EventStore: expected versions', () => {
  it('no_stream, stream_exists, any and numbers are checked against the stream; a stale one rejects with stream, expected and actual, writing nothing', async () => {
    const es = await openStore(tempLogDir());
    const conflict = async (p: Promise<unknown>, expected: unknown, actual: unknown): Promise<void> => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WrongExpectedVersionError);
      const w = err as WrongExpectedVersionError;
      expect(w.code).toBe(ErrorCode.WRONG_EXPECTED_VERSION);
      expect(w.code).toBe('AOF_WRONG_EXPECTED_VERSION');
      expect([w.stream, w.expected, w.actual]).toEqual(['s', expected, actual]);
    };
    await conflict(es.appendToStream('s', [ev('x')], { expectedVersion: 'stream_exists' }), 'stream_exists', 'no_stream');
    await conflict(es.appendToStream('s', [ev('x')], { expectedVersion: 0 }), 0, 'no_stream');
    expect(await es.appendToStream('s', [ev('x')], { expectedVersion: 'no_stream' })).toEqual({ nextExpectedVersion: 0, position: 0 });
    await conflict(es.appendToStream('s', [ev('x')], { expectedVersion: 'no_stream' }), 'no_stream', 0);
    await conflict(es.appendToStream('s', [ev('x')], { expectedVersion: 1 }), 1, 0);
    expect(await es.appendToStream('s', [ev('y')], { expectedVersion: 'stream_exists' })).toEqual({ nextExpectedVersion: 1, position: 1 });
    expect(await es.appendToStream('s', [ev('z')], { expectedVersion: 'any' })).toEqual({ nextExpectedVersion: 2, position: 2 });
    expect(await es.appendToStream('s', [ev('w')])).toEqual({ nextExpectedVersion: 3, position: 3 });
    await conflict(es.appendToStream('s', [ev('x')], { expectedVersion: 2 }), 2, 3);
    expect(await es.appendToStream('s', [ev('v')], { expectedVersion: 3 })).toEqual({ nextExpectedVersion: 4, position: 4 });
    expect(es.log.nextSeq).toBe(5);
    expect((await collect(es.readStream('s'))).map((e) => e.type)).toEqual(['x', 'y', 'z', 'w', 'v']);
    await es.close();
  });

  it('bad input rejects with AOF_INVALID_ARGUMENT and writes nothing', async () => {
    const es = await openStore(tempLogDir());
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: Array<[string, () => Promise<unknown>]> = [
      ['empty stream name', () => es.appendToStream('', [ev('x')])],
      ['non-string stream name', () => es.appendToStream(42 as unknown as string, [ev('x')])],
      ['stream name over the limit', () => es.appendToStream('s'.repeat(EVENT_LIMITS.maxStreamNameBytes + 1), [ev('x')])],
      ['stream name over the limit in UTF-8 bytes', () => es.appendToStream('é'.repeat(EVENT_LIMITS.maxStreamNameBytes / 2 + 1), [ev('x')])],
      ['lone surrogate', () => es.appendToStream('a\ud800b', [ev('x')])],
      ['no events', () => es.appendToStream('s', [])],
      ['events not an array', () => es.appendToStream('s', ev('x') as unknown as EventInput[])],
      ['event not an object', () => es.appendToStream('s', [null as unknown as EventInput])],
      ['empty type', () => es.appendToStream('s', [ev('')])],
      ['type over the limit', () => es.appendToStream('s', [ev('t'.repeat(EVENT_LIMITS.maxEventTypeBytes + 1))])],
      ['empty id', () => es.appendToStream('s', [ev('x', {}, { id: '' })])],
      ['id over the limit', () => es.appendToStream('s', [ev('x', {}, { id: 'i'.repeat(EVENT_LIMITS.maxEventIdBytes + 1) })])],
      ['duplicate ids', () => es.appendToStream('s', [ev('x', {}, { id: 'd' }), ev('y', {}, { id: 'd' })])],
      ['cyclic data', () => es.appendToStream('s', [ev('x', cyclic)])],
      ['bigint data', () => es.appendToStream('s', [ev('x', { n: 1n })])],
      ['undefined data', () => es.appendToStream('s', [{ type: 'x', data: undefined }])],
      ['function data', () => es.appendToStream('s', [ev('x', () => 1)])],
      ['cyclic metadata', () => es.appendToStream('s', [ev('x', {}, { metadata: cyclic })])],
      ['negative version', () => es.appendToStream('s', [ev('x')], { expectedVersion: -1 })],
      ['fractional version', () => es.appendToStream('s', [ev('x')], { expectedVersion: 1.5 })],
      ['NaN version', () => es.appendToStream('s', [ev('x')], { expectedVersion: NaN })],
      ['unknown expectation', () => es.appendToStream('s', [ev('x')], { expectedVersion: 'nope' as unknown as 'any' })],
      ['options not an object', () => es.appendToStream('s', [ev('x')], 3 as unknown as object)],
      ['one bad event among good ones', () => es.appendToStream('s', [ev('ok'), ev('x', 1n)])],
    ];
    for (const [what, call] of bad) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as { code?: string } | undefined)?.code, what).toBe('AOF_INVALID_ARGUMENT');
    }
    expect(() => es.readStream('')).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => es.readStream('s', { from: -1 })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => es.readStream('s', { direction: 'sideways' as 'forwards' })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => es.readAll({ from: 0.5 })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(() => es.subscribe({ stream: '' })).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
    expect(es.log.nextSeq).toBe(0);
    // A record over the log's maxRecordBytes is refused by the log before anything is written.
    const small = await openStore(tempLogDir(), { maxRecordBytes: 1024 });
    await expect(small.appendToStream('s', [ev('x', 'y'.repeat(2000))])).rejects.toMatchObject({ code: 'AOF_RECORD_TOO_LARGE' });
    expect(small.log.nextSeq).toBe(0);
    expect(small.streamVersion('s')).toBeUndefined();
    expect(await small.appendToStream('s', [ev('x')], { expectedVersion: 'no_stream' })).toEqual({ nextExpectedVersion: 0, position: 0 });
    await small.close();
    await es.close();
  });

  it('names and types at exactly the limits are accepted', async () => {
    const es = await openStore(tempLogDir());
    const name = 'n'.repeat(EVENT_LIMITS.maxStreamNameBytes);
    await es.appendToStream(name, [ev('t'.repeat(EVENT_LIMITS.maxEventTypeBytes), {}, { id: 'i'.repeat(EVENT_LIMITS.maxEventIdBytes) })]);
    const [e] = await collect(es.readStream(name));
    expect(e!.stream).toBe(name);
    expect(e!.id).toBe('i'.repeat(EVENT_LIMITS.maxEventIdBytes));
    await es.close();
  });

  it('a closed store rejects with AOF_CLOSED; options are validated; a read-only store refuses writes', async () => {
    const dir = tempLogDir();
    const es = await openStore(dir);
    await es.close();
    await es.close();
    await expect(es.appendToStream('s', [ev('x')])).rejects.toMatchObject({ code: 'AOF_CLOSED' });
    expect(() => es.readStream('s')).toThrow(expect.objectContaining({ code: 'AOF_CLOSED' }));
    await expect(EventStore.open(dir, { idempotencyWindow: -1 })).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    await expect(EventStore.open(dir, { pinEvents: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
    // A read-only store reads; it refuses every write.
    const reader = await EventStore.open(dir, { readOnly: true });
    await expect(reader.appendToStream('s', [ev('x')])).rejects.toMatchObject({ code: 'AOF_READ_ONLY' });
    await expect(reader.appendToStreams([{ stream: 's', events: [ev('x')] }])).rejects.toMatchObject({ code: 'AOF_READ_ONLY' });
    await expect(reader.setStreamMetadata('s', {})).rejects.toMatchObject({ code: 'AOF_READ_ONLY' });
    await expect(reader.deleteStream('s')).rejects.toMatchObject({ code: 'AOF_READ_ONLY' });
    await reader.close();
    // A second writer on the same directory is refused by the log's lock.
    const first = await openStore(dir);
    await expect(openStore(dir)).rejects.toMatchObject({ code: 'AOF_LOCKED' });
    await first.close();
  });
});

describe('EventStore: idempotent appends', () => {
  it('a retry with the same ids at the same numeric or no_stream expectation resolves with the original result, writing nothing', async () => {
    const dir = tempLogDir();
    const es = await openStore(dir);
    const first = [ev('A', 1, { id: 'a-1' }), ev('B', 2, { id: 'a-2' })];
    const r1 = await es.appendToStream('s', first, { expectedVersion: 'no_stream' });
    await es.appendToStream('other', [ev('X')]);
    expect(await es.appendToStream('s', first, { expectedVersion: 'no_stream' })).toEqual(r1);
    const r2 = await es.appendToStream('s', [ev('C', 3, { id: 'a-3' })], { expectedVersion: 1 });
    await es.appendToStream('s', [ev('D', 4, { id: 'a-4' })], { expectedVersion: 2 });
    expect(await es.appendToStream('s', [ev('C', 3, { id: 'a-3' })], { expectedVersion: 1 })).toEqual(r2);
    expect(es.log.nextSeq).toBe(5);
    // Different ids at a stale expectation: a real conflict.
    await expect(es.appendToStream('s', [ev('C', 3, { id: 'other' })], { expectedVersion: 1 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    // The same ids but more events than were written: a conflict too.
    await expect(es.appendToStream('s', [ev('C', 3, { id: 'a-3' }), ev('D', 4, { id: 'a-4' }), ev('E', 5, { id: 'a-5' })], { expectedVersion: 1 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    // Without ids, nothing is idempotent.
    await expect(es.appendToStream('s', [ev('A', 1)], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await es.close();

    // Numeric retries are answered from the stream itself, so they hold across a restart whatever the window.
    const again = await openStore(dir, { idempotencyWindow: 0 });
    expect(await again.appendToStream('s', first, { expectedVersion: 'no_stream' })).toEqual(r1);
    expect(await again.appendToStream('s', [ev('C', 3, { id: 'a-3' })], { expectedVersion: 1 })).toEqual(r2);
    expect(again.log.nextSeq).toBe(5);
    await again.close();
  });

  it("'any' and 'stream_exists' retries are recognised within the idempotency window, across a restart too", async () => {
    const dir = tempLogDir();
    const es = await openStore(dir, { idempotencyWindow: 3 });
    const r1 = await es.appendToStream('s', [ev('A', 1, { id: 'x-1' }), ev('B', 2, { id: 'x-2' })]);
    // Events without ids take no room in the window.
    for (let i = 0; i < 5; i++) await es.appendToStream('noise', [ev('n', i)]);
    expect(await es.appendToStream('s', [ev('A', 1, { id: 'x-1' }), ev('B', 2, { id: 'x-2' })])).toEqual(r1);
    expect(await es.appendToStream('s', [ev('A', 1, { id: 'x-1' }), ev('B', 2, { id: 'x-2' })], { expectedVersion: 'stream_exists' })).toEqual(r1);
    // Part of an earlier append under a different shape: refused rather than half-duplicated.
    await expect(es.appendToStream('s', [ev('A', 1, { id: 'x-1' }), ev('Z', 2, { id: 'x-9' })])).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect(await es.appendToStream('t', [ev('A', 1, { id: 'y-1' })])).toEqual({ nextExpectedVersion: 0, position: 7 });
    await es.close();

    const reopened = await openStore(dir, { idempotencyWindow: 3 });
    // Refilled from the last three records of the log: t's id is there, s's are not.
    expect(await reopened.appendToStream('t', [ev('A', 1, { id: 'y-1' })])).toEqual({ nextExpectedVersion: 0, position: 7 });
    // Three more ids push t's append out of the window: its id is forgotten and a retry writes again.
    await reopened.appendToStream('u', [ev('1', 1, { id: 'u-1' }), ev('2', 2, { id: 'u-2' }), ev('3', 3, { id: 'u-3' })]);
    expect(await reopened.appendToStream('t', [ev('A', 1, { id: 'y-1' })])).toEqual({ nextExpectedVersion: 1, position: 11 });
    await reopened.close();
  });
});
