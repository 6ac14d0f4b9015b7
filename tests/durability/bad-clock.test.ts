import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';

/** A clock the test sets: a number, or anything a broken clock might return. */
function settableClock(start: unknown): { clock: () => number; set(v: unknown): void } {
  let value = start;
  return { clock: () => value as number, set: (v) => (value = v) };
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string } | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => err as { code?: string; message: string },
  );
}

async function contents(dir: string): Promise<Array<{ seq: number; timestamp: number; text: string }>> {
  const log = await Log.open(dir);
  const out: Array<{ seq: number; timestamp: number; text: string }> = [];
  for await (const r of log.read()) out.push({ seq: r.seq, timestamp: r.timestamp, text: r.payload.toString() });
  expect(log.openReport.recovery?.cleanClose).toBe(true);
  await log.close();
  expect((await Log.verify(dir)).ok).toBe(true);
  return out;
}

const BAD: Array<[string, unknown]> = [
  ['2^53', 2 ** 53],
  ['2^60', 2 ** 60],
  ['Infinity', Infinity],
  ['NaN', NaN],
  ['-1', -1],
  ['-Infinity', -Infinity],
  ['1.5 (not an integer)', 1_700_000_000_000.5],
  ['a string', '1700000000000'],
  ['a bigint', 1_700_000_000_000n],
  ['undefined', undefined],
  ['an object', { ms: 1 }],
];

describe('a clock returning a value that is not a timestamp (break 9)', () => {
  it.each(BAD)('%s: appends reject typed with the value named, nothing is written, and the log reads back whole', async (_name, bad) => {
    const dir = tempLogDir();
    const c = settableClock(1_700_000_000_000);
    const log = await Log.open(dir, { clock: c.clock });
    expect(await log.append('a')).toBe(0);
    c.set(bad);
    const single = await rejection(log.append('b'));
    expect(single?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(single?.message).toContain('clock');
    expect(single?.message).toContain(typeof bad === 'bigint' ? `${bad}n` : typeof bad === 'string' ? JSON.stringify(bad) : String(bad));
    expect((await rejection(log.appendBatch(['c1', 'c2'])))?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(log.nextSeq).toBe(1);
    // The log is not failed: a good clock again, and appends go on at the next sequence number.
    c.set(1_700_000_000_005);
    expect(await log.append('d')).toBe(1);
    c.set(bad);
    await log.close(); // the clean-close marker takes the last timestamp, not the bad one
    expect(await contents(dir)).toEqual([
      { seq: 0, timestamp: 1_700_000_000_000, text: 'a' },
      { seq: 1, timestamp: 1_700_000_000_005, text: 'd' },
    ]);
  });

  it.each(BAD)('%s at a roll: the append that needs the new segment rejects typed; nothing is sealed half-way', async (_name, bad) => {
    const dir = tempLogDir();
    const c = settableClock(1_000);
    const log = await Log.open(dir, { clock: c.clock, segment: { maxRecords: 2 } });
    await log.append('a');
    await log.append('b');
    c.set(bad);
    expect((await rejection(log.append('c')))?.code).toBe('AOF_INVALID_ARGUMENT');
    expect((await rejection(log.roll()))?.code).toBe('AOF_INVALID_ARGUMENT');
    c.set(2_000);
    expect(await log.append('c')).toBe(2);
    await log.close();
    expect((await contents(dir)).map((r) => r.text)).toEqual(['a', 'b', 'c']);
  });

  it.each(BAD)('%s when a new log is created: the open rejects typed and leaves no segment behind', async (_name, bad) => {
    const dir = tempLogDir();
    const err = await rejection(Log.open(dir, { clock: () => bad as number }));
    expect(err?.code).toBe('AOF_INVALID_ARGUMENT');
    const log = await Log.open(dir, { clock: () => 5 });
    expect(await log.append('a')).toBe(0);
    await log.close();
    expect((await contents(dir)).map((r) => r.text)).toEqual(['a']);
  });

  it('a clock that throws: the append rejects typed with the cause, the process lives, the log goes on', async () => {
    const dir = tempLogDir();
    let broken = false;
    const log = await Log.open(dir, {
      clock: () => {
        if (broken) throw new Error('clock source gone');
        return 10;
      },
    });
    await log.append('a');
    broken = true;
    const err = (await rejection(log.append('b'))) as { code?: string; message: string; cause?: unknown } | undefined;
    expect(err?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(err?.message).toContain('clock source gone');
    broken = false;
    expect(await log.append('c')).toBe(1);
    await log.close();
    expect((await contents(dir)).map((r) => r.text)).toEqual(['a', 'c']);
  });
});

describe('a clock going backwards', () => {
  it('timestamps never decrease: an earlier time is clamped to the last timestamp written, across appends, rolls and reopens; seekTime stays right', async () => {
    const dir = tempLogDir();
    const c = settableClock(5_000);
    let log = await Log.open(dir, { clock: c.clock, segment: { maxRecords: 2 } });
    await log.append('a'); // 5000
    c.set(1_000);
    await log.append('b'); // clamped: 5000
    await log.append('c'); // new segment, clamped: 5000
    c.set(7_000);
    await log.append('d'); // 7000
    await log.close();
    c.set(0);
    log = await Log.open(dir, { clock: c.clock, segment: { maxRecords: 2 } });
    await log.append('e'); // after a reopen, still clamped: 7000
    c.set(9_000);
    await log.append('f'); // 9000
    const stamps: number[] = [];
    for await (const r of log.read()) stamps.push(r.timestamp);
    expect(stamps).toEqual([5_000, 5_000, 5_000, 7_000, 7_000, 9_000]);
    expect(await log.seekTime(4_000)).toBe(0);
    expect(await log.seekTime(6_000)).toBe(3);
    expect(await log.seekTime(8_000)).toBe(5);
    expect(await log.seekTime(10_000)).toBeUndefined();
    for (const s of log.segments()) if (s.records > 0) expect(s.firstTimestamp).toBeGreaterThanOrEqual(5_000);
    await log.close();
  });
});
