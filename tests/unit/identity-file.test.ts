import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { decodeIdentity, encodeIdentity, IDENTITY_BYTES, newLogId, readIdentity, WATERMARK_DURABLE, writeIdentity } from '../../src/log/identity-file.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';

const RECORD = { logId: Buffer.from('0123456789ab', 'latin1'), since: 7, committedSeq: 2 ** 53 - 1, flags: WATERMARK_DURABLE };

describe('identity file codec', () => {
  it('round-trips every field in 48 bytes', () => {
    const bytes = encodeIdentity(RECORD);
    expect(bytes.length).toBe(IDENTITY_BYTES);
    expect(decodeIdentity(bytes)).toEqual(RECORD);
  });

  it('any flipped bit, a wrong length or an all-zero identity is not an identity', () => {
    const good = encodeIdentity(RECORD);
    for (let bit = 0; bit < good.length * 8; bit++) {
      const b = Buffer.from(good);
      b[bit >> 3]! ^= 1 << (bit & 7);
      expect(decodeIdentity(b), `bit ${bit}`).toBeUndefined();
    }
    expect(decodeIdentity(good.subarray(0, 47))).toBeUndefined();
    expect(() => encodeIdentity({ ...RECORD, logId: Buffer.alloc(12) })).toThrow();
  });

  it('a new identity is 12 bytes and not all zero; two differ', () => {
    const a = newLogId();
    expect(a.length).toBe(12);
    expect(a.some((x) => x !== 0)).toBe(true);
    expect(a.equals(newLogId())).toBe(false);
  });

  it('reads missing, damaged and valid files; writes atomically, leaving no temporary file', async () => {
    const dir = tempDir();
    expect(await readIdentity(nodeFs, dir)).toEqual({ state: 'missing' });
    await writeIdentity(nodeFs, dir, RECORD, 0o600);
    expect(await readIdentity(nodeFs, dir)).toEqual({ state: 'ok', record: RECORD });
    expect(fs.readdirSync(dir)).toEqual(['identity']);
    fs.appendFileSync(path.join(dir, 'identity'), 'x');
    expect(await readIdentity(nodeFs, dir)).toEqual({ state: 'damaged', file: path.join(dir, 'identity') });
  });
});

describe('a damaged or deleted identity file', () => {
  it('is written back by the next writer open with the identity the segments carry', async () => {
    const dir = tempLogDir();
    let log = await Log.open(dir);
    await log.append('a');
    await log.close();
    const before = fs.readFileSync(path.join(dir, 'identity'));
    fs.writeFileSync(path.join(dir, 'identity'), Buffer.alloc(IDENTITY_BYTES, 0xee));
    log = await Log.open(dir);
    expect(await log.append('b')).toBe(1);
    await log.close();
    const after = decodeIdentity(fs.readFileSync(path.join(dir, 'identity')))!;
    expect(after.logId.equals(before.subarray(8, 20))).toBe(true);
    expect(after.committedSeq).toBe(2);
  });
});
