/**
 * The repair intent record (docs/FORMAT.md, "Repair"): before its first
 * change, repair writes its whole plan, durably, to `repair-intent` in the
 * log directory; it removes the record after the last step. A repair or a
 * writer open that finds the record finishes the plan: every step is
 * written so that doing it again, after a kill at any point inside it,
 * completes it. The plan names files only by segment base and by
 * `recovery/` names it checks against the shape repair gives them, so a
 * forged record cannot reach outside the log directory.
 *
 * Layout: magic `AOFREPIR` (8 bytes), format version u16 LE (1), zero u16,
 * length L of the body u32 LE, the body (L bytes of UTF-8 JSON, a
 * {@link RepairPlan}), CRC-32 u32 LE of everything before it.
 *
 * @module
 */
import * as path from 'node:path';
import { CorruptionError, errnoOf, UnsupportedFormatError } from '../errors.js';
import { readAt, unlinkIfExists } from '../fs/io.js';
import { replaceFileDurably } from '../fs/durable-file.js';
import type { FileSystem } from '../fs/types.js';
import { crc32 } from '../record/crc.js';
import type { RebuildPiece } from './rebuild.js';

/** Name of the intent record in a log directory. */
export const REPAIR_INTENT_FILE = 'repair-intent';
const TMP_SUFFIX = '.tmp';
const MAGIC = Buffer.from('AOFREPIR', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 16;
/** A plan larger than this is not one repair wrote (it lists a few actions per segment). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** One planned change, in terms that survive a crash: segment bases, offsets, sizes and `recovery/` names fixed in advance. */
export type PlannedAction =
  /** Replace the segment by its first `offset` bytes; bytes `[offset, size)` are kept as `recovery/<keep>` (null: all zero, nothing to keep). */
  | { kind: 'cut'; base: number; offset: number; size: number; reason: string; keep: string | null }
  /** Move the whole segment to `recovery/<to>`. */
  | { kind: 'move'; base: number; to: string }
  /** Keep the original (`size` bytes) as `recovery/<keep>`, then replace the segment by one rebuilt from it. */
  | { kind: 'rewrite'; base: number; size: number; reason: string; keep: string; pieces: RebuildPiece[]; seal: boolean; salt: string; createdMs: number; logId?: string | undefined; version?: number | undefined }
  /** Create a segment holding only a gap `[base, toSeq)`. */
  | { kind: 'fill'; base: number; toSeq: number; salt: string; createdMs: number; logId?: string | undefined; version?: number | undefined };

/** A whole repair, as planned before its first change. */
export interface RepairPlan {
  mode: 'truncate' | 'skip';
  actions: PlannedAction[];
  /** Sequence ranges the plan makes unreadable (`to` null: to the end). */
  lostRanges: Array<{ from: number; to: number | null }>;
}

/** Path of the intent record of `dir`. */
export function repairIntentPath(dir: string): string {
  return path.join(dir, REPAIR_INTENT_FILE);
}

/** Writes `plan` as the intent record of `dir`: temporary file, fsync, rename, directory fsync. */
export async function writeRepairIntent(fs: FileSystem, dir: string, plan: RepairPlan, fileMode: number): Promise<void> {
  const file = repairIntentPath(dir);
  const tmp = file + TMP_SUFFIX;
  await unlinkIfExists(fs, tmp); // left by a repair killed while writing it
  await replaceFileDurably(fs, file, tmp, encodeRepairPlan(plan), fileMode);
}

/**
 * The intent record of `dir`, or undefined when there is none (no repair
 * under way). A temporary record left by a repair killed before it was
 * complete is removed: that repair had changed nothing yet.
 */
export async function readRepairIntent(fs: FileSystem, dir: string, removeStale: boolean): Promise<RepairPlan | undefined> {
  const file = repairIntentPath(dir);
  if (removeStale) await unlinkIfExists(fs, file + TMP_SUFFIX);
  let handle;
  try {
    handle = await fs.open(file, 'read');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return decodeRepairPlan(await readAt(handle, 0, Math.min(await handle.size(), HEADER_BYTES + MAX_BODY_BYTES + 4)), file);
  } finally {
    await handle.close();
  }
}

/** Removes the intent record once every step is done, durably. */
export async function removeRepairIntent(fs: FileSystem, dir: string): Promise<void> {
  await unlinkIfExists(fs, repairIntentPath(dir));
  await fs.syncDir(dir);
}

export function encodeRepairPlan(plan: RepairPlan): Buffer {
  const body = Buffer.from(JSON.stringify(plan), 'utf8');
  const out = Buffer.alloc(HEADER_BYTES + body.length + 4);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(VERSION, 8);
  out.writeUInt32LE(body.length, 12);
  body.copy(out, HEADER_BYTES);
  out.writeUInt32LE(crc32(out.subarray(0, HEADER_BYTES + body.length)), HEADER_BYTES + body.length);
  return out;
}

/** The plan in `buf`; {@link CorruptionError} naming `file` and the offset when it is not one repair wrote. */
export function decodeRepairPlan(buf: Buffer, file: string): RepairPlan {
  const bad = (why: string, offset: number): CorruptionError =>
    new CorruptionError(`damaged repair intent record (${why}): it holds the plan of an interrupted repair; restore it, or remove it and run aof repair again`, { file, offset });
  if (buf.length < HEADER_BYTES + 4 || !buf.subarray(0, 8).equals(MAGIC)) throw bad('bad magic or too short', 0);
  const version = buf.readUInt16LE(8);
  if (version !== VERSION) throw new UnsupportedFormatError(version, { file, offset: 8 });
  const length = buf.readUInt32LE(12);
  if (length > MAX_BODY_BYTES || HEADER_BYTES + length + 4 !== buf.length) throw bad(`body length ${length} does not match the file's ${buf.length} bytes`, 12);
  if (crc32(buf.subarray(0, HEADER_BYTES + length)) !== buf.readUInt32LE(HEADER_BYTES + length)) throw bad('checksum mismatch', HEADER_BYTES + length);
  let plan: unknown;
  try {
    plan = JSON.parse(buf.subarray(HEADER_BYTES, HEADER_BYTES + length).toString('utf8'));
  } catch {
    throw bad('body is not JSON', HEADER_BYTES);
  }
  const why = checkPlan(plan);
  if (why !== undefined) throw bad(why, HEADER_BYTES);
  return plan as RepairPlan;
}

/** The only `recovery/` names repair gives (see preserve.ts): a segment name, an offset, a label, a time and a random tag. */
const RECOVERY_NAME = /^\d{20}\.seg\.at-\d+\.(cut|moved|before-repair|before-gap|foreign)\.\d+-[0-9a-f]{6}$/;

const seqOk = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

/** Why `p` is not a plan this build writes, or undefined when it is. */
function checkPlan(p: unknown): string | undefined {
  const plan = p as Partial<RepairPlan> | null;
  if (typeof plan !== 'object' || plan === null || (plan.mode !== 'truncate' && plan.mode !== 'skip')) return 'no mode';
  if (!Array.isArray(plan.actions) || !Array.isArray(plan.lostRanges)) return 'no actions';
  for (const r of plan.lostRanges) if (!seqOk(r?.from) || !(r.to === null || seqOk(r.to))) return 'bad lost range';
  for (const a of plan.actions as unknown[]) {
    const why = checkAction(a as PlannedAction);
    if (why !== undefined) return why;
  }
  return undefined;
}

function checkAction(a: PlannedAction): string | undefined {
  if (typeof a !== 'object' || a === null || !seqOk(a.base)) return 'action without a segment base';
  switch (a.kind) {
    case 'cut':
      return seqOk(a.offset) && seqOk(a.size) && a.offset < a.size && (a.keep === null || RECOVERY_NAME.test(a.keep)) ? undefined : 'bad cut';
    case 'move':
      return RECOVERY_NAME.test(a.to) ? undefined : 'bad move';
    case 'rewrite':
      return seqOk(a.size) && RECOVERY_NAME.test(a.keep) && saltOk(a.salt) && seqOk(a.createdMs) && typeof a.seal === 'boolean' && Array.isArray(a.pieces) && a.pieces.every(pieceOk) && logIdOk(a.logId) && versionOk(a.version) ? undefined : 'bad rewrite';
    case 'fill':
      return seqOk(a.toSeq) && a.toSeq > a.base && saltOk(a.salt) && seqOk(a.createdMs) && logIdOk(a.logId) && versionOk(a.version) ? undefined : 'bad fill';
    default:
      return `unknown action ${String((a as { kind?: unknown }).kind)}`;
  }
}

/** A log identity in hex (12 bytes), or none (a version-1 header). */
function logIdOk(id: unknown): boolean {
  return id === undefined || (typeof id === 'string' && /^[0-9a-f]{24}$/.test(id));
}

/** The format version of the header a rewrite or fill writes (absent in records of older builds: 2 with an identity, else 1). */
function versionOk(v: unknown): boolean {
  return v === undefined || v === 1 || v === 2 || v === 3;
}

function saltOk(s: unknown): boolean {
  return typeof s === 'string' && /^[0-9a-f]{16}$/.test(s);
}

function pieceOk(p: RebuildPiece): boolean {
  if (p?.kind === 'frames') return seqOk(p.from) && seqOk(p.to) && p.from <= p.to;
  if (p?.kind === 'gap') return seqOk(p.fromSeq) && seqOk(p.toSeq) && p.fromSeq < p.toSeq;
  return false;
}
