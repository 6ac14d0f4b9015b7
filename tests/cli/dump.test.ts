import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { RawEvent, RawFrame, RawDamage, RawSummary } from '../../src/cli/raw.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { AOF, aof, copyFixture, requireBuilt, seg } from './run.js';

beforeAll(requireBuilt);

const T0 = Date.parse('2024-01-01T00:00:00Z');

function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

describe('aof dump DIR', () => {
  it('prints every record of the valid fixture as JSON lines, UTF-8 or base64', async () => {
    const r = await aof(['dump', copyFixture('valid')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // stdout is a pipe: no progress bar
    const records = jsonLines<{ seq: number; timestamp: number; payload: string; encoding: string }>(r.stdout);
    expect(records.map((x) => x.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i));
    expect(records[0]).toEqual({ seq: 0, timestamp: T0 + 1000, payload: 'hello, aof', encoding: 'utf8' });
    expect(records[1]).toEqual({ seq: 1, timestamp: T0 + 2000, payload: '', encoding: 'utf8' });
    expect(records[5]!.encoding).toBe('base64');
    expect(records[6]!.payload).toBe('héllo wörld ✓ 日本語 🦀');
    expect(records[25]!.payload).toBe('the last record');
  });

  it('--from, --to and the hex and utf8 formats', async () => {
    const dir = copyFixture('valid');
    const utf8 = await aof(['dump', dir, '--from', '2', '--to', '5', '--format', 'utf8']);
    expect(utf8.stdout).toBe(`2\t${T0 + 3000}\talpha\n3\t${T0 + 3000}\tbeta\n4\t${T0 + 3000}\tgamma\n`);
    const hex = await aof(['dump', dir, '--from', '0', '--to', '1', '--format', 'hex']);
    expect(hex.stdout).toBe(`0 ${T0 + 1000} ${Buffer.from('hello, aof').toString('hex')}\n`);
    const binary = await aof(['dump', dir, '--from', '5', '--to', '6', '--format', 'utf8']);
    expect(binary.stdout).toMatch(/^5\t\d+\tbase64:/);
    const beyond = await aof(['dump', dir, '--from', '100']);
    expect(beyond).toMatchObject({ code: 0, stdout: '' });
  });

  it('matches what the library reads, for a log built through the API', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 7 } });
    const payloads = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? Buffer.from([i, 0xff, 0xfe]) : `event ${i}`));
    for (const p of payloads) await log.append(p);
    const expected: string[] = [];
    for await (const rec of log.read()) expected.push(rec.payload.toString('hex'));
    await log.close();
    const r = await aof(['dump', dir, '--format', 'hex']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split(' ')[2])).toEqual(expected);
  });

  it('stops at damage with exit 1, naming the file and offset, after printing what precedes it', async () => {
    const dir = copyFixture('flipped-sealed');
    const r = await aof(['dump', dir, '--format', 'utf8']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => Number(l.split('\t')[0]))).toEqual([0, 1]);
    expect(r.stderr).toContain(`aof dump: AOF_CORRUPT:`);
    expect(r.stderr).toContain(`(${path.join(dir, seg(0))} at offset 146)`);
    expect(r.stderr).toContain('stopped after 2 record(s)');
  });

  it('ends quietly with exit 0 when the reader of its output goes away', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { flush: { strategy: 'none' } });
    await log.appendBatch(Array.from({ length: 20_000 }, (_, i) => `record ${i} ${'z'.repeat(100)}`));
    await log.close();
    const child = spawn(process.execPath, [AOF, 'dump', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => child.stdout.destroy()); // as `aof dump DIR | head -1` does
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });
});

