import { CorruptionError } from '../errors.js';
import type { Log } from '../log.js';
import { crc32 } from '../record/crc.js';
import { decodeHead, isEventRecord } from './codec.js';
import { STREAM_INDEX_FORMAT, type IndexState, type PendingRun, type StreamHead, type StreamIndex } from './stream-index.js';
import type { StreamIndexReport } from './types.js';

/** Events per LMDB transaction while catching up or rebuilding: bounds the memory a scan holds. */
export const SCAN_CHUNK_EVENTS = 10_000;

/** The log holds events the index cannot continue from: rebuild rather than trust it. */
class Inconsistent extends Error {}

/**
 * Makes the stream index agree with the log before any append is decided.
 * The index is trusted only if its state names a prefix of this very log
 * (its `indexedTo` is not past the log's end, and the record just before it
 * has the CRC it recorded); it is then caught up by reading the log from
 * `indexedTo`. Otherwise (missing, another format, ahead of the log after a
 * power loss under `interval`/`none` or a repair, a different log, or an
 * event that does not continue its stream) it is cleared and rebuilt from
 * the whole log.
 */
export async function reconcileIndex(log: Log, index: StreamIndex): Promise<StreamIndexReport> {
  const state = index.readState();
  const end = log.nextSeq;
  const first = log.firstSeq;
  let reason: string | undefined;
  if (state === undefined) {
    if (end === first) {
      await index.commitScan([], { format: STREAM_INDEX_FORMAT, indexedTo: end, lastCrc: null });
      return { action: 'ok', reason: undefined, recordsScanned: 0, eventsIndexed: 0 };
    }
    reason = 'the index is missing';
  } else if (state.format !== STREAM_INDEX_FORMAT) {
    reason = `the index has format ${state.format}, not ${STREAM_INDEX_FORMAT}`;
  } else if (state.indexedTo > end) {
    reason = `the index covers positions up to ${state.indexedTo}, past the end of the log at ${end}`;
  } else if (state.indexedTo < first) {
    reason = `the index stops at ${state.indexedTo}, before the first record the log holds (${first})`;
  } else if (state.indexedTo > first) {
    const rec = await log.get(state.indexedTo - 1);
    if (rec === undefined || crc32(rec.payload) !== state.lastCrc) reason = `log record ${state.indexedTo - 1} is not the one the index last covered`;
  }
  if (reason === undefined && state !== undefined) {
    if (state.indexedTo === end) {
      index.startAt(end);
      return { action: 'ok', reason: undefined, recordsScanned: 0, eventsIndexed: 0 };
    }
    try {
      const { records, events } = await scan(log, index, state.indexedTo, end, false);
      return { action: 'caught-up', reason: undefined, recordsScanned: records, eventsIndexed: events };
    } catch (err) {
      if (!(err instanceof Inconsistent)) throw err;
      reason = err.message;
    }
  }
  await index.clear();
  try {
    const { records, events } = await scan(log, index, first, end, first > 0);
    return { action: 'rebuilt', reason, recordsScanned: records, eventsIndexed: events };
  } catch (err) {
    if (err instanceof Inconsistent) throw new CorruptionError(`the log's events are inconsistent: ${err.message}`, { file: log.dir });
    throw err;
  }
}

/**
 * Indexes the events of log records `[from, to)`, committing every
 * {@link SCAN_CHUNK_EVENTS} events with the state they reach. Each event
 * must continue its stream (version = last + 1, or 0 for a new stream);
 * `anyFirstVersion` accepts any first version for a stream never seen
 * before (a rebuild of a log whose start retention removed).
 */
async function scan(log: Log, index: StreamIndex, from: number, to: number, anyFirstVersion: boolean): Promise<{ records: number; events: number }> {
  let runs: PendingRun[] = [];
  let chunkHeads = new Map<string, StreamHead>();
  let chunkEvents = 0;
  let records = 0;
  let events = 0;
  let last: { seq: number; payload: Buffer } | undefined;
  const commit = async (): Promise<void> => {
    const state: IndexState = { format: STREAM_INDEX_FORMAT, indexedTo: last === undefined ? from : last.seq + 1, lastCrc: last === undefined ? null : crc32(last.payload) };
    await index.commitScan(runs, state);
    runs = [];
    chunkHeads = new Map();
    chunkEvents = 0;
  };
  for await (const r of log.read({ from, to })) {
    records++;
    last = r;
    if (!isEventRecord(r.payload)) continue;
    const head = decodeHead(r.payload, r.seq);
    const streamBytes = r.payload.subarray(head.streamStart, head.streamEnd);
    const stream = streamBytes.toString('utf8');
    const prev = chunkHeads.get(stream) ?? index.storedHead(streamBytes);
    const expected = prev === undefined ? 0 : prev.version + 1;
    if (head.version !== expected && !(prev === undefined && anyFirstVersion)) {
      throw new Inconsistent(`log record ${r.seq} holds version ${head.version} of stream ${JSON.stringify(stream.slice(0, 80))}, which the index has at ${prev === undefined ? 'no version' : `version ${prev.version}`}`);
    }
    chunkHeads.set(stream, { version: head.version, position: r.seq });
    const run = runs[runs.length - 1];
    if (run !== undefined && run.stream === stream && run.firstPosition + run.count === r.seq) run.count++;
    else runs.push({ stream, streamBytes: Buffer.from(streamBytes), firstVersion: head.version, firstPosition: r.seq, count: 1 });
    events++;
    if (++chunkEvents >= SCAN_CHUNK_EVENTS) await commit();
  }
  if (from < to && (last === undefined || last.seq !== to - 1)) throw new CorruptionError(`the log ended at ${last === undefined ? from : last.seq + 1} while reading up to ${to}`, { file: log.dir });
  await commit();
  return { records, events };
}
