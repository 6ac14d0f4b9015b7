import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { ListObjectsV2Command, ListMultipartUploadsCommand, DeleteObjectCommand, AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SegmentSource } from '../../src/archive/archive.js';
import { crc32 } from '../../src/record/crc.js';

/** A deterministic pseudo-random generator (xorshift32). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Segment-like bytes: `compressible` gives repetitive records (gzip/brotli
 * shrink them), otherwise random bytes (they do not shrink).
 */
export function segmentBytes(bytes: number, seed: number, compressible = true): Buffer {
  const next = rng(seed);
  const out = Buffer.alloc(bytes);
  if (!compressible) {
    for (let i = 0; i + 4 <= bytes; i += 4) out.writeUInt32LE(next(), i);
    for (let i = bytes - (bytes % 4); i < bytes; i++) out[i] = next() & 0xff;
    return out;
  }
  let i = 0;
  while (i < bytes) {
    const line = Buffer.from(`{"seq":${next() % 100000},"type":"order.${next() % 7}","amount":${next() % 1000}}\n`);
    i += line.copy(out, i);
  }
  return out;
}

/** Writes a segment file and returns its source description. */
export function writeSegment(dir: string, name: string, data: Buffer): SegmentSource {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return { path: p, bytes: data.length, crc: crc32(data) };
}

export function makeTempDir(prefix = 'aof-s3-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The rejection of `p` (fails the test if it resolves). */
export async function rejectionOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<Error & { code?: string; retryable?: boolean; s3Code?: string; httpStatus?: number }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a result');
}

/** Collects an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Every textual trace of an error (message, stack, causes, all properties, inspected deeply). */
export function everythingAbout(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const x = e as { message?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(x.message), String(x.stack), inspect(e, { depth: 8, showHidden: true }));
    try {
      parts.push(JSON.stringify(e));
    } catch {
      // cyclic
    }
    e = x.cause;
  }
  return parts.join('\n');
}

/** Deletes every object and multipart upload in the bucket (tests delete what they write: memstore keeps it in RAM). */
export async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
}

/** Keys of every object in the bucket. */
export async function allKeys(s3: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}
