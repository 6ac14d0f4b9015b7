import { ForeignSegmentError } from '../errors.js';
import { LOG_ID_OFFSET, type SegmentHeader } from '../segment/header.js';
import type { IdentityRecord } from './identity-file.js';

/**
 * Checks that a segment belongs to this log before any of its records is
 * served: a version-2 header must carry this log's identity, and a segment at
 * or after the point from which the log stamps its identity must carry one.
 * Frame checksums are seeded with the segment's own salt, so a foreign file
 * with the same name would otherwise verify perfectly. Once a segment passed
 * here, reads of it are bound to its salt: a file swapped in later fails its
 * frame checksums instead of being served.
 */
export class IdentityGuard {
  private id: Buffer | undefined;
  private from: number | undefined;

  /** `known`: from the identity file; undefined when there is none (learned from the first version-2 header seen). */
  constructor(known: Pick<IdentityRecord, 'logId' | 'since'> | undefined) {
    this.id = known?.logId;
    this.from = known?.since;
  }

  /** The log's identity, once known. */
  get logId(): Buffer | undefined {
    return this.id;
  }

  /** First base sequence number whose segment must carry the identity, once known. */
  get since(): number | undefined {
    return this.from;
  }

  /** Throws {@link ForeignSegmentError} naming `file` when `header` is not this log's. */
  check(header: SegmentHeader, file: string): void {
    if (header.logId === undefined) {
      if (this.from !== undefined && header.baseSeq >= this.from) {
        throw new ForeignSegmentError(`segment carries no log identity (format version ${header.version}), but every segment of this log from sequence ${this.from} on carries ${this.id!.toString('hex')}: it belongs to another log or an older copy`, { file, offset: LOG_ID_OFFSET });
      }
      return;
    }
    if (this.id === undefined) {
      // No identity file: the first stamped segment says whose log this is (the identity file is written back at the writer's open).
      this.id = header.logId;
      this.from = header.baseSeq;
      return;
    }
    if (!header.logId.equals(this.id)) {
      throw new ForeignSegmentError(`segment belongs to another log: its header carries identity ${header.logId.toString('hex')}, this log's is ${this.id.toString('hex')}`, { file, offset: LOG_ID_OFFSET });
    }
  }
}
