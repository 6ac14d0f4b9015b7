/**
 * The object-storage tier: sealed segments in any S3-compatible bucket
 * (AWS S3, Ceph radosgw, MinIO, ...), through the AWS SDK v3.
 *
 * Every object carries, in its user metadata, our CRC-32 and the size of the
 * original segment, the compression, the stored size and the ETag we expect
 * the server to compute (the MD5 of the stored bytes, or for a multipart
 * upload the MD5 of the parts' MD5s with a `-N` suffix). Every upload sends a
 * `Content-MD5` the server checks, so corruption in transit is refused; the
 * HEAD that follows checks size, metadata and the server's ETag, which proves
 * the server stored exactly the bytes we hashed. Servers that do not check
 * `x-amz-checksum-*` values (radosgw 16.2) are covered by this as well. Where
 * the ETag is not an MD5 (server-side encryption with KMS, some stores) or
 * with `verifyAfterPut: 'read'`, the object is read back in full and its
 * decompressed CRC checked. `fetch` always checks the CRC of what it wrote.
 *
 * A large uncompressed segment (the usual case) is read and hashed once
 * before its upload by worker threads, a part each, in parallel: our CRC-32
 * (the parts' CRCs combined), each part's MD5 (its `Content-MD5`, and the
 * object's ETag, which goes into the metadata at the start of the upload)
 * and each part's SHA-256, handed to the SigV4 signer as the payload hash, so
 * that neither hashing nor signing a part blocks the event loop the log's
 * appends run on.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { HeadObjectCommandOutput, S3Client, S3ClientConfig, UploadPartCommand } from '@aws-sdk/client-s3';
import { ArchiveError, ClosedError, CorruptionError, ErrorCode, InvalidArgumentError, IoError } from '../errors.js';
import { crc32, crc32Native } from '../record/crc.js';
import { parseSegmentKey, type ArchiveCallOptions, type ArchiveCompression, type ArchivedObject, type SegmentArchive, type SegmentSource } from './archive.js';
import { decompressor, isCompression } from './compression.js';
import { RunningCrc } from './file-crc.js';

/** The AWS SDK's S3 client module. */
type S3Sdk = typeof import('@aws-sdk/client-s3');
let loadedSdk: S3Sdk | undefined;

/**
 * The AWS SDK, loaded when the first {@link S3Archive} is made, never at
 * `import 'aof'`: loading it takes about 125 ms, which every process using a
 * log without an S3 archive would otherwise pay at start (issue 19). A plain
 * `require`, so the constructor stays synchronous; the package has no ESM
 * entry of its own, so an application's `import` gets this same module (and
 * its `S3Client` passes the `instanceof` check).
 */
function s3Sdk(): S3Sdk {
  return (loadedSdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as S3Sdk);
}

/** Smallest part S3 accepts (except the last one). */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** Largest part S3 accepts. */
export const S3_MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** Most parts of one multipart upload. */
export const S3_MAX_PARTS = 10_000;

/** Static credentials, or a provider function as the AWS SDK accepts. */
export type S3Credentials = NonNullable<S3ClientConfig['credentials']>;

/** Options of {@link S3Archive}. */
export interface S3ArchiveOptions {
  /** Bucket name (it must exist: a missing bucket is `AOF_ARCHIVE_REJECTED`). */
  bucket: string;
  /** Key prefix, e.g. `'logs/orders/'` (a `/` is appended if missing). Objects are `<prefix>segments/<base>.seg`. */
  prefix?: string;
  /**
   * An `S3Client` to use as is (its retries, timeouts and credentials are the
   * caller's; it is not destroyed by {@link S3Archive.close}). Otherwise one
   * is built from the options below.
   */
  client?: S3Client;
  /** Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:7480`. Omit for AWS. Must not contain credentials. */
  endpoint?: string;
  /** Region (default `us-east-1`). */
  region?: string;
  /** Credentials (default: the SDK's default provider chain). Never stored anywhere else, never in errors or `description`. */
  credentials?: S3Credentials;
  /** Path-style addressing (default true when `endpoint` is given, which S3-compatible servers need). */
  forcePathStyle?: boolean;
  /** Compression of stored objects (default `'none'`); recorded per object, so a tier can read objects stored with any. */
  compression?: ArchiveCompression;
  /** zlib level for gzip (default 6) or quality for brotli (default 4; 11 is very slow). */
  compressionLevel?: number;
  /** Objects of at least this many stored bytes go up as multipart uploads (default 16 MiB, at least 5 MiB). */
  multipartThresholdBytes?: number;
  /** Part size of multipart uploads (default 8 MiB, at least 5 MiB; grown if a segment would need more than 10,000 parts). */
  partBytes?: number;
  /** Parts uploaded at once (default 4). Memory use is about this many parts. */
  partConcurrency?: number;
  /** A request that makes no progress for this long fails with `AOF_ARCHIVE_UNAVAILABLE` (default 30 s). Applies to waiting for a response and to stalls while a body streams. */
  requestTimeoutMs?: number;
  /** Connecting may take this long (default 5 s). */
  connectionTimeoutMs?: number;
  /** Attempts per request by the SDK's standard retry strategy, which backs off on throttling (default 3; the archiver retries whole operations on top). */
  maxAttempts?: number;
  /** Keys per ListObjectsV2 page (default 1000, at most 1000). */
  listPageSize?: number;
  /** Where segments larger than the multipart threshold are staged while compressed (default `os.tmpdir()`). */
  spoolDir?: string;
  /** After an upload: `'head'` (default) checks size, metadata and the server's MD5 ETag; `'read'` also reads the whole object back and checks its CRC. */
  verifyAfterPut?: 'head' | 'read';
}

/** Options of {@link S3Archive.abortStaleMultipartUploads}. */
export interface AbortStaleOptions extends ArchiveCallOptions {
  /** Only uploads initiated at least this long ago (default 0: every upload under the prefix that this instance is not running). */
  olderThanMs?: number;
}

