import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { AofError, GapError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { PassThroughFs } from './pass-through-fs.js';
import { Log } from '../log.js';
import type { LogRecord } from '../read/record.js';
import { crc32 } from '../record/crc.js';
import type { KnownIssue } from './harness.js';
import { ModelViolation, sameBytes } from './model.js';
import { seededRandom } from './random.js';

/**
 * The corruption fuzzer's pieces: a map of a log's files by region
 * (segment headers, frame headers, records, close markers, footers, sparse
 * indexes, trailers, the catalog), seeded damage aimed at those regions
 * (byte flips, zero-fills, truncations, garbage appended, hostile length and
 * count fields), and the checks every damaged log must pass: `Log.verify`
 * reports it, reads never return damaged data, repair keeps every record
 * before the damage, and nothing allocates past the format's bounds.
 *
 * The map is parsed from the bytes independently of the engine's reader
 * (docs/FORMAT.md), so a reader bug cannot hide itself.
 *
 * @module
 */

const SEGMENT_HEADER_BYTES = 64;
const FRAME_HEADER_BYTES = 32;
const TRAILER_BYTES = 16;
const TRAILER_MAGIC = Buffer.from('AOFSEAL1', 'latin1');
const FLAG_CLOSE_MARKER = 1;
/** Record header bytes of a segment of format `version`: length, and from version 3 the record CRC. */
const recordHeaderBytesOf = (version: number): number => (version >= 3 ? 8 : 4);

/** Kinds of region in a log directory that damage can aim at. */
export type RegionKind = 'segment-header' | 'frame-header' | 'frame-records' | 'close-marker' | 'footer' | 'footer-index' | 'trailer';

/** Every region kind. */
export const REGION_KINDS: readonly RegionKind[] = ['segment-header', 'frame-header', 'frame-records', 'close-marker', 'footer', 'footer-index', 'trailer'];

/** One frame of a segment as the bytes say. */
export interface FrameExtent {
  /** Offset of the frame in its file. */
  offset: number;
  /** Its length, header included. */
  bytes: number;
  /** Its first sequence number. */
  firstSeq: number;
  /** Its record count. */
  count: number;
  /** Its flags (1: close marker, 2: gap). */
  flags: number;
}

/** One segment file's layout. */
export interface SegmentLayout {
  /** Path of the segment file. */
  file: string;
  /** Position among the segments, oldest first. */
  index: number;
  /** Base sequence number (from the header). */
  baseSeq: number;
  /** Sequence number after its last record. */
  nextSeq: number;
  /** File size in bytes. */
  size: number;
  /** True when it ends with a footer and trailer. */
  sealed: boolean;
  /** True for the last segment (the active one). */
  last: boolean;
  /** Where the frames end (the footer's offset in a sealed segment). */
  dataEnd: number;
  /** The frames, in order. */
  frames: FrameExtent[];
  /** Offset of the footer in a sealed segment. */
  footerStart: number | undefined;
  /** Offset of a clean-close marker that is the last frame. */
  closeMarkerAt: number | undefined;
  /** Bytes of each record's header (format version 3: 8, else 4). */
  recordHeaderBytes: number;
}

/** A region of one segment file. */
export interface Region {
  /** What the bytes are. */
  kind: RegionKind;
  /** Where they start. */
  offset: number;
  /** How many. */
  length: number;
  /** Records below this sequence number are stored before the region. */
  keepBefore: number;
}

/** A log directory's layout. */
export interface LogLayout {
  /** The log directory. */
  dir: string;
  /** Its segments, oldest first. */
  segments: SegmentLayout[];
  /** Files of the LMDB catalog (`index/`), when present. */
  catalogFiles: string[];
}

function u64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}

