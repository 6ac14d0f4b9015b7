import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { RepairReport, VerifyReport } from '../../src/index.js';
import { aof, aofOnTerminal, aofOnTerminalTyping, copyFixture, DAMAGED_FIXTURES, requireBuilt, SCRIPT_AVAILABLE, seg, snapshotFiles, parseJson } from './run.js';

beforeAll(requireBuilt);

/** What `repair --mode truncate` does to each damaged fixture. */
const TRUNCATE_ACTIONS: Record<(typeof DAMAGED_FIXTURES)[number], Array<[kind: string, file: string, offset?: number]>> = {
  'torn-tail': [['cut', seg(20), 269]],
  'zero-tail': [['cut', seg(20), 320]],
  'garbage-tail': [['cut', seg(20), 320]],
  'flipped-sealed': [['cut', seg(0), 146], ['move', seg(6)], ['move', seg(16)], ['move', seg(20)]],
  'flipped-active-middle': [['cut', seg(20), 131]],
  'damaged-footer': [['rewrite', seg(6)]],
  'damaged-header': [['rewrite', seg(6)]],
  'huge-length': [['cut', seg(20), 131]],
};

/** Checks that every byte repair removed or replaced is under recovery/, and nothing else is there. */
function expectEveryByteKept(dir: string, before: Map<string, Buffer>, report: RepairReport): void {
  const kept = new Set<string>();
  for (const a of report.actions) {
    if (a.kind === 'fill') continue;
    const rel = path.relative(dir, a.file);
    const original = before.get(rel)!;
    if (a.kind === 'cut' && a.preservedAt === null && original.subarray(a.offset).every((b) => b === 0)) {
      // Zeros hold nothing: cut without a copy, as open does.
      expect(fs.readFileSync(a.file).equals(original.subarray(0, a.offset))).toBe(true);
      continue;
    }
    expect(a.preservedAt, `${a.kind} ${rel}`).toBeDefined();
    expect(path.dirname(a.preservedAt!)).toBe(path.join(dir, 'recovery'));
    const saved = fs.readFileSync(a.preservedAt!);
    kept.add(path.basename(a.preservedAt!));
    if (a.kind === 'cut') {
      expect(saved.equals(original.subarray(a.offset))).toBe(true);
      expect(fs.readFileSync(a.file).equals(original.subarray(0, a.offset))).toBe(true);
      expect(path.basename(a.preservedAt!)).toMatch(new RegExp(`^${path.basename(a.file)}\\.at-${a.offset}\\.cut\\.`));
    } else {
      // A segment moved whole, or the original of a rewritten one.
      expect(saved.equals(original)).toBe(true);
    }
  }
  if (kept.size > 0 || fs.existsSync(path.join(dir, 'recovery'))) expect(new Set(fs.readdirSync(path.join(dir, 'recovery')))).toEqual(kept);
}