/** An {@link ArchiveError} from the S3 tier, with the S3 error code and HTTP status (never credentials, never the server's message text). */
export class S3ArchiveError extends ArchiveError {
  /** What was attempted (`PutObject`, `GetObject`, ...). */
  readonly operation: string;
  /** S3 error code (`NoSuchBucket`, `SlowDown`, ...) or network error code (`ECONNREFUSED`, `TimeoutError`), when known. */
  readonly s3Code: string | undefined;
  /** HTTP status, when a response arrived. */
  readonly httpStatus: number | undefined;
  constructor(code: typeof ErrorCode.ARCHIVE_UNAVAILABLE | typeof ErrorCode.ARCHIVE_REJECTED | typeof ErrorCode.ARCHIVE_CORRUPT, message: string, operation: string, s3Code?: string, httpStatus?: number) {
    super(code, message);
    this.operation = operation;
    this.s3Code = s3Code;
    this.httpStatus = httpStatus;
  }
}

/** What we store in the object's user metadata (`x-amz-meta-aof-*`). */
interface StoredMeta {
  bytes: number;
  crc: number;
  compression: ArchiveCompression;
  storedBytes: number;
  /** The ETag the server should report: md5 hex, or md5-of-md5s hex + `-N`. */
  etag: string;
}

const META = {
  format: 'aof-format',
  crc: 'aof-crc32',
  bytes: 'aof-bytes',
  compression: 'aof-compression',
  storedBytes: 'aof-stored-bytes',
  etag: 'aof-etag',
} as const;
const META_FORMAT = '1';

/** The bytes to upload: in memory (small objects) or a file (the segment itself, or a spooled compressed copy). */
type StoredBody = { partBytes: number; partMd5s: Buffer[]; partSha256s?: Buffer[] } & ({ kind: 'buffer'; buffer: Buffer; md5: Buffer } | { kind: 'file'; path: string; size: number; spooled: boolean });

const DEFAULTS = {
  multipartThresholdBytes: 16 * 1024 * 1024,
  partBytes: 8 * 1024 * 1024,
  partConcurrency: 4,
  requestTimeoutMs: 30_000,
  connectionTimeoutMs: 5_000,
  maxAttempts: 3,
  listPageSize: 1000,
};

/**
 * Sealed segments in an S3-compatible bucket under `<prefix>segments/`.
 * Keys are derived only from the log's own names. See the module notes for
 * how stored objects are verified.
 */
export class S3Archive implements SegmentArchive {
  readonly description: string;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix ('' or ending in '/'). */
  readonly prefix: string;
  /** Compression of objects this instance stores. */
  readonly compression: ArchiveCompression;
  /** The AWS SDK, loaded by the first instance (see {@link s3Sdk}). */
  readonly #sdk: S3Sdk = s3Sdk();
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #compressionLevel: number | undefined;
  readonly #threshold: number;
  readonly #partBytes: number;
  readonly #partConcurrency: number;
  readonly #listPageSize: number;
  readonly #spoolDir: string;
  readonly #verifyAfterPut: 'head' | 'read';
  readonly #requestTimeoutMs: number;
  /** Multipart uploads this instance is running (never aborted as stale). */
  readonly #inFlight = new Set<string>();
  #closed = false;

  /** A multipart upload reads up to `partConcurrency` parts of the segment at once, besides the handle that checksums it. */
  get openFilesPerCall(): number {
    return this.#partConcurrency + 1;
  }

