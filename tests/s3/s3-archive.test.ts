/**
 * S3Archive against a real S3-compatible server (Ceph radosgw on loopback,
 * started by this file): round trips with each compression, multipart uploads
 * and their abort, listing across pages, objects changed behind our back.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateMultipartUploadCommand,
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { segmentKey, type ArchiveCompression } from '../../src/archive/archive.js';
import { S3Archive, type S3ArchiveOptions } from '../../src/archive/s3-archive.js';
import { crc32 } from '../../src/record/crc.js';
import { radosgwMissing, startRadosgw, suiteName, warnSkipped, type RadosgwServer } from './radosgw-server.js';
import { allKeys, collect, emptyBucket, makeTempDir, rejectionOf, segmentBytes, writeSegment } from './helpers.js';

const missing = radosgwMissing();
warnSkipped(missing);

const MiB = 1024 * 1024;
const BUCKET = 'aof-archive-test';

describe.skipIf(missing !== undefined)(suiteName('S3Archive on radosgw', missing), () => {
  let server: RadosgwServer;
  let s3: S3Client;
  let dir: string;
  const archives: S3Archive[] = [];

  const archive = (options: Partial<S3ArchiveOptions> = {}): S3Archive => {
    const a = new S3Archive({ bucket: BUCKET, prefix: 'logs/orders', endpoint: server.endpoint, credentials: server.credentials, requestTimeoutMs: 5_000, ...options });
    archives.push(a);
    return a;
  };

  beforeAll(async () => {
    server = await startRadosgw();
    s3 = server.client();
    await server.createBucket(BUCKET);
    dir = makeTempDir();
  });

  afterEach(async () => {
    for (const a of archives.splice(0)) await a.close();
    await emptyBucket(s3, BUCKET);
  });

  afterAll(async () => {
    if (server === undefined) return;
    try {
      expect(await allKeys(s3, BUCKET)).toEqual([]);
      await server.removeBucket(BUCKET);
    } finally {
      s3?.destroy();
      await server.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const compression of ['none', 'gzip', 'brotli'] as ArchiveCompression[]) {
    it(`put, verify, list, fetch and delete round trip (${compression})`, async () => {
      const a = archive({ compression });
      const data = segmentBytes(300_000, 7);
      const source = writeSegment(dir, `rt-${compression}.seg`, data);
      const key = segmentKey(1000);

      const stored = await a.put(key, source);
      expect(stored).toMatchObject({ key, bytes: data.length, crc: crc32(data), compression, location: `s3://${BUCKET}/logs/orders/${key}` });
      if (compression === 'none') expect(stored.storedBytes).toBe(data.length);
      else expect(stored.storedBytes).toBeLessThan(data.length / 2);

      // The object is where the key says, with our metadata.
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `logs/orders/${key}` }));
      expect(head.ContentLength).toBe(stored.storedBytes);
      expect(head.Metadata).toMatchObject({ 'aof-crc32': crc32(data).toString(16).padStart(8, '0'), 'aof-bytes': String(data.length), 'aof-compression': compression });
      expect(head.ContentEncoding).toBeUndefined();

      expect(await a.verify(key, { bytes: data.length, crc: crc32(data) })).toEqual(stored);
      expect(await collect(a.list())).toEqual([key]);

      const dest = path.join(dir, `fetched-${compression}.seg`);
      await a.fetch(key, dest);
      expect(fs.readFileSync(dest).equals(data)).toBe(true);
      fs.rmSync(dest);

      await a.delete(key);
      expect(await a.verify(key, { bytes: data.length, crc: crc32(data) })).toBeUndefined();
      expect(await collect(a.list())).toEqual([]);
      await a.delete(key); // absent: no error
    });
  }

  it('an archive reads objects stored with another compression (recorded per object)', async () => {
    const data = segmentBytes(100_000, 8);
    const source = writeSegment(dir, 'mixed.seg', data);
    await archive({ compression: 'brotli' }).put(segmentKey(1), source);
    const reader = archive({ compression: 'none' });
    expect((await reader.verify(segmentKey(1), { bytes: data.length, crc: crc32(data) }))?.compression).toBe('brotli');
    const dest = path.join(dir, 'mixed.out');
    await reader.fetch(segmentKey(1), dest);
    expect(fs.readFileSync(dest).equals(data)).toBe(true);
    fs.rmSync(dest);
  });

  it('an empty segment round trips', async () => {
    const a = archive({ compression: 'gzip' });
    const source = writeSegment(dir, 'empty.seg', Buffer.alloc(0));
    expect((await a.put(segmentKey(0), source)).bytes).toBe(0);
    const dest = path.join(dir, 'empty.out');
    await a.fetch(segmentKey(0), dest);
    expect(fs.statSync(dest).size).toBe(0);
    fs.rmSync(dest);
  });

  it('put overwrites an earlier, incomplete attempt at the same key', async () => {
    const a = archive();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `logs/orders/${segmentKey(5)}`, Body: Buffer.from('half an upload') }));
    const data = segmentBytes(50_000, 9);
    const stored = await a.put(segmentKey(5), writeSegment(dir, 'over.seg', data));
    expect(stored.bytes).toBe(data.length);
    expect(await a.verify(segmentKey(5), { bytes: data.length, crc: crc32(data) })).toEqual(stored);
  });

  it('refuses to upload a local segment that does not match its CRC (AOF_CORRUPT, nothing stored)', async () => {
    const a = archive();
    const source = writeSegment(dir, 'bad.seg', segmentBytes(10_000, 10));
    const err = await rejectionOf(a.put(segmentKey(6), { ...source, crc: (source.crc + 1) >>> 0 }));
    expect(err.code).toBe('AOF_CORRUPT');
    expect(await allKeys(s3, BUCKET)).toEqual([]);
  });

  it('rejects keys that are not segment keys and never writes outside the prefix', async () => {
    const a = archive();
    const source = writeSegment(dir, 'k.seg', segmentBytes(1000, 11));
    for (const key of ['../escape.seg', '/segments/00000000000000000001.seg', 'segments/1.seg', 'other/00000000000000000001.seg']) {
      expect((await rejectionOf(a.put(key, source))).code).toBe('AOF_INVALID_ARGUMENT');
      expect((await rejectionOf(a.fetch(key, path.join(dir, 'x')))).code).toBe('AOF_INVALID_ARGUMENT');
    }
    expect(await allKeys(s3, BUCKET)).toEqual([]);
  });

  describe('multipart', () => {
    const mp = { multipartThresholdBytes: 5 * MiB, partBytes: 5 * MiB, partConcurrency: 2 };

    for (const [compression, compressible] of [['none', true], ['gzip', false], ['brotli', false]] as Array<[ArchiveCompression, boolean]>) {
      it(`large segments go up in parts and come back whole (${compression})`, async () => {
        const a = archive({ ...mp, compression });
        const data = segmentBytes(12 * MiB + 12345, 21, compressible);
        const source = writeSegment(dir, `big-${compression}.seg`, data);
        const stored = await a.put(segmentKey(2000), source);
        expect(stored.bytes).toBe(data.length);
        const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `logs/orders/${segmentKey(2000)}` }));
        expect(head.ETag).toMatch(/-3"?$/); // three parts
        expect(head.ContentLength).toBe(stored.storedBytes);
        expect(await a.verify(segmentKey(2000), { bytes: data.length, crc: crc32(data) })).toEqual(stored);
        const dest = path.join(dir, `big-${compression}.out`);
        await a.fetch(segmentKey(2000), dest);
        expect(fs.readFileSync(dest).equals(data)).toBe(true);
        fs.rmSync(dest);
        // No upload left behind, no spool file left behind.
        expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      });
    }

    it('a large segment that does not match its CRC or size is refused before any part goes up (AOF_CORRUPT, nothing stored)', async () => {
      // Large uncompressed segments are hashed part by part on worker threads; their CRC-32s are combined.
      const a = archive(mp);
      const data = segmentBytes(12 * MiB + 777, 25, false);
      const source = writeSegment(dir, 'big-bad.seg', data);
      expect((await rejectionOf(a.put(segmentKey(2004), { ...source, crc: (source.crc ^ 1) >>> 0 }))).code).toBe('AOF_CORRUPT');
      expect((await rejectionOf(a.put(segmentKey(2004), { ...source, bytes: source.bytes - 1 }))).code).toBe('AOF_CORRUPT');
      // One byte changed in the middle part.
      const damaged = Buffer.from(data);
      damaged[6 * MiB] ^= 0x10;
      fs.writeFileSync(source.path, damaged);
      expect((await rejectionOf(a.put(segmentKey(2004), source))).code).toBe('AOF_CORRUPT');
      fs.rmSync(source.path);
      expect((await rejectionOf(a.put(segmentKey(2004), source))).code).toBe('AOF_IO');
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      expect(await allKeys(s3, BUCKET)).toEqual([]);
    });

    it('large segments hashed at once by several puts each get their own parts', async () => {
      const a = archive(mp);
      const sources = [26, 27, 28].map((seed) => writeSegment(dir, `big-${seed}.seg`, segmentBytes(11 * MiB + seed, seed, false)));
      const stored = await Promise.all(sources.map((source, i) => a.put(segmentKey(2010 + i), source)));
      for (const [i, source] of sources.entries()) {
        expect(stored[i]!.crc).toBe(source.crc);
        expect(await a.verify(segmentKey(2010 + i), { bytes: source.bytes, crc: source.crc })).toEqual(stored[i]);
        const dest = path.join(dir, `big-${i}.out`);
        await a.fetch(segmentKey(2010 + i), dest);
        expect(fs.readFileSync(dest).equals(fs.readFileSync(source.path))).toBe(true);
        fs.rmSync(dest);
      }
    });

    it('a compressed segment that shrinks below the threshold goes up in one PUT', async () => {
      const a = archive({ ...mp, compression: 'gzip' });
      const data = segmentBytes(6 * MiB, 22, true);
      const stored = await a.put(segmentKey(2001), writeSegment(dir, 'shrinks.seg', data));
      expect(stored.storedBytes).toBeLessThan(5 * MiB);
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `logs/orders/${segmentKey(2001)}` }));
      expect(head.ETag).not.toMatch(/-\d+"?$/);
    });

    it('a failed part aborts the multipart upload', async () => {
      const client = server.client({ maxAttempts: 1 });
      let parts = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand' && ++parts === 2) throw Object.assign(new Error('injected'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
          return next(args);
        },
        { step: 'initialize', name: 'failSecondPart' },
      );
      const a = archive({ ...mp, client, endpoint: undefined, credentials: undefined });
      const data = segmentBytes(11 * MiB, 23, false);
      const err = await rejectionOf(a.put(segmentKey(2002), writeSegment(dir, 'fails.seg', data)));
      expect(err.code).toBe('AOF_ARCHIVE_UNAVAILABLE');
      expect(err.retryable).toBe(true);
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      expect(await allKeys(s3, BUCKET)).toEqual([]);
      client.destroy();
    });

    it('an aborted put (signal) aborts the multipart upload', async () => {
      const client = server.client({ maxAttempts: 1 });
      const controller = new AbortController();
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand') controller.abort();
          return next(args);
        },
        { step: 'initialize', name: 'abortOnFirstPart' },
      );
      const a = archive({ ...mp, client, endpoint: undefined, credentials: undefined });
      const err = await rejectionOf(a.put(segmentKey(2003), writeSegment(dir, 'aborted.seg', segmentBytes(11 * MiB, 24, false)), { signal: controller.signal }));
      expect(err.name).toBe('AbortError');
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
      client.destroy();
    });

    it('abortStaleMultipartUploads aborts abandoned uploads under the prefix only', async () => {
      const a = archive({ listPageSize: 2 });
      const start = async (key: string): Promise<string> => {
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
        await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
        return UploadId!;
      };
      // Five abandoned uploads of ours (more than a page), one of another log, one of a non-segment key.
      for (let i = 0; i < 5; i++) await start(`logs/orders/${segmentKey(3000 + i)}`);
      await start(`logs/payments/${segmentKey(3000)}`);
      await start('logs/orders/segments/notes.txt');

      expect(await a.abortStaleMultipartUploads({ olderThanMs: 3_600_000 })).toBe(0); // none is an hour old
      expect(await a.abortStaleMultipartUploads()).toBe(5);
      const left = ((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).map((u) => u.Key).sort();
      expect(left).toEqual(['logs/orders/segments/notes.txt', `logs/payments/${segmentKey(3000)}`]);
      expect(await a.abortStaleMultipartUploads()).toBe(0);
    });
  });

  it('lists every segment across ListObjectsV2 pages, and nothing else', async () => {
    const a = archive({ listPageSize: 3 });
    const source = writeSegment(dir, 'small.seg', segmentBytes(2000, 30));
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) {
      keys.push(segmentKey(i * 100));
      await a.put(segmentKey(i * 100), source);
    }
    // Neighbours that must not be listed: another prefix, a non-segment key under ours, a prefix that merely starts like ours.
    for (const k of [`logs/payments/${segmentKey(1)}`, 'logs/orders/segments/README', `logs/orders-old/${segmentKey(2)}`, segmentKey(3)]) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: Buffer.from('x') }));
    }
    expect((await collect(a.list())).sort()).toEqual(keys.sort());
    // Without a prefix the same rule holds: only segment keys.
    const root = archive({ prefix: undefined, listPageSize: 1 });
    expect(await collect(root.list())).toEqual([segmentKey(3)]);
  });

  describe('objects changed behind our back', () => {
    const key = segmentKey(4000);
    const objectKey = `logs/orders/${key}`;

    async function stored(compression: ArchiveCompression = 'none'): Promise<{ a: S3Archive; data: Buffer; meta: Record<string, string> }> {
      const a = archive({ compression });
      const data = segmentBytes(200_000, 40);
      await a.put(key, writeSegment(dir, 'victim.seg', data));
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }));
      return { a, data, meta: head.Metadata! };
    }

    async function expectCorrupt(a: S3Archive, data: Buffer, { verifyDetects = true } = {}): Promise<void> {
      const expected = { bytes: data.length, crc: crc32(data) };
      if (verifyDetects) expect((await rejectionOf(a.verify(key, expected))).code).toBe('AOF_ARCHIVE_CORRUPT');
      const dest = path.join(dir, 'victim.out');
      const err = await rejectionOf(a.fetch(key, dest));
      expect(err.code).toBe('AOF_ARCHIVE_CORRUPT');
      expect(err.retryable).toBe(false);
      expect(fs.existsSync(dest)).toBe(false); // the partial file is removed
    }

    it('truncated, metadata kept', async () => {
      const { a, data, meta } = await stored();
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: data.subarray(0, data.length - 1000), Metadata: meta }));
      await expectCorrupt(a, data);
    });

    it('same length, one byte changed, metadata kept', async () => {
      const { a, data, meta } = await stored();
      const changed = Buffer.from(data);
      changed[12345] ^= 1;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: changed, Metadata: meta }));
      await expectCorrupt(a, data);
    });

    it('changed with the size and ETag in its metadata forged to match: fetch still checks the CRC', async () => {
      const { a, data, meta } = await stored();
      const changed = Buffer.from(data);
      changed[777] ^= 0x80;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: changed }));
      const etag = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }))).ETag!.replace(/"/g, '');
      await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: objectKey, CopySource: `${BUCKET}/${objectKey}`, MetadataDirective: 'REPLACE', Metadata: { ...meta, 'aof-etag': etag } }));
      // A HEAD cannot see this (the metadata is self-consistent); the content check can.
      await expectCorrupt(a, data, { verifyDetects: false });
    });

    it('compressed object replaced with garbage of the recorded size and ETag', async () => {
      const { a, data, meta } = await stored('gzip');
      const garbage = segmentBytes(Number(meta['aof-stored-bytes']), 41, false);
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: garbage }));
      const etag = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }))).ETag!.replace(/"/g, '');
      await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: objectKey, CopySource: `${BUCKET}/${objectKey}`, MetadataDirective: 'REPLACE', Metadata: { ...meta, 'aof-etag': etag } }));
      await expectCorrupt(a, data, { verifyDetects: false });
    });

    it('replaced by an object aof did not write (no metadata)', async () => {
      const { a, data } = await stored();
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: data }));
      await expectCorrupt(a, data);
    });

    it('holding another segment than the one expected', async () => {
      const { a, data } = await stored();
      const err = await rejectionOf(a.verify(key, { bytes: data.length, crc: (crc32(data) ^ 1) >>> 0 }));
      expect(err.code).toBe('AOF_ARCHIVE_CORRUPT');
      expect((await rejectionOf(a.verify(key, { bytes: data.length + 1, crc: crc32(data) }))).code).toBe('AOF_ARCHIVE_CORRUPT');
    });

    it('deleted: verify says absent, fetch says corrupt', async () => {
      const { a, data } = await stored();
      await a.delete(key);
      expect(await a.verify(key, { bytes: data.length, crc: crc32(data) })).toBeUndefined();
      await expectCorrupt(a, data, { verifyDetects: false });
    });

    it("verifyAfterPut: 'read' reads the object back in full; the default checks with a HEAD", async () => {
      const client = server.client();
      const commands: string[] = [];
      client.middlewareStack.add(
        (next, context) => async (args) => {
          commands.push(context.commandName);
          return next(args);
        },
        { step: 'initialize', name: 'record' },
      );
      const source = writeSegment(dir, 'readback.seg', segmentBytes(100_000, 42));
      await archive({ verifyAfterPut: 'read', compression: 'brotli', client, endpoint: undefined, credentials: undefined }).put(key, source);
      expect(commands).toEqual(['PutObjectCommand', 'HeadObjectCommand', 'GetObjectCommand']);
      commands.length = 0;
      await archive({ compression: 'brotli', client, endpoint: undefined, credentials: undefined }).put(key, source);
      expect(commands).toEqual(['PutObjectCommand', 'HeadObjectCommand']);
      client.destroy();
    });
  });

  it('the local disk full during fetch: AOF_IO with ENOSPC, partial file removed', async (ctx) => {
    // A 256 KiB tmpfs stands in for a full disk; it needs root (CI runs as root).
    const full = path.join(dir, 'full');
    fs.mkdirSync(full);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', full], { stdio: 'ignore' });
    } catch {
      ctx.skip('cannot mount a small tmpfs here (needs root)');
    }
    try {
      const a = archive({ compression: 'gzip' });
      await a.put(segmentKey(8), writeSegment(dir, 'eight.seg', segmentBytes(1 * MiB, 51)));
      const dest = path.join(full, 'eight.out');
      const err = await rejectionOf(a.fetch(segmentKey(8), dest));
      expect(err).toMatchObject({ code: 'AOF_IO', errno: 'ENOSPC' });
      expect(fs.existsSync(dest)).toBe(false);
    } finally {
      execFileSync('umount', [full], { stdio: 'ignore' });
    }
  });

  it('fetch never overwrites an existing file', async () => {
    const a = archive();
    await a.put(segmentKey(7), writeSegment(dir, 'seven.seg', segmentBytes(1000, 50)));
    const dest = path.join(dir, 'exists.out');
    fs.writeFileSync(dest, 'mine');
    const err = await rejectionOf(a.fetch(segmentKey(7), dest));
    expect(err.code).toBe('AOF_IO');
    expect(fs.readFileSync(dest, 'utf8')).toBe('mine');
    fs.rmSync(dest);
  });
});