describe('aof dump --raw FILE', () => {
  it('decodes a sealed segment: header, every frame with its checksum, footer', async () => {
    const dir = copyFixture('valid');
    const file = path.join(dir, seg(0));
    const r = await aof(['dump', '--raw', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const events = jsonLines<RawEvent>(r.stdout);
    expect(events.map((e) => e.kind)).toEqual(['raw-file', 'header', 'salt', 'frame', 'frame', 'frame', 'frame', 'footer', 'summary']);
    expect(events[0]).toMatchObject({ file, bytes: 392, segment: '00000000000000000000.seg', segmentOffset: 0, label: null, hasHeader: true });
    expect(events[1]).toMatchObject({ ok: true, version: 1, baseSeq: 0, createdMs: T0, salt: '5a17f10e00c0de00', saltCopy: '5a17f10e00c0de00' });
    expect(events[2]).toEqual({ kind: 'salt', salt: '5a17f10e00c0de00', source: 'the segment header' });
    const frames = events.filter((e): e is RawFrame => e.kind === 'frame');
    expect(frames.map((f) => [f.offset, f.bytes, f.firstSeq, f.count, f.type, f.crc])).toEqual([
      [64, 46, 0, 1, 'data', 'ok'], [110, 36, 1, 1, 'data', 'ok'], [146, 58, 2, 3, 'data', 'ok'], [204, 60, 5, 1, 'data', 'ok'],
    ]);
    expect(frames[0]!.timestamp).toBe(T0 + 1000);
    expect(events[7]).toMatchObject({ kind: 'footer', offset: 264, bytes: 128, ok: true, mismatch: null, summary: { recordCount: 6, firstSeq: 0, nextSeq: 6, indexEntries: 2 } });
    expect(events[8]).toMatchObject({ kind: 'summary', frames: 4, records: 6, badFrames: 0, damagedBytes: 0, ok: true, verdict: 'OK' });

    const text = await aof(['dump', '--raw', file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('header  format version 1, base sequence 0, created 2024-01-01T00:00:00.000Z, salt 5a17f10e00c0de00, checksum ok');
    expect(text.stdout).toMatch(/ {7}146 {7}58 {2}2\.\.4 +2024-01-01T00:00:03\.000Z data {2}ok/);
    expect(text.stdout).toContain('footer  at 264 (128 B): 6 records, sequence 0..5');
    expect(text.stdout).toMatch(/summary 4 frame\(s\), 6 record\(s\), 0 with a bad checksum, 0 B damaged: OK\n$/);
  });

  it('--records shows each record of the verified frames in the chosen format', async () => {
    const file = path.join(copyFixture('valid'), seg(0));
    const text = await aof(['dump', '--raw', file, '--records', '--format', 'utf8']);
    expect(text.stdout).toContain(`0\t${T0 + 1000}\thello, aof`);
    expect(text.stdout).toContain(`4\t${T0 + 3000}\tgamma`);
    const json = jsonLines<RawEvent>((await aof(['dump', '--raw', file, '--records', '--json'])).stdout);
    const batch = json.find((e): e is RawFrame => e.kind === 'frame' && e.firstSeq === 2)!;
    expect(batch.records).toEqual([
      { seq: 2, timestamp: T0 + 3000, payload: 'alpha', encoding: 'utf8' },
      { seq: 3, timestamp: T0 + 3000, payload: 'beta', encoding: 'utf8' },
      { seq: 4, timestamp: T0 + 3000, payload: 'gamma', encoding: 'utf8' },
    ]);
  });

  it('shows the close marker of the active segment', async () => {
    const events = jsonLines<RawEvent>((await aof(['dump', '--raw', path.join(copyFixture('valid'), seg(20)), '--json'])).stdout);
    expect(events.filter((e): e is RawFrame => e.kind === 'frame').at(-1)).toMatchObject({ offset: 320, type: 'close', firstSeq: 26, count: 0, crc: 'ok' });
    expect(events.some((e) => e.kind === 'footer')).toBe(false);
  });

  it('a flipped bit: the frame with a BAD checksum, the damaged span, and the frames after it; exit 1', async () => {
    const file = path.join(copyFixture('flipped-active-middle'), seg(20));
    const r = await aof(['dump', '--raw', file, '--json', '--records']);
    expect(r.code, r.stderr).toBe(1);
    const events = jsonLines<RawEvent>(r.stdout);
    const frames = events.filter((e): e is RawFrame => e.kind === 'frame');
    expect(frames.map((f) => [f.offset, f.firstSeq, f.crc])).toEqual([[64, 20, 'ok'], [131, 21, 'bad'], [173, 22, 'ok'], [227, 24, 'ok'], [269, 25, 'ok'], [320, 26, 'ok']]);
    expect(frames[1]!.records).toBeUndefined(); // damaged data is never shown as records
    expect(events.find((e) => e.kind === 'damage')).toEqual({ kind: 'damage', offset: 131, fileOffset: 131, bytes: 42, reason: 'frame checksum mismatch', type: 'corrupt', resumesAt: 173 });
    expect(events.at(-1)).toMatchObject({ kind: 'summary', ok: false, badFrames: 1, damagedBytes: 42 });
    const text = await aof(['dump', '--raw', file]);
    expect(text.stdout).toMatch(/ {7}131 {7}42 {2}21\.\.21 .* data {2}BAD/);
    expect(text.stdout).toContain('DAMAGED [131, 173): frame checksum mismatch; valid frames resume at 173');
  });

  it('a hostile length, a damaged header, a damaged footer, torn and zero tails', async () => {
    const huge = jsonLines<RawEvent>((await aof(['dump', '--raw', path.join(copyFixture('huge-length'), seg(20)), '--json'])).stdout);
    expect(huge.find((e) => e.kind === 'damage')).toMatchObject({ offset: 131, bytes: 42, reason: 'frame length 2147483648 exceeds FRAME_BYTES_MAX', type: 'corrupt', resumesAt: 173 });

    const header = await aof(['dump', '--raw', path.join(copyFixture('damaged-header'), seg(6)), '--json']);
    expect(header.code, header.stderr).toBe(1);
    const headerEvents = jsonLines<RawEvent>(header.stdout);
    expect(headerEvents[1]).toMatchObject({ kind: 'header', ok: false });
    expect(headerEvents[2]).toEqual({ kind: 'salt', salt: '5a17f10e00c0de01', source: 'the damaged header (first copy)' });
    expect(headerEvents.filter((e) => e.kind === 'frame').every((e) => (e as RawFrame).crc === 'ok')).toBe(true);

    const footer = await aof(['dump', '--raw', path.join(copyFixture('damaged-footer'), seg(6)), '--json']);
    expect(footer.code, footer.stderr).toBe(1);
    expect(jsonLines<RawEvent>(footer.stdout).find((e) => e.kind === 'footer')).toMatchObject({ offset: 272, ok: false, error: expect.stringContaining('damaged footer: checksum mismatch') });

    const torn = await aof(['dump', '--raw', path.join(copyFixture('torn-tail'), seg(20)), '--json']);
    expect(torn.code, torn.stderr).toBe(0); // a torn tail is a warning, as in verify
    expect(jsonLines<RawEvent>(torn.stdout).find((e) => e.kind === 'damage')).toMatchObject({ offset: 269, bytes: 40, type: 'torn-tail', resumesAt: null });

    const zeros = await aof(['dump', '--raw', path.join(copyFixture('zero-tail'), seg(20))]);
    expect(zeros.code, zeros.stderr).toBe(0);
    expect(zeros.stdout).toContain('ZEROS [320, 832)');
    expect(zeros.stdout).toContain('OK (512 zero bytes at the end)');
  });

  it('files under recovery/: pieces verified with their segment’s salt, whole copies with their own header', async () => {
    const dir = copyFixture('flipped-sealed');
    expect((await aof(['repair', dir, '--yes'])).code).toBe(0);
    const kept = fs.readdirSync(path.join(dir, 'recovery')).sort();
    expect(kept).toHaveLength(4);
    // The piece cut from segment 0 at offset 146: no header; its frames and the footer of the sealed segment it came from.
    const cut = await aof(['dump', '--raw', path.join(dir, 'recovery', kept[0]!), '--json']);
    expect(cut.code, cut.stderr).toBe(1);
    const events = jsonLines<RawEvent>(cut.stdout);
    expect(events[0]).toMatchObject({ kind: 'raw-file', segment: '00000000000000000000.seg', segmentOffset: 146, label: 'cut', hasHeader: false });
    expect(events[1]).toEqual({ kind: 'salt', salt: '5a17f10e00c0de00', source: `the header of ${path.join(dir, seg(0))}` });
    expect(events.filter((e): e is RawFrame => e.kind === 'frame').map((f) => [f.offset, f.fileOffset, f.crc])).toEqual([[146, 0, 'bad'], [204, 58, 'ok']]);
    expect(events.find((e) => e.kind === 'footer')).toMatchObject({ offset: 264, ok: true });
    const text = await aof(['dump', '--raw', path.join(dir, 'recovery', kept[0]!)]);
    expect(text.stdout).toContain('bytes [146, 392) of segment 00000000000000000000.seg, with no header, kept as cut at');
    // A segment moved whole: its own header, every frame verified.
    for (const name of kept.slice(1)) {
      const moved = await aof(['dump', '--raw', path.join(dir, 'recovery', name), '--json']);
      expect(moved.code, name).toBe(0);
      expect(jsonLines<RawEvent>(moved.stdout)[0]).toMatchObject({ label: 'moved', segmentOffset: 0, hasHeader: true });
    }
  });

  it('a torn tail kept by recovery at open', async () => {
    const dir = copyFixture('torn-tail');
    await (await Log.open(dir)).close(); // the writer open keeps the torn tail under recovery/ and cuts it off
    const [name] = fs.readdirSync(path.join(dir, 'recovery'));
    expect(name).toMatch(/^00000000000000000020\.seg\.at-269\.torn-tail\./);
    const r = await aof(['dump', '--raw', path.join(dir, 'recovery', name!)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('bytes [269, 309) of segment 00000000000000000020.seg, with no header, kept as torn-tail');
    expect(r.stdout).toContain(`salt    5a17f10e00c0de03 from the header of ${path.join(dir, seg(20))}`);
    expect(r.stdout).toContain('TORN TAIL [269, 309): frame length 51 runs past the end of the data (40 bytes left)');
  });

  it('a piece away from its log cannot be verified: frames decoded by structure, reported as unverified, exit 1', async () => {
    const dir = copyFixture('flipped-active-middle');
    await aof(['repair', dir, '--yes']);
    const [name] = fs.readdirSync(path.join(dir, 'recovery'));
    const away = path.join(tempDir(), name!);
    fs.copyFileSync(path.join(dir, 'recovery', name!), away);
    const r = await aof(['dump', '--raw', away, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const events = jsonLines<RawEvent>(r.stdout);
    expect(events[1]).toMatchObject({ kind: 'salt', salt: null });
    const frames = events.filter((e): e is RawFrame => e.kind === 'frame');
    // The flipped payload byte leaves the structure intact: only a checksum could tell.
    expect(frames.map((f) => [f.offset, f.firstSeq, f.crc])).toEqual([[131, 21, 'unverified'], [173, 22, 'unverified'], [227, 24, 'unverified'], [269, 25, 'unverified'], [320, 26, 'unverified']]);
    expect((events.at(-1) as RawSummary).verdict).toBe('DAMAGED: frame checksums could not be verified');
    const text = await aof(['dump', '--raw', away]);
    expect(text.stdout).toContain('checksums are NOT verified');
  });

  it('garbage in a file that is no segment at all', async () => {
    const file = path.join(tempDir(), 'noise.bin');
    fs.writeFileSync(file, Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff)));
    const r = await aof(['dump', '--raw', file, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const events = jsonLines<RawEvent>(r.stdout);
    expect(events[0]).toMatchObject({ segment: null, hasHeader: false });
    expect(events.filter((e) => e.kind === 'damage').reduce((n, e) => n + (e as RawDamage).bytes, 0)).toBe(300);
  });
});