  constructor(options: S3ArchiveOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('S3Archive needs options with at least a bucket');
    const { bucket } = options;
    if (typeof bucket !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) throw new InvalidArgumentError('S3Archive option bucket must be a bucket name (letters, digits, ".", "_", "-")');
    this.bucket = bucket;
    this.prefix = normalizePrefix(options.prefix);
    const compression = options.compression ?? 'none';
    if (!isCompression(compression)) throw new InvalidArgumentError(`S3Archive option compression must be none, gzip or brotli, got ${String(compression)}`);
    this.compression = compression;
    this.#compressionLevel = optionalInt(options.compressionLevel, 'compressionLevel', 0, 11);
    this.#threshold = optionalInt(options.multipartThresholdBytes, 'multipartThresholdBytes', S3_MIN_PART_BYTES, S3_MAX_PART_BYTES) ?? DEFAULTS.multipartThresholdBytes;
    this.#partBytes = optionalInt(options.partBytes, 'partBytes', S3_MIN_PART_BYTES, S3_MAX_PART_BYTES) ?? DEFAULTS.partBytes;
    this.#partConcurrency = optionalInt(options.partConcurrency, 'partConcurrency', 1, 64) ?? DEFAULTS.partConcurrency;
    this.#listPageSize = optionalInt(options.listPageSize, 'listPageSize', 1, 1000) ?? DEFAULTS.listPageSize;
    this.#requestTimeoutMs = optionalInt(options.requestTimeoutMs, 'requestTimeoutMs', 1, 24 * 3600_000) ?? DEFAULTS.requestTimeoutMs;
    const connectionTimeoutMs = optionalInt(options.connectionTimeoutMs, 'connectionTimeoutMs', 1, 3600_000) ?? DEFAULTS.connectionTimeoutMs;
    const maxAttempts = optionalInt(options.maxAttempts, 'maxAttempts', 1, 20) ?? DEFAULTS.maxAttempts;
    if (options.spoolDir !== undefined && (typeof options.spoolDir !== 'string' || options.spoolDir.length === 0)) throw new InvalidArgumentError('S3Archive option spoolDir must be a directory path');
    this.#spoolDir = options.spoolDir ?? os.tmpdir();
    const verify = options.verifyAfterPut ?? 'head';
    if (verify !== 'head' && verify !== 'read') throw new InvalidArgumentError(`S3Archive option verifyAfterPut must be head or read, got ${String(verify)}`);
    this.#verifyAfterPut = verify;

    let where = '';
    if (options.client !== undefined) {
      if (!(options.client instanceof this.#sdk.S3Client)) throw new InvalidArgumentError('S3Archive option client must be an S3Client from @aws-sdk/client-s3');
      if (options.endpoint !== undefined || options.credentials !== undefined) throw new InvalidArgumentError('S3Archive takes either a client or endpoint/credentials, not both');
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      let endpoint: string | undefined;
      if (options.endpoint !== undefined) {
        const url = parseEndpoint(options.endpoint);
        endpoint = url.href;
        where = ` at ${url.origin}${url.pathname === '/' ? '' : url.pathname}`;
      }
      if (options.region !== undefined && (typeof options.region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(options.region))) throw new InvalidArgumentError('S3Archive option region must be a region name like us-east-1');
      const keepAlive = { keepAlive: true, maxSockets: Math.max(16, this.#partConcurrency * 2) };
      this.#client = new this.#sdk.S3Client({
        ...(endpoint === undefined ? {} : { endpoint }),
        region: options.region ?? 'us-east-1',
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
        // S3-compatible servers: no aws-chunked streaming checksums (radosgw answers 411), no response checksum mode. We check our own CRC.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // Bodies are buffers of known length with a Content-MD5; skipping the 100-continue round trip keeps connections pooled.
        expectContinueHeader: false,
        maxAttempts,
        requestHandler: {
          connectionTimeout: connectionTimeoutMs,
          requestTimeout: this.#requestTimeoutMs,
          socketTimeout: this.#requestTimeoutMs,
          throwOnRequestTimeout: true,
          httpAgent: new http.Agent(keepAlive),
          httpsAgent: new https.Agent(keepAlive),
        },
      });
      this.#ownsClient = true;
    }
    this.description = `s3://${this.bucket}/${this.prefix}${where}`;
  }

  /** Stores the segment, then verifies the stored object (see the module notes). */
  async put(key: string, source: SegmentSource, options: ArchiveCallOptions = {}): Promise<ArchivedObject> {
    const objectKey = this.objectKey(key);
    this.checkOpen();
    checkSource(source);
    const body = await this.prepare(source, options.signal);
    try {
      const storedBytes = body.kind === 'buffer' ? body.buffer.length : body.size;
      const single = body.kind === 'buffer' && storedBytes < this.#threshold ? body : undefined;
      const etag = single !== undefined ? single.md5.toString('hex') : compositeEtag(body.partMd5s);
      const meta: StoredMeta = { bytes: source.bytes, crc: source.crc >>> 0, compression: this.compression, storedBytes, etag };
      if (single !== undefined) await this.uploadSingle(objectKey, single.buffer, meta, options.signal);
      else await this.uploadMultipart(objectKey, body, meta, options.signal);

      const head = await this.head(objectKey, 'HeadObject', options.signal);
      if (head === undefined) throw this.corrupt('HeadObject', objectKey, 'is missing right after it was uploaded');
      const checked = this.checkHead(objectKey, head, { bytes: source.bytes, crc: source.crc >>> 0 });
      if (checked.meta.etag !== etag || checked.meta.storedBytes !== storedBytes || checked.meta.compression !== this.compression) {
        throw this.corrupt('HeadObject', objectKey, 'was replaced while it was being uploaded');
      }
      if (this.#verifyAfterPut === 'read' || !checked.etagCompared) await this.readBack(objectKey, options.signal);
      return this.describe(key, checked.meta);
    } finally {
      if (body.kind === 'file' && body.spooled) await fs.promises.rm(body.path, { force: true });
    }
  }

  /** HEAD: the object's description if its size and metadata match `expected`; undefined if absent; `AOF_ARCHIVE_CORRUPT` if not. */
  async verify(key: string, expected: { bytes: number; crc: number }, options: ArchiveCallOptions = {}): Promise<ArchivedObject | undefined> {
    const objectKey = this.objectKey(key);
    this.checkOpen();
    const head = await this.head(objectKey, 'HeadObject', options.signal);
    if (head === undefined) return undefined;
    const { meta } = this.checkHead(objectKey, head, { bytes: expected.bytes, crc: expected.crc >>> 0 });
    return this.describe(key, meta);
  }

  /**
   * Streams the object to `destPath` (which must not exist), decompressed,
   * and checks size and CRC-32 against the object's metadata; on any failure
   * the partial file is removed.
   */
  async fetch(key: string, destPath: string, options: ArchiveCallOptions = {}): Promise<void> {
    const objectKey = this.objectKey(key);
    this.checkOpen();
    let out: fs.WriteStream | undefined;
    try {
      await this.download(objectKey, options.signal, async () => {
        // Created before any byte arrives ('wx': never over an existing file); removed below on any failure.
        const handle = await fs.promises.open(destPath, 'wx', 0o600);
        out = fs.createWriteStream('', { fd: handle, autoClose: true });
        return out;
      });
      if (out !== undefined && !out.closed) await new Promise<void>((resolve, reject) => out!.once('close', resolve).once('error', reject));
    } catch (err) {
      if (out !== undefined) {
        out.destroy();
        await fs.promises.rm(destPath, { force: true });
      }
      throw err;
    }
  }

  /** Deletes the object; no error if it is absent. */
  async delete(key: string, options: ArchiveCallOptions = {}): Promise<void> {
    const objectKey = this.objectKey(key);
    this.checkOpen();
    try {
      await this.#client.send(new this.#sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: options.signal });
    } catch (err) {
      if (statusOf(err) === 404 && codeOf(err) !== 'NoSuchBucket') return;
      throw this.mapError(err, 'DeleteObject', objectKey);
    }
  }

  /** Keys (relative to the prefix) of every stored segment object, page by page. */
  async *list(options: ArchiveCallOptions = {}): AsyncIterable<string> {
    this.checkOpen();
    const listPrefix = `${this.prefix}segments/`;
    let token: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.#client.send(new this.#sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: listPrefix, MaxKeys: this.#listPageSize, ContinuationToken: token }), { abortSignal: options.signal });
      } catch (err) {
        throw this.mapError(err, 'ListObjectsV2', listPrefix);
      }
      for (const object of page.Contents ?? []) {
        const full = object.Key;
        if (full === undefined || !full.startsWith(this.prefix)) continue;
        const key = full.slice(this.prefix.length);
        if (parseSegmentKey(key) !== undefined) yield key;
      }
      if (page.IsTruncated !== true) return;
      const next = page.NextContinuationToken;
      if (next === undefined || next === '' || next === token) throw new S3ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, `S3 ListObjectsV2 of ${this.where(listPrefix)} returned a truncated page without a new continuation token`, 'ListObjectsV2');
      token = next;
    }
  }

