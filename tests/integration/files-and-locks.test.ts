import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, openLog, payloadFor, recoveryFiles, rejection, segmentFiles } from './support.js';

const modeOf = (p: string): number => fs.statSync(p).mode & 0o777;

/** Every directory and file under `dir`, `dir` included. */
function walk(dir: string): { dirs: string[]; files: string[] } {
  const out = { dirs: [dir], files: [] as string[] };
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = walk(p);
      out.dirs.push(...sub.dirs);
      out.files.push(...sub.files);
    } else out.files.push(p);
  }
  return out;
}

/** A log with rolled segments and a torn tail recovered into `recovery/`, still open for writing. */
async function logWithEveryKindOfFile(options: Parameters<typeof Log.open>[1] = {}): Promise<{ dir: string; log: Log }> {
  const dir = tempLogDir();
  const first = await openLog(dir, options);
  await first.appendBatch(['a', 'b']);
  await first.roll();
  await first.append('c');
  await first.close();
  fs.appendFileSync(segmentFiles(dir).at(-1)!, Buffer.from('torn tail bytes'));
  const log = await openLog(dir, options);
  expect(recoveryFiles(dir)).toHaveLength(1);
  return { dir, log };
}

describe('file permissions', () => {
  let umask: number;
  // A known umask, so that widened modes are not narrowed by the environment's.
  beforeAll(() => {
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
  });

  it('files and directories the log creates are owner-only by default', async () => {
    const { dir, log } = await logWithEveryKindOfFile();
    await log.append('d');
    await log.roll();
    const { dirs, files } = walk(dir);
    expect(dirs).toEqual(expect.arrayContaining([dir, path.join(dir, 'segments'), path.join(dir, 'recovery')]));
    expect(files.filter((f) => f.endsWith('.seg')).length).toBeGreaterThanOrEqual(3);
    for (const d of dirs) expect(modeOf(d).toString(8), d).toBe('700');
    for (const f of files) expect(modeOf(f).toString(8), f).toBe('600');
  });

  it('fileMode and dirMode widen them', async () => {
    const { dir, log } = await logWithEveryKindOfFile({ fileMode: 0o640, dirMode: 0o750 });
    await log.append('d');
    await log.roll();
    const { dirs, files } = walk(dir);
    for (const d of dirs) expect(modeOf(d).toString(8), d).toBe('750');
    for (const f of files.filter((p) => !p.includes(`${path.sep}LOCK${path.sep}`))) expect(modeOf(f).toString(8), f).toBe('640');
  });
});

describe('one writer per directory', () => {
  it('a second writer in the same process gets AOF_LOCKED, and the first keeps working', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await log.append('one');
    const err = await rejection(Log.open(dir));
    expect(err.code).toBe('AOF_LOCKED');
    expect(err.message).toContain(path.join(dir, 'LOCK'));
    // The same directory by another spelling is the same lock.
    expect((await rejection(Log.open(path.join(dir, '..', path.basename(dir))))).code).toBe('AOF_LOCKED');
    expect(await log.append('two')).toBe(1);
    await log.close();
    const next = await openLog(dir);
    expect(next.nextSeq).toBe(2);
  });

  it('a read-only handle opens beside a writer and reads what was acknowledged before it opened', async () => {
    const dir = tempLogDir();
    const writer = await openLog(dir, { segment: { maxRecords: 4 } });
    for (let i = 0; i < 10; i++) await writer.append(payloadFor(i));
    const reader = await openLog(dir, { readOnly: true });
    expect(reader.nextSeq).toBe(10);
    expect((await collect(reader.read())).map((r) => Buffer.from(r.payload))).toEqual(Array.from({ length: 10 }, (_, i) => payloadFor(i)));
    // The writer is not held back by the reader.
    expect(await writer.append(payloadFor(10))).toBe(10);
    const second = await openLog(dir, { readOnly: true });
    expect((await second.get(10))?.payload).toEqual(payloadFor(10));
    await reader.close();
    await second.close();
    expect(await writer.append(payloadFor(11))).toBe(11);
  });

  it('closing releases the lock even after a failed open of the same directory', async () => {
    const dir = tempLogDir();
    const log = await openLog(dir);
    await rejection(Log.open(dir));
    await log.close();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
    const again = await openLog(dir);
    expect(again.readOnly).toBe(false);
  });
});
