import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Log } from '../../src/log.js';
import { tempLogDir } from '../helpers/tmp.js';
import { openLog, payloadFor, rejection } from '../integration/support.js';
import { lastSegment, segments } from './support.js';

/**
 * Break 8 of issue 18, third form: a segment of another log with the same
 * base name put in place of one of this log's. Its frames checksum under its
 * own salt, so without an identity check its records would be served as this
 * log's data. They must never be: AOF_FOREIGN_SEGMENT naming the file.
 */

async function writeLog(dir: string, count: number, maxBytes?: number): Promise<void> {
  const log = await openLog(dir, maxBytes === undefined ? {} : { segment: { maxBytes } });
  for (let i = 0; i < count; i++) await log.append(Buffer.concat([Buffer.from(path.basename(path.dirname(dir))), payloadFor(i)]));
  await log.close();
}

describe('a segment of another log with the same base name', () => {
  it('as the last segment (holding more records than ours): writer and reader opens refuse, verify reports it', async () => {
    const ours = tempLogDir();
    const theirs = tempLogDir();
    await writeLog(ours, 5);
    await writeLog(theirs, 20);
    const file = lastSegment(ours);
    fs.copyFileSync(lastSegment(theirs), file);
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(ours, { readOnly }));
      expect(err.code, err.message).toBe('AOF_FOREIGN_SEGMENT');
      expect(err.message).toContain(file);
    }
    const report = await Log.verify(ours);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ code: 'AOF_FOREIGN_SEGMENT', file, severity: 'error' }));
  });

  it('repair moves the foreign segment to recovery/ and records what it stood in for as a gap; the log is writable again', async () => {
    const ours = tempLogDir();
    const theirs = tempLogDir();
    await writeLog(ours, 5);
    await writeLog(theirs, 20);
    const file = lastSegment(ours);
    fs.copyFileSync(lastSegment(theirs), file);
    const report = await Log.repair(ours);
    expect(report.actions).toContainEqual(expect.objectContaining({ kind: 'move', file }));
    expect(fs.readdirSync(path.join(ours, 'recovery')).some((n) => n.includes('.foreign.'))).toBe(true);
    expect(report.lostRanges).toContainEqual({ from: 0, to: 5 });
    expect(report.after?.ok).toBe(true);
    const log = await openLog(ours);
    expect(log.nextSeq).toBe(5);
    expect((await rejection(log.get(0))).code).toBe('AOF_GAP'); // never another log's record
    expect(await log.append('mine')).toBe(5);
    await log.close();
  });

  it('with the identity file deleted too: the oldest stamped segment says whose log it is, not the foreign last one', async () => {
    const ours = tempLogDir();
    const theirs = tempLogDir();
    await writeLog(ours, 30, 256);
    await writeLog(theirs, 30, 256);
    const file = lastSegment(ours);
    expect(path.basename(file)).toBe(path.basename(lastSegment(theirs)));
    fs.copyFileSync(lastSegment(theirs), file);
    fs.rmSync(path.join(ours, 'identity'));
    for (const readOnly of [false, true]) {
      const err = await rejection(Log.open(ours, { readOnly }));
      expect(err.code, err.message).toBe('AOF_FOREIGN_SEGMENT');
      expect(err.file).toBe(file);
    }
    expect(fs.existsSync(path.join(ours, 'identity'))).toBe(false); // the refused open adopted nothing
  });

  it('as a sealed segment opened from the catalog: reading it refuses rather than return its records', async () => {
    const ours = tempLogDir();
    const theirs = tempLogDir();
    await writeLog(ours, 30, 256);
    await writeLog(theirs, 30, 256);
    const mine = segments(ours);
    const other = segments(theirs);
    expect(path.basename(mine[1]!)).toBe(path.basename(other[1]!)); // same segmentation: same names
    fs.copyFileSync(other[1]!, mine[1]!);
    const base = Number(path.basename(mine[1]!, '.seg'));
    // Whichever step looks first (open reading the header, or the first read of the segment), the foreign records are never returned.
    let log: Log | undefined;
    try {
      log = await Log.open(ours, { readOnly: true });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('AOF_FOREIGN_SEGMENT');
    }
    if (log !== undefined) {
      const err = await rejection(log.get(base));
      expect(err.code, err.message).toBe('AOF_FOREIGN_SEGMENT');
      await log.close();
    }
    const report = await Log.verify(ours);
    expect(report.problems).toContainEqual(expect.objectContaining({ code: 'AOF_FOREIGN_SEGMENT', file: mine[1] }));
  });
});