  /**
   * Aborts multipart uploads under the prefix that were left behind (a crash
   * or a failed abort), except the ones this instance is running. Returns
   * how many were aborted.
   */
  async abortStaleMultipartUploads(options: AbortStaleOptions = {}): Promise<number> {
    this.checkOpen();
    const olderThanMs = optionalInt(options.olderThanMs, 'olderThanMs', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const cutoff = Date.now() - olderThanMs;
    const listPrefix = `${this.prefix}segments/`;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    let aborted = 0;
    for (;;) {
      let page;
      try {
        page = await this.#client.send(new this.#sdk.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: listPrefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker, MaxUploads: this.#listPageSize }), { abortSignal: options.signal });
      } catch (err) {
        throw this.mapError(err, 'ListMultipartUploads', listPrefix);
      }
      for (const upload of page.Uploads ?? []) {
        const { Key: objectKey, UploadId: uploadId, Initiated: initiated } = upload;
        if (objectKey === undefined || uploadId === undefined || this.#inFlight.has(uploadId)) continue;
        if (!objectKey.startsWith(this.prefix) || parseSegmentKey(objectKey.slice(this.prefix.length)) === undefined) continue;
        if (olderThanMs > 0 && initiated !== undefined && initiated.getTime() > cutoff) continue;
        try {
          await this.#client.send(new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }), { abortSignal: options.signal });
          aborted++;
        } catch (err) {
          if (codeOf(err) !== 'NoSuchUpload') throw this.mapError(err, 'AbortMultipartUpload', objectKey);
        }
      }
      if (page.IsTruncated !== true) return aborted;
      const nextKey = page.NextKeyMarker;
      const nextId = page.NextUploadIdMarker;
      if ((nextKey ?? '') === '' || (nextKey === keyMarker && nextId === uploadIdMarker)) return aborted;
      keyMarker = nextKey;
      uploadIdMarker = nextId;
    }
  }

  /** Releases the client's sockets (only a client this instance built). Further calls are rejected with `AOF_CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.#client.destroy();
  }

  // -- upload -----------------------------------------------------------

  /**
   * Reads the segment once, checking it against the CRC and size the caller
   * gave (a damaged local file is never uploaded), and returns the stored
   * form with the MD5s the uploads will carry. A large uncompressed segment
   * is read and hashed by worker threads, a part each, in parallel and off
   * the event loop; everything else on this thread.
   */
  private async prepare(source: SegmentSource, signal: AbortSignal | undefined): Promise<StoredBody> {
    const running = new RunningCrc();
    // Parts grow past the configured size where a segment would otherwise need more than S3's 10,000 (compression can add a little).
    const bound = source.bytes + Math.ceil(source.bytes / 100) + 1024 * 1024;
    const partBytes = Math.max(this.#partBytes, Math.ceil(bound / S3_MAX_PARTS / (1024 * 1024)) * 1024 * 1024);
    const hasher = new PartHasher(partBytes);
    const checkSource = (): void => {
      if (running.bytes !== source.bytes || running.crc !== source.crc >>> 0) {
        throw new CorruptionError(`segment does not match what the archiver expects (${running.bytes} bytes with CRC-32 ${hex8(running.crc)}, expected ${source.bytes} bytes with ${hex8(source.crc >>> 0)}); not uploaded`, { file: source.path });
      }
    };
    try {
      if (this.compression === 'none' && source.bytes >= this.#threshold && crc32Native !== undefined) {
        // Large, uncompressed: hash the file in place, each part on a worker thread; the parts are read again as they go up.
        const size = (await fs.promises.stat(source.path)).size;
        if (size !== source.bytes) throw new CorruptionError(`segment does not match what the archiver expects (${size} bytes, expected ${source.bytes}); not uploaded`, { file: source.path });
        const { md5s, sha256s, crc, bytes } = await hashFileParts(source.path, size, partBytes, signal);
        running.crc = crc;
        running.bytes = bytes;
        checkSource();
        return { kind: 'file', path: source.path, size: bytes, partBytes, partMd5s: md5s, partSha256s: sha256s, spooled: false };
      }
      if (this.compression === 'none' && source.bytes >= this.#threshold) {
        // The same on this thread (a Node without zlib.crc32).
        for await (const chunk of fs.createReadStream(source.path, { highWaterMark: 1 << 20, signal })) {
          running.update(chunk as Buffer);
          hasher.update(chunk as Buffer);
        }
        checkSource();
        return { kind: 'file', path: source.path, size: running.bytes, partBytes, partMd5s: hasher.finish(), spooled: false };
      }
      if (this.compression === 'none' || source.bytes < this.#threshold) {
        // Small enough to hold: read (and compress) into memory.
        const chunks: Buffer[] = [];
        const input = fs.createReadStream(source.path, { highWaterMark: 1 << 20, signal });
        const tap = new Writable({
          write: (chunk: Buffer, _enc, done) => {
            chunks.push(chunk);
            done();
          },
        });
        const counter = crcTap(running);
        const z = this.compressor(source.bytes);
        await pipeline(z === undefined ? [input, counter, tap] : [input, counter, z, tap] as unknown as [Readable, Writable], { signal });
        checkSource();
        const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        hasher.update(buffer);
        return { kind: 'buffer', buffer, md5: md5(buffer), partBytes, partMd5s: hasher.finish() };
      }
      // Large and compressed: stage the compressed bytes in a private spool file.
      await fs.promises.mkdir(this.#spoolDir, { recursive: true });
      const spool = path.join(this.#spoolDir, `aof-s3-${randomBytes(8).toString('hex')}.spool`);
      const out = fs.createWriteStream(spool, { flags: 'wx', mode: 0o600 });
      let size = 0;
      const hashTap = new Transform({
        transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void) {
          hasher.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline([fs.createReadStream(source.path, { highWaterMark: 1 << 20 }), crcTap(running), this.compressor(source.bytes)!, hashTap, out] as unknown as [Readable, Writable], { signal });
        checkSource();
      } catch (err) {
        await fs.promises.rm(spool, { force: true });
        throw err;
      }
      if (size < this.#threshold) {
        // Compressed below the threshold after all: one PUT from memory.
        const buffer = await fs.promises.readFile(spool);
        await fs.promises.rm(spool, { force: true });
        return { kind: 'buffer', buffer, md5: md5(buffer), partBytes, partMd5s: [] };
      }
      return { kind: 'file', path: spool, size, partBytes, partMd5s: hasher.finish(), spooled: true };
    } catch (err) {
      throw localError(err, 'cannot read the segment to upload', source.path);
    }
  }

  private compressor(sizeHint: number): Transform | undefined {
    if (this.compression === 'gzip') return zlib.createGzip({ level: this.#compressionLevel ?? 6 });
    if (this.compression === 'brotli') {
      return zlib.createBrotliCompress({
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: this.#compressionLevel ?? 4,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: Math.min(sizeHint, 0x7fffffff),
        },
      });
    }
    return undefined;
  }

  private async uploadSingle(objectKey: string, buffer: Buffer, meta: StoredMeta, signal: AbortSignal | undefined): Promise<void> {
    try {
      const res = await this.#client.send(
        new this.#sdk.PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: buffer, ContentLength: buffer.length, ContentMD5: md5(buffer).toString('base64'), ContentType: 'application/octet-stream', Metadata: encodeMeta(meta) }),
        { abortSignal: signal },
      );
      const etag = normalizeEtag(res.ETag);
      if (etag !== undefined && isMd5Etag(etag) && etag !== meta.etag) throw this.corrupt('PutObject', objectKey, `was stored with ETag ${etag}, expected ${meta.etag}`);
    } catch (err) {
      throw this.mapError(err, 'PutObject', objectKey);
    }
  }

  private async uploadMultipart(objectKey: string, body: StoredBody, meta: StoredMeta, signal: AbortSignal | undefined): Promise<void> {
    let uploadId: string | undefined;
    try {
      const created = await this.#client.send(new this.#sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, ContentType: 'application/octet-stream', Metadata: encodeMeta(meta) }), { abortSignal: signal });
      uploadId = created.UploadId;
      if (uploadId === undefined || uploadId === '') throw new S3ArchiveError(ErrorCode.ARCHIVE_UNAVAILABLE, `S3 CreateMultipartUpload of ${this.where(objectKey)} returned no upload id`, 'CreateMultipartUpload');
    } catch (err) {
      throw this.mapError(err, 'CreateMultipartUpload', objectKey);
    }
    this.#inFlight.add(uploadId);
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let handle: fs.promises.FileHandle | undefined;
    try {
      if (body.kind === 'file') handle = await fs.promises.open(body.path, 'r').catch((err: unknown) => Promise.reject(localError(err, 'cannot read the segment to upload', body.path)));
      const size = body.kind === 'buffer' ? body.buffer.length : body.size;
      const partCount = body.partMd5s.length;
      const etags: string[] = new Array<string>(partCount);
      let next = 0;
      let failure: unknown;
      const worker = async (): Promise<void> => {
        while (failure === undefined && next < partCount) {
          const index = next++;
          const start = index * body.partBytes;
          const length = Math.min(body.partBytes, size - start);
          let part: Buffer;
          if (body.kind === 'buffer') part = body.buffer.subarray(start, start + length);
          else {
            part = Buffer.allocUnsafe(length);
            const { bytesRead } = await handle!.read(part, 0, length, start).catch((err: unknown) => Promise.reject(localError(err, 'cannot read the segment to upload', body.path)));
            if (bytesRead !== length) throw new CorruptionError(`segment changed while it was being uploaded (short read at ${start})`, { file: body.path });
          }
          const expected = body.partMd5s[index]!;
          try {
            const command = new this.#sdk.UploadPartCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, PartNumber: index + 1, Body: part, ContentLength: length, ContentMD5: expected.toString('base64') });
            const sha256 = body.partSha256s?.[index];
            if (sha256 !== undefined) presetPayloadHash(command, sha256);
            const res = await this.#client.send(command, { abortSignal: stop.signal });
            const etag = normalizeEtag(res.ETag);
            if (etag !== undefined && isMd5Etag(etag) && etag !== expected.toString('hex')) throw this.corrupt('UploadPart', objectKey, `part ${index + 1} was stored with ETag ${etag}, expected ${expected.toString('hex')}`);
            // radosgw may answer without an ETag; the part's MD5 is what S3 would have said.
            etags[index] = `"${etag !== undefined && etag !== '' ? etag : expected.toString('hex')}"`;
          } catch (err) {
            throw this.mapError(err, 'UploadPart', objectKey);
          }
        }
      };
      const workers = Array.from({ length: Math.min(this.#partConcurrency, partCount) }, () =>
        worker().catch((err: unknown) => {
          failure ??= err;
          stop.abort();
        }),
      );
      await Promise.all(workers);
      if (failure !== undefined) throw failure;
      try {
        await this.#client.send(
          new this.#sdk.CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw this.mapError(err, 'CompleteMultipartUpload', objectKey);
      }
    } catch (err) {
      await this.abortUpload(objectKey, uploadId);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#inFlight.delete(uploadId);
      await handle?.close();
    }
  }

  /** Best effort: an upload this fails to abort is found by {@link abortStaleMultipartUploads}. */
  private async abortUpload(objectKey: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }), { abortSignal: AbortSignal.timeout(this.#requestTimeoutMs) });
    } catch {
      // left for abortStaleMultipartUploads
    }
  }

  // -- read -------------------------------------------------------------

  /** GET + decompress + CRC into the writable `open()` returns; checks everything against the object's metadata. */
  private async download(objectKey: string, signal: AbortSignal | undefined, open: () => Promise<Writable>): Promise<StoredMeta> {
    let res;
    try {
      res = await this.#client.send(new this.#sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal });
    } catch (err) {
      if (codeOf(err) === 'NoSuchKey') throw this.corrupt('GetObject', objectKey, 'is missing');
      throw this.mapError(err, 'GetObject', objectKey);
    }
    const body = res.Body as Readable | undefined;
    try {
      const meta = this.checkObject(objectKey, res.Metadata, res.ContentLength, res.ETag);
      if (body === undefined) throw this.corrupt('GetObject', objectKey, 'came back without a body');
      const running = new RunningCrc();
      let stored = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void) {
          stored += chunk.length;
          done(null, chunk);
        },
      });
      const unzip = decompressor(meta.compression);
      const stages: Array<Readable | Writable | Transform> = [body, counter];
      if (unzip !== undefined) stages.push(unzip);
      stages.push(crcTap(running));
      let sink: Writable;
      try {
        sink = await open();
      } catch (err) {
        throw localError(err, 'cannot write the fetched segment');
      }
      stages.push(sink);
      // Which stage failed first: pipeline destroys the others with the same error, so the first mark wins.
      const failedStage = new Map<unknown, 'network' | 'decompress' | 'local'>();
      const mark = (stage: 'network' | 'decompress' | 'local') => (e: unknown) => void (failedStage.has(e) || failedStage.set(e, stage));
      body.once('error', mark('network'));
      unzip?.once('error', mark('decompress'));
      sink.once('error', mark('local'));
      try {
        await pipeline(stages as unknown as [Readable, Writable], { signal });
      } catch (err) {
        if (isAbort(err) && signal?.aborted) throw err;
        const stage = failedStage.get(err);
        if (stage === 'decompress') throw this.corrupt('GetObject', objectKey, `does not decompress (${meta.compression}): ${sanitizeCode(codeOf(err)) ?? 'invalid data'}`);
        if (stage === 'local' || isLocalFsError(err)) throw localError(err, 'cannot write the fetched segment');
        throw this.mapError(err, 'GetObject', objectKey);
      }
      if (stored !== meta.storedBytes) throw this.corrupt('GetObject', objectKey, `has ${stored} stored bytes, its metadata says ${meta.storedBytes}`);
      if (running.bytes !== meta.bytes || running.crc !== meta.crc) {
        throw this.corrupt('GetObject', objectKey, `changed behind our back: ${running.bytes} bytes with CRC-32 ${hex8(running.crc)}, expected ${meta.bytes} bytes with ${hex8(meta.crc)}`);
      }
      return meta;
    } finally {
      body?.destroy();
    }
  }

  private async readBack(objectKey: string, signal: AbortSignal | undefined): Promise<void> {
    await this.download(objectKey, signal, async () => new Writable({ write: (_c, _e, done) => done() }));
  }

  private async head(objectKey: string, operation: string, signal: AbortSignal | undefined): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal });
    } catch (err) {
      if (statusOf(err) !== 404) throw this.mapError(err, operation, objectKey);
    }
    // A HEAD has no body, so a missing bucket also looks like 404: tell them apart.
    try {
      await this.#client.send(new this.#sdk.HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (err) {
      if (statusOf(err) === 404) throw new S3ArchiveError(ErrorCode.ARCHIVE_REJECTED, `S3 ${operation} of ${this.where(objectKey)} failed: NoSuchBucket (HTTP 404)`, operation, 'NoSuchBucket', 404);
      throw this.mapError(err, 'HeadBucket', objectKey);
    }
    return undefined;
  }

