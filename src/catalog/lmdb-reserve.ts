import * as fs from 'node:fs';

/** Byte offsets in an LMDB meta page as lmdb-js builds LMDB (24-byte page header; see src/catalog/probe.ts). */
const META = { magic: 24, pageSize: 48, lastPage: 144, txnid: 152 } as const;
const LMDB_MAGIC = 0xbeefc0de;
const ZEROS = Buffer.alloc(64 * 1024);

/**
 * Makes sure the next commit to the LMDB file `dataFile` has `reserveBytes`
 * of space already allocated past the last page in use, writing zeros there
 * when less than half of it is left; throws (ENOSPC) when the disk has not
 * that much room.
 *
 * Why: lmdb-js 3.5 formats the message of a failed page write (ENOSPC, EIO)
 * into a 100-byte heap buffer that the message can overrun, corrupting the
 * native heap (glibc "corrupted size vs. prev_size", SIGABRT) some time
 * later. A commit whose new pages all land in space already allocated cannot
 * fail to allocate: a full disk then shows here, in our own write, before
 * LMDB is asked to commit anything. (Copy-on-write file systems allocate on
 * every write: there this narrows the window and does not close it.)
 *
 * Safe only while no commit of this environment is under way in this process
 * (lmdbWrite runs them one at a time) and no other process writes the file
 * (the writer lock): LMDB writes nothing past its last page but new pages of
 * a commit, and reads nothing there.
 */
export function reserveCommitSpace(dataFile: string, reserveBytes: number): void {
  let fd: number;
  try {
    fd = fs.openSync(dataFile, 'r+');
  } catch {
    return; // no file yet (LMDB creates it with its first commit) or none to write: nothing to reserve
  }
  try {
    const size = fs.fstatSync(fd).size;
    const used = bytesInUse(fd);
    if (used === undefined || size >= used + reserveBytes / 2) return;
    const end = used + reserveBytes;
    for (let at = Math.max(size, used); at < end; at += ZEROS.length) fs.writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, end - at), at);
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes up to and including the last page the newest meta page says is in use; undefined when the meta pages cannot be read. */
function bytesInUse(fd: number): number | undefined {
  const head = Buffer.alloc(META.txnid + 8);
  if (fs.readSync(fd, head, 0, head.length, 0) !== head.length || head.readUInt32LE(META.magic) !== LMDB_MAGIC) return undefined;
  const pageSize = head.readUInt32LE(META.pageSize);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const other = Buffer.alloc(head.length);
  const newest = fs.readSync(fd, other, 0, other.length, pageSize) === other.length && other.readUInt32LE(META.magic) === LMDB_MAGIC && other.readBigUInt64LE(META.txnid) > head.readBigUInt64LE(META.txnid) ? other : head;
  return (Number(newest.readBigUInt64LE(META.lastPage)) + 1) * pageSize;
}
