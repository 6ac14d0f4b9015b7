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
 * Messages in: `begin` {job, sab, control, level}, `chunk` {id, job, offset,
 * length} (hash; deflate when level >= 0), `inflate` {id, job, offset,
 * length, rawLength}, `end` {id, job}, `drop` {job}, `crash` (tests).
 * Replies: {id, out?: ArrayBuffer, digest?: ArrayBuffer, error?: string}.
 *
 * @module
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const jobs = new Map();

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
  return j;
}

parentPort.on('message', (m) => {
  if (m.t === 'crash') {
    // Tests: an uncaught exception in the thread, as a bug in a native module or the code would cause.
    setImmediate(() => { throw new Error('snapshot worker crashed (requested by a test)'); });
    return;
  }
  if (m.t === 'begin') {
    jobs.set(m.job, { hash: crypto.createHash('sha256'), view: new Uint8Array(m.sab), control: new Int32Array(m.control), level: m.level });
    return;
  }
  if (m.t === 'drop') {
    jobs.delete(m.job);
    return;
  }
  try {
    const j = live(m);
    if (m.t === 'chunk') {
      const raw = j.view.subarray(m.offset, m.offset + m.length);
      j.hash.update(raw);
      if (j.level < 0) {
        parentPort.postMessage({ id: m.id });
        return;
      }
      const body = zlib.deflateRawSync(raw, { level: j.level });
      const block = new Uint8Array(8 + body.byteLength);
      const dv = new DataView(block.buffer);
      dv.setUint32(0, m.length, true);
      dv.setUint32(4, body.byteLength, true);
      block.set(body, 8);
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
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err), cancelled: Boolean(err && err.cancelled) });
  }
});
`;