  /** Checks a HEAD answer against its own metadata and the caller's expectation. */
  private checkHead(objectKey: string, head: HeadObjectCommandOutput, expected: { bytes: number; crc: number }): { meta: StoredMeta; etagCompared: boolean } {
    const meta = this.checkObject(objectKey, head.Metadata, head.ContentLength, head.ETag);
    if (meta.bytes !== expected.bytes || meta.crc !== expected.crc) {
      throw this.corrupt('HeadObject', objectKey, `holds a different segment: ${meta.bytes} bytes with CRC-32 ${hex8(meta.crc)}, expected ${expected.bytes} bytes with ${hex8(expected.crc)}`);
    }
    const etag = normalizeEtag(head.ETag);
    return { meta, etagCompared: etag !== undefined && isMd5Etag(etag) };
  }

  /** Metadata present and consistent with the object's size and ETag. */
  private checkObject(objectKey: string, metadata: Record<string, string> | undefined, contentLength: number | undefined, rawEtag: string | undefined): StoredMeta {
    const meta = decodeMeta(metadata);
    if (meta === undefined) throw this.corrupt('HeadObject', objectKey, 'has no valid aof metadata: it was not stored by aof or was replaced behind our back');
    if (contentLength !== undefined && contentLength !== meta.storedBytes) throw this.corrupt('HeadObject', objectKey, `is ${contentLength} bytes, its metadata says ${meta.storedBytes}: truncated or replaced behind our back`);
    const etag = normalizeEtag(rawEtag);
    if (etag !== undefined && isMd5Etag(etag) && etag !== meta.etag) throw this.corrupt('HeadObject', objectKey, `has ETag ${etag}, stored as ${meta.etag}: its content changed behind our back`);
    return meta;
  }