/** Reads the layout of the (undamaged, closed) log in `dir` straight from its bytes. */
export function mapLogLayout(dir: string): LogLayout {
  const segDir = path.join(dir, 'segments');
  const names = fs.readdirSync(segDir).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
  const segments = names.map((name, index): SegmentLayout => {
    const file = path.join(segDir, name);
    const buf = fs.readFileSync(file);
    const baseSeq = u64(buf, 16);
    const sealed = buf.length >= SEGMENT_HEADER_BYTES + TRAILER_BYTES && buf.subarray(buf.length - 8).equals(TRAILER_MAGIC);
    const footerStart = sealed ? buf.length - buf.readUInt32LE(buf.length - TRAILER_BYTES) : undefined;
    // The footer's dataEnd field: in format version 3 the position table lies between the frames and the footer.
    const dataEnd = footerStart === undefined ? buf.length : u64(buf, footerStart + 48);
    const recordHeaderBytes = recordHeaderBytesOf(buf.readUInt16LE(8));
    const frames: FrameExtent[] = [];
    let nextSeq = baseSeq;
    let closeMarkerAt: number | undefined;
    for (let at = SEGMENT_HEADER_BYTES; at + FRAME_HEADER_BYTES <= dataEnd; ) {
      const bytes = buf.readUInt32LE(at);
      if (bytes < FRAME_HEADER_BYTES || at + bytes > dataEnd) break;
      const frame = { offset: at, bytes, firstSeq: u64(buf, at + 8), count: buf.readUInt32LE(at + 16), flags: buf.readUInt16LE(at + 28) };
      frames.push(frame);
      closeMarkerAt = (frame.flags & FLAG_CLOSE_MARKER) !== 0 ? at : undefined;
      if (frame.flags === 0) nextSeq = frame.firstSeq + frame.count;
      at += bytes;
    }
    return { file, index, baseSeq, nextSeq, size: buf.length, sealed, last: index === names.length - 1, dataEnd, frames, footerStart, closeMarkerAt, recordHeaderBytes };
  });
  const indexDir = path.join(dir, 'index');
  const catalogFiles = fs.existsSync(indexDir) ? fs.readdirSync(indexDir).filter((n) => n.endsWith('.mdb')).map((n) => path.join(indexDir, n)) : [];
  return { dir, segments, catalogFiles };
}

/** The regions of one segment, in file order. */
export function segmentRegions(s: SegmentLayout): Region[] {
  const out: Region[] = [{ kind: 'segment-header', offset: 0, length: SEGMENT_HEADER_BYTES, keepBefore: s.baseSeq }];
  for (const f of s.frames) {
    if ((f.flags & FLAG_CLOSE_MARKER) !== 0) {
      out.push({ kind: 'close-marker', offset: f.offset, length: f.bytes, keepBefore: s.nextSeq });
      continue;
    }
    out.push({ kind: 'frame-header', offset: f.offset, length: FRAME_HEADER_BYTES, keepBefore: f.firstSeq });
    if (f.bytes > FRAME_HEADER_BYTES) out.push({ kind: 'frame-records', offset: f.offset + FRAME_HEADER_BYTES, length: f.bytes - FRAME_HEADER_BYTES, keepBefore: f.firstSeq });
  }
  if (s.footerStart !== undefined) {
    const trailerAt = s.size - TRAILER_BYTES;
    out.push({ kind: 'footer', offset: s.footerStart, length: 64, keepBefore: s.nextSeq });
    if (trailerAt > s.footerStart + 64) out.push({ kind: 'footer-index', offset: s.footerStart + 64, length: trailerAt - s.footerStart - 64, keepBefore: s.nextSeq });
    out.push({ kind: 'trailer', offset: trailerAt, length: TRAILER_BYTES, keepBefore: s.nextSeq });
  }
  return out;
}

/** Where damage goes: a segment, a kind of region in it, which one of those, and where inside it (all taken modulo what exists). */
export interface DamageTarget {
  /** Picks the segment (modulo their number). */
  segment: number;
  /** The kind of region aimed at (any region when the segment has none of this kind). */
  region: RegionKind;
  /** Picks among the regions of that kind. */
  which: number;
  /** Picks the byte within the region. */
  within: number;
}

/** Length and count fields that hostile damage sets to lies. */
export type HostileField = 'frameBytes' | 'recordCount' | 'recordLength' | 'footerEntries' | 'footerBytes';

/** The lie told: the largest u32, just past the format's 1 GiB frame bound, just past the end of the file, or one more than the truth. */
export type HostileValue = 'max-u32' | 'over-frame-limit' | 'past-end' | 'off-by-one';

