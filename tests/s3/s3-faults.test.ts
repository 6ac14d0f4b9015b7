/**
 * S3Archive when things go wrong, against a real radosgw started by this
 * file: the gateway killed or stalled, throttling and 5xx (through a proxy
 * in front of the real gateway), bodies damaged in transit, wrong
 * credentials, a missing bucket, another user's bucket. Every error is
 * collected and checked for credentials at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { segmentKey, type SegmentSource } from '../../src/archive/archive.js';
import { S3Archive, type S3ArchiveOptions } from '../../src/archive/s3-archive.js';
import { crc32 } from '../../src/record/crc.js';
import { radosgwMissing, startRadosgw, suiteName, warnSkipped, type RadosgwServer } from './radosgw-server.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { allKeys, collect, emptyBucket, everythingAbout, makeTempDir, rejectionOf, segmentBytes, writeSegment } from './helpers.js';

const missing = radosgwMissing();
warnSkipped(missing);

const MiB = 1024 * 1024;
const BUCKET = 'aof-faults-test';
/** A secret that must never show up anywhere, used where keys are wrong. */
const WRONG_SECRET = 'wRoNg/SeCrEt+NeVeR+LeAk+0123456789abcdefgh';
const WRONG_ACCESS_KEY = 'AKIANEVERLEAKTHISKEY1';

type Err = Awaited<ReturnType<typeof rejectionOf>>;

