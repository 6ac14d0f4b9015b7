/**
 * The golden fixture against docs/FORMAT.md. The parser below uses the
 * literal offsets of FORMAT.md (not the engine's constants or decoders) and
 * Node's zlib CRC, so a change in what the writer puts where fails here until
 * FORMAT.md, the fixtures and this file agree again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import CRC32 from 'crc-32';
import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION, Log } from '../../src/index.js';
import { crc32 } from '../../src/record/crc.js';
import { encodeEmptyFrame, encodeFrame, FLAG_CLOSE_MARKER, frameCrcSeed } from '../../src/record/frame.js';
import { readU64, writeU64 } from '../../src/record/u64.js';
import { encodeFooter } from '../../src/segment/footer.js';
import { encodeSegmentHeader } from '../../src/segment/header.js';
import { buildFixtures, buildValidLog, CLOSE_MS, FIXTURE_NAMES, FIXTURE_OPTIONS, fixtureSalt, OPEN_MS, SCRIPT } from '../../fixtures/build.js';
import { writeFixtures } from '../../fixtures/generate.js';
import { tempDir } from '../helpers/tmp.js';
import { copyFixture, expectedRecords, expectGoldenRecords, FIXTURES_DIR, listFiles, RECORD_COUNT, readAll } from './fixture-helpers.js';

const VALID = path.join(FIXTURES_DIR, 'valid');
const FORMAT_MD = path.resolve(FIXTURES_DIR, '../docs/FORMAT.md');
const MAX_BYTES = FIXTURE_OPTIONS.segment.maxBytes;
const INDEX_INTERVAL = FIXTURE_OPTIONS.segment.indexIntervalBytes;

/** zlib's CRC-32 (IEEE), continuing from `seed`. */
const zcrc = (data: Uint8Array, seed = 0): number => zlib.crc32(data, seed) >>> 0;

function u64(b: Buffer, at: number): number {
  const lo = b.readUInt32LE(at);
  const hi = b.readUInt32LE(at + 4);
  expect(hi, `u64 at ${at} stays below 2^53`).toBeLessThanOrEqual(0x1f_ffff);
  return hi * 2 ** 32 + lo;
}

interface ParsedFrame { offset: number; length: number; firstSeq: number; count: number; timestamp: number; flags: number; payloads: Buffer[] }
interface ParsedFooter { start: number; n: number; recordCount: number; firstSeq: number; nextSeq: number; firstTimestamp: number; lastTimestamp: number; dataEnd: number; salt: Buffer; index: Array<{ seq: number; offset: number; timestamp: number }> }
interface ParsedSegment { name: string; bytes: Buffer; baseSeq: number; createdMs: number; salt: Buffer; frames: ParsedFrame[]; footer: ParsedFooter | undefined }