/** One damage, as data (what fast-check generates and shrinks). */
export type Damage =
  /** XOR `bytes` consecutive bytes with `mask`. */
  | { kind: 'flip'; target: DamageTarget; bytes: number; mask: number }
  /** Overwrite `length` bytes with zeros (delayed allocation, a lost page). */
  | { kind: 'zero'; target: DamageTarget; length: number }
  /** Cut the file at the target. */
  | { kind: 'truncate'; target: DamageTarget }
  /** Append `length` seeded random bytes to a segment. */
  | { kind: 'garbage'; segment: number; length: number; seed: number }
  /**
   * Set a length or count field to a lie; with `fixChecksum`, recompute the
   * checksum that covers it, so the lie passes (a crafted file, not bit rot).
   */
  | { kind: 'hostile'; field: HostileField; segment: number; which: number; value: HostileValue; fixChecksum: boolean }
  /** Damage a file of the LMDB catalog (an index, never the truth: data must stay readable). */
  | { kind: 'catalog'; how: 'flip' | 'zero' | 'truncate' | 'garbage'; within: number; seed: number };

/** What {@link applyDamage} did. */
export interface AppliedDamage {
  /** The damage as generated. */
  damage: Damage;
  /** Human-readable: what was changed where. */
  description: string;
  /** The file changed. */
  file: string;
  /** First byte changed (for truncation: the new length). */
  offset: number;
  /** Index of the segment changed; -1 for the catalog. */
  segment: number;
  /** False when the bytes did not change (zeros over zeros): nothing to detect. */
  changed: boolean;
  /** Records below this sequence number sit before the damage: repair must keep them, reads must return them. */
  keepBefore: number;
  /**
   * Damage to the end of the last segment that a crash could also have left
   * (a truncation, garbage or zeros at the end, a damaged close marker):
   * `Log.verify` may report only a torn-tail warning, or only a missing
   * clean close, rather than an error.
   */
  tailLike: boolean;
  /** Checksums were recomputed over the lie: only structural checks can catch it. */
  crafted: boolean;
  /** Only the catalog was damaged: every record must stay readable. */
  catalogOnly: boolean;
}

/** Options of {@link damageArb}. */
export interface DamageArbOptions {
  /** Relative weights of the damage kinds (default: flips and zero-fills most, catalog least). */
  weights?: Partial<Record<Damage['kind'], number>>;
  /** How catalog damage is done (default all four). */
  catalogHow?: ReadonlyArray<'flip' | 'zero' | 'truncate' | 'garbage'>;
}

/** Arbitrary damage, resolved against a log's layout by {@link applyDamage}. */
export function damageArb(options: DamageArbOptions = {}): fc.Arbitrary<Damage> {
  const w = { flip: 6, zero: 3, truncate: 2, garbage: 1, hostile: 3, catalog: 1, ...options.weights };
  const target = fc.record({ segment: fc.nat({ max: 1000 }), region: fc.constantFrom(...REGION_KINDS), which: fc.nat({ max: 1000 }), within: fc.nat({ max: 100_000 }) });
  const arbs: Array<{ weight: number; arbitrary: fc.Arbitrary<Damage> }> = [
    { weight: w.flip, arbitrary: fc.record({ kind: fc.constant('flip' as const), target, bytes: fc.integer({ min: 1, max: 4 }), mask: fc.integer({ min: 1, max: 255 }) }) },
    { weight: w.zero, arbitrary: fc.record({ kind: fc.constant('zero' as const), target, length: fc.integer({ min: 1, max: 600 }) }) },
    { weight: w.truncate, arbitrary: fc.record({ kind: fc.constant('truncate' as const), target }) },
    { weight: w.garbage, arbitrary: fc.record({ kind: fc.constant('garbage' as const), segment: fc.nat({ max: 1000 }), length: fc.integer({ min: 1, max: 300 }), seed: fc.integer() }) },
    {
      weight: w.hostile,
      arbitrary: fc.record({
        kind: fc.constant('hostile' as const),
        field: fc.constantFrom<HostileField>('frameBytes', 'recordCount', 'recordLength', 'footerEntries', 'footerBytes'),
        segment: fc.nat({ max: 1000 }),
        which: fc.nat({ max: 1000 }),
        value: fc.constantFrom<HostileValue>('max-u32', 'over-frame-limit', 'past-end', 'off-by-one'),
        fixChecksum: fc.boolean(),
      }),
    },
    { weight: w.catalog, arbitrary: fc.record({ kind: fc.constant('catalog' as const), how: fc.constantFrom(...(options.catalogHow ?? (['flip', 'zero', 'truncate', 'garbage'] as const))), within: fc.nat({ max: 1_000_000 }), seed: fc.integer() }) },
  ];
  return fc.oneof(...arbs.filter((a) => a.weight > 0));
}

