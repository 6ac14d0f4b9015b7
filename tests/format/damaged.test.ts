/**
 * Every damaged fixture, opened (from a temporary copy) through the public
 * API, against the behaviour docs/FORMAT.md documents: torn tails are cut
 * and kept, corruption is reported with file and offset and never returned
 * as data, repair loses only what is damaged and keeps every byte it removes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GapError, Log, UnsupportedFormatError } from '../../src/index.js';
import { garbageBytes, GARBAGE_TAIL_BYTES, TORN_KEEP_BYTES, ZERO_TAIL_BYTES, type FixtureName } from '../../fixtures/build.js';
import { copyFixture, expectGoldenRecords, fixtureBytes, listFiles, RECORD_COUNT, readAll, rejection, seg } from './fixture-helpers.js';

const ACTIVE = seg(20);
const recoveryFiles = (dir: string): string[] => listFiles(path.join(dir, 'recovery'));

/** Every file of the log directory except the (absent or empty) lock, with its bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(listFiles(dir).filter((f) => !f.startsWith('LOCK')).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

describe('torn and zero tails (crash fixtures, no close marker): open cuts them off, keeping torn bytes', () => {
  it('torn-tail: the cut-short last frame is copied to recovery/ and cut; every earlier record is readable', async () => {
    const dir = copyFixture('torn-tail');
    const verify = await Log.verify(dir);
    expect(verify.ok).toBe(true);
    expect(verify.cleanClose).toBe(false);
    expect(verify.problems).toEqual([expect.objectContaining({ code: 'AOF_TORN_TAIL', severity: 'warning', file: path.join(dir, ACTIVE), offset: 269 })]);

    const log = await Log.open(dir);
    try {
      const torn = log.openReport.recovery!.tornTail!;
      expect(log.openReport.recovery).toMatchObject({ cleanClose: false, zeroTailBytes: 0 });
      expect(torn).toMatchObject({ offset: 269, bytes: TORN_KEEP_BYTES });
      expect(torn.reason).toMatch(/runs past the end/);
      expect(torn.preservedAt).toBeDefined();
      expect(path.dirname(torn.preservedAt!)).toBe(path.join(dir, 'recovery'));
      expect(path.basename(torn.preservedAt!)).toMatch(/^00000000000000000020\.seg\.at-269\.torn-tail\./);
      expect(fs.readFileSync(torn.preservedAt!).equals(fixtureBytes('torn-tail', ACTIVE).subarray(269))).toBe(true);
      expect(fs.statSync(path.join(dir, ACTIVE)).size).toBe(269);
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT - 1);
      expect(log.nextSeq).toBe(RECORD_COUNT - 1);
      expect(await log.append('after the crash')).toBe(RECORD_COUNT - 1);
    } finally {
      await log.close();
    }
    const again = await Log.open(dir);
    try {
      expect(again.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined });
      expect((await again.get(RECORD_COUNT - 1))!.payload.toString()).toBe('after the crash');
    } finally {
      await again.close();
    }
  });

  it('zero-tail: trailing zeros are cut without a copy; every record is readable', async () => {
    const dir = copyFixture('zero-tail');
    const verify = await Log.verify(dir);
    expect(verify).toMatchObject({ ok: true, problems: [], records: RECORD_COUNT });
    const log = await Log.open(dir);
    try {
      // All zeros hold nothing: reported apart from torn tails, and not copied.
      expect(log.openReport.recovery).toMatchObject({ tornTail: undefined, zeroTailBytes: ZERO_TAIL_BYTES, cleanClose: false });
      expect(recoveryFiles(dir)).toEqual([]);
      expect(fs.statSync(path.join(dir, ACTIVE)).size).toBe(320);
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
    } finally {
      await log.close();
    }
  });

  it('garbage-tail: trailing garbage is copied to recovery/ and cut; every record is readable', async () => {
    const dir = copyFixture('garbage-tail');
    const verify = await Log.verify(dir);
    expect(verify.ok).toBe(true);
    expect(verify.problems).toEqual([expect.objectContaining({ code: 'AOF_TORN_TAIL', offset: 320 })]);
    const log = await Log.open(dir);
    try {
      const torn = log.openReport.recovery!.tornTail!;
      expect(torn).toMatchObject({ offset: 320, bytes: GARBAGE_TAIL_BYTES });
      expect(recoveryFiles(dir)).toEqual([path.basename(torn.preservedAt!)]);
      expect(fs.readFileSync(torn.preservedAt!).equals(garbageBytes(0xa0f, GARBAGE_TAIL_BYTES))).toBe(true);
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
    } finally {
      await log.close();
    }
  });
});

describe('the clean-close marker turns damage before it into corruption', () => {
  function flipLastDataFrame(dir: string): void {
    const file = path.join(dir, ACTIVE);
    const b = fs.readFileSync(file);
    b[269 + 40]! ^= 0x01; // a payload byte of the last data frame (offset 269), before the marker at 320
    fs.writeFileSync(file, b);
  }

  it('with the marker after it, a damaged last data frame is AOF_CORRUPT, not a torn tail', async () => {
    const dir = copyFixture('valid');
    flipLastDataFrame(dir);
    const before = snapshot(dir);
    const err = await rejection(Log.open(dir));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, ACTIVE), offset: 269 });
    expect(snapshot(dir)).toEqual(before);
  });

  it('zeros after the marker (preallocated space) still count as a clean close', async () => {
    const dir = copyFixture('valid');
    fs.appendFileSync(path.join(dir, ACTIVE), Buffer.alloc(4096));
    const log = await Log.open(dir);
    try {
      expect(log.openReport.recovery).toMatchObject({ cleanClose: true, tornTail: undefined, zeroTailBytes: 4096 });
      expect(fs.statSync(path.join(dir, ACTIVE)).size).toBe(320);
      expect(log.nextSeq).toBe(RECORD_COUNT);
    } finally {
      await log.close();
    }
  });

  it('without the marker (a crash), the same damage is a torn tail', async () => {
    const dir = copyFixture('valid');
    flipLastDataFrame(dir);
    fs.truncateSync(path.join(dir, ACTIVE), 320);
    const log = await Log.open(dir);
    try {
      expect(log.openReport.recovery!.tornTail).toMatchObject({ offset: 269, bytes: 51, reason: 'frame checksum mismatch' });
      expect(log.nextSeq).toBe(RECORD_COUNT - 1);
    } finally {
      await log.close();
    }
  });
});

describe('flipped-sealed: a bad frame in a sealed segment', () => {
  const SEG0 = seg(0);

  it('opens (sealed data is not read at open); reads reject AOF_CORRUPT at the frame, records around it stay readable', async () => {
    const dir = copyFixture('flipped-sealed');
    for (const readOnly of [false, true]) {
      const log = await Log.open(dir, { readOnly });
      try {
        expect(log.nextSeq).toBe(RECORD_COUNT);
        const { records, error } = await readAll(log);
        expectGoldenRecords(records, 0, 2);
        expect(error).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, SEG0), offset: 146 });
        expect(error!.message).toContain(`${path.join(dir, SEG0)} at offset 146`);
        for (const seq of [2, 3, 4]) expect(await rejection(log.get(seq))).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, SEG0), offset: 146 });
        expect((await log.get(1))!.payload.length).toBe(0);
        const after = await readAll(log, { from: 5 });
        expect(after.error).toBeUndefined();
        expectGoldenRecords(after.records, 5, RECORD_COUNT);
      } finally {
        await log.close();
      }
    }
  });

  it('Log.verify reports it with file, offset and the sequence numbers it hides', async () => {
    const dir = copyFixture('flipped-sealed');
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', severity: 'error', file: path.join(dir, SEG0), offset: 146, seqFrom: 2, seqTo: 5 })]);
  });
});

describe.each([
  ['flipped-active-middle', /checksum mismatch/],
  ['huge-length', /frame length 2147483648 exceeds FRAME_BYTES_MAX/],
] as Array<[FixtureName, RegExp]>)('%s: a bad frame in the middle of the active segment, good frames after it', (name, reason) => {
  it('a writer open rejects AOF_CORRUPT with file and offset and changes nothing', async () => {
    const dir = copyFixture(name);
    const before = snapshot(dir);
    const err = await rejection(Log.open(dir));
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, ACTIVE), offset: 131 });
    expect(err.message).toMatch(reason);
    expect(snapshot(dir)).toEqual(before);
    // The lock was released: a second attempt fails the same way, not with AOF_LOCKED.
    expect(await rejection(Log.open(dir))).toMatchObject({ code: 'AOF_CORRUPT', offset: 131 });
  });

  it('a read-only open reads up to the damage and rejects AOF_CORRUPT past it', async () => {
    const dir = copyFixture(name);
    const log = await Log.open(dir, { readOnly: true });
    try {
      expect(log.nextSeq).toBe(21);
      const upTo = await readAll(log);
      expect(upTo.error).toBeUndefined();
      expectGoldenRecords(upTo.records, 0, 21);
      const past = await readAll(log, { from: 18, to: RECORD_COUNT });
      expectGoldenRecords(past.records, 18, 21);
      expect(past.error).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, ACTIVE), offset: 131 });
      expect(await rejection(log.get(21))).toMatchObject({ code: 'AOF_CORRUPT', offset: 131 });
      expect(await rejection(log.get(23))).toMatchObject({ code: 'AOF_CORRUPT', offset: 131 });
    } finally {
      await log.close();
    }
  });

  it('Log.verify reports it', async () => {
    const dir = copyFixture(name);
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'AOF_CORRUPT', file: path.join(dir, ACTIVE), offset: 131, seqFrom: 21, seqTo: 22 })]);
  });

  it('Log.repair (truncate) cuts at the damage, keeps the cut bytes under recovery/ and reports the lost range', async () => {
    const dir = copyFixture(name);
    const report = await Log.repair(dir);
    expect(report.mode).toBe('truncate');
    expect(report.lostRanges).toEqual([{ from: 21, to: undefined }]);
    expect(report.actions).toEqual([expect.objectContaining({ kind: 'cut', file: path.join(dir, ACTIVE), offset: 131, bytes: 352 - 131 })]);
    const cut = report.actions[0] as { preservedAt: string };
    expect(fs.readFileSync(cut.preservedAt).equals(fixtureBytes(name, ACTIVE).subarray(131))).toBe(true);
    expect(fs.statSync(path.join(dir, ACTIVE)).size).toBe(131);
    expect(report.after).toMatchObject({ ok: true, nextSeq: 21 });
    const log = await Log.open(dir);
    try {
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, 21);
    } finally {
      await log.close();
    }
  });

  it('Log.repair (skip) keeps the later frames and leaves a gap that reads reject with AOF_GAP', async () => {
    const dir = copyFixture(name);
    const report = await Log.repair(dir, { mode: 'skip' });
    expect(report.lostRanges).toEqual([{ from: 21, to: 22 }]);
    expect(report.actions).toEqual([expect.objectContaining({ kind: 'rewrite', file: path.join(dir, ACTIVE) })]);
    const original = (report.actions[0] as { preservedAt: string }).preservedAt;
    expect(fs.readFileSync(original).equals(fixtureBytes(name, ACTIVE)), 'the whole original is kept under recovery/').toBe(true);
    expect(report.after).toMatchObject({ ok: true, gaps: [{ file: path.join(dir, ACTIVE), from: 21, to: 22 }] });

    // The rebuilt file: same header (salt included), frame 20, a 32-byte gap frame at 131, then the frames that followed.
    const rebuilt = fs.readFileSync(path.join(dir, ACTIVE));
    const valid = fixtureBytes('valid', ACTIVE);
    expect(rebuilt.subarray(0, 131).equals(valid.subarray(0, 131))).toBe(true);
    expect(rebuilt.readUInt32LE(131)).toBe(32);
    expect(rebuilt.readUInt32LE(131 + 8)).toBe(21); // firstSeq
    expect(rebuilt.readUInt32LE(131 + 16)).toBe(1); // count: lost sequence numbers
    expect(rebuilt.readUInt32LE(131 + 20) + rebuilt.readUInt32LE(131 + 24) * 2 ** 32).toBe(valid.readUInt32LE(64 + 20) + valid.readUInt32LE(64 + 24) * 2 ** 32); // timestamp of the frame before
    expect(rebuilt.readUInt16LE(131 + 28)).toBe(2); // FLAG_GAP
    expect(rebuilt.subarray(163).equals(valid.subarray(173)), 'later frames (and the close marker) copied byte for byte').toBe(true);

    const log = await Log.open(dir);
    try {
      const { records, error } = await readAll(log);
      expectGoldenRecords(records, 0, 21);
      expect(error).toBeInstanceOf(GapError);
      expect(error).toMatchObject({ code: 'AOF_GAP', from: 21, to: 22, file: path.join(dir, ACTIVE), offset: 131 });
      const rest = await readAll(log, { from: error!.to });
      expect(rest.error).toBeUndefined();
      expectGoldenRecords(rest.records, 22, RECORD_COUNT);
      expect(await rejection(log.get(21))).toMatchObject({ code: 'AOF_GAP', from: 21, to: 22 });
      expect(log.nextSeq).toBe(RECORD_COUNT);
      expect(await log.append('after repair')).toBe(RECORD_COUNT);
    } finally {
      await log.close();
    }
  });
});

describe('damaged-footer: a bad footer on a sealed segment that is not the last', () => {
  const SEG6 = seg(6);

  it('open rejects AOF_CORRUPT at the footer; verify reports it', async () => {
    const dir = copyFixture('damaged-footer');
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(dir, { readOnly }));
      expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, SEG6), offset: 272 });
      expect(err.message).toMatch(/damaged footer/);
    }
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ code: 'AOF_CORRUPT', file: path.join(dir, SEG6), offset: 272 }));
  });

  it('Log.repair re-seals the segment around the same frames, losing nothing', async () => {
    const dir = copyFixture('damaged-footer');
    const report = await Log.repair(dir);
    expect(report.lostRanges).toEqual([]);
    expect(report.actions).toEqual([expect.objectContaining({ kind: 'rewrite', file: path.join(dir, SEG6) })]);
    expect(fs.readFileSync((report.actions[0] as { preservedAt: string }).preservedAt).equals(fixtureBytes('damaged-footer', SEG6))).toBe(true);
    expect(report.after).toMatchObject({ ok: true, records: RECORD_COUNT });
    const resealed = fs.readFileSync(path.join(dir, SEG6));
    expect(resealed.subarray(0, 272).equals(fixtureBytes('valid', SEG6).subarray(0, 272)), 'header and frames unchanged').toBe(true);
    expect(resealed.subarray(resealed.length - 8).toString('latin1')).toBe('AOFSEAL1');
    const log = await Log.open(dir);
    try {
      expect(log.segments()[1]).toMatchObject({ baseSeq: 6, nextSeq: 16, status: 'sealed', recordCount: 10 });
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
    } finally {
      await log.close();
    }
  });
});

describe('damaged-header: a bad segment header', () => {
  const SEG6 = seg(6);

  it('open rejects AOF_CORRUPT at offset 0 of that segment; verify reports it', async () => {
    const dir = copyFixture('damaged-header');
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(dir, { readOnly }));
      expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(dir, SEG6), offset: 0 });
      expect(err.message).toMatch(/segment header checksum mismatch/);
    }
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ code: 'AOF_CORRUPT', file: path.join(dir, SEG6), offset: 0 }));
  });

  it('Log.repair rewrites the header around the same frames, losing nothing', async () => {
    const dir = copyFixture('damaged-header');
    const report = await Log.repair(dir);
    expect(report.lostRanges).toEqual([]);
    expect(report.after).toMatchObject({ ok: true, records: RECORD_COUNT });
    const log = await Log.open(dir);
    try {
      const { records, error } = await readAll(log);
      expect(error).toBeUndefined();
      expectGoldenRecords(records, 0, RECORD_COUNT);
    } finally {
      await log.close();
    }
  });
});

describe('unsupported-version: headers of format version 4', () => {
  const SEG0 = seg(0);

  it('open (writer and read-only) rejects AOF_UNSUPPORTED_FORMAT naming the version, file and offset 8', async () => {
    const dir = copyFixture('unsupported-version');
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(dir, { readOnly }));
      expect(err).toBeInstanceOf(UnsupportedFormatError);
      expect(err).toMatchObject({ code: 'AOF_UNSUPPORTED_FORMAT', version: 4, file: path.join(dir, SEG0), offset: 8 });
    }
  });

  it('verify reports it; repair refuses and changes nothing', async () => {
    const dir = copyFixture('unsupported-version');
    const report = await Log.verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ code: 'AOF_UNSUPPORTED_FORMAT', file: path.join(dir, SEG0), offset: 8 }));
    const before = snapshot(dir);
    for (const mode of ['truncate', 'skip'] as const) {
      expect(await rejection(Log.repair(dir, { mode }))).toMatchObject({ code: 'AOF_UNSUPPORTED_FORMAT', version: 4 });
    }
    expect(snapshot(dir)).toEqual(before);
    expect(recoveryFiles(dir)).toEqual([]);
  });
});