/** Parses a segment file by FORMAT.md, asserting every fixed field and checksum on the way. */
function parseSegment(name: string, bytes: Buffer): ParsedSegment {
  // Segment header: 64 bytes.
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('AOFSEGMT');
  expect(bytes.readUInt16LE(8)).toBe(1);
  expect(bytes.readUInt16LE(10)).toBe(64);
  expect(bytes.readUInt32LE(12)).toBe(0);
  const baseSeq = u64(bytes, 16);
  const createdMs = u64(bytes, 24);
  const salt = Buffer.from(bytes.subarray(32, 40));
  expect(bytes.subarray(40, 48).equals(salt), 'header bytes 40..47 repeat the salt').toBe(true);
  expect([...bytes.subarray(48, 60)].every((b) => b === 0), 'header bytes 48..59 are zero').toBe(true);
  expect(bytes.readUInt32LE(60)).toBe(zcrc(bytes.subarray(0, 60)));
  expect(name).toBe(`${String(baseSeq).padStart(20, '0')}.seg`);

  // Footer, from the trailer in the last 16 bytes.
  let footer: ParsedFooter | undefined;
  let dataEnd = bytes.length;
  if (bytes.subarray(bytes.length - 8).toString('latin1') === 'AOFSEAL1') {
    const footerBytes = bytes.readUInt32LE(bytes.length - 16);
    const start = bytes.length - footerBytes;
    const f = bytes.subarray(start);
    expect(f.subarray(0, 4).toString('latin1')).toBe('AOFF');
    const n = f.readUInt32LE(4);
    expect(footerBytes).toBe(64 + 24 * n + 16);
    expect(f.readUInt32LE(64 + 24 * n + 4), 'footer CRC covers [0, footerBytes - 12)').toBe(zcrc(f.subarray(0, footerBytes - 12)));
    expect(f.readUInt32LE(64 + 24 * n)).toBe(footerBytes);
    const index = [];
    for (let i = 0; i < n; i++) index.push({ seq: u64(f, 64 + 24 * i), offset: u64(f, 64 + 24 * i + 8), timestamp: u64(f, 64 + 24 * i + 16) });
    footer = {
      start, n, recordCount: u64(f, 8), firstSeq: u64(f, 16), nextSeq: u64(f, 24), firstTimestamp: u64(f, 32),
      lastTimestamp: u64(f, 40), dataEnd: u64(f, 48), salt: Buffer.from(f.subarray(56, 64)), index,
    };
    expect(footer.dataEnd).toBe(start);
    expect(footer.salt.equals(salt), 'the footer repeats the header salt').toBe(true);
    dataEnd = start;
  }

  // Frames: 32-byte header, then u32 length + payload per record.
  const frames: ParsedFrame[] = [];
  const seed = zcrc(salt);
  for (let at = 64; at < dataEnd;) {
    const length = bytes.readUInt32LE(at);
    expect(length).toBeGreaterThanOrEqual(32);
    expect(at + length).toBeLessThanOrEqual(dataEnd);
    expect(bytes.readUInt32LE(at + 4), `CRC of the frame at ${at}: crc32(salt ‖ frame[8, length))`).toBe(zcrc(Buffer.concat([salt, bytes.subarray(at + 8, at + length)])));
    expect(bytes.readUInt32LE(at + 4)).toBe(zcrc(bytes.subarray(at + 8, at + length), seed));
    const frame: ParsedFrame = { offset: at, length, firstSeq: u64(bytes, at + 8), count: bytes.readUInt32LE(at + 16), timestamp: u64(bytes, at + 20), flags: bytes.readUInt16LE(at + 28), payloads: [] };
    expect(bytes.readUInt16LE(at + 30), 'frame reserved u16').toBe(0);
    let r = at + 32;
    if (frame.flags === 0) {
      for (let i = 0; i < frame.count; i++) {
        const n = bytes.readUInt32LE(r);
        frame.payloads.push(Buffer.from(bytes.subarray(r + 4, r + 4 + n)));
        r += 4 + n;
      }
    }
    expect(r, `records exactly fill the frame at ${at}`).toBe(at + length);
    frames.push(frame);
    at += length;
  }
  return { name, bytes, baseSeq, createdMs, salt, frames, footer };
}

function parseValid(): ParsedSegment[] {
  const names = fs.readdirSync(path.join(VALID, 'segments')).sort();
  return names.map((n) => parseSegment(n, fs.readFileSync(path.join(VALID, 'segments', n))));
}

