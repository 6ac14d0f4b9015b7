import { InvalidArgumentError } from '../errors.js';
import type { CatalogEntry } from '../catalog/entry.js';
import { positiveInt } from '../validate.js';

/** Local retention: how much of the log the local disk keeps. */
export interface RetentionOptions {
  /** Keep the local segments within this many bytes (the active one always stays). */
  maxBytes?: number;
  /** Remove local segments whose last record is older than this. */
  maxAgeMs?: number;
  /** Keep at most this many local segments. */
  maxSegments?: number;
}

/**
 * Archive retention: which archived segments to delete from the archive (and
 * the local disk), oldest first, so the archive fits the bounds. Never a
 * pinned one. Their records are then gone for good (status `deleted`).
 */
export function planArchiveRetention(entries: readonly CatalogEntry[], options: RetentionOptions, lowestPinnedSeq: number | undefined, nowMs: number): number[] {
  const stored = entries.filter((e) => e.status === 'archived' || e.status === 'evicted');
  let bytes = stored.reduce((n, e) => n + e.bytes, 0);
  let count = stored.length;
  const doomed: number[] = [];
  for (const e of stored) {
    const due =
      (options.maxBytes !== undefined && bytes > options.maxBytes) ||
      (options.maxSegments !== undefined && count > options.maxSegments) ||
      (options.maxAgeMs !== undefined && e.lastTimestamp > 0 && nowMs - e.lastTimestamp > options.maxAgeMs);
    if (!due || (lowestPinnedSeq !== undefined && e.nextSeq > lowestPinnedSeq)) break;
    doomed.push(e.baseSeq);
    bytes -= e.bytes;
    count--;
  }
  return doomed;
}

/** What retention does to a segment: evict (archived: delete the local copy) or delete (no archive: gone). */
export interface RetentionStep {
  baseSeq: number;
  action: 'evict' | 'delete';
}

/** Validates retention options, naming what is wrong. */
export function normalizeRetention(value: unknown, name = 'retention'): RetentionOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`option ${name} must be an object like { maxBytes }`);
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['maxBytes', 'maxAgeMs', 'maxSegments'].includes(k)) throw new InvalidArgumentError(`unknown option ${name}.${k}`);
  return {
    maxBytes: o.maxBytes === undefined ? undefined : positiveInt(`${name}.maxBytes`, o.maxBytes, 0, Number.MAX_SAFE_INTEGER, true),
    maxAgeMs: o.maxAgeMs === undefined ? undefined : positiveInt(`${name}.maxAgeMs`, o.maxAgeMs, 0, Number.MAX_SAFE_INTEGER, true),
    maxSegments: o.maxSegments === undefined ? undefined : positiveInt(`${name}.maxSegments`, o.maxSegments, 0, Number.MAX_SAFE_INTEGER, true),
  };
}

/**
 * Which local segments to remove, oldest first, so the local log fits the
 * bounds. Stops at the first segment it may not touch: the active one, one
 * holding a pinned record, or (with an archive) one not yet archived, since
 * nothing is deleted locally before its archived copy is verified. Without
 * an archive, configured retention is the user asking for deletion.
 */
export function planRetention(entries: readonly CatalogEntry[], options: RetentionOptions, lowestPinnedSeq: number | undefined, hasArchive: boolean, nowMs: number): RetentionStep[] {
  const local = entries.filter((e) => e.status !== 'evicted' && e.status !== 'deleted');
  let bytes = local.reduce((n, e) => n + e.bytes, 0);
  let count = local.length;
  const steps: RetentionStep[] = [];
  for (const e of local) {
    if (e.status === 'active') break;
    const due =
      (options.maxBytes !== undefined && bytes > options.maxBytes) ||
      (options.maxSegments !== undefined && count > options.maxSegments) ||
      (options.maxAgeMs !== undefined && e.lastTimestamp > 0 && nowMs - e.lastTimestamp > options.maxAgeMs);
    if (!due) break;
    if (lowestPinnedSeq !== undefined && e.nextSeq > lowestPinnedSeq) break;
    if (hasArchive && e.status !== 'archived') break;
    steps.push({ baseSeq: e.baseSeq, action: hasArchive ? 'evict' : 'delete' });
    bytes -= e.bytes;
    count--;
  }
  return steps;
}
