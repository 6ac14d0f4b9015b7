import { SEGMENT_HEADER_BYTES } from '../segment/header.js';
import type { RebuildPiece } from './rebuild.js';
import type { SegmentAnalysis } from './analyze.js';

/** A piece of a segment rebuilt by repair. */
export type RepairStep = RebuildPiece;

/** How repair would rebuild one segment. */
export interface RebuildDecision {
  /** True when the file must be rewritten. */
  needsRewrite: boolean;
  /** Why, for the report. */
  reason: string;
  /** Valid frame ranges and gaps, in order. */
  steps: RepairStep[];
  /** Whether the rebuilt segment gets a footer. */
  seal: boolean;
  /** Sequence number after the rebuilt segment. */
  nextSeq: number;
  /** True when the frames are intact and only the footer (or what follows the frames) is damaged: nothing is lost. */
  onlyFooterDamaged: boolean;
}

/**
 * Plans the rebuild of a segment that keeps every valid frame: gaps replace
 * damaged spans; a trailing span becomes a gap up to where the segment is
 * known to end (its footer, or the next segment), or is dropped as a torn
 * tail when nothing says more records existed (the last, unsealed segment).
 */
export function planSkipRebuild(a: SegmentAnalysis, isLast: boolean, nextBase: number | undefined): RebuildDecision {
  const knownEnd = a.footer?.nextSeq ?? (isLast ? undefined : nextBase);
  const steps: RepairStep[] = [];
  let from = SEGMENT_HEADER_BYTES;
  let seq = a.baseSeq;
  for (const span of a.damage) {
    if (span.offset > from) steps.push({ kind: 'frames', from, to: span.offset });
    seq = span.lostFrom;
    const gapTo = span.resumeAt?.seq ?? knownEnd;
    if (gapTo !== undefined && gapTo > seq) {
      steps.push({ kind: 'gap', fromSeq: seq, toSeq: gapTo });
      seq = gapTo;
    }
    if (span.resumeAt === undefined) {
      from = -1;
      break;
    }
    from = span.resumeAt.offset;
  }
  if (from >= 0 && a.dataEnd > from) steps.push({ kind: 'frames', from, to: a.dataEnd });
  if (from >= 0) seq = a.nextSeq;
  const onlyFooterDamaged = a.damage.length === 1 && a.damage[0]!.resumeAt === undefined && !isLast && a.nextSeq === nextBase && a.footer === undefined;
  const reasons: string[] = [];
  if (a.damage.length > 0 && !onlyFooterDamaged) reasons.push(`${a.damage.length} damaged span(s)`);
  if (a.headerError !== undefined) reasons.push('damaged header');
  if (a.footerError !== undefined || onlyFooterDamaged) reasons.push('damaged footer');
  if (a.footer === undefined && a.footerError === undefined && !isLast) reasons.push('missing footer');
  if (a.footerMismatch !== undefined) reasons.push('footer disagrees with frames');
  const seal = a.footer !== undefined || a.footerError !== undefined || !isLast;
  return { needsRewrite: reasons.length > 0, reason: reasons.join(', '), steps, seal, nextSeq: seq, onlyFooterDamaged };
}