describe('aof repair', () => {
  it.each(DAMAGED_FIXTURES)('%s, truncate: plan, refusal without a terminal, then a repair that verifies clean and keeps the cut bytes', async (name) => {
    const dir = copyFixture(name);
    const before = snapshotFiles(dir);

    const dry = await aof(['repair', dir, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stdout).toContain(`repair would (dry run, nothing changed) (mode truncate) in ${dir}:`);
    const plan = parseJson<RepairReport>(await aof(['repair', dir, '--dry-run', '--json']));
    expect(plan).toMatchObject({ dir, mode: 'truncate', dryRun: true, after: null });
    expect(plan.actions.map((a) => [a.kind, path.relative(dir, a.file), ...('offset' in a ? [a.offset] : [])])).toEqual(TRUNCATE_ACTIONS[name]);

    const refused = await aof(['repair', dir]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('repair will (mode truncate)');
    expect(refused.stderr).toContain('refusing to repair without a terminal to confirm on: pass --yes; nothing changed');
    expect(snapshotFiles(dir)).toEqual(before);

    const r = await aof(['repair', dir, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJson<RepairReport>(r);
    expect(Object.keys(report).sort()).toEqual(['actions', 'after', 'dir', 'dryRun', 'lostRanges', 'mode', 'resumed']);
    expect(report.after?.ok).toBe(true);
    expect(report.actions.map((a) => [a.kind, path.relative(dir, a.file), ...('offset' in a ? [a.offset] : [])])).toEqual(TRUNCATE_ACTIONS[name]);
    expectEveryByteKept(dir, before, report);

    const verify = await aof(['verify', dir, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect((parseJson<VerifyReport>(verify)).problems).toEqual([]);
    // A writer opens it again.
    await (await Log.open(dir)).close();
    expect((await aof(['repair', dir, '--yes'])).stdout).toBe(`nothing to repair in ${dir}: every segment is intact\n`);
  });

  it.each(DAMAGED_FIXTURES)('%s, skip: the repaired log verifies clean and the originals are kept', async (name) => {
    const dir = copyFixture(name);
    const before = snapshotFiles(dir);
    const r = await aof(['repair', dir, '--mode', 'skip', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJson<RepairReport>(r);
    expect(report.mode).toBe('skip');
    expect(report.after?.ok).toBe(true);
    expectEveryByteKept(dir, before, report);
    expect((await aof(['verify', dir])).code).toBe(0);
  });

  it('text output names what is cut, where the bytes went and what was lost', async () => {
    const dir = copyFixture('flipped-active-middle');
    const r = await aof(['repair', dir, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const kept = fs.readdirSync(path.join(dir, 'recovery'));
    expect(r.stdout).toContain(`cut   ${path.join(dir, seg(20))} from offset 131: 221 B (frame checksum mismatch)`);
    expect(r.stdout).toContain(`bytes kept at ${path.join(dir, 'recovery', kept[0]!)}`);
    expect(r.stdout).toContain('sequence 21..end: no longer in the log');
    expect(r.stdout).toContain('verify after repair: OK');

    const torn = copyFixture('torn-tail');
    expect((await aof(['repair', torn, '--yes'])).stdout).toContain('nothing acknowledged is lost: the cut bytes are a torn tail a crash left');
  });

  it('skip mode records a gap that dump reports and steps over', async () => {
    const dir = copyFixture('flipped-active-middle');
    const r = await aof(['repair', dir, '--mode', 'skip', '--yes']);
    expect(r.stdout).toContain('sequence 21..21: recorded as a gap (readers get AOF_GAP)');
    const dump = await aof(['dump', dir, '--from', '20', '--format', 'utf8']);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout.split('\n').filter(Boolean).map((l) => Number(l.split('\t')[0]))).toEqual([20, 22, 23, 24, 25]);
    expect(dump.stderr).toContain('AOF_GAP: records 21..21 were lost');
    expect(dump.stderr).toContain('continuing at 22');
  });

  it('a healthy log: nothing to repair, exit 0, nothing written', async () => {
    const dir = copyFixture('valid');
    const before = snapshotFiles(dir);
    const r = await aof(['repair', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`nothing to repair in ${dir}: every segment is intact\n`);
    const json = parseJson<RepairReport>(await aof(['repair', dir, '--json']));
    expect(json).toMatchObject({ actions: [], lostRanges: [], dryRun: true });
    expect([...snapshotFiles(dir).keys()].filter((k) => !k.startsWith('index/'))).toEqual([...before.keys()]);
    expect(fs.existsSync(path.join(dir, 'recovery'))).toBe(false);
  });

  it('a segment of an unsupported format version: exit 3, nothing changed', async () => {
    const dir = copyFixture('unsupported-version');
    const before = snapshotFiles(dir);
    for (const args of [['--dry-run'], ['--yes']]) {
      const r = await aof(['repair', dir, ...args]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`aof repair: AOF_UNSUPPORTED_FORMAT: unsupported format version 4 (${path.join(dir, seg(0))} at offset 8)`);
    }
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('a log a writer holds: exit 4 naming the writer’s pid, nothing changed', async () => {
    const dir = copyFixture('flipped-sealed');
    const log = await Log.open(dir); // this process is the writer (sealed segments are not scanned at open, so it opens)
    try {
      const before = snapshotFiles(path.join(dir, 'segments'));
      // A dry run changes nothing and needs no lock: it works beside the writer (exit 1: there is damage to repair).
      expect((await aof(['repair', dir, '--dry-run'])).code).toBe(1);
      for (const args of [['--yes'], ['--yes', '--json']]) {
        const r = await aof(['repair', dir, ...args]);
        expect(r.code, args.join(' ')).toBe(4);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain(`aof repair: AOF_LOCKED: log directory is locked by another writer (pid ${process.pid} on `);
        expect(r.stderr).toContain(`the log is open for writing by the process with pid ${process.pid}; stop it (or let it close the log) and run the command again. Nothing was changed.`);
      }
      expect(snapshotFiles(path.join(dir, 'segments'))).toEqual(before);
      // Readers need no lock.
      expect((await aof(['verify', dir])).code).toBe(1);
    } finally {
      await log.close();
    }
    expect((await aof(['repair', dir, '--yes'])).code).toBe(0);
  });
});

describe.skipIf(!SCRIPT_AVAILABLE)('aof on a terminal (util-linux script)', () => {
  it('repair asks, and goes ahead on yes', async () => {
    const dir = copyFixture('flipped-active-middle');
    const r = await aofOnTerminalTyping(['repair', dir], 'Proceed? [y/N]', 'y\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Proceed? [y/N]');
    expect(r.stdout).toContain('verify after repair: OK');
    expect((await aof(['verify', dir])).code).toBe(0);
  });

  it('repair asks, and changes nothing on no', async () => {
    const dir = copyFixture('flipped-active-middle');
    const before = snapshotFiles(dir);
    const r = await aofOnTerminalTyping(['repair', dir], 'Proceed? [y/N]', 'n\n');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toContain('not confirmed; nothing changed');
    expect(snapshotFiles(dir)).toEqual(before);
  });

  it('Ctrl-C or Ctrl-D at the prompt is a no: exit 2, nothing changed', async () => {
    for (const key of ['\x03', '\x04']) {
      const dir = copyFixture('torn-tail');
      const before = snapshotFiles(dir);
      const r = await aofOnTerminalTyping(['repair', dir], 'Proceed? [y/N]', key);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stdout).toContain('not confirmed; nothing changed');
      expect(snapshotFiles(dir)).toEqual(before);
    }
  });

  it('draws a progress bar on a terminal, never with --json', async () => {
    const dir = copyFixture('valid');
    const bar = await aofOnTerminal(['verify', dir]);
    expect(bar.code, bar.stderr).toBe(0);
    expect(bar.stdout).toMatch(/verifying \[[^\]]*\] \d+% \| [\d.]+ (B|KiB)\/1\.6 KiB/);
    expect(bar.stdout).toContain('OK');
    const json = await aofOnTerminal(['verify', dir, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain('verifying');
    expect(JSON.parse(json.stdout.replace(/\r/g, '')).ok).toBe(true);
    const piped = await aofOnTerminal(['verify', dir], '', 'pipe');
    expect(piped.stdout).not.toContain('verifying');
    expect(piped.stdout).toContain('OK');
  });

  it('dump draws its bar only when its records go to a file, not to the terminal', async () => {
    const dir = copyFixture('valid');
    const out = path.join(path.dirname(dir), 'records.jsonl');
    const toFile = await aofOnTerminal(['dump', dir], '', { file: out });
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(toFile.stdout).toMatch(/dumping \[[^\]]*\] \d+% \| \d+\/26/);
    expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(26);
    const toTerminal = await aofOnTerminal(['dump', dir]);
    expect(toTerminal.code, toTerminal.stderr).toBe(0);
    expect(toTerminal.stdout).not.toContain('dumping');
    expect(toTerminal.stdout.trim().split('\n')).toHaveLength(26);
  });
});