describe('fixtures/valid matches docs/FORMAT.md byte for byte', () => {
  it('holds only segments/ with four segments named by their 20-digit base', () => {
    expect(listFiles(VALID)).toEqual([
      'segments/00000000000000000000.seg', 'segments/00000000000000000006.seg',
      'segments/00000000000000000016.seg', 'segments/00000000000000000020.seg',
    ]);
  });

  it('has a valid header, frames and footer at the documented offsets in every segment', () => {
    const segments = parseValid();
    expect(segments.map((s) => [s.baseSeq, s.footer !== undefined])).toEqual([[0, true], [6, true], [16, true], [20, false]]);
    expect(segments[0]!.createdMs).toBe(OPEN_MS);
    segments.forEach((s, i) => expect(s.salt.equals(fixtureSalt(i))).toBe(true));
    for (let i = 1; i < segments.length; i++) {
      const prev = segments[i - 1]!;
      const s = segments[i]!;
      expect(s.baseSeq, 'segments join').toBe(prev.footer!.nextSeq);
      expect(s.createdMs, 'a new segment is created no earlier than the last frame before it').toBeGreaterThanOrEqual(prev.footer!.lastTimestamp);
      expect(prev.footer!.dataEnd, 'sealed segments respect segment.maxBytes').toBeLessThanOrEqual(MAX_BYTES);
      expect(prev.footer!.dataEnd + s.frames[0]!.length, 'a segment rolls only when the next frame would not fit').toBeGreaterThan(MAX_BYTES);
    }
  });

  it('holds every appended record, in order, with its timestamp, and one frame per group of calls issued together', () => {
    const segments = parseValid();
    const records: Array<{ seq: number; timestamp: number; payload: Buffer }> = [];
    for (const s of segments) {
      let next = s.baseSeq;
      for (const f of s.frames) {
        expect(f.firstSeq, 'frames continue the sequence').toBe(next);
        if (f.flags !== 0) continue;
        f.payloads.forEach((payload, i) => records.push({ seq: f.firstSeq + i, timestamp: f.timestamp, payload }));
        next += f.count;
      }
    }
    const want = expectedRecords();
    expect(records.map((r) => r.seq)).toEqual(want.map((r) => r.seq));
    records.forEach((r, i) => {
      expect(r.timestamp).toBe(want[i]!.timestamp);
      expect(r.payload.equals(want[i]!.payload), `payload ${i}`).toBe(true);
    });
    // Each step's calls were issued in one turn: group commit put each step in exactly one frame.
    const dataFrames = segments.flatMap((s) => s.frames.filter((f) => f.flags === 0));
    expect(dataFrames.map((f) => f.count)).toEqual(SCRIPT.map((step) => step.calls.reduce((n, c) => n + (c.kind === 'append' ? 1 : c.payloads.length), 0)));
    expect(dataFrames.find((f) => f.firstSeq === 7)!.payloads.map((p) => p.toString())).toEqual(['one', 'two', 'three', 'four']);
    expect(dataFrames.some((f) => f.payloads.some((p) => p.length === 0))).toBe(true);
  });

  it('ends the active segment with the 32-byte clean-close marker', () => {
    const active = parseValid()[3]!;
    const marker = active.frames[active.frames.length - 1]!;
    expect(marker).toMatchObject({ length: 32, flags: 1, count: 0, firstSeq: RECORD_COUNT, timestamp: CLOSE_MS });
    expect(marker.offset + 32).toBe(active.bytes.length);
    expect(active.frames.slice(0, -1).every((f) => f.flags === 0)).toBe(true);
  });

  it('has footers whose summary and sparse index agree with the frames', () => {
    for (const s of parseValid().filter((x) => x.footer !== undefined)) {
      const f = s.footer!;
      const data = s.frames.filter((x) => x.flags === 0);
      expect(f.firstSeq).toBe(s.baseSeq);
      expect(f.recordCount).toBe(data.reduce((n, x) => n + x.count, 0));
      expect(f.nextSeq).toBe(s.baseSeq + f.recordCount);
      expect(f.firstTimestamp).toBe(data[0]!.timestamp);
      expect(f.lastTimestamp).toBe(data[data.length - 1]!.timestamp);
      // First frame always indexed; then the first frame at or after previous entry + indexIntervalBytes.
      const want: Array<{ seq: number; offset: number; timestamp: number }> = [];
      for (const x of data) if (want.length === 0 || x.offset >= want[want.length - 1]!.offset + INDEX_INTERVAL) want.push({ seq: x.firstSeq, offset: x.offset, timestamp: x.timestamp });
      expect(f.index).toEqual(want);
      expect(f.n).toBe(want.length);
    }
  });

  it('matches the hex dumps printed in docs/FORMAT.md', () => {
    const md = fs.readFileSync(FORMAT_MD, 'utf8');
    const dumps = [...md.matchAll(/<!-- hexdump (\S+) (\d+) (\d+) -->\n```text\n([\s\S]*?)\n```/g)];
    expect(dumps.length).toBeGreaterThanOrEqual(4);
    for (const [, file, offset, length, body] of dumps) {
      const want = fs.readFileSync(path.join(FIXTURES_DIR, file!)).subarray(Number(offset), Number(offset) + Number(length));
      const lines = body!.split('\n');
      const got: number[] = [];
      lines.forEach((line, i) => {
        const m = /^([0-9a-f]{8}) {2}(.{23}) {2}(.{23}) {2}\|/.exec(line);
        expect(m, `hexdump line "${line}"`).not.toBeNull();
        expect(parseInt(m![1]!, 16)).toBe(Number(offset) + 16 * i);
        for (const h of `${m![2]} ${m![3]}`.trim().split(/\s+/)) if (h !== '') got.push(parseInt(h, 16));
      });
      expect(Buffer.from(got).equals(want), `hexdump of ${file} at ${offset}`).toBe(true);
    }
  });
});