function regionAt(regions: readonly Region[], offset: number): Region | undefined {
  return regions.find((r) => offset >= r.offset && offset < r.offset + r.length);
}

function resolveTarget(layout: LogLayout, t: DamageTarget): { seg: SegmentLayout; region: Region; offset: number } {
  const seg = layout.segments[t.segment % layout.segments.length]!;
  const regions = segmentRegions(seg);
  const ofKind = regions.filter((r) => r.kind === t.region);
  const pool = ofKind.length > 0 ? ofKind : regions;
  const region = pool[t.which % pool.length]!;
  return { seg, region, offset: region.offset + (t.within % region.length) };
}

function hostileValue(v: HostileValue, truth: number, remaining: number): number {
  switch (v) {
    case 'max-u32':
      return 0xffff_ffff;
    case 'over-frame-limit':
      return 0x4000_0001;
    case 'past-end':
      return Math.min(0xffff_ffff, remaining + 1);
    case 'off-by-one':
      return truth + 1;
  }
}

/** Recomputes a frame's salted CRC after its bytes changed. */
function fixFrameCrc(buf: Buffer, frameAt: number): void {
  const frameBytes = buf.readUInt32LE(frameAt);
  const salt = buf.subarray(32, 40);
  buf.writeUInt32LE(crc32(buf.subarray(frameAt + 8, frameAt + frameBytes), crc32(salt)), frameAt + 4);
}

/** Recomputes a footer's CRC (in its trailer) after its bytes changed. */
function fixFooterCrc(buf: Buffer, footerStart: number): void {
  const trailerAt = buf.length - TRAILER_BYTES;
  buf.writeUInt32LE(crc32(buf.subarray(footerStart, trailerAt + 4)), trailerAt + 4);
}

/**
 * Applies `damage` to the log whose (undamaged) layout is `layout`, in
 * place, and says what it did and what the checks must expect.
 */
export function applyDamage(layout: LogLayout, damage: Damage): AppliedDamage {
  const total = layout.segments.length === 0 ? 0 : layout.segments[layout.segments.length - 1]!.nextSeq;
  const base = { damage, crafted: false, catalogOnly: false };
  switch (damage.kind) {
    case 'flip':
    case 'zero': {
      const { seg, region, offset } = resolveTarget(layout, damage.target);
      const buf = fs.readFileSync(seg.file);
      const before = Buffer.from(buf);
      const end = Math.min(buf.length, offset + (damage.kind === 'flip' ? damage.bytes : damage.length));
      for (let i = offset; i < end; i++) buf[i] = damage.kind === 'flip' ? buf[i]! ^ damage.mask : 0;
      fs.writeFileSync(seg.file, buf);
      // Damage that reaches the close marker (or zeros the end) leaves what a crash could leave.
      const tailLike = seg.last && ((damage.kind === 'zero' && end >= buf.length) || (seg.closeMarkerAt !== undefined && end > seg.closeMarkerAt));
      const what = damage.kind === 'flip' ? `flipped ${end - offset} byte(s) with 0x${damage.mask.toString(16)}` : `zeroed ${end - offset} byte(s)`;
      return { ...base, description: `${what} at ${offset} (${region.kind}) of ${path.basename(seg.file)}`, file: seg.file, offset, segment: seg.index, changed: !before.equals(buf), keepBefore: region.keepBefore, tailLike };
    }
    case 'truncate': {
      const { seg, region, offset } = resolveTarget(layout, damage.target);
      fs.truncateSync(seg.file, offset);
      return { ...base, description: `truncated ${path.basename(seg.file)} to ${offset} bytes (in ${region.kind})`, file: seg.file, offset, segment: seg.index, changed: true, keepBefore: region.keepBefore, tailLike: seg.last };
    }
    case 'garbage': {
      const seg = layout.segments[damage.segment % layout.segments.length]!;
      const rnd = seededRandom(damage.seed);
      const junk = Buffer.alloc(damage.length);
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
      fs.appendFileSync(seg.file, junk);
      return { ...base, description: `appended ${damage.length} garbage bytes to ${path.basename(seg.file)}`, file: seg.file, offset: seg.size, segment: seg.index, changed: true, keepBefore: seg.nextSeq, tailLike: seg.last };
    }
    case 'hostile':
      return applyHostile(layout, damage);
    case 'catalog': {
      const file = layout.catalogFiles.find((f) => f.endsWith('data.mdb')) ?? layout.catalogFiles[0];
      if (file === undefined) return { ...base, description: 'no catalog to damage', file: layout.dir, offset: 0, segment: -1, changed: false, keepBefore: total, tailLike: false, catalogOnly: true };
      const buf = fs.readFileSync(file);
      const before = Buffer.from(buf);
      const offset = buf.length === 0 ? 0 : damage.within % buf.length;
      const rnd = seededRandom(damage.seed);
      let out = buf;
      if (damage.how === 'flip') buf[offset] = buf[offset]! ^ (1 + Math.floor(rnd() * 255));
      else if (damage.how === 'zero') buf.fill(0, offset, Math.min(buf.length, offset + 4096));
      else if (damage.how === 'truncate') out = buf.subarray(0, offset);
      else out = Buffer.concat([buf, Buffer.from(Array.from({ length: 512 }, () => Math.floor(rnd() * 256)))]);
      fs.writeFileSync(file, out);
      return { ...base, catalogOnly: true, description: `catalog ${damage.how} at ${offset} of ${path.basename(file)}`, file, offset, segment: -1, changed: !before.equals(out), keepBefore: total, tailLike: false };
    }
  }
}

