/**
 * The floor: what plain `fs` calls do with the same records, framed and
 * checksummed exactly as aof frames them (docs/FORMAT.md), with no engine
 * around them. Synchronous (`writeSync`/`readSync` loops) and asynchronous
 * (`FileHandle`) versions.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { crc32, decodeFrames, encodeFrame, frameBytes, now, syncDir, FRAME_HEADER, RECORD_BYTES, RECORD_HEADER, type Budget, type Timed } from './common.js';

/** When the floor fsyncs: never, after every frame, or once at the end (inside the timing). */
export type RawSync = 'none' | 'each' | 'end';

/**
 * Writes records in frames of `perFrame` (one `write` per frame, at explicit
 * positions, as aof does) until the budget is spent.
 */
export async function rawWrite(file: string, pool: readonly Buffer[], budget: Budget, perFrame: number, sync: RawSync, mode: 'sync' | 'async'): Promise<Timed> {
  const recordBytes = pool[0]!.length;
  const buf = Buffer.allocUnsafe(frameBytes(perFrame, recordBytes));
  let pos = 0;
  let records = 0;
  if (mode === 'sync') {
    const fd = fs.openSync(file, 'w');
    syncDir(path.dirname(file));
    try {
      const start = now();
      while (records < budget.n) {
        const count = Math.min(perFrame, budget.n - records);
        const len = encodeFrame(buf, 0, pool, records, count);
        writeAllSync(fd, buf, len, pos);
        if (sync === 'each') fs.fdatasyncSync(fd);
        pos += len;
        records += count;
        if (now() - start >= budget.capMs) break;
      }
      if (sync === 'end') fs.fdatasyncSync(fd);
      return { ops: records, ms: now() - start, bytes: pos };
    } finally {
      fs.closeSync(fd);
    }
  }
  const fh = await fsp.open(file, 'w');
  syncDir(path.dirname(file));
  try {
    const start = now();
    while (records < budget.n) {
      const count = Math.min(perFrame, budget.n - records);
      const len = encodeFrame(buf, 0, pool, records, count);
      let done = 0;
      while (done < len) done += (await fh.write(buf, done, len - done, pos + done)).bytesWritten;
      if (sync === 'each') await fh.datasync();
      pos += len;
      records += count;
      if (now() - start >= budget.capMs) break;
    }
    if (sync === 'end') await fh.datasync();
    return { ops: records, ms: now() - start, bytes: pos };
  } finally {
    await fh.close();
  }
}

function writeAllSync(fd: number, buf: Buffer, len: number, pos: number): void {
  let done = 0;
  while (done < len) done += fs.writeSync(fd, buf, done, len - done, pos + done);
}

/**
 * The disk's sequential write bandwidth: `totalBytes` in writes of `chunk`
 * bytes, then one fdatasync, all inside the timing (so the figure is the
 * disk's, not the page cache's).
 */
export function rawSequentialWrite(file: string, totalBytes: number, chunk = 1 << 20): Timed {
  const buf = Buffer.alloc(chunk, 0xa5);
  const fd = fs.openSync(file, 'w');
  try {
    const start = now();
    let pos = 0;
    while (pos < totalBytes) {
      const len = Math.min(chunk, totalBytes - pos);
      writeAllSync(fd, buf, len, pos);
      pos += len;
    }
    fs.fdatasyncSync(fd);
    return { ops: Math.round(pos / RECORD_BYTES), ms: now() - start, bytes: pos };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a file of frames in 1 MiB reads, checks every frame's CRC and hands
 * a view of every record to `visit` (return false to stop). Returns the
 * records visited.
 */
export async function rawScan(file: string, mode: 'sync' | 'async', visit: (payload: Buffer) => boolean | void): Promise<number> {
  let buf = Buffer.allocUnsafe(1 << 20);
  let have = 0;
  let pos = 0;
  let records = 0;
  let stop = false;
  const onRecord = (p: Buffer): void => {
    if (stop) return;
    records++;
    if (visit(p) === false) stop = true;
  };
  const fd = mode === 'sync' ? fs.openSync(file, 'r') : undefined;
  const fh = mode === 'async' ? await fsp.open(file, 'r') : undefined;
  try {
    for (;;) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = fd !== undefined ? fs.readSync(fd, buf, have, buf.length - have, pos) : (await fh!.read(buf, have, buf.length - have, pos)).bytesRead;
      if (n === 0) break;
      pos += n;
      have += n;
      const used = decodeFrames(buf, have, onRecord);
      if (stop) break;
      buf.copy(buf, 0, used, have);
      have -= used;
    }
    return records;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    await fh?.close();
  }
}

/**
 * The floor of a random get from a file of frames of `perFrame` records with
 * one CRC per frame (aof's design): with a perfect in-memory index (every
 * frame's offset), read the one frame holding the record, check its CRC,
 * walk to the record.
 */
export async function rawGetter(file: string, perFrame: number, recordBytes: number, mode: 'sync' | 'async'): Promise<{ get(seq: number): Promise<Buffer> | Buffer; close(): Promise<void> }> {
  const frame = frameBytes(perFrame, recordBytes);
  const size = fs.statSync(file).size;
  const frames = Math.ceil(size / frame);
  const check = (buf: Buffer, len: number, seq: number, offset: number): Buffer => {
    if (crc32(buf.subarray(8, len)) !== buf.readUInt32LE(4)) throw new Error(`frame checksum mismatch at ${offset}`);
    const at = FRAME_HEADER + (seq % perFrame) * (RECORD_HEADER + recordBytes);
    const n = buf.readUInt32LE(at);
    return buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + n);
  };
  if (mode === 'sync') {
    const fd = fs.openSync(file, 'r');
    return {
      get(seq) {
        const f = Math.floor(seq / perFrame);
        if (f >= frames) throw new Error(`no record ${seq}`);
        const buf = Buffer.allocUnsafe(frame);
        const len = fs.readSync(fd, buf, 0, frame, f * frame);
        return check(buf, Math.min(len, buf.readUInt32LE(0)), seq, f * frame);
      },
      close: async () => fs.closeSync(fd),
    };
  }
  const fh = await fsp.open(file, 'r');
  return {
    async get(seq) {
      const f = Math.floor(seq / perFrame);
      if (f >= frames) throw new Error(`no record ${seq}`);
      const buf = Buffer.allocUnsafe(frame);
      const { bytesRead } = await fh.read(buf, 0, frame, f * frame);
      return check(buf, Math.min(bytesRead, buf.readUInt32LE(0)), seq, f * frame);
    },
    close: () => fh.close(),
  };
}