describe('the encoders produce the fixture bytes', () => {
  it('committed fixtures are exactly what the generator builds (regenerate with npm run fixtures)', () => {
    const { fixtures } = buildFixtures();
    for (const name of FIXTURE_NAMES) {
      const files = fixtures.get(name)!.files;
      expect(listFiles(path.join(FIXTURES_DIR, name)), name).toEqual([...files.keys()].sort());
      for (const [rel, bytes] of files) expect(fs.readFileSync(path.join(FIXTURES_DIR, name, rel)).equals(bytes), `${name}/${rel}`).toBe(true);
    }
  });

  it('the generator is deterministic: a second run into another directory writes the same bytes', () => {
    const out = tempDir();
    writeFixtures(out);
    for (const name of FIXTURE_NAMES) {
      for (const rel of listFiles(path.join(FIXTURES_DIR, name))) {
        expect(fs.readFileSync(path.join(out, name, rel)).equals(fs.readFileSync(path.join(FIXTURES_DIR, name, rel))), `${name}/${rel}`).toBe(true);
      }
    }
  });

  it('encodeSegmentHeader, encodeFrame, encodeEmptyFrame and encodeFooter reproduce fields parsed from the fixture', () => {
    for (const s of parseValid()) {
      expect(encodeSegmentHeader(s.baseSeq, s.createdMs, s.salt).equals(s.bytes.subarray(0, 64)), `header of ${s.name}`).toBe(true);
      const seed = frameCrcSeed(s.salt);
      for (const f of s.frames) {
        const want = s.bytes.subarray(f.offset, f.offset + f.length);
        if (f.flags === FLAG_CLOSE_MARKER) {
          expect(encodeEmptyFrame(seed, f.firstSeq, 0, f.timestamp, FLAG_CLOSE_MARKER).equals(want)).toBe(true);
        } else {
          const out = Buffer.alloc(f.length);
          expect(encodeFrame(out, 0, seed, f.firstSeq, f.timestamp, f.payloads)).toBe(f.length);
          expect(out.equals(want), `frame at ${f.offset} of ${s.name}`).toBe(true);
        }
      }
      if (s.footer !== undefined) {
        const { recordCount, firstSeq, nextSeq, firstTimestamp, lastTimestamp, dataEnd, index } = s.footer;
        expect(encodeFooter({ recordCount, firstSeq, nextSeq, firstTimestamp, lastTimestamp, dataEnd, index }, s.salt).equals(s.bytes.subarray(s.footer.start)), `footer of ${s.name}`).toBe(true);
      }
    }
  });

  it('the real writer, given the same appends and clock, writes the same bytes apart from its random salts', async () => {
    const dir = path.join(tempDir(), 'log');
    let now = OPEN_MS;
    const log = await Log.open(dir, { ...FIXTURE_OPTIONS, segment: { ...FIXTURE_OPTIONS.segment }, clock: () => now });
    for (const step of SCRIPT) {
      now = step.clockMs;
      await Promise.all(step.calls.map((c) => (c.kind === 'append' ? log.append(c.payload) : log.appendBatch(c.payloads))));
    }
    now = CLOSE_MS;
    await log.close();
    const written = listFiles(path.join(dir, 'segments'));
    const salts = written.map((n) => Buffer.from(fs.readFileSync(path.join(dir, 'segments', n)).subarray(32, 40)));
    expect(salts.some((s, i) => !s.equals(fixtureSalt(i))), 'the writer draws random salts').toBe(true);
    // This build writes format version 3: the headers carry the log identity it drew, records their CRC (valid-v3/, tests/format/golden-v3.test.ts).
    const logId = Buffer.from(fs.readFileSync(path.join(dir, 'segments', written[0]!)).subarray(48, 60));
    const model = buildValidLog((i) => salts[i]!, logId, FORMAT_VERSION);
    expect(written.map((n) => `segments/${n}`)).toEqual(model.segments.map((s) => s.path));
    for (const s of model.segments) expect(fs.readFileSync(path.join(dir, s.path)).equals(s.bytes), s.path).toBe(true);
  });
});

