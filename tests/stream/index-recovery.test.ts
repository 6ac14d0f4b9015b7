import * as fs from 'node:fs';
import * as path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { EventStore, Log, WrongExpectedVersionError, type LogOptions } from '../../src/index.js';
import { prepareAppend, setVersions, streamNameBytes } from '../../src/stream/codec.js';
import { STREAM_INDEX_DBS, STREAM_INDEX_FORMAT } from '../../src/stream/stream-index.js';
import { catalogReadable } from '../../src/catalog/probe.js';
import { FaultFs } from '../../src/testing/fault-fs.js';
import { seededRandom } from '../helpers/rng.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { collect, openStore, versionsFromLog } from './support.js';

/** Appends events straight to the log, as the store writes them, without telling the index: a crash between the two. */
async function appendBehindTheIndex(dir: string, events: Array<[stream: string, version: number]>): Promise<void> {
  const log = await Log.open(dir);
  for (const [stream, version] of events) {
    const prepared = prepareAppend(streamNameBytes(stream), [{ type: 'unindexed', data: { stream, version } }]);
    setVersions(prepared.payloads, version);
    await log.appendBatch(prepared.payloads);
  }
  await log.close();
}

/**
 * Since issue 18 the log itself refuses to open when its data ends before the
 * commit points it recorded (catalog, identity file, watermark): AOF_DATA_LOST
 * (tests/identity). The stream index's own defence is for when those went back
 * with the segments: this removes them, as a restore of everything but the
 * stream index would.
 */
async function forgetLogCommitPoints(dir: string): Promise<void> {
  fs.rmSync(path.join(dir, 'identity'), { force: true });
  fs.rmSync(path.join(dir, 'watermark'), { force: true });
  const env = openLmdb({ path: path.join(dir, 'index'), maxDbs: 8, compression: false });
  try {
    await env.openDB('segments', {}).clearAsync();
    await env.openDB('catalog-meta', {}).clearAsync();
  } finally {
    await env.close();
  }
}

/**
 * A store whose stream index covers two appends to `s`, over a log put back
 * to its state after the first (as a restore of old segments would), with
 * its commit points forgotten and `events` written to it behind the index:
 * a log of another history.
 */
async function indexAheadOfAnEarlierLog(events: Array<[stream: string, version: number]>): Promise<string> {
  const dir = tempLogDir();
  let es = await openStore(dir);
  await es.appendToStream('s', [{ type: 'a', data: 0 }]);
  await es.close();
  const segments = path.join(dir, 'segments');
  const saved = path.join(tempDir(), 'segments');
  copyDir(segments, saved);
  es = await openStore(dir);
  await es.appendToStream('s', [{ type: 'b', data: 1 }]);
  await es.close();
  fs.rmSync(segments, { recursive: true });
  copyDir(saved, segments);
  await forgetLogCommitPoints(dir);
  await appendBehindTheIndex(dir, events);
  return dir;
}

function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}

async function expectAgreesWithLog(es: EventStore): Promise<Map<string, number>> {
  const truth = await versionsFromLog(es);
  for (const [stream, version] of truth) expect(es.streamVersion(stream), stream).toBe(version);
  return truth;
}