  // -- helpers ----------------------------------------------------------

  private objectKey(key: string): string {
    if (typeof key !== 'string' || parseSegmentKey(key) === undefined) throw new InvalidArgumentError(`not a segment key: ${String(key).slice(0, 80)}`);
    return `${this.prefix}${key}`;
  }

  private checkOpen(): void {
    if (this.#closed) throw new ClosedError('S3 archive');
  }

  private where(objectKey: string): string {
    return `s3://${this.bucket}/${objectKey}`;
  }

  private describe(key: string, meta: StoredMeta): ArchivedObject {
    return { key, location: this.where(`${this.prefix}${key}`), bytes: meta.bytes, crc: meta.crc, compression: meta.compression, storedBytes: meta.storedBytes };
  }

  private corrupt(operation: string, objectKey: string, what: string): S3ArchiveError {
    return new S3ArchiveError(ErrorCode.ARCHIVE_CORRUPT, `archived object ${this.where(objectKey)} ${what}`, operation);
  }

  /**
   * Maps an SDK or network failure to an archive error. Only the error's
   * code, HTTP status and our own words go into the message: never the
   * server's message text or the SDK error itself (they can carry the access
   * key id, a string-to-sign, or request headers).
   */
  private mapError(err: unknown, operation: string, objectKey: string): Error {
    if (err instanceof ArchiveError || err instanceof IoError || err instanceof CorruptionError || err instanceof InvalidArgumentError) return err;
    if (isAbort(err)) return err as Error;
    const status = statusOf(err);
    const code = sanitizeCode(codeOf(err));
    const label = `${code ?? 'unknown error'}${status !== undefined ? ` (HTTP ${status})` : ''}`;
    const message = `S3 ${operation} of ${this.where(objectKey)} failed: ${label}`;
    return new S3ArchiveError(classify(code, status), message, operation, code, status);
  }
}

// -- classification -------------------------------------------------------

const REJECTED_CODES = new Set([
  'AccessDenied', 'AllAccessDisabled', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'InvalidBucketName', 'AccountProblem',
  'InvalidSecurity', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'PermanentRedirect', 'AuthorizationHeaderMalformed', 'InvalidRequest',
  'CredentialsProviderError', 'MethodNotAllowed', 'NotImplemented', 'UserSuspended', 'QuotaExceeded', 'InvalidArgument', 'EntityTooLarge', 'EntityTooSmall',
  'KMS.DisabledException', 'ERR_INVALID_URL', 'UnknownEndpoint',
]);
const UNAVAILABLE_CODES = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError',
  'InternalError', 'ServiceUnavailable', 'BadDigest', 'IncompleteBody', 'NoSuchUpload', 'RequestTimeTooSkewed', 'OperationAborted', 'XAmzContentSHA256Mismatch',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EADDRNOTAVAIL', 'ERR_STREAM_PREMATURE_CLOSE',
]);