function applyHostile(layout: LogLayout, d: Extract<Damage, { kind: 'hostile' }>): AppliedDamage {
  const footerField = d.field === 'footerEntries' || d.field === 'footerBytes';
  const candidates = footerField ? layout.segments.filter((s) => s.footerStart !== undefined) : layout.segments.filter((s) => s.frames.some((f) => f.flags === 0));
  const none: AppliedDamage = { damage: d, description: `no place for hostile ${d.field}`, file: layout.dir, offset: 0, segment: -1, changed: false, keepBefore: 0, tailLike: false, crafted: false, catalogOnly: false };
  if (candidates.length === 0) return none;
  const seg = candidates[d.segment % candidates.length]!;
  const buf = fs.readFileSync(seg.file);
  const before = Buffer.from(buf);
  let at: number;
  let keepBefore: number;
  let crafted = false;
  if (footerField) {
    const footerStart = seg.footerStart!;
    keepBefore = seg.nextSeq;
    if (d.field === 'footerEntries') {
      at = footerStart + 4;
      buf.writeUInt32LE(hostileValue(d.value, buf.readUInt32LE(at), buf.length - footerStart), at);
      if (d.fixChecksum) {
        fixFooterCrc(buf, footerStart);
        crafted = true;
      }
    } else {
      at = buf.length - TRAILER_BYTES;
      buf.writeUInt32LE(hostileValue(d.value, buf.readUInt32LE(at), buf.length), at);
    }
  } else {
    const frames = seg.frames.filter((f) => f.flags === 0);
    const f = frames[d.which % frames.length]!;
    keepBefore = f.firstSeq;
    const remaining = seg.dataEnd - f.offset;
    if (d.field === 'frameBytes') {
      at = f.offset;
      buf.writeUInt32LE(hostileValue(d.value, f.bytes, remaining), at);
    } else if (d.field === 'recordCount') {
      at = f.offset + 16;
      buf.writeUInt32LE(hostileValue(d.value, f.count, remaining), at);
      if (d.fixChecksum) {
        fixFrameCrc(buf, f.offset);
        crafted = true;
      }
    } else {
      // The length of one of the frame's records.
      let rec = f.offset + FRAME_HEADER_BYTES;
      for (let i = 0; i < d.which % f.count; i++) rec += seg.recordHeaderBytes + buf.readUInt32LE(rec);
      at = rec;
      buf.writeUInt32LE(hostileValue(d.value, buf.readUInt32LE(rec), f.offset + f.bytes - rec), at);
      if (d.fixChecksum) {
        fixFrameCrc(buf, f.offset);
        crafted = true;
      }
    }
  }
  fs.writeFileSync(seg.file, buf);
  const region = regionAt(segmentRegions(seg), at);
  return {
    damage: d,
    description: `hostile ${d.field} = ${d.value}${crafted ? ' (checksum recomputed)' : ''} at ${at} (${region?.kind ?? '?'}) of ${path.basename(seg.file)}`,
    file: seg.file,
    offset: at,
    segment: seg.index,
    changed: !before.equals(buf),
    keepBefore,
    tailLike: false,
    crafted,
    catalogOnly: false,
  };
}