describe('the stream index at open', () => {
  it('is caught up from the log when a crash left it behind: decisions see every durable event', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    await es.appendToStream('s', [{ type: 'a', data: 0 }, { type: 'b', data: 1 }, { type: 'c', data: 2 }]);
    await es.close();
    await appendBehindTheIndex(dir, [
      ['s', 3],
      ['t', 0],
      ['s', 4],
    ]);
    es = await openStore(dir);
    expect(es.indexReport).toEqual({ action: 'caught-up', reason: undefined, recordsScanned: 3, eventsIndexed: 3 });
    expect(es.streamVersion('s')).toBe(4);
    expect(es.streamVersion('t')).toBe(0);
    await expect(es.appendToStream('s', [{ type: 'stale', data: null }], { expectedVersion: 2 })).rejects.toMatchObject({ code: 'AOF_WRONG_EXPECTED_VERSION', actual: 4 });
    await expect(es.appendToStream('t', [{ type: 'stale', data: null }], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect(await es.appendToStream('s', [{ type: 'd', data: 5 }], { expectedVersion: 4 })).toEqual({ nextExpectedVersion: 5, position: 6 });
    expect((await collect(es.readStream('s'))).map((e) => e.version)).toEqual([0, 1, 2, 3, 4, 5]);
    await es.close();
    es = await openStore(dir);
    expect(es.indexReport.action).toBe('ok');
    await es.close();
  });

  it('is rebuilt when it is ahead of the log (the log lost acknowledged records, or was cut back)', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    await es.appendToStream('s', [{ type: 'a', data: 0 }]);
    await es.close();
    const segments = path.join(dir, 'segments');
    const saved = path.join(tempDir(), 'segments');
    copyDir(segments, saved);
    es = await openStore(dir);
    await es.appendToStream('s', [{ type: 'b', data: 1 }, { type: 'c', data: 2 }]);
    await es.appendToStream('u', [{ type: 'x', data: 0 }]);
    await es.close();
    // The segments go back to the earlier state; the index (in index/) stays ahead.
    fs.rmSync(segments, { recursive: true });
    copyDir(saved, segments);
    await forgetLogCommitPoints(dir);
    es = await openStore(dir);
    expect(es.indexReport.action).toBe('rebuilt');
    expect(es.indexReport.reason).toMatch(/past the end of the log/);
    expect(es.streamVersion('s')).toBe(0);
    expect(es.streamVersion('u')).toBeUndefined();
    expect(await es.appendToStream('s', [{ type: 'b2', data: 1 }], { expectedVersion: 0 })).toEqual({ nextExpectedVersion: 1, position: 1 });
    await es.close();
  });

  it('is rebuilt when the log it last covered was replaced by a different one of the same length or longer', async () => {
    const dir = await indexAheadOfAnEarlierLog([
      ['other', 0],
      ['other', 1],
    ]);
    const es = await openStore(dir);
    expect(es.indexReport.action).toBe('rebuilt');
    expect(es.indexReport.reason).toMatch(/not the one the index last covered/);
    await expectAgreesWithLog(es);
    expect(es.streamVersion('s')).toBe(0);
    expect(es.streamVersion('other')).toBe(1);
    await es.close();
  });

  it('is rebuilt when the log was replaced by a different one of exactly its length, closed cleanly by a plain writer', async () => {
    // The log then opens from its close marker as left by that writer: only the record before indexedTo tells the histories apart.
    const dir = await indexAheadOfAnEarlierLog([['other', 0]]);
    const es = await openStore(dir);
    expect(es.log.openReport.recovery).toMatchObject({ cleanClose: true, scanned: false });
    expect(es.indexReport.action).toBe('rebuilt');
    expect(es.indexReport.reason).toMatch(/not the one the index last covered/);
    await expectAgreesWithLog(es);
    expect(es.streamVersion('s')).toBe(0);
    expect(es.streamVersion('other')).toBe(0);
    await es.close();
  });

  it('is rebuilt when missing (the LMDB environment deleted) or written in another format', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir);
    for (let i = 0; i < 20; i++) await es.appendToStream(`s${i % 3}`, [{ type: 'e', data: i }]);
    await es.close();
    fs.rmSync(path.join(dir, 'index'), { recursive: true });
    es = await openStore(dir);
    expect(es.indexReport).toMatchObject({ action: 'rebuilt', reason: 'the index is missing', recordsScanned: 20, eventsIndexed: 20 });
    const truth = await expectAgreesWithLog(es);
    expect([...truth.values()]).toEqual([6, 6, 5]);
    await es.close();

    const env = openLmdb({ path: path.join(dir, 'index'), maxDbs: 8, compression: false });
    const meta = env.openDB(STREAM_INDEX_DBS.meta, {});
    await meta.put('state', { format: 999, indexedTo: 20, lastCrc: 0 });
    await env.close();
    es = await openStore(dir);
    expect(es.indexReport).toMatchObject({ action: 'rebuilt', reason: `the index has format 999, not ${STREAM_INDEX_FORMAT}` });
    await expectAgreesWithLog(es);
    await es.close();
  });

  it("the catalog's damage probe (run after a crash) reads the stream index too, and passes it when it is sound", async () => {
    const dir = tempLogDir();
    const es = await openStore(dir);
    for (let i = 0; i < 50; i++) await es.appendToStream(`s${i % 5}`, [{ type: 'e', data: i }]);
    await es.close();
    // Without the checksum a clean close leaves, the next open runs the probe in a child process.
    fs.rmSync(path.join(dir, 'index', 'closed-checksum.json'));
    expect(await catalogReadable(path.join(dir, 'index'))).toBe(true);
    const again = await openStore(dir);
    expect(again.log.openReport.catalog?.rebuilt).toBe(false);
    expect(again.indexReport.action).toBe('ok');
    await again.close();
  });

  it('a log whose events do not continue their streams is refused with AOF_CORRUPT rather than indexed', async () => {
    const dir = tempLogDir();
    const es = await openStore(dir);
    await es.appendToStream('s', [{ type: 'a', data: 0 }]);
    await es.close();
    await appendBehindTheIndex(dir, [['s', 0]]);
    await expect(openStore(dir)).rejects.toMatchObject({ code: 'AOF_CORRUPT' });
    // The failed open released everything: the log itself still opens.
    const log = await Log.open(dir);
    expect(log.nextSeq).toBe(2);
    await log.close();
  });

  it('rebuilds in chunks: a log of many events over many segments', async () => {
    const dir = tempLogDir();
    let es = await openStore(dir, { segment: { maxBytes: 96 * 1024 } });
    const N = 12_000;
    for (let i = 0; i < N; i += 500) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => es.appendToStream(`s-${(i + j) % 97}`, Array.from({ length: 10 }, (_, k) => ({ type: 'e', data: i + j * 10 + k })))));
    }
    await es.close();
    fs.rmSync(path.join(dir, 'index'), { recursive: true });
    es = await openStore(dir, { segment: { maxBytes: 96 * 1024 } });
    expect(es.indexReport).toMatchObject({ action: 'rebuilt', recordsScanned: N, eventsIndexed: N });
    await expectAgreesWithLog(es);
    await es.close();
  });
});

