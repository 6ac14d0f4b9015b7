import { describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { childPayload } from '../../src/testing/child-payload.js';
import { startChildWriter } from '../helpers/child.js';
import { tempLogDir } from '../helpers/tmp.js';

describe('tail readers in another process than the writer', () => {
  it.each(['always', 'batch', 'none'])('follow a live writer (%s) across rolls, and never see a record a crash takes back', async (strategy) => {
    const dir = tempLogDir();
    const writer = startChildWriter(dir, strategy, 16, 48);
    await writer.ready;
    const reader = await Log.open(dir, { readOnly: true });
    const seen: Array<{ seq: number; payload: Buffer }> = [];
    const ac = new AbortController();
    let sawEnough: () => void = () => undefined;
    const seenEnough = new Promise<void>((resolve) => (sawEnough = resolve));
    const following = (async () => {
      try {
        for await (const r of reader.tail({ from: 0, signal: ac.signal })) {
          seen.push({ seq: r.seq, payload: Buffer.from(r.payload) });
          if (seen.length === 3000) {
            writer.child.kill('SIGKILL');
            sawEnough();
          }
        }
      } catch (err) {
        if ((err as Error).name !== 'AbortError') throw err;
      }
    })();
    await writer.waitForAcks(3000);
    await writer.kill();
    // Whatever the reader saw must survive the crash: it only ever saw acknowledged records.
    const recovered = await Log.open(dir);
    const survivors = recovered.nextSeq;
    // The writer published a watermark of at least 3,000 before it acknowledged them: the reader gets there (a lagging one later).
    await seenEnough;
    ac.abort();
    await following;
    expect(seen.length).toBeGreaterThanOrEqual(3000);
    seen.forEach((r, i) => expect(r.seq).toBe(i));
    expect(seen.length).toBeLessThanOrEqual(survivors);
    for (const r of seen.slice(-50)) expect((await recovered.get(r.seq))?.payload.equals(r.payload)).toBe(true);
    for (const r of seen.slice(0, 50)) expect(r.payload.equals(childPayload(r.seq, 48))).toBe(true);
    expect(reader.segments().length).toBeGreaterThan(1);
    await recovered.close();
    await reader.close();
  });

  it('a read-only handle’s get and read see records acknowledged after it opened', async () => {
    const dir = tempLogDir();
    const writer = await Log.open(dir, { segment: { maxRecords: 5 } });
    await writer.append('a');
    const reader = await Log.open(dir, { readOnly: true });
    expect(reader.nextSeq).toBe(1);
    for (let i = 0; i < 12; i++) await writer.append(`r${i}`);
    expect((await reader.get(12))?.payload.toString()).toBe('r11');
    const all: string[] = [];
    for await (const r of reader.read()) all.push(r.payload.toString());
    expect(all).toHaveLength(13);
    expect(reader.nextSeq).toBe(13);
    await writer.close();
    await reader.close();
  });
});