// --- checks -------------------------------------------------------------------

/**
 * A file-system adapter that records the largest single read and write
 * requested through it: the engine allocates a buffer per read, so this
 * bounds what hostile length fields can make it allocate.
 */
export class ReadBoundFs extends PassThroughFs {
  /** Largest `length` of one read. */
  maxRead = 0;
  /** Largest `length` of one write. */
  maxWrite = 0;

  protected override wrapHandle(h: FileHandle): FileHandle {
    const owner = this;
    return {
      get path() {
        return h.path;
      },
      read(buffer, offset, length, position) {
        owner.maxRead = Math.max(owner.maxRead, length);
        return h.read(buffer, offset, length, position);
      },
      write(buffer, offset, length, position) {
        owner.maxWrite = Math.max(owner.maxWrite, length);
        return h.write(buffer, offset, length, position);
      },
      datasync: () => h.datasync(),
      sync: () => h.sync(),
      truncate: (n) => h.truncate(n),
      size: () => h.size(),
      close: () => h.close(),
    };
  }
}

/** Options of {@link checkDamagedLog}. */
export interface DamageCheckOptions {
  /** How to repair (default `truncate`). */
  repairMode?: 'truncate' | 'skip';
  /** Largest single read allowed, in bytes (default: the largest file plus 1 MiB of resync window). */
  maxReadBytes?: number;
  /** Each step (verify, reads, repair, reopen) must finish within this (default 10 s). */
  stepTimeoutMs?: number;
  /** Known engine bugs to work around (only `repair-empty-sealed-last` applies here). */
  knownIssues?: readonly KnownIssue[];
}

/** `Log.verify`'s verdict on a damaged log, in short. */
export interface VerifySummary {
  /** `report.ok`. */
  ok: boolean;
  /** Problems of severity `error`. */
  errors: number;
  /** `AOF_TORN_TAIL` warnings. */
  tornTails: number;
  /** `report.cleanClose`. */
  cleanClose: boolean;
}

/** What {@link checkDamagedLog} observed. */
export interface DamageCheckReport {
  /** Problems found; empty when the log passed every check. */
  problems: string[];
  /** What `Log.verify` said, in short. */
  verify: VerifySummary | undefined;
  /** Records readable after repair. */
  nextSeqAfterRepair: number | undefined;
}

