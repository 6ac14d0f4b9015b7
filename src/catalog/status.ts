import { InvariantError } from '../errors.js';

/**
 * Lifecycle of a segment, moving only forward:
 *
 * ```
 * active → sealed → archiving → archived → evicted → deleted
 *             ↑          │          └──────────────────↗
 *             └──────────┘ (upload failed)   sealed → deleted (retention without an archive)
 * ```
 */
export type SegmentStatus = 'active' | 'sealed' | 'archiving' | 'archived' | 'evicted' | 'deleted';

/** Every status, in lifecycle order. */
export const SEGMENT_STATUSES: readonly SegmentStatus[] = ['active', 'sealed', 'archiving', 'archived', 'evicted', 'deleted'];

/**
 * The legal moves. `archiving → sealed` is the one step back: an upload that
 * failed or was interrupted returns the segment to the archive queue.
 * `sealed → deleted` is retention deleting a segment when the user asked for
 * deletion without an archive; `archived → deleted` removes a segment from
 * the local disk and the archive at once.
 */
export const LEGAL_TRANSITIONS: Readonly<Record<SegmentStatus, readonly SegmentStatus[]>> = {
  active: ['sealed'],
  sealed: ['archiving', 'deleted'],
  archiving: ['archived', 'sealed'],
  archived: ['evicted', 'deleted'],
  evicted: ['deleted'],
  deleted: [],
};

/** True when `from → to` is a legal move. */
export function isLegalTransition(from: SegmentStatus, to: SegmentStatus): boolean {
  return LEGAL_TRANSITIONS[from].includes(to);
}

/** Throws an invariant error for any move not in {@link LEGAL_TRANSITIONS}: a bug, never silently overwritten. */
export function assertTransition(baseSeq: number, from: SegmentStatus, to: SegmentStatus): void {
  if (!isLegalTransition(from, to)) throw new InvariantError(`segment ${baseSeq}: status may not move from ${from} to ${to}`);
}

/** True for statuses whose local file is legitimately gone. */
export function fileMayBeAbsent(status: SegmentStatus): boolean {
  return status === 'evicted' || status === 'deleted';
}
