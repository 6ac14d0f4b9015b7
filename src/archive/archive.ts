/**
 * The interface every archive tier implements (`FsArchive`, `S3Archive`).
 * Tiers store whole sealed segment files under keys derived only from the
 * log's own names, verify what they stored with a checksum we compute, and
 * never see anything else of the log.
 *
 * @module
 */

/** How an archived object is compressed. */
export type ArchiveCompression = 'none' | 'gzip' | 'brotli';

/** What the archiver knows about a segment file it hands to a tier. */
export interface SegmentSource {
  /** Local path of the sealed segment file. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** CRC-32 of its whole content. */
  crc: number;
}

/** An object as stored and verified by a tier. */
export interface ArchivedObject {
  /** The object's key (relative to the tier's prefix). */
  key: string;
  /** A location string for reports and the catalog: never contains credentials. */
  location: string;
  /** Size of the original segment file. */
  bytes: number;
  /** CRC-32 of the original segment file. */
  crc: number;
  /** Compression of the stored bytes. */
  compression: ArchiveCompression;
  /** Bytes actually stored. */
  storedBytes: number;
}

/** Options of one tier call. */
export interface ArchiveCallOptions {
  signal?: AbortSignal;
}

/**
 * A place sealed segments go: another directory, an S3-compatible bucket.
 * Every method is safe to retry. Errors are `AofError`s with stable codes
 * (`AOF_ARCHIVE_UNAVAILABLE` for transient failures worth a retry,
 * `AOF_ARCHIVE_REJECTED` for ones that are not, `AOF_ARCHIVE_CORRUPT` for an
 * object that does not match what was stored).
 */
export interface SegmentArchive {
  /** Where this tier stores objects, for humans: no credentials. */
  readonly description: string;
  /**
   * Descriptors a `put` may hold open at once on the segment it uploads
   * (default 1): the log reserves that many of its `maxOpenFiles` budget for
   * the upload.
   */
  readonly openFilesPerCall?: number;
  /**
   * Stores the segment at `key` and verifies the stored object (size and our
   * CRC-32) before resolving. Overwrites a previous, incomplete attempt.
   */
  put(key: string, source: SegmentSource, options?: ArchiveCallOptions): Promise<ArchivedObject>;
  /** The stored object's description if it exists and matches `expected` (size and CRC); undefined if absent. Rejects `AOF_ARCHIVE_CORRUPT` on mismatch. */
  verify(key: string, expected: { bytes: number; crc: number }, options?: ArchiveCallOptions): Promise<ArchivedObject | undefined>;
  /** Writes the original (decompressed) segment bytes to `destPath`, which must not exist; the caller verifies them. */
  fetch(key: string, destPath: string, options?: ArchiveCallOptions): Promise<void>;
  /** Deletes the object (no error if absent). */
  delete(key: string, options?: ArchiveCallOptions): Promise<void>;
  /** Keys of every stored segment object, in any order. */
  list(options?: ArchiveCallOptions): AsyncIterable<string>;
}

/** Key of the segment whose first sequence number is `baseSeq`. */
export function segmentKey(baseSeq: number): string {
  return `segments/${String(baseSeq).padStart(20, '0')}.seg`;
}

/** The base sequence number of a segment key, or undefined for any other key. */
export function parseSegmentKey(key: string): number | undefined {
  const m = /^segments\/(\d{20})\.seg$/.exec(key);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
