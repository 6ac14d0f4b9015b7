import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';
import { aof, copyFixture, requireBuilt, startAof } from './run.js';

beforeAll(requireBuilt);

const seqOf = (line: string): number => Number(line.split(/[\t ]/)[0]);

describe('aof tail', () => {
  it('prints the last records (-n, default 10) or from a sequence number, then exits 0', async () => {
    const dir = copyFixture('valid');
    const last3 = await aof(['tail', dir, '-n', '3', '--format', 'utf8']);
    expect(last3.code, last3.stderr).toBe(0);
    expect(last3.stdout.trim().split('\n').map(seqOf)).toEqual([23, 24, 25]);
    const byDefault = await aof(['tail', dir, '--format', 'hex']);
    expect(byDefault.stdout.trim().split('\n').map(seqOf)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    const from = await aof(['tail', dir, '--from', '24']);
    expect(from.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { payload: string }).payload)).toEqual(['tail-3', 'the last record']);
  });

  it('-f follows a writer in another process, one record per line, in order, and ends with exit 0 on SIGINT', async () => {
    const dir = tempLogDir();
    const writer = startChildWriter(dir, 'always', 4, 64);
    try {
      await writer.ready;
      await writer.waitForAcks(20);
      const tail = startAof(['tail', '-f', dir, '--from', '0', '--format', 'hex']);
      await tail.waitForLine('stderr', (l) => l.startsWith(`aof tail: following ${dir} from sequence 0`));
      // Records the writer acknowledges after the tail started reach it too.
      const target = writer.acked.length + 300;
      await writer.waitForAcks(target);
      await tail.waitForLine('stdout', (l) => seqOf(l) >= target - 1);
      tail.child.kill('SIGINT');
      const result = await tail.done;
      expect(result).toMatchObject({ code: 0, signal: null });
      const lines = result.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(target);
      lines.forEach((line, i) => {
        const [seq, , hex] = line.split(' ');
        expect(Number(seq)).toBe(i);
        expect(hex).toBe(childPayload(i, 64).toString('hex'));
      });
    } finally {
      await writer.kill();
    }
  });

  it('-f follows an in-process writer across segment rolls and a clean close; SIGTERM ends it with exit 0', async () => {
    const dir = tempLogDir();
    const log = await Log.open(dir, { segment: { maxRecords: 5 } });
    for (let i = 0; i < 12; i++) await log.append(`before ${i}`);
    const tail = startAof(['tail', dir, '--follow', '-n', '2', '--format', 'utf8']);
    await tail.waitForLine('stderr', (l) => l.includes('following') && l.includes('from sequence 10'));
    for (let i = 0; i < 23; i++) await log.append(`after ${i}`);
    await tail.waitForLine('stdout', (l) => seqOf(l) === 34);
    await log.close();
    const reopened = await Log.open(dir, { segment: { maxRecords: 5 } });
    await reopened.append('after reopening');
    await tail.waitForLine('stdout', (l) => seqOf(l) === 35);
    tail.child.kill('SIGTERM');
    const result = await tail.done;
    await reopened.close();
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.map(seqOf)).toEqual(Array.from({ length: 26 }, (_, i) => 10 + i));
    expect(lines[0]!.split('\t')[2]).toBe('before 10');
    expect(lines[2]!.split('\t')[2]).toBe('after 0');
    expect(lines.at(-1)!.split('\t')[2]).toBe('after reopening');
  });

  it('-f on a quiet log waits, and an interrupt before any record still exits 0', async () => {
    const dir = copyFixture('valid');
    const tail = startAof(['tail', '-f', dir, '-n', '0']);
    await tail.waitForLine('stderr', (l) => l.includes('from sequence 26'));
    tail.child.kill('SIGINT');
    const result = await tail.done;
    expect(result).toMatchObject({ code: 0, stdout: '' });
  });

  it('stops with exit 1 at damage', async () => {
    const r = await aof(['tail', copyFixture('flipped-sealed'), '--from', '0', '--format', 'utf8']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout.trim().split('\n').map(seqOf)).toEqual([0, 1]);
    expect(r.stderr).toContain('aof tail: AOF_CORRUPT');
  });
});
