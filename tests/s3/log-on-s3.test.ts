import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Log, S3Archive } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { radosgwMissing, startRadosgw, suiteName, warnSkipped, type RadosgwServer } from './radosgw-server.js';

const missing = radosgwMissing();
warnSkipped(missing);

describe.skipIf(missing !== undefined)(suiteName('a log archived to S3 (radosgw on loopback)', missing), () => {
  let server: RadosgwServer;
  const bucket = 'log-on-s3';

  beforeAll(async () => {
    server = await startRadosgw();
    await server.createBucket(bucket);
  }, 120_000);

  afterAll(async () => {
    await server?.removeBucket(bucket).catch(() => undefined);
    await server?.stop();
  });

  function archive(prefix: string): S3Archive {
    return new S3Archive({ bucket, prefix, endpoint: server.endpoint, credentials: server.credentials, compression: 'gzip', requestTimeoutMs: 5_000 });
  }

  it('archives sealed segments, evicts local copies, reads them back, and another host reads the whole history', async () => {
    const dir = path.join(tempDir(), 'log');
    const prefix = 'whole-history/';
    const log = await Log.open(dir, { segment: { maxRecords: 25 }, archive: archive(prefix), retention: { maxSegments: 1 }, archiveRetry: { baseMs: 10, maxMs: 100 } });
    for (let i = 0; i < 110; i++) await log.append(`event ${i}`);
    await log.archiveNow();
    expect(log.segments().map((s) => s.status)).toEqual(['evicted', 'evicted', 'evicted', 'evicted', 'active']);
    expect(log.segments()[0]!.archive?.location).toContain(`${prefix}segments/00000000000000000000.seg`);
    expect(JSON.stringify(log.segments())).not.toContain(server.credentials.secretAccessKey);
    expect((await log.get(7))?.payload.toString()).toBe('event 7');
    const seen: string[] = [];
    for await (const r of log.read({ from: 20, to: 60 })) seen.push(r.payload.toString());
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `event ${20 + i}`));
    await log.close();

    const remote = await Log.openArchive(archive(prefix), { cacheDir: path.join(tempDir(), 'cache') });
    expect(remote.nextSeq).toBe(100);
    let n = 0;
    for await (const r of remote.read()) expect(r.payload.toString()).toBe(`event ${n++}`);
    expect(n).toBe(100);
    await remote.close();
    for (const base of [0, 25, 50, 75]) await archive(prefix).delete(`segments/${String(base).padStart(20, '0')}.seg`);
  });

  it('keeps accepting appends while the gateway is down, and uploads once it is back', async () => {
    const dir = path.join(tempDir(), 'log');
    const prefix = 'flapping/';
    const log = await Log.open(dir, { segment: { maxRecords: 10 }, archive: archive(prefix), archiveRetry: { baseMs: 10, maxMs: 50 } });
    await server.killGateway();
    try {
      for (let i = 0; i < 35; i++) await log.append(`e${i}`);
      await expect(log.archiveNow()).rejects.toMatchObject({ code: 'AOF_ARCHIVE_UNAVAILABLE' });
      expect(log.segments().slice(0, 3).every((s) => s.status === 'sealed' || s.status === 'archiving')).toBe(true);
    } finally {
      await server.startGateway();
    }
    await log.archiveNow();
    expect(log.segments().map((s) => s.status)).toEqual(['archived', 'archived', 'archived', 'active']);
    await log.close();
    for (const base of [0, 10, 20]) await archive(prefix).delete(`segments/${String(base).padStart(20, '0')}.seg`);
  });
});
