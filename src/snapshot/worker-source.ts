/**
 * The code of the snapshot worker thread, run with `new Worker(src, { eval:
 * true })` so that it needs no separate file next to the compiled module (and
 * runs the same from `dist/` and from the TypeScript sources under vitest).
 *
 * It does the CPU-heavy part of a snapshot: the SHA-256 of the state and,
 * when enabled, deflate (on save) or inflate (on read) of each block. The
 * bytes live in a SharedArrayBuffer of a few slots that the main thread fills
 * one slice at a time, so no message copies a slice. A job is cancelled
 * through a shared flag the worker checks before each slice, so it stops
 * within one slice.
 *
 * On save, when the file is a plain descriptor (`fd` >= 0 in `begin`), the
 * worker also writes each slice (or its deflate block) at the next position
 * with a synchronous positional write, so that the main thread only copies
 * slices and no thread-pool write competes with it for a core. The
 * descriptor is the main thread's: it closes it only once every request it
 * sent has been answered, so no write of this thread can reach a reused
 * descriptor. A failed write fails the job: every later slice is refused,
 * so the file never has a hole.
 *
 * Messages in: `begin` {job, sab, control, level, fd, position}, `chunk`
 * {id, job, offset, length} (hash; deflate when level >= 0; write when fd >=
 * 0), `inflate` {id, job, offset, length, rawLength}, `end` {id, job},
 * `drop` {job}, `crash` and `hold` {flag} (tests). Replies: {id, out?: ArrayBuffer, stored?: number, digest?:
 * ArrayBuffer, error?: string, cancelled?: boolean, errno?: string,
 * syscall?: string}.
 *
 * @module
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const fs = require('node:fs');
const jobs = new Map();

function writeAll(j, bytes) {
  let done = 0;
  while (done < bytes.byteLength) {
    const n = fs.writeSync(j.fd, bytes, done, bytes.byteLength - done, j.position + done);
    if (n <= 0) throw Object.assign(new Error('write of ' + (bytes.byteLength - done) + ' bytes at ' + (j.position + done) + ' wrote nothing'), { code: 'EIO', syscall: 'write' });
    done += n;
  }
  j.position += done;
}

function ownBuffer(buf) {
  // A transferable ArrayBuffer holding exactly these bytes.
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf.buffer;
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return copy.buffer;
}

function live(m) {
  const j = jobs.get(m.job);
  if (j === undefined) throw new Error('unknown or dropped job ' + m.job);
  if (Atomics.load(j.control, 0) !== 0) throw Object.assign(new Error('cancelled'), { cancelled: true });
  if (j.failed !== undefined) throw j.failed;
  return j;
}

parentPort.on('message', (m) => {
  if (m.t === 'crash') {
    // Tests: an uncaught exception in the thread, as a bug in a native module or the code would cause.
    setImmediate(() => { throw new Error('snapshot worker crashed (requested by a test)'); });
    return;
  }
  if (m.t === 'hold') {
    // Tests: the thread stops (as a slow disk or a busy core would stop it) until the main thread sets the flag.
    const flag = new Int32Array(m.flag);
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0);
    return;
  }
  if (m.t === 'begin') {
    jobs.set(m.job, {
      hash: crypto.createHash('sha256'), view: new Uint8Array(m.sab), control: new Int32Array(m.control), level: m.level,
      fd: m.fd, position: m.position, failed: undefined,
    });
    return;
  }
  if (m.t === 'drop') {
    jobs.delete(m.job);
    return;
  }
  let j;
  try {
    j = live(m);
    if (m.t === 'chunk') {
      const raw = j.view.subarray(m.offset, m.offset + m.length);
      j.hash.update(raw);
      if (j.level < 0) {
        if (j.fd >= 0) writeAll(j, raw);
        parentPort.postMessage({ id: m.id, stored: j.fd >= 0 ? raw.byteLength : undefined });
        return;
      }
      const body = zlib.deflateRawSync(raw, { level: j.level });
      const block = new Uint8Array(8 + body.byteLength);
      const dv = new DataView(block.buffer);
      dv.setUint32(0, m.length, true);
      dv.setUint32(4, body.byteLength, true);
      block.set(body, 8);
      if (j.fd >= 0) {
        writeAll(j, block);
        parentPort.postMessage({ id: m.id, stored: block.byteLength });
        return;
      }
      parentPort.postMessage({ id: m.id, out: block.buffer }, [block.buffer]);
    } else if (m.t === 'inflate') {
      const raw = zlib.inflateRawSync(j.view.subarray(m.offset, m.offset + m.length), { maxOutputLength: m.rawLength });
      if (raw.byteLength !== m.rawLength) throw new Error('block inflates to ' + raw.byteLength + ' bytes, its header says ' + m.rawLength);
      j.hash.update(raw);
      const out = ownBuffer(raw);
      parentPort.postMessage({ id: m.id, out }, [out]);
    } else if (m.t === 'end') {
      const digest = j.hash.digest();
      jobs.delete(m.job);
      const out = ownBuffer(new Uint8Array(digest));
      parentPort.postMessage({ id: m.id, digest: out }, [out]);
    } else {
      throw new Error('unknown message ' + m.t);
    }
  } catch (err) {
    const errno = err && typeof err.code === 'string' ? err.code : undefined;
    const syscall = err && typeof err.syscall === 'string' ? err.syscall : undefined;
    // A failed write (a system call's error, not zlib's) leaves the file short: the job refuses every later slice.
    if (j !== undefined && syscall !== undefined && j.failed === undefined) j.failed = err;
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err), cancelled: Boolean(err && err.cancelled), errno, syscall });
  }
});
`;
