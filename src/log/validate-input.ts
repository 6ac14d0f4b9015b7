import { BatchTooLargeError, InvalidArgumentError } from '../errors.js';
import { toPayloadBytes } from '../record/payload.js';

/** Checks a sequence number argument: a non-negative safe integer. */
export function checkSeq(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer sequence number, got ${String(value)}`);
  }
  return value;
}

/** Bounds that apply to a batch. */
export interface BatchLimits {
  maxRecordBytes: number;
  maxBatchBytes: number;
  maxBatchRecords: number;
}

/** Turns an `appendBatch` argument into payload bytes, checking every bound before anything is queued. */
export function batchPayloads(payloads: unknown, limits: BatchLimits): Uint8Array[] {
  if (!Array.isArray(payloads)) throw new InvalidArgumentError(`appendBatch takes an array of payloads, got ${payloads === null ? 'null' : typeof payloads}`);
  if (payloads.length === 0) throw new InvalidArgumentError('appendBatch needs at least one payload');
  if (payloads.length > limits.maxBatchRecords) throw new BatchTooLargeError(`batch of ${payloads.length} records is over maxBatchRecords = ${limits.maxBatchRecords}`);
  const out: Uint8Array[] = new Array<Uint8Array>(payloads.length);
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    const bytes = toPayloadBytes(payloads[i], limits.maxRecordBytes, i);
    total += bytes.byteLength;
    if (total > limits.maxBatchBytes) throw new BatchTooLargeError(`batch payloads exceed maxBatchBytes = ${limits.maxBatchBytes}`);
    out[i] = bytes;
  }
  return out;
}
