import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventStore } from '../../src/index.js';
import { SEGMENT_HEADER_BYTES } from '../../src/segment/header.js';
import { FRAME_HEADER_BYTES } from '../../src/record/frame.js';
import { FOOTER_READ_BYTES } from '../../src/segment/load.js';
import { CountingFs } from '../../src/testing/counting-fs.js';
import { tempLogDir } from '../helpers/tmp.js';
import { segmentFiles } from '../integration/support.js';
import { collect } from './support.js';

/** What a log's open may read of an active segment it takes from its close marker. */
const OPEN_READ_BOUND = SEGMENT_HEADER_BYTES + FOOTER_READ_BYTES + FRAME_HEADER_BYTES;

/** A cleanly closed store of 300 streams × 5 events written interleaved, some with ids of their own. */
async function closedStore(): Promise<string> {
  const dir = tempLogDir();
  const es = await EventStore.open(dir);
  for (let v = 0; v < 5; v++) {
    await Promise.all(Array.from({ length: 300 }, (_, s) => es.appendToStream(`cart-${s}`, [{ type: 'ItemAdded', data: { sku: `sku-${s}-${v}`, note: 'x'.repeat(150) }, ...(s === 7 ? { id: `id-${v}` } : {}) }])));
  }
  await es.close();
  return dir;
}

describe('EventStore.open of a cleanly closed store (issue 19)', () => {
  it('reads the active segment once (its check, for the index\'s look at the last record), no recent ids, and leaves a current index alone', async () => {
    const dir = await closedStore();
    const file = segmentFiles(dir)[0]!;
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(4 * OPEN_READ_BOUND);
    const counting = new CountingFs();
    const es = await EventStore.open(dir, { fs: counting });
    expect(es.log.openReport.recovery).toMatchObject({ cleanClose: true, scanned: false });
    expect(es.indexReport).toEqual({ action: 'ok', reason: undefined, recordsScanned: 0, eventsIndexed: 0 });
    // The log's open reads the header and the end; the last record's read checks and indexes the frames once; nothing else.
    expect(counting.bytesRead.get(file) ?? 0).toBeLessThanOrEqual(size + OPEN_READ_BOUND + 16 * 1024);
    counting.reset();
    const events = await collect(es.readStream('cart-123'));
    expect(counting.bytesRead.get(file) ?? 0).toBeLessThan(64 * 1024);
    expect(events.map((e) => [e.version, (e.data as { sku: string }).sku])).toEqual([0, 1, 2, 3, 4].map((v) => [v, `sku-123-${v}`]));
    await es.close();
  });

  it('remembers the ids appended before the open for an idempotent retry, read on the first append that gives ids', async () => {
    const dir = await closedStore();
    const es = await EventStore.open(dir);
    // A retry of cart-7's last append (same id, 'any'): the original result, nothing written.
    const before = es.log.nextSeq;
    const retried = await es.appendToStream('cart-7', [{ type: 'ItemAdded', data: { sku: 'sku-7-4', note: 'x'.repeat(150) }, id: 'id-4' }]);
    expect(retried.nextExpectedVersion).toBe(4);
    expect(es.log.nextSeq).toBe(before);
    const fresh = await es.appendToStream('cart-7', [{ type: 'ItemAdded', data: { sku: 'new' }, id: 'id-5' }]);
    expect(fresh.nextExpectedVersion).toBe(5);
    await es.close();
  });
});