function classify(code: string | undefined, status: number | undefined): typeof ErrorCode.ARCHIVE_UNAVAILABLE | typeof ErrorCode.ARCHIVE_REJECTED {
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) return ErrorCode.ARCHIVE_UNAVAILABLE;
  if (code !== undefined && REJECTED_CODES.has(code)) return ErrorCode.ARCHIVE_REJECTED;
  if (status === undefined) return ErrorCode.ARCHIVE_UNAVAILABLE; // no response: the network
  if (status >= 500 || status === 429 || status === 408) return ErrorCode.ARCHIVE_UNAVAILABLE;
  return ErrorCode.ARCHIVE_REJECTED; // any other 4xx: retrying will not change the answer
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The S3 error code (the SDK puts it in `name`) or a Node error code. */
function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; code?: unknown; Code?: unknown; $metadata?: unknown };
  if (e.name === 'TimeoutError') return 'TimeoutError';
  if (typeof e.code === 'string' && (e.code.startsWith('E') || e.code.startsWith('ERR_') || e.code.startsWith('Z_'))) return e.code;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'S3ServiceException') return e.name;
  if (typeof e.code === 'string') return e.code;
  return undefined;
}

/** Codes are identifiers; anything else (free text) is dropped, so nothing from a server's answer leaks through it. */
function sanitizeCode(code: string | undefined): string | undefined {
  return code !== undefined && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}

function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

function isLocalFsError(err: unknown): boolean {
  return typeof (err as { syscall?: unknown } | null)?.syscall === 'string' && typeof (err as { path?: unknown }).path === 'string';
}

/** Failures of the local file system (reading the segment, writing the fetched copy): `AOF_IO` with the errno; our own errors pass through. */
function localError(err: unknown, message: string, file?: string): Error {
  if (err instanceof ArchiveError || err instanceof CorruptionError || err instanceof IoError || err instanceof InvalidArgumentError || isAbort(err)) return err as Error;
  const p = (err as { path?: unknown } | null)?.path;
  return new IoError(message, err, { file: typeof p === 'string' ? p : file });
}

// -- metadata, hashes -----------------------------------------------------

function encodeMeta(meta: StoredMeta): Record<string, string> {
  return {
    [META.format]: META_FORMAT,
    [META.crc]: hex8(meta.crc),
    [META.bytes]: String(meta.bytes),
    [META.compression]: meta.compression,
    [META.storedBytes]: String(meta.storedBytes),
    [META.etag]: meta.etag,
  };
}

function decodeMeta(m: Record<string, string> | undefined): StoredMeta | undefined {
  if (m === undefined) return undefined;
  const get = (k: string): string | undefined => m[k] ?? m[k.toLowerCase()];
  if (get(META.format) !== META_FORMAT) return undefined;
  const crc = get(META.crc);
  const bytes = get(META.bytes);
  const compression = get(META.compression);
  const storedBytes = get(META.storedBytes);
  const etag = get(META.etag);
  if (crc === undefined || !/^[0-9a-f]{8}$/.test(crc)) return undefined;
  if (bytes === undefined || !/^\d{1,15}$/.test(bytes) || storedBytes === undefined || !/^\d{1,15}$/.test(storedBytes)) return undefined;
  if (!isCompression(compression)) return undefined;
  if (etag === undefined || !isMd5Etag(etag)) return undefined;
  return { crc: Number.parseInt(crc, 16) >>> 0, bytes: Number(bytes), compression, storedBytes: Number(storedBytes), etag };
}

function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
}

/** An ETag of the MD5 form S3 computes for unencrypted single and multipart uploads. */
function isMd5Etag(etag: string): boolean {
  return /^[0-9a-f]{32}(-\d{1,5})?$/.test(etag);
}

function compositeEtag(partMd5s: Buffer[]): string {
  return `${md5(Buffer.concat(partMd5s)).toString('hex')}-${partMd5s.length}`;
}

function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** MD5 of each `partBytes` slice of a stream of chunks. */
class PartHasher {
  private readonly md5s: Buffer[] = [];
  private current = createHash('md5');
  private filled = 0;
  private total = 0;
  constructor(private readonly partBytes: number) {}
  update(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.partBytes - this.filled, chunk.length - offset);
      this.current.update(chunk.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === this.partBytes) {
        this.md5s.push(this.current.digest());
        this.current = createHash('md5');
        this.filled = 0;
      }
    }
    this.total += chunk.length;
  }
  finish(): Buffer[] {
    if (this.filled > 0 || this.total === 0) this.md5s.push(this.current.digest());
    return this.md5s;
  }
}

// -- hashing files on worker threads ----------------------------------------

/**
 * A worker thread's code: the MD5, SHA-256 and CRC-32 of a byte range of a
 * file, read by the worker itself in 1 MiB windows. Plain CommonJS, evaluated
 * as is, so that it needs no file of its own next to this module.
 */
const HASH_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const { crc32 } = require('node:zlib');
const window = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ path, start, length }) => {
  let fd;
  try {
    fd = fs.openSync(path, 'r');
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    let crc = 0;
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, window, 0, Math.min(window.length, length - done), start + done);
      if (n === 0) break;
      const chunk = window.subarray(0, n);
      md5.update(chunk);
      sha256.update(chunk);
      crc = crc32(chunk, crc);
      done += n;
    }
    parentPort.postMessage({ md5: md5.digest(), sha256: sha256.digest(), crc: crc >>> 0, bytes: done });
  } catch (err) {
    parentPort.postMessage({ error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall } });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

/** What hashing one range of a file gives. */
interface RangeHash {
  md5: Buffer;
  /** SHA-256 of the range: the payload hash SigV4 signs for an upload of exactly this range. */
  sha256: Buffer;
  crc: number;
  bytes: number;
}

interface HashJob {
  file: string;
  start: number;
  length: number;
  resolve: (hash: RangeHash) => void;
  reject: (err: unknown) => void;
}

/**
 * Worker threads that hash ranges of files: one per core, at most 4, started
 * on first use and shared by every S3Archive of the process. Idle workers do
 * not keep the process alive. A worker that cannot start or dies hands its
 * job to this thread.
 */
class HashPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, HashJob>();
  private readonly queue: HashJob[] = [];
  private workers = 0;
  private unavailable = false;

  constructor(private readonly size: number) {}

  hash(file: string, start: number, length: number): Promise<RangeHash> {
    return new Promise((resolve, reject) => {
      this.queue.push({ file, start, length, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers < this.size ? this.spawn() : undefined);
      if (worker === undefined) {
        if (this.workers === 0) for (const job of this.queue.splice(0)) hashRangeHere(job);
        return;
      }
      const job = this.queue.shift()!;
      this.busy.set(worker, job);
      worker.ref();
      worker.postMessage({ path: job.file, start: job.start, length: job.length });
    }
  }

  private spawn(): Worker | undefined {
    if (this.unavailable) return undefined;
    let worker: Worker;
    try {
      worker = new Worker(HASH_WORKER_SOURCE, { eval: true });
    } catch {
      this.unavailable = true;
      return undefined;
    }
    this.workers++;
    worker.unref();
    worker.on('message', (m: { md5?: Uint8Array; sha256?: Uint8Array; crc?: number; bytes?: number; error?: { message: string; code?: unknown; syscall?: unknown } }) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (job !== undefined) {
        if (m.error !== undefined) job.reject(Object.assign(new Error(m.error.message), { code: m.error.code, syscall: m.error.syscall, path: job.file }));
        else job.resolve({ md5: Buffer.from(m.md5!), sha256: Buffer.from(m.sha256!), crc: m.crc! >>> 0, bytes: m.bytes! });
      }
      this.dispatch();
    });
    const lost = (): void => {
      if (!this.idle.includes(worker) && !this.busy.has(worker)) return;
      this.workers--;
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      if (job !== undefined) hashRangeHere(job);
      this.dispatch();
    };
    worker.once('error', lost);
    worker.once('exit', lost);
    return worker;
  }
}

let hashPool: HashPool | undefined;

/** MD5 and SHA-256 of each `partBytes` slice of a file, and the CRC-32 and size of the whole, hashed on worker threads in parallel. */
async function hashFileParts(file: string, size: number, partBytes: number, signal: AbortSignal | undefined): Promise<{ md5s: Buffer[]; sha256s: Buffer[]; crc: number; bytes: number }> {
  signal?.throwIfAborted();
  hashPool ??= new HashPool(Math.max(1, Math.min(4, os.availableParallelism())));
  const pool = hashPool;
  const parts = Math.max(1, Math.ceil(size / partBytes));
  const hashes = await Promise.all(Array.from({ length: parts }, (_, i) => pool.hash(file, i * partBytes, Math.min(partBytes, size - i * partBytes))));
  signal?.throwIfAborted();
  let crc = 0;
  let bytes = 0;
  for (const h of hashes) {
    crc = crc32Combine(crc, h.crc, h.bytes);
    bytes += h.bytes;
    if (h.bytes < partBytes) break; // the file ended here: shorter than expected, which the caller reports
  }
  return { md5s: hashes.map((h) => h.md5), sha256s: hashes.map((h) => h.sha256), crc, bytes };
}

/** One range hashed on this thread. */
function hashRangeHere(job: HashJob): void {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let crc = 0;
  let bytes = 0;
  const input = fs.createReadStream(job.file, { start: job.start, end: job.start + job.length - 1, highWaterMark: 1 << 20 });
  input.on('data', (chunk) => {
    md5.update(chunk as Buffer);
    sha256.update(chunk as Buffer);
    crc = crc32(chunk as Buffer, crc);
    bytes += chunk.length;
  });
  input.once('error', job.reject);
  input.once('end', () => job.resolve({ md5: md5.digest(), sha256: sha256.digest(), crc, bytes }));
}

/**
 * Gives SigV4 the payload hash of an upload computed beforehand (on a worker
 * thread), so that the signer does not hash the body on the event loop: the
 * request is signed over the same hash, which the server checks as usual.
 */
function presetPayloadHash(command: UploadPartCommand, sha256: Buffer): void {
  const hex = sha256.toString('hex');
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers !== undefined) request.headers['x-amz-content-sha256'] = hex;
      return next(args);
    },
    { step: 'build', name: 'aofPresetPayloadHash' },
  );
}

/**
 * CRC-32 of A followed by B from the CRC-32s of A and B and B's length
 * (zlib's crc32_combine: B's length in zeros applied to A's CRC by squaring
 * the GF(2) matrix of one zero bit).
 */
function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const times = (matrix: Uint32Array, vector: number): number => {
    let sum = 0;
    for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) if ((v & 1) !== 0) sum ^= matrix[i]!;
    return sum >>> 0;
  };
  const square = (into: Uint32Array, matrix: Uint32Array): void => {
    for (let n = 0; n < 32; n++) into[n] = times(matrix, matrix[n]!);
  };
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the polynomial: one zero bit
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  square(even, odd); // two zero bits
  square(odd, even); // four
  let crc = crcA >>> 0;
  let length = lengthB;
  for (;;) {
    square(even, odd); // first pass: one zero byte
    if (length % 2 === 1) crc = times(even, crc);
    length = Math.floor(length / 2);
    if (length === 0) break;
    square(odd, even);
    if (length % 2 === 1) crc = times(odd, crc);
    length = Math.floor(length / 2);
    if (length === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

// -- validation -----------------------------------------------------------

function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === '') return '';
  if (typeof prefix !== 'string' || prefix.length > 512 || prefix.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(prefix) || prefix.split('/').some((p) => p === '.' || p === '..')) {
    throw new InvalidArgumentError('S3Archive option prefix must be a relative key prefix like "logs/orders/" (no leading "/", no "." or ".." parts, no control characters)');
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function parseEndpoint(endpoint: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(endpoint));
  } catch {
    throw new InvalidArgumentError('S3Archive option endpoint must be a URL like http://127.0.0.1:7480');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('S3Archive option endpoint must be an http or https URL');
  // Never echo the endpoint here: it is the one place a user might have pasted credentials.
  if (url.username !== '' || url.password !== '') throw new InvalidArgumentError('S3Archive option endpoint must not contain credentials: pass them as credentials');
  if (url.search !== '' || url.hash !== '') throw new InvalidArgumentError('S3Archive option endpoint must not have a query or fragment');
  return url;
}

function optionalInt(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw new InvalidArgumentError(`S3Archive option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

function checkSource(source: SegmentSource): void {
  if (typeof source !== 'object' || source === null || typeof source.path !== 'string' || !Number.isSafeInteger(source.bytes) || source.bytes < 0 || !Number.isInteger(source.crc)) {
    throw new InvalidArgumentError('put needs a segment source { path, bytes, crc }');
  }
}

/** A pass-through that feeds a running CRC. */
function crcTap(running: RunningCrc): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void) {
      running.update(chunk);
      done(null, chunk);
    },
  });
}