/** Concurrent deciders until the power goes out, then a reopen checked against the log; records what the reopen did to the index. */
async function powerLossRun(seed: number, flush: LogOptions['flush'], reports: string[]): Promise<void> {
  const dir = path.join(tempDir(), 'log');
  const rnd = seededRandom(seed);
  // A first session, closed cleanly, so the index starts with content.
  const first = await EventStore.open(dir, { flush });
  for (let i = 0; i < 5; i++) await first.appendToStream(`s${i}`, [{ type: 'seed', data: i }]);
  await first.close();

  const faults = new FaultFs({ seed });
  const es = await EventStore.open(dir, { fs: faults, flush, segment: { maxBytes: 2048 + Math.floor(rnd() * 4096) } });
  const acked: Array<{ stream: string; version: number; data: number }> = [];
  let stop = false;
  let n = 0;
  const decider = async (): Promise<void> => {
    while (!stop) {
      const stream = `s${Math.floor(rnd() * 6)}`;
      const seen = es.streamVersion(stream);
      const count = rnd() < 0.2 ? 2 : 1;
      const data = n++;
      try {
        const r = await es.appendToStream(stream, Array.from({ length: count }, () => ({ type: 'd', data })), { expectedVersion: seen ?? 'no_stream' });
        for (let i = 0; i < count; i++) acked.push({ stream, version: r.nextExpectedVersion - count + 1 + i, data });
      } catch (err) {
        if (err instanceof WrongExpectedVersionError) continue;
        return; // the power is out
      }
    }
  };
  const deciders = Array.from({ length: 1 + Math.floor(rnd() * 8) }, decider);
  const target = 10 + Math.floor(rnd() * 100);
  while (acked.length < target) await new Promise((resolve) => setImmediate(resolve));
  stop = true;
  await faults.powerLoss();
  await Promise.all(deciders);
  await es.close().catch(() => undefined);

  const reopened = await EventStore.open(dir, { flush });
  reports.push(reopened.indexReport.action);
  try {
    const truth = await expectAgreesWithLog(reopened);
    if (flush?.strategy !== 'none') {
      // Nothing acknowledged is lost, and the index says so.
      for (const a of acked) {
        const [e] = await collect(reopened.readStream(a.stream, { from: a.version, maxCount: 1 }));
        expect(e?.data, `seed ${seed}: ${a.stream}@${a.version}`).toBe(a.data);
      }
    }
    // The next decision is made against the log's truth: the stale one fails, the right one succeeds.
    const stream = 's0';
    const v = truth.get(stream)!;
    await expect(reopened.appendToStream(stream, [{ type: 'stale', data: null }], { expectedVersion: v - 1 < 0 ? 'no_stream' : v - 1 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect((await reopened.appendToStream(stream, [{ type: 'next', data: null }], { expectedVersion: v })).nextExpectedVersion).toBe(v + 1);
  } finally {
    await reopened.close();
  }
}

/** Seeded power-loss runs per strategy; AOF_ES_POWER_LOSS_RUNS scales it. */
const RUNS = Number(process.env.AOF_ES_POWER_LOSS_RUNS ?? 8);

describe.each([
  { name: 'always', flush: { strategy: 'always' } as const },
  { name: 'batch', flush: { strategy: 'batch', maxDelayMs: 1 } as const },
  { name: 'none (acknowledged events can be lost: the index ends up ahead of the log)', flush: { strategy: 'none' } as const },
])('power loss (FaultFs) under $name', ({ flush }) => {
  it(`the reopened index agrees with the log and decides against it, over ${RUNS} seeded runs`, async () => {
    const reports: string[] = [];
    for (let seed = 1; seed <= RUNS; seed++) await powerLossRun(seed * 104_729, flush, reports);
    // Under 'none' the log loses acknowledged events the index has: every run rebuilds.
    if (flush.strategy === 'none') expect(reports.filter((a) => a === 'rebuilt').length).toBeGreaterThan(RUNS / 2);
  });
});
