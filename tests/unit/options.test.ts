import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { nodeFs } from '../../src/fs/node-fs.js';
import { Log } from '../../src/log.js';
import { DEFAULT_FLUSH } from '../../src/flush/strategy.js';
import { DEFAULTS, normalizeOptions, type LogOptions } from '../../src/options.js';
import { tempLogDir } from '../helpers/tmp.js';

/** [label, options, text the message must contain (the option's name)]. */
const INVALID: Array<[string, unknown, string]> = [
  ['options not an object', 42, 'options must be an object'],
  ['options null', null, 'options must be an object'],
  ['segment not an object', { segment: 5 }, 'option segment'],
  ['segment.maxBytes 0', { segment: { maxBytes: 0 } }, 'segment.maxBytes'],
  ['segment.maxBytes fraction', { segment: { maxBytes: 1.5 } }, 'segment.maxBytes'],
  ['segment.maxBytes string', { segment: { maxBytes: '100' } }, 'segment.maxBytes'],
  ['segment.maxRecords negative', { segment: { maxRecords: -1 } }, 'segment.maxRecords'],
  ['segment.maxRecords NaN', { segment: { maxRecords: Number.NaN } }, 'segment.maxRecords'],
  ['segment.maxAgeMs Infinity', { segment: { maxAgeMs: Number.POSITIVE_INFINITY } }, 'segment.maxAgeMs'],
  ['segment.indexIntervalBytes 0', { segment: { indexIntervalBytes: 0 } }, 'segment.indexIntervalBytes'],
  ['segment.indexIntervalBytes over 1 GiB', { segment: { indexIntervalBytes: 2 ** 31 } }, 'segment.indexIntervalBytes'],
  ['flush not an object', { flush: 'always' }, 'option flush'],
  ['flush.strategy unknown', { flush: { strategy: 'sometimes' } }, 'flush.strategy'],
  ['flush.strategy missing', { flush: {} }, 'flush.strategy'],
  ['flush.maxDelayMs negative', { flush: { strategy: 'batch', maxDelayMs: -1 } }, 'flush.maxDelayMs'],
  ['flush.maxRecords 0', { flush: { strategy: 'batch', maxRecords: 0 } }, 'flush.maxRecords'],
  ['flush.maxBytes fraction', { flush: { strategy: 'batch', maxBytes: 0.5 } }, 'flush.maxBytes'],
  ['flush.intervalMs 0', { flush: { strategy: 'interval', intervalMs: 0 } }, 'flush.intervalMs'],
  ['flush.targetLatencyMs string', { flush: { strategy: 'adaptive', targetLatencyMs: '5' } }, 'flush.targetLatencyMs'],
  ['a flush option of another strategy', { flush: { strategy: 'always', maxDelayMs: 2 } }, 'flush.maxDelayMs'],
  ['maxRecordBytes negative', { maxRecordBytes: -1 }, 'maxRecordBytes'],
  ['maxRecordBytes above half a GiB', { maxRecordBytes: 2 ** 29 + 1 }, 'maxRecordBytes'],
  ['maxBatchBytes 0', { maxBatchBytes: 0 }, 'maxBatchBytes'],
  ['maxBatchRecords fraction', { maxBatchRecords: 2.5 }, 'maxBatchRecords'],
  ['maxBatchRecords above u32', { maxBatchRecords: 2 ** 32 }, 'maxBatchRecords'],
  ['maxPendingBytes 0', { maxPendingBytes: 0 }, 'maxPendingBytes'],
  ['writeBufferBytes bigint', { writeBufferBytes: 10n }, 'writeBufferBytes'],
  ['readAheadBytes 0', { readAheadBytes: 0 }, 'readAheadBytes'],
  ['maxOpenFiles 0', { maxOpenFiles: 0 }, 'maxOpenFiles'],
  ['archiveMaxQueuedBytes 0', { archiveMaxQueuedBytes: 0 }, 'archiveMaxQueuedBytes'],
  ['syncIoMaxBytes negative', { syncIoMaxBytes: -1 }, 'syncIoMaxBytes'],
  ['syncIoMaxBytes above 1 GiB', { syncIoMaxBytes: 2 ** 31 }, 'syncIoMaxBytes'],
  ['maxOpenFiles huge', { maxOpenFiles: 1e9 }, 'maxOpenFiles'],
  ['readOnly string', { readOnly: 'yes' }, 'readOnly'],
  ['fileMode above 0o777', { fileMode: 0o1000 }, 'fileMode'],
  ['fileMode string', { fileMode: '600' }, 'fileMode'],
  ['dirMode negative', { dirMode: -1 }, 'dirMode'],
  ['fs missing methods', { fs: { open() {} } }, 'option fs'],
  ['fs null', { fs: null }, 'option fs'],
  ['clock not a function', { clock: 5 }, 'option clock'],
];

