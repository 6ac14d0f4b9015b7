import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../src/cli/commands/bench.js';
import { tempDir } from '../helpers/tmp.js';
import { aof, parseJson, requireBuilt } from './run.js';

beforeAll(requireBuilt);

describe('aof bench', () => {
  it('--json: every phase with a positive rate, in the directory given, which it leaves empty', async () => {
    const parent = tempDir();
    const r = await aof(['bench', '--json', '--duration', '40', '--dir', parent]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const report = parseJson<{ dir: string; phaseMs: number; payloadBytes: number; results: BenchResults }>(r);
    expect(report).toMatchObject({ dir: parent, phaseMs: 40, payloadBytes: 100 });
    expect(Object.keys(report.results)).toEqual(['appendNotDurable', 'durableOneProducer', 'durableConcurrent', 'read', 'rawFdatasync']);
    for (const [name, phase] of Object.entries(report.results)) {
      expect(phase.operations, name).toBeGreaterThan(0);
      expect(phase.perSecond, name).toBeGreaterThan(0);
      expect(phase.seconds, name).toBeGreaterThan(0);
    }
    expect(report.results.durableConcurrent.producers).toBe(64);
    expect(report.results.durableConcurrent.recordsPerFsync).toBeGreaterThan(1); // group commit
    expect(report.results.rawFdatasync.fsyncLatencyMs!.p50).toBeGreaterThan(0);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('prints one line per phase', async () => {
    const r = await aof(['bench', '--duration', '20']);
    expect(r.code, r.stderr).toBe(0);
    for (const label of ['append, not durable', 'durable append, 1 producer', 'durable append, 64 producers', 'read', 'disk: raw fdatasync']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${label} +[\\d,]+ (records|fdatasyncs)/s`, 'm'));
    }
  });

  it('a directory it cannot write in: exit 3', async () => {
    const r = await aof(['bench', '--dir', path.join(os.tmpdir(), 'aof-no-such-parent', 'x')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('cannot create a temporary directory');
  });
});

describe('aof demo', () => {
  it('runs every step, shows the tail reader and a torn tail kept under recovery/, and cleans up', async () => {
    const started = Date.now();
    const r = await aof(['demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(45_000);
    const out = r.stdout;
    const root = /^aof demo in (\S+)/.exec(out)![1]!;
    expect(out).toMatch(/^1\. 8 producers appended 20000 records durably/m);
    expect(out).toMatch(/a tail reader followed along: saw all 20000 in order/);
    expect(out).toMatch(/^2\. appended an atomic batch at sequence 20000/m);
    expect(out).toMatch(/^3\. reopened \(clean close: true\); read back 20003 of 20003 records in order/m);
    expect(out).toMatch(/^4\. killed a child writer with SIGKILL after \d+ acknowledged appends/m);
    expect(out).toMatch(/(\d+) of \1 acknowledged records intact/);
    // The simulated power loss is seeded: the same torn tail every run.
    expect(out).toContain("5. simulated a power loss (FaultFs, seed 47) after 10 flushed and 10 unsynced appends (strategy 'none'):");
    expect(out).toContain('the disk kept 5 unsynced writes whole and part of write 6; reopened at sequence 15, all 10 flushed records there');
    // Format version 3: records carry an 8-byte header (length, record CRC), so the frames of the seeded power loss land 4 bytes further per record.
    expect(out).toMatch(/recovery cut a torn tail of 53 bytes at offset 1129 \(frame length 105 runs past the end of the data \(53 bytes left\)\),\n {3}keeping it in recovery\/00000000000000000000\.seg\.at-1129\.torn-tail\./);
    expect(out).toMatch(/^6\. verify log: OK, 20003 records in 7 segments, closed cleanly: true$/m);
    expect(out.split('\n').length).toBeLessThan(30);
    expect(fs.existsSync(root)).toBe(false);
  });
});
