/**
 * Format version 2 (docs/FORMAT.md, "Log identity"): the golden log as this
 * build's writer leaves it, `fixtures/valid-v2/`, checked byte for byte by the
 * literal offsets of FORMAT.md; and version-1 logs (`fixtures/valid/`) still
 * open, read, and take on an identity at their first writer open.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { CLOSE_MS, FIXTURE_LOG_ID, FIXTURE_OPTIONS, OPEN_MS, SCRIPT } from '../../fixtures/build.js';
import { tempDir } from '../helpers/tmp.js';
import { copyFixture, expectGoldenRecords, FIXTURES_DIR, listFiles, RECORD_COUNT, readAll } from './fixture-helpers.js';

const V1 = path.join(FIXTURES_DIR, 'valid');
const V2 = path.join(FIXTURES_DIR, 'valid-v2');
const zcrc = (data: Uint8Array): number => zlib.crc32(data) >>> 0;
const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32;

describe('fixtures/valid-v2 matches docs/FORMAT.md byte for byte', () => {
  it('holds the same four segments as valid/ and the identity file', () => {
    expect(listFiles(V2)).toEqual(['identity', ...listFiles(V1)]);
  });

  it('each segment is the version-1 segment with only its header changed: version 2, the log identity at 48..59, the header CRC', () => {
    for (const rel of listFiles(V1)) {
      const v1 = fs.readFileSync(path.join(V1, rel));
      const v2 = fs.readFileSync(path.join(V2, rel));
      expect(v2.length).toBe(v1.length);
      expect(v2.subarray(64).equals(v1.subarray(64)), `${rel}: frames and footer unchanged`).toBe(true);
      expect(v2.subarray(0, 8).equals(v1.subarray(0, 8))).toBe(true);
      expect(v1.readUInt16LE(8)).toBe(1);
      expect(v2.readUInt16LE(8)).toBe(2);
      expect(v2.subarray(10, 48).equals(v1.subarray(10, 48)), `${rel}: header length, base, creation time, salt and its copy unchanged`).toBe(true);
      expect([...v1.subarray(48, 60)].every((b) => b === 0)).toBe(true);
      expect(v2.subarray(48, 60).equals(FIXTURE_LOG_ID)).toBe(true);
      expect(v2.readUInt32LE(60)).toBe(zcrc(v2.subarray(0, 60)));
    }
  });

  it('the identity file: magic, identity, since, committed sequence, flags, CRC', () => {
    const b = fs.readFileSync(path.join(V2, 'identity'));
    expect(b.length).toBe(48);
    expect(b.subarray(0, 8).toString('latin1')).toBe('AOFIDNT1');
    expect(b.subarray(8, 20).equals(FIXTURE_LOG_ID)).toBe(true);
    expect([...b.subarray(20, 24)]).toEqual([0, 0, 0, 0]);
    expect(u64(b, 24)).toBe(0); // since: every segment carries the identity
    expect(u64(b, 32)).toBe(RECORD_COUNT); // committed at the clean close: next sequence 26
    expect(b.readUInt32LE(40)).toBe(1); // flags: WATERMARK_DURABLE (written under the default strategy, batch)
    expect(b.readUInt32LE(44)).toBe(zcrc(b.subarray(0, 44)));
  });

  it('the real writer, given the same appends and clock, writes valid-v3 (the layout after valid-v2) apart from its random salts and identity', async () => {
    const dir = path.join(tempDir(), 'log');
    let now = OPEN_MS;
    const log = await Log.open(dir, { ...FIXTURE_OPTIONS, segment: { ...FIXTURE_OPTIONS.segment }, clock: () => now });
    for (const step of SCRIPT) {
      now = step.clockMs;
      await Promise.all(step.calls.map((c) => (c.kind === 'append' ? log.append(c.payload) : log.appendBatch(c.payloads))));
    }
    now = CLOSE_MS;
    await log.close();
    const identity = fs.readFileSync(path.join(dir, 'identity'));
    const want = fs.readFileSync(path.join(V2, 'identity'));
    expect(identity.subarray(20, 44).equals(want.subarray(20, 44)), 'since and committed sequence as in valid-v2').toBe(true);
    const logId = identity.subarray(8, 20);
    for (const rel of listFiles(path.join(FIXTURES_DIR, 'valid-v3')).filter((f) => f.startsWith('segments/'))) {
      const seg = fs.readFileSync(path.join(dir, rel));
      expect(seg.subarray(48, 60).equals(logId), `${rel} carries the identity of the identity file`).toBe(true);
    }
  });

  it('opens, reads every record and verifies ok', async () => {
    const dir = copyFixture('valid-v2');
    expect(await Log.verify(dir)).toMatchObject({ ok: true, records: RECORD_COUNT, nextSeq: RECORD_COUNT, cleanClose: true, problems: [] });
    for (const readOnly of [true, false]) {
      const log = await Log.open(dir, { readOnly });
      try {
        const { records, error } = await readAll(log);
        expect(error).toBeUndefined();
        expectGoldenRecords(records, 0, RECORD_COUNT);
      } finally {
        await log.close();
      }
    }
  });
});

describe('version-1 logs (fixtures/valid) stay readable', () => {
  it('a read-only open reads every record and writes nothing', async () => {
    const dir = copyFixture('valid');
    const log = await Log.open(dir, { readOnly: true });
    try {
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
    } finally {
      await log.close();
    }
    expect(fs.existsSync(path.join(dir, 'identity'))).toBe(false);
  });

  it('the first writer open adopts an identity: new segments carry it, the version-1 ones stay as they are and readable', async () => {
    const dir = copyFixture('valid');
    const before = fs.readFileSync(path.join(dir, 'segments/00000000000000000000.seg'));
    const log = await Log.open(dir, FIXTURE_OPTIONS);
    for (let i = 0; i < 10; i++) await log.append(`more-${i}`);
    await log.close();
    const identity = fs.readFileSync(path.join(dir, 'identity'));
    expect(u64(identity, 24), 'since: after the version-1 active segment 20').toBe(21);
    expect(u64(identity, 32)).toBe(RECORD_COUNT + 10);
    const files = listFiles(path.join(dir, 'segments'));
    expect(files.length).toBeGreaterThan(4);
    for (const f of files.slice(4)) {
      const h = fs.readFileSync(path.join(dir, 'segments', f)).subarray(0, 64);
      // Segments this build starts are version 3 (version-1 and -2 ones it finds stay as they are).
      expect(h.readUInt16LE(8)).toBe(3);
      expect(h.subarray(48, 60).equals(identity.subarray(8, 20))).toBe(true);
    }
    expect(fs.readFileSync(path.join(dir, 'segments/00000000000000000000.seg')).equals(before)).toBe(true);
    const again = await Log.open(dir);
    try {
      const { records, error } = await readAll(again);
      expect(error).toBeUndefined();
      expectGoldenRecords(records.slice(0, RECORD_COUNT), 0, RECORD_COUNT);
      expect(records.length).toBe(RECORD_COUNT + 10);
    } finally {
      await again.close();
    }
    expect((await Log.verify(dir)).ok).toBe(true);
  });
});