async function timed<T>(what: string, ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ModelViolation(`${what} did not finish within ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function untyped(err: unknown): string | undefined {
  if (err instanceof AofError) return undefined;
  if (err instanceof RangeError) return `RangeError (an allocation or index past a bound): ${err.message}`;
  return `${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

/**
 * Runs every check on a log damaged by {@link applyDamage} (closed cleanly
 * before the damage; `expected[seq]` is each record's payload):
 *
 * 1. `Log.verify` detects it: `ok` false; for {@link AppliedDamage.tailLike}
 *    damage a torn-tail warning or a missing clean close is enough; catalog
 *    damage must leave the data verifying clean.
 * 2. A read-only handle never returns damaged data: `read()` yields exactly
 *    the records written, in order, then ends at `nextSeq` or rejects with a
 *    typed `AofError`; `get(seq)` returns the record written, or rejects
 *    typed (undefined only at or past `nextSeq`).
 * 3. `Log.repair` keeps every record before the damage; afterwards the log
 *    verifies clean (unless the damage was crafted to pass checksums), opens
 *    for writing, reads back exactly, and takes a new append.
 * 4. Nothing throws an untyped error (a `RangeError` would mean a hostile
 *    length reached an allocation), no read asks for more than
 *    `maxReadBytes`, and no step hangs.
 */
export async function checkDamagedLog(dir: string, expected: readonly Uint8Array[], applied: AppliedDamage, options: DamageCheckOptions = {}): Promise<DamageCheckReport> {
  const problems: string[] = [];
  const report: DamageCheckReport = { problems, verify: undefined, nextSeqAfterRepair: undefined };
  const ms = options.stepTimeoutMs ?? 10_000;
  const fsBound = new ReadBoundFs();
  const largest = fs.readdirSync(path.join(dir, 'segments')).reduce((m, n) => Math.max(m, fs.statSync(path.join(dir, 'segments', n)).size), 0);
  const maxRead = options.maxReadBytes ?? largest + (1 << 20) + 64;
  const typed = (what: string, err: unknown): void => {
    const why = untyped(err);
    if (why !== undefined) problems.push(`${what} threw an untyped error: ${why}`);
  };

  // 1. verify
  try {
    const v = await timed('Log.verify', ms, () => Log.verify(dir, { fs: fsBound }));
    const errors = v.problems.filter((p) => p.severity === 'error').length;
    const tornTails = v.problems.filter((p) => p.code === 'AOF_TORN_TAIL').length;
    report.verify = { ok: v.ok, errors, tornTails, cleanClose: v.cleanClose };
    if (applied.catalogOnly) {
      if (!v.ok || !v.cleanClose) problems.push(`verify reports damage to the data after damage to the catalog only: ${v.problems.map((p) => p.message).join('; ')}`);
    } else if (applied.tailLike || applied.crafted) {
      if (v.ok && tornTails === 0 && v.cleanClose) problems.push(`verify did not notice the damage (no error, no torn tail, clean close still claimed)`);
    } else if (v.ok) {
      problems.push(`verify reported ok (${v.problems.length} warnings) for damage in the middle of the log`);
    }
  } catch (err) {
    typed('Log.verify', err);
  }

  // 2. reads through a read-only handle
  try {
    await timed('reads of the damaged log', ms, () => checkReads(dir, expected, applied, fsBound, problems));
  } catch (err) {
    typed('reading the damaged log', err);
  }

  // 3. repair, then a writer
  try {
    const excuseEexist = options.knownIssues?.includes('repair-empty-sealed-last') ?? false;
    await timed('Log.repair and reopen', ms * 2, () => checkRepair(dir, expected, applied, options.repairMode ?? 'truncate', fsBound, problems, report, excuseEexist));
  } catch (err) {
    if (err instanceof ModelViolation) problems.push(err.message);
    else typed('repair', err);
  }

  if (fsBound.maxRead > maxRead) problems.push(`a single read asked for ${fsBound.maxRead} bytes, over the bound of ${maxRead}`);
  return report;
}

function checkRecord(r: LogRecord, expected: readonly Uint8Array[], what: string, problems: string[]): boolean {
  const want = expected[r.seq];
  if (want === undefined) {
    problems.push(`${what} returned record ${r.seq}, which was never written`);
    return false;
  }
  if (!sameBytes(r.payload, want)) {
    problems.push(`${what} returned record ${r.seq} with damaged data (${r.payload.byteLength} bytes, written ${want.byteLength})`);
    return false;
  }
  return true;
}

async function checkReads(dir: string, expected: readonly Uint8Array[], applied: AppliedDamage, fsBound: FileSystem, problems: string[]): Promise<void> {
  let ro: Log;
  try {
    ro = await Log.open(dir, { readOnly: true, fs: fsBound });
  } catch (err) {
    const why = untyped(err);
    if (why !== undefined) problems.push(`a read-only open threw an untyped error: ${why}`);
    if (applied.catalogOnly) problems.push(`a read-only open failed after damage to the catalog only: ${String(err)}`);
    return;
  }
  try {
    let seq = ro.firstSeq;
    let failed = false;
    try {
      for await (const r of ro.read()) {
        if (r.seq !== seq) {
          problems.push(`read() returned record ${r.seq} where ${seq} was due (a record skipped silently)`);
          break;
        }
        if (!checkRecord(r, expected, 'read()', problems)) break;
        seq++;
      }
    } catch (err) {
      failed = true;
      const why = untyped(err);
      if (why !== undefined) problems.push(`read() threw an untyped error: ${why}`);
      if (applied.catalogOnly) problems.push(`read() failed after damage to the catalog only: ${String(err)}`);
    }
    if (!failed && seq !== ro.nextSeq) problems.push(`read() ended at ${seq} without an error, but the handle's nextSeq is ${ro.nextSeq}`);
    if (applied.catalogOnly && ro.nextSeq !== expected.length) problems.push(`after damage to the catalog only, a read-only handle sees ${ro.nextSeq} of ${expected.length} records`);
    for (let s = 0; s < expected.length + 2; s++) {
      try {
        const r = await ro.get(s);
        if (r === undefined) {
          if (s >= ro.firstSeq && s < ro.nextSeq) problems.push(`get(${s}) returned undefined below nextSeq ${ro.nextSeq} (a record lost silently)`);
        } else if (r.seq !== s) problems.push(`get(${s}) returned record ${r.seq}`);
        else checkRecord(r, expected, `get(${s})`, problems);
      } catch (err) {
        const why = untyped(err);
        if (why !== undefined) problems.push(`get(${s}) threw an untyped error: ${why}`);
      }
    }
  } finally {
    await ro.close();
  }
}

async function checkRepair(dir: string, expected: readonly Uint8Array[], applied: AppliedDamage, mode: 'truncate' | 'skip', fsBound: FileSystem, problems: string[], report: DamageCheckReport, excuseEexist: boolean): Promise<void> {
  if (!applied.catalogOnly) {
    const rep = await Log.repair(dir, { mode, fs: fsBound });
    if (!applied.crafted && rep.after !== undefined && !rep.after.ok) problems.push(`the log still fails verify after repair (${mode}): ${rep.after.problems.map((p) => p.message).join('; ')}`);
    for (const lost of rep.lostRanges) if (lost.from < applied.keepBefore) problems.push(`repair gave up records from ${lost.from}, before the damage (records below ${applied.keepBefore} must be kept)`);
  }
  let log: Log;
  try {
    log = await Log.open(dir, { fs: fsBound });
  } catch (err) {
    // Known bug 5: repair left an empty sealed last segment and the next one collides with it.
    if (excuseEexist && err instanceof AofError && err.message.includes('EEXIST')) return;
    problems.push(`${applied.catalogOnly ? 'after damage to the catalog only' : 'after repair'}, Log.open failed: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  try {
    report.nextSeqAfterRepair = log.nextSeq;
    if (log.nextSeq < applied.keepBefore) problems.push(`after repair the log ends at ${log.nextSeq}; records below ${applied.keepBefore} came before the damage and must be kept`);
    if (log.firstSeq !== 0) problems.push(`after repair the log starts at ${log.firstSeq}, not 0`);
    let seq = 0;
    while (seq < log.nextSeq) {
      try {
        for await (const r of log.read({ from: seq })) {
          if (r.seq !== seq) {
            problems.push(`after repair, read() returned record ${r.seq} where ${seq} was due`);
            return;
          }
          if (!checkRecord(r, expected, 'read() after repair', problems)) return;
          seq++;
        }
        break;
      } catch (err) {
        // Skip mode records lost ranges as gaps; truncate mode too, for the numbers the log had acknowledged past the cut (never reused).
        if (err instanceof GapError && err.to > seq) {
          // The read got to `seq`: a gap starting later means the records in between were skipped silently.
          if (err.from > seq) problems.push(`after repair, read() from ${seq} rejected with AOF_GAP for ${err.from}..${err.to - 1}, skipping records ${seq}..${err.from - 1}`);
          if (err.from < applied.keepBefore) problems.push(`after repair, records ${err.from}..${err.to - 1} are a gap, but records below ${applied.keepBefore} came before the damage`);
          seq = err.to;
          continue;
        }
        if (applied.crafted && seq >= applied.keepBefore && err instanceof AofError) break;
        problems.push(`after repair, read() from ${seq} failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    const next = log.nextSeq;
    const got = await log.append('after-repair');
    if (got !== next) problems.push(`after repair, a new append got sequence ${got}, expected ${next}`);
  } finally {
    await log.close();
  }
}