describe.skipIf(missing !== undefined)(suiteName('S3Archive faults on radosgw', missing), () => {
  let server: RadosgwServer;
  let s3: S3Client;
  let dir: string;
  let proxy: FaultProxy;
  let source: SegmentSource;
  const archives: S3Archive[] = [];
  /** Every error provoked in this file, checked for credentials at the end. */
  const provoked: unknown[] = [];
  const logged: string[] = [];
  const originals = { log: console.log, warn: console.warn, error: console.error, info: console.info, debug: console.debug };

  const archive = (options: Partial<S3ArchiveOptions> = {}): S3Archive => {
    const a = new S3Archive({ bucket: BUCKET, prefix: 'faults', endpoint: server.endpoint, credentials: server.credentials, requestTimeoutMs: 1_000, connectionTimeoutMs: 1_000, ...options });
    archives.push(a);
    return a;
  };
  const failure = async (p: Promise<unknown>): Promise<Err> => {
    const err = await rejectionOf(p);
    provoked.push(err);
    return err;
  };

  beforeAll(async () => {
    // Anything the SDK or aof would print goes through here too.
    for (const level of Object.keys(originals) as Array<keyof typeof originals>) {
      console[level] = (...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 6 }))).join(' '));
        originals[level](...args);
      };
    }
    server = await startRadosgw();
    s3 = server.client();
    await server.createBucket(BUCKET);
    proxy = await startFaultProxy(server.endpoint);
    dir = makeTempDir();
    source = writeSegment(dir, 'seg.seg', segmentBytes(64 * 1024, 1));
  });

  afterEach(async () => {
    for (const a of archives.splice(0)) await a.close();
    await server.startGateway(); // in case a test failed with the gateway down
    expect(proxy.pending()).toBe(0);
    await emptyBucket(s3, BUCKET);
  });

  afterAll(async () => {
    Object.assign(console, originals);
    try {
      if (server !== undefined) {
        expect(await allKeys(s3, BUCKET)).toEqual([]);
        await server.removeBucket(BUCKET);
      }
    } finally {
      s3?.destroy();
      await proxy?.close();
      await server?.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('gateway killed', () => {
    it('every call fails fast with AOF_ARCHIVE_UNAVAILABLE, and works again once the gateway is back', async () => {
      const a = archive();
      await a.put(segmentKey(1), source);
      await server.killGateway();

      const dest = path.join(dir, 'down.out');
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['put', () => a.put(segmentKey(2), source)],
        ['verify', () => a.verify(segmentKey(1), source)],
        ['fetch', () => a.fetch(segmentKey(1), dest)],
        ['delete', () => a.delete(segmentKey(1))],
        ['list', () => collect(a.list())],
        ['abortStaleMultipartUploads', () => a.abortStaleMultipartUploads()],
      ];
      for (const [name, call] of calls) {
        const err = await failure(call()); // a hang would fail the test by its timeout, not by a clock here
        expect(err.code, name).toBe('AOF_ARCHIVE_UNAVAILABLE');
        expect(err.retryable, name).toBe(true);
        expect(err.s3Code, name).toBe('ECONNREFUSED');
      }
      expect(fs.existsSync(dest)).toBe(false);

      await server.startGateway();
      expect(await a.verify(segmentKey(1), source)).toMatchObject({ bytes: source.bytes, crc: source.crc });
      await a.put(segmentKey(2), source);
      expect((await collect(a.list())).sort()).toEqual([segmentKey(1), segmentKey(2)]);
    });

    it('a gateway that dies in the middle of a multipart upload leaves an upload that abortStaleMultipartUploads removes', async () => {
      const client = server.client({ maxAttempts: 1, requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, socketTimeout: 2_000, throwOnRequestTimeout: true } });
      let parts = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand' && ++parts === 2) await server.killGateway();
          return next(args);
        },
        { step: 'initialize', name: 'killOnSecondPart' },
      );
      const a = archive({ client, endpoint: undefined, credentials: undefined, multipartThresholdBytes: 5 * MiB, partBytes: 5 * MiB, partConcurrency: 1 });
      const big = writeSegment(dir, 'big.seg', segmentBytes(11 * MiB, 2, false));
      const err = await failure(a.put(segmentKey(10), big));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE');

      await server.startGateway();
      // The abort could not reach the server: the upload is still there, holding part 1.
      const before = (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];
      expect(before.map((u) => u.Key)).toEqual([`faults/${segmentKey(10)}`]);
      expect(await archive().abortStaleMultipartUploads()).toBe(1);
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      // And the retry succeeds.
      expect((await a.put(segmentKey(10), big)).bytes).toBe(big.bytes);
      client.destroy();
    });
  });

  describe('gateway stalled', () => {
    it('a gateway that accepts connections but never answers: AOF_ARCHIVE_UNAVAILABLE after requestTimeoutMs', async () => {
      const a = archive({ requestTimeoutMs: 500, maxAttempts: 2 });
      await a.put(segmentKey(1), source);
      server.pauseGateway();
      try {
        for (const [name, call] of [
          ['verify', () => a.verify(segmentKey(1), source)],
          ['fetch', () => a.fetch(segmentKey(1), path.join(dir, 'stalled.out'))],
          ['list', () => collect(a.list())],
        ] as Array<[string, () => Promise<unknown>]>) {
          // The SDK's own timeout fired (not a hang, not another error); how long it took is the benchmark's business.
          const err = await failure(call());
          expect(err.code, name).toBe('AOF_ARCHIVE_UNAVAILABLE');
          expect(err.s3Code, name).toBe('TimeoutError');
        }
        expect(fs.existsSync(path.join(dir, 'stalled.out'))).toBe(false);
      } finally {
        server.resumeGateway();
      }
      expect(await a.verify(segmentKey(1), source)).toBeDefined();
    });

    it('a response body that stops mid-way: AOF_ARCHIVE_UNAVAILABLE after requestTimeoutMs, partial file removed', async () => {
      await archive().put(segmentKey(1), writeSegment(dir, 'mid.seg', segmentBytes(2 * MiB, 3, false)));
      const a = archive({ endpoint: proxy.endpoint, requestTimeoutMs: 500, maxAttempts: 1 });
      proxy.inject({ kind: 'stall-response', afterBytes: 256 * 1024, match: (req) => req.method === 'GET' });
      const dest = path.join(dir, 'mid.out');
      const err = await failure(a.fetch(segmentKey(1), dest));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE');
      expect(fs.existsSync(dest)).toBe(false);
    });

    it('a connection reset mid-body: AOF_ARCHIVE_UNAVAILABLE (not corrupt), partial file removed', async () => {
      await archive().put(segmentKey(1), writeSegment(dir, 'cut.seg', segmentBytes(2 * MiB, 4, false)));
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 1, compression: 'gzip' });
      proxy.inject({ kind: 'cut-response', afterBytes: 300 * 1024, match: (req) => req.method === 'GET' });
      const dest = path.join(dir, 'cut.out');
      const err = await failure(a.fetch(segmentKey(1), dest));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE');
      expect(fs.existsSync(dest)).toBe(false);
    });
  });

  describe('throttling and server errors', () => {
    const isPut = (req: { method?: string; url?: string }): boolean => req.method === 'PUT';

    it('503 SlowDown once is retried by the SDK and the put succeeds', async () => {
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 3 });
      proxy.inject({ kind: 'status', status: 503, code: 'SlowDown', match: isPut });
      expect((await a.put(segmentKey(1), source)).bytes).toBe(source.bytes);
      expect(await a.verify(segmentKey(1), source)).toBeDefined();
    });

    it('persistent 503 SlowDown: AOF_ARCHIVE_UNAVAILABLE, retryable', async () => {
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 2 });
      proxy.inject({ kind: 'status', status: 503, code: 'SlowDown', match: isPut }, { kind: 'status', status: 503, code: 'SlowDown', match: isPut });
      const err = await failure(a.put(segmentKey(1), source));
      expect(err).toMatchObject({ code: 'AOF_ARCHIVE_UNAVAILABLE', retryable: true, s3Code: 'SlowDown', httpStatus: 503 });
    });

    it('500 InternalError on GET and 503 on HEAD: AOF_ARCHIVE_UNAVAILABLE', async () => {
      await archive().put(segmentKey(1), source);
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 1 });
      proxy.inject({ kind: 'status', status: 500, code: 'InternalError', match: (req) => req.method === 'GET' });
      expect(await failure(a.fetch(segmentKey(1), path.join(dir, 'x.out')))).toMatchObject({ code: 'AOF_ARCHIVE_UNAVAILABLE', httpStatus: 500 });
      proxy.inject({ kind: 'status', status: 503, code: 'ServiceUnavailable', match: (req) => req.method === 'HEAD' });
      expect(await failure(a.verify(segmentKey(1), source))).toMatchObject({ code: 'AOF_ARCHIVE_UNAVAILABLE', httpStatus: 503 });
      expect(fs.existsSync(path.join(dir, 'x.out'))).toBe(false);
    });

    it('a body damaged in transit is refused by the server (Content-MD5) and nothing is stored', async () => {
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 1 });
      proxy.inject({ kind: 'corrupt-body', match: isPut });
      const err = await failure(a.put(segmentKey(1), source));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE'); // worth a retry
      expect(['BadDigest', 'XAmzContentSHA256Mismatch']).toContain(err.s3Code);
      expect(await allKeys(s3, BUCKET)).toEqual([]);
    });

    it('a part damaged in transit fails the multipart upload, which is aborted', async () => {
      const a = archive({ endpoint: proxy.endpoint, maxAttempts: 1, multipartThresholdBytes: 5 * MiB, partBytes: 5 * MiB });
      proxy.inject({ kind: 'corrupt-body', match: (req) => req.method === 'PUT' && (req.url ?? '').includes('partNumber=2') });
      const err = await failure(a.put(segmentKey(1), writeSegment(dir, 'parts.seg', segmentBytes(11 * MiB, 5, false))));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE');
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      expect(await allKeys(s3, BUCKET)).toEqual([]);
    });
  });

  describe('refused for good', () => {
    it('a wrong secret key: AOF_ARCHIVE_REJECTED (SignatureDoesNotMatch)', async () => {
      const a = archive({ credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: WRONG_SECRET } });
      for (const call of [() => a.put(segmentKey(1), source), () => a.verify(segmentKey(1), source), () => collect(a.list()), () => a.fetch(segmentKey(1), path.join(dir, 'no.out')), () => a.delete(segmentKey(1))]) {
        const err = await failure(call());
        expect(err).toMatchObject({ code: 'AOF_ARCHIVE_REJECTED', retryable: false, httpStatus: 403 });
      }
      expect(fs.existsSync(path.join(dir, 'no.out'))).toBe(false);
    });

    it('an unknown access key: AOF_ARCHIVE_REJECTED (InvalidAccessKeyId)', async () => {
      const a = archive({ credentials: { accessKeyId: WRONG_ACCESS_KEY, secretAccessKey: WRONG_SECRET } });
      const err = await failure(a.put(segmentKey(1), source));
      expect(err).toMatchObject({ code: 'AOF_ARCHIVE_REJECTED', s3Code: 'InvalidAccessKeyId', httpStatus: 403 });
      expect((await failure(collect(a.list()))).code).toBe('AOF_ARCHIVE_REJECTED');
    });

    it('a missing bucket: AOF_ARCHIVE_REJECTED from every call, verify included (a HEAD 404 is not "absent")', async () => {
      const a = archive({ bucket: 'aof-no-such-bucket' });
      for (const [name, call] of [
        ['put', () => a.put(segmentKey(1), source)],
        ['verify', () => a.verify(segmentKey(1), source)],
        ['fetch', () => a.fetch(segmentKey(1), path.join(dir, 'nb.out'))],
        ['list', () => collect(a.list())],
        ['delete', () => a.delete(segmentKey(1))],
        ['abortStaleMultipartUploads', () => a.abortStaleMultipartUploads()],
      ] as Array<[string, () => Promise<unknown>]>) {
        const err = await failure(call());
        expect(err.code, name).toBe('AOF_ARCHIVE_REJECTED');
        expect(err.s3Code, name).toBe('NoSuchBucket');
      }
    });

    it("another user's bucket: AOF_ARCHIVE_REJECTED (AccessDenied)", async () => {
      const other = await server.createUser('aof-other');
      const a = archive({ credentials: other });
      const err = await failure(a.put(segmentKey(1), source));
      expect(err).toMatchObject({ code: 'AOF_ARCHIVE_REJECTED', s3Code: 'AccessDenied', httpStatus: 403 });
      expect((await failure(a.verify(segmentKey(1), source))).code).toBe('AOF_ARCHIVE_REJECTED');
      provoked.push(other); // its secret is checked below too
    });

    it('a closed archive refuses calls', async () => {
      const a = archive();
      await a.close();
      expect((await failure(a.put(segmentKey(1), source))).code).toBe('AOF_CLOSED');
    });
  });

  describe('bad options', () => {
    it('refuses credentials in the endpoint without echoing them', () => {
      let err: unknown;
      try {
        new S3Archive({ bucket: BUCKET, endpoint: `http://${WRONG_ACCESS_KEY}:${encodeURIComponent(WRONG_SECRET)}@127.0.0.1:1/` });
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).toBe('AOF_INVALID_ARGUMENT');
      provoked.push(err);
    });

    it('refuses parts smaller than S3 accepts and other nonsense', () => {
      for (const options of [{ partBytes: 1024 }, { multipartThresholdBytes: 1 }, { compression: 'zip' }, { prefix: '/abs' }, { prefix: 'a/../b' }, { listPageSize: 0 }, { bucket: '' }, { bucket: 'a/b' }, { endpoint: 'ftp://x' }]) {
        expect(() => new S3Archive({ bucket: BUCKET, endpoint: 'http://127.0.0.1:1', ...options } as S3ArchiveOptions)).toThrow(expect.objectContaining({ code: 'AOF_INVALID_ARGUMENT' }));
      }
    });
  });

  it('credentials appear in no error, description, inspected archive or log line', async () => {
    // Archives holding the real keys and wrong ones; provoke what can go wrong with each (the other tests' errors are checked too).
    const real = archive({ bucket: 'aof-no-such-bucket' });
    const wrong = archive({ credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: WRONG_SECRET } });
    const unknown = archive({ credentials: { accessKeyId: WRONG_ACCESS_KEY, secretAccessKey: WRONG_SECRET } });
    const fine = archive({ maxAttempts: 1 });
    for (const a of [real, wrong, unknown]) {
      provoked.push(await rejectionOf(a.put(segmentKey(1), source)), await rejectionOf(a.verify(segmentKey(1), source)), await rejectionOf(collect(a.list())));
      provoked.push(await rejectionOf(a.fetch(segmentKey(1), path.join(dir, 'leak.out'))));
    }
    await server.killGateway();
    provoked.push(await rejectionOf(fine.put(segmentKey(1), source)), await rejectionOf(wrong.verify(segmentKey(1), source)));
    await server.startGateway();
    expect(provoked.length).toBeGreaterThanOrEqual(14);

    const secrets = [server.credentials.secretAccessKey, server.credentials.accessKeyId, WRONG_SECRET, WRONG_ACCESS_KEY, encodeURIComponent(WRONG_SECRET)];
    const otherUser = provoked.find((p) => typeof p === 'object' && p !== null && 'secretAccessKey' in p) as { secretAccessKey: string; accessKeyId: string } | undefined;
    if (otherUser !== undefined) secrets.push(otherUser.secretAccessKey, otherUser.accessKeyId);
    const texts = [
      ...provoked.filter((p) => p !== otherUser).map(everythingAbout),
      real.description,
      wrong.description,
      ...[real, wrong, unknown, fine].flatMap((a) => [inspect(a, { depth: 10, showHidden: true }), JSON.stringify(a), String(a)]),
      ...logged,
    ];
    for (const secret of secrets) {
      for (const text of texts) expect(text.includes(secret), `a credential leaked into: ${text.slice(0, 300)}`).toBe(false);
    }
    // The errors do say what happened.
    expect(provoked.filter((p) => p instanceof Error).map((e) => (e as Error).message).join('\n')).toMatch(/NoSuchBucket|SignatureDoesNotMatch|InvalidAccessKeyId|ECONNREFUSED/);
  });

  it('puts an object with the key derived from the log only (prefix + segments/<base>.seg)', async () => {
    const a = archive({ prefix: 'tenants/t1/log-a/' });
    await a.put(segmentKey(42), source);
    expect(await allKeys(s3, BUCKET)).toEqual([`tenants/t1/log-a/segments/${String(42).padStart(20, '0')}.seg`]);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tenants/t1/log-a/segments/evil.seg', Body: 'x' }));
    expect(await collect(a.list())).toEqual([segmentKey(42)]);
    expect(crc32(fs.readFileSync(source.path))).toBe(source.crc);
  });
});