describe('fixtures/valid through the public API', () => {
  it('opens cleanly with every record readable, and verifies ok', async () => {
    const dir = copyFixture('valid');
    const report = await Log.verify(dir);
    expect(report).toMatchObject({ ok: true, records: RECORD_COUNT, nextSeq: RECORD_COUNT, cleanClose: true, problems: [], gaps: [] });
    const log = await Log.open(dir);
    try {
      expect(log.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined });
      expect(log.segments().map((s) => [s.baseSeq, s.nextSeq, s.status])).toEqual([[0, 6, 'sealed'], [6, 16, 'sealed'], [16, 20, 'sealed'], [20, 26, 'active']]);
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
      expect((await log.get(9))!.payload.toString()).toBe('three');
      // The marker was cut off at open: the next append lands where it was.
      expect(fs.statSync(path.join(dir, 'segments/00000000000000000020.seg')).size).toBe(320);
      expect(await log.append('next')).toBe(RECORD_COUNT);
    } finally {
      await log.close();
    }
  });
});

describe('integers and checksums', () => {
  it('CRC-32 is the IEEE/zlib function, both implementations agree, and a seed continues a CRC', () => {
    const check = Buffer.from('123456789', 'latin1');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(zcrc(check)).toBe(0xcbf43926);
    expect(CRC32.buf(check) >>> 0).toBe(0xcbf43926);
    const a = Buffer.from('5a17f10e00c0de00', 'hex');
    const b = Buffer.from('any frame body');
    expect(crc32(b, crc32(a))).toBe(crc32(Buffer.concat([a, b])));
    expect(frameCrcSeed(a)).toBe(crc32(a));
  });

  it('u64 is two little-endian u32 halves, low first; 2^53 and above read as damage', () => {
    const b = Buffer.alloc(8);
    writeU64(b, 0, 2 ** 53 - 1);
    expect([...b]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00]);
    expect(readU64(b, 0)).toBe(2 ** 53 - 1);
    b.writeUInt32LE(0x0020_0000, 4);
    expect(readU64(b, 0)).toBe(-1);
    writeU64(b, 0, 0x1_2345_6789);
    expect(b.readBigUInt64LE(0)).toBe(0x1_2345_6789n);
  });

  it('FORMAT_VERSION is 3 (versions 1 and 2, fixtures/valid and valid-v2, are still read)', () => {
    expect(FORMAT_VERSION).toBe(3);
  });
});