describe('option validation', () => {
  for (const [label, options, name] of INVALID) {
    it(`rejects ${label}, naming it`, () => {
      let caught: unknown;
      try {
        normalizeOptions(options as LogOptions);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError);
      expect(caught).toMatchObject({ code: 'AOF_INVALID_ARGUMENT' });
      expect((caught as Error).message).toContain(name);
    });
  }

  it('fills in every default', () => {
    const n = normalizeOptions(undefined);
    expect(n).toMatchObject({
      segment: { maxBytes: DEFAULTS.segmentMaxBytes, maxRecords: DEFAULTS.segmentMaxRecords, maxAgeMs: DEFAULTS.segmentMaxAgeMs, indexIntervalBytes: DEFAULTS.indexIntervalBytes },
      flush: DEFAULT_FLUSH,
      maxRecordBytes: DEFAULTS.maxRecordBytes, maxBatchBytes: DEFAULTS.maxBatchBytes, maxBatchRecords: DEFAULTS.maxBatchRecords,
      maxPendingBytes: DEFAULTS.maxPendingBytes, writeBufferBytes: DEFAULTS.writeBufferBytes, readAheadBytes: DEFAULTS.readAheadBytes,
      maxOpenFiles: DEFAULTS.maxOpenFiles, readOnly: false, fileMode: 0o600, dirMode: 0o700, fs: nodeFs,
    });
    expect(n.clock).toBe(Date.now);
    expect(normalizeOptions({})).toEqual(n);
  });

  it('keeps valid values, including the bounds themselves', () => {
    const clock = (): number => 1;
    const n = normalizeOptions({
      segment: { maxBytes: 1, maxRecords: 1, maxAgeMs: 1, indexIntervalBytes: 2 ** 30 }, flush: { strategy: 'none' },
      maxRecordBytes: 0, maxBatchBytes: 2 ** 29, maxBatchRecords: 2 ** 32 - 1, maxPendingBytes: 1, writeBufferBytes: 1,
      readAheadBytes: 1, maxOpenFiles: 1, readOnly: true, fileMode: 0o644, dirMode: 0o755, clock,
    });
    expect(n).toMatchObject({ segment: { maxBytes: 1, maxRecords: 1, maxAgeMs: 1, indexIntervalBytes: 2 ** 30 }, flush: { strategy: 'none' }, maxRecordBytes: 0, maxBatchRecords: 2 ** 32 - 1, readOnly: true, fileMode: 0o644, dirMode: 0o755 });
    expect(n.clock).toBe(clock);
  });

  it('Log.open rejects invalid options before touching the disk', async () => {
    const dir = tempLogDir();
    await expect(Log.open(dir, { maxPendingBytes: -5 })).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT', message: expect.stringContaining('maxPendingBytes') });
    await expect(Log.open(dir, { segment: { maxRecords: 0 } })).rejects.toMatchObject({ code: 'AOF_INVALID_ARGUMENT', message: expect.stringContaining('segment.maxRecords') });
    expect(fs.existsSync(dir)).toBe(false);
  });
});
