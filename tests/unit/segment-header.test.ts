import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError, UnsupportedFormatError } from '../../src/errors.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { crc32 } from '../../src/record/crc.js';
import { encodeFooter } from '../../src/segment/footer.js';
import { decodeSegmentHeader, encodeSegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC } from '../../src/segment/header.js';
import { readSegmentEnvelope } from '../../src/segment/load.js';
import { tempDir } from '../helpers/tmp.js';

const LOG_ID = Buffer.from('0123456789ab', 'latin1');

const SALT = Buffer.from('0123abcd', 'latin1');

function resealHeader(buf: Buffer): void {
  buf.writeUInt32LE(crc32(buf.subarray(0, 60)), 60);
}

function decodeError(buf: Buffer): unknown {
  try {
    decodeSegmentHeader(buf, '/logs/x.seg');
  } catch (err) {
    return err;
  }
  return expect.fail('decodeSegmentHeader accepted a bad header');
}

describe('segment header', () => {
  it('round-trips base, creation time and salt', () => {
    for (const [base, created] of [[0, 0], [1, 1_700_000_000_000], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]] as const) {
      const buf = encodeSegmentHeader(base, created, SALT);
      expect(buf.length).toBe(SEGMENT_HEADER_BYTES);
      expect(buf.subarray(0, 8)).toEqual(SEGMENT_MAGIC);
      const h = decodeSegmentHeader(buf, 'f');
      // No identity given: a version-1 header (what repair writes for a segment that had none).
      expect(h).toEqual({ version: 1, baseSeq: base, createdMs: created, salt: SALT, logId: undefined });
      const v2 = decodeSegmentHeader(encodeSegmentHeader(base, created, SALT, LOG_ID), 'f');
      expect(v2).toEqual({ version: FORMAT_VERSION, baseSeq: base, createdMs: created, salt: SALT, logId: LOG_ID });
    }
  });

  it('picks a fresh random salt per segment by default', () => {
    const a = decodeSegmentHeader(encodeSegmentHeader(0, 0), 'f').salt;
    const b = decodeSegmentHeader(encodeSegmentHeader(0, 0), 'f').salt;
    expect(a.length).toBe(8);
    expect(a.equals(b)).toBe(false);
  });

  it('bad magic is corruption at offset 0, naming the file', () => {
    const buf = encodeSegmentHeader(5, 6, SALT);
    buf[0] = 0x58;
    const err = decodeError(buf);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', file: '/logs/x.seg', offset: 0 });
    expect((err as Error).message).toMatch(/bad magic/);
  });

  it('any flipped byte after the magic is a checksum mismatch', () => {
    const good = encodeSegmentHeader(5, 6, SALT);
    for (let i = 8; i < SEGMENT_HEADER_BYTES; i++) {
      const buf = Buffer.from(good);
      buf[i] ^= 0x10;
      const err = decodeError(buf);
      expect(err, `byte ${i}`).toMatchObject({ code: 'AOF_CORRUPT' });
      expect((err as Error).message).toMatch(/checksum mismatch/);
    }
  });

  it('a header cut short is corruption', () => {
    expect(decodeError(encodeSegmentHeader(0, 0, SALT).subarray(0, 63))).toMatchObject({ code: 'AOF_CORRUPT', offset: 0 });
  });

  it('version 4 with a valid checksum is UnsupportedFormatError, not corruption', () => {
    const buf = encodeSegmentHeader(5, 6, SALT);
    buf.writeUInt16LE(4, 8);
    resealHeader(buf);
    const err = decodeError(buf);
    expect(err).toBeInstanceOf(UnsupportedFormatError);
    expect(err).toMatchObject({ code: 'AOF_UNSUPPORTED_FORMAT', version: 4, offset: 8 });
  });

  it('a version-2 header without an identity (bytes 48..59 zero) is corruption at offset 48', () => {
    const buf = encodeSegmentHeader(5, 6, SALT);
    buf.writeUInt16LE(2, 8);
    resealHeader(buf);
    expect(decodeError(buf)).toMatchObject({ code: 'AOF_CORRUPT', offset: 48 });
  });

  it('a wrong header-length field or an out-of-range base with valid checksums is corruption', () => {
    const len = encodeSegmentHeader(5, 6, SALT);
    len.writeUInt16LE(128, 10);
    resealHeader(len);
    expect(decodeError(len)).toMatchObject({ code: 'AOF_CORRUPT', offset: 10 });
    const base = encodeSegmentHeader(5, 6, SALT);
    base.writeBigUInt64LE(2n ** 63n, 16);
    resealHeader(base);
    expect(decodeError(base)).toMatchObject({ code: 'AOF_CORRUPT', offset: 16 });
  });
});

describe('segment envelope (header and footer of a real file)', () => {
  async function envelopeOf(bytes: Buffer, nameBase: number): ReturnType<typeof readSegmentEnvelope> {
    const file = path.join(tempDir(), `${String(nameBase).padStart(20, '0')}.seg`);
    fs.writeFileSync(file, bytes);
    const handle = await nodeFs.open(file, 'read');
    try {
      return await readSegmentEnvelope(handle, nameBase);
    } finally {
      await handle.close();
    }
  }

  it('a header whose base differs from the file name is corruption at offset 16', async () => {
    const err = await envelopeOf(encodeSegmentHeader(5, 0, SALT), 6).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ code: 'AOF_CORRUPT', offset: 16 });
    expect((err as Error).message).toMatch(/says base 5.*says 6/);
  });

  it('tells unborn, unsealed and sealed files apart', async () => {
    expect(await envelopeOf(Buffer.alloc(0), 0)).toMatchObject({ kind: 'unborn', size: 0 });
    expect(await envelopeOf(Buffer.alloc(40), 0)).toMatchObject({ kind: 'unborn' });
    expect(await envelopeOf(Buffer.alloc(4096), 0)).toMatchObject({ kind: 'unborn', size: 4096 });
    const header = encodeSegmentHeader(3, 9, SALT);
    expect(await envelopeOf(header, 3)).toMatchObject({ kind: 'unsealed', size: 64, header: { baseSeq: 3, createdMs: 9 } });
    const footer = encodeFooter({ recordCount: 0, firstSeq: 3, nextSeq: 3, firstTimestamp: 0, lastTimestamp: 0, dataEnd: 64, index: [] }, SALT);
    const sealed = await envelopeOf(Buffer.concat([header, footer]), 3);
    expect(sealed).toMatchObject({ kind: 'sealed', summary: { firstSeq: 3, nextSeq: 3, dataEnd: 64 } });
  });

  it('a footer with another segment\'s salt is corruption, never read as this segment\'s summary', async () => {
    const header = encodeSegmentHeader(3, 9, SALT);
    const footer = encodeFooter({ recordCount: 0, firstSeq: 3, nextSeq: 3, firstTimestamp: 0, lastTimestamp: 0, dataEnd: 64, index: [] }, Buffer.from('otherslt', 'latin1'));
    await expect(envelopeOf(Buffer.concat([header, footer]), 3)).rejects.toMatchObject({ code: 'AOF_CORRUPT', offset: 64 });
  });
});
