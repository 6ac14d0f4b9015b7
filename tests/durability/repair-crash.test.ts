/**
 * Break 7 of issue #18: SIGKILL during repair. A repair runs in a child
 * process that SIGKILLs itself right before its Nth change on disk, for
 * every N from 1 to the number of changes a whole repair makes; then a
 * repair (or a writer open) runs on what the kill left. Either must finish
 * the job: the log opens and reads exactly the records, gaps and
 * `recovery/` bytes that an uninterrupted repair of the same damaged log
 * gives.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import { AofError } from '../../src/errors.js';
import { aof, copyFixture, requireBuilt, seg, type FixtureName } from '../cli/run.js';
import { runChild } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

beforeAll(requireBuilt);

/** The intent record a repair writes before its first change (docs/FORMAT.md, "Repair"). */
const INTENT_FILE = 'repair-intent';

/** What a repaired log holds, for comparing two repairs. */
interface Outcome {
  /** Segment files (name and size) after the repair, before any open. */
  segments: string[];
  /** Contents (hashed) of the files under recovery/ after the repair, names aside. */
  recovery: string[];
  /** Each sequence number from the first to nextSeq: the payload's hash, or the error code reading it gives. */
  records: string[];
  /** recovery/ after the writer open. */
  recoveryAfterOpen: string[];
}

/** Copies a log directory as an operator would: without the writer lock (`LOCK.kernel`, `LOCK/`), which is not data. */
function copyLog(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, filter: (src) => !/^LOCK(\.kernel)?$/.test(path.relative(from, src)) });
}

function hash(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

function listDir(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function recoveryContents(dir: string): string[] {
  const r = path.join(dir, 'recovery');
  return listDir(r).map((n) => (fs.statSync(path.join(r, n)).isFile() ? hash(fs.readFileSync(path.join(r, n))) : `dir:${n}`)).sort();
}

function segmentFiles(dir: string): string[] {
  return listDir(path.join(dir, 'segments')).map((n) => `${n}:${fs.statSync(path.join(dir, 'segments', n)).size}`);
}

/** No file a repair works with (its intent record, temporary copies) is left behind. */
function expectNoLeftovers(dir: string): void {
  expect(listDir(dir).filter((n) => n.startsWith('repair'))).toEqual([]);
  expect(listDir(path.join(dir, 'segments')).filter((n) => !/^\d{20}\.seg$/.test(n))).toEqual([]);
  expect(listDir(path.join(dir, 'recovery')).filter((n) => n.includes('.tmp'))).toEqual([]);
}

async function readAll(dir: string): Promise<string[]> {
  const log = await Log.open(dir);
  try {
    const out: string[] = [];
    for (let seq = log.firstSeq; seq < log.nextSeq; seq++) {
      try {
        const r = await log.get(seq);
        out.push(r === undefined ? `${seq}:none` : `${seq}:${hash(Buffer.from(r.payload))}`);
      } catch (err) {
        out.push(`${seq}:${err instanceof AofError ? err.code : String(err)}`);
      }
    }
    return out;
  } finally {
    await log.close();
  }
}

async function repairedOutcome(dir: string, mode: 'truncate' | 'skip'): Promise<Outcome> {
  const report = await Log.repair(dir, { mode });
  expect(report.after?.ok, JSON.stringify(report.after?.problems)).toBe(true);
  expectNoLeftovers(dir);
  const segments = segmentFiles(dir);
  const recovery = recoveryContents(dir);
  const records = await readAll(dir);
  return { segments, recovery, records, recoveryAfterOpen: recoveryContents(dir) };
}

interface Scenario {
  name: string;
  fixture: FixtureName;
  mode: 'truncate' | 'skip';
  /** Writer open and close first, so that the log has a catalog naming its segments (as a used log does). */
  catalog: boolean;
  /** A change after that, before the repair. */
  damage?: (dir: string) => void;
}

const SCENARIOS: Scenario[] = [
  // The break as reported: cut a sealed segment, move the later ones aside; the catalog names them.
  { name: 'cut and moves (truncate)', fixture: 'flipped-sealed', mode: 'truncate', catalog: true },
  // A rewrite with a gap in place of the damaged frame.
  { name: 'rewrite with a gap (skip)', fixture: 'flipped-sealed', mode: 'skip', catalog: true },
  // A missing middle segment: a gap segment fills the hole; the catalog still names the lost file.
  { name: 'fill a missing segment (skip)', fixture: 'valid', mode: 'skip', catalog: true, damage: (dir) => fs.rmSync(path.join(dir, seg(6))) },
  // A cut of the active segment whose bytes are kept under recovery/.
  { name: 'cut the active segment (truncate)', fixture: 'flipped-active-middle', mode: 'truncate', catalog: false },
  // A re-seal of a segment whose footer is damaged.
  { name: 'reseal (truncate)', fixture: 'damaged-footer', mode: 'truncate', catalog: false },
];

describe('SIGKILL during repair, at every step', () => {
  it.each(SCENARIOS)('$name: a repair or a writer open after the kill finishes the job', async (s) => {
    const template = copyFixture(s.fixture);
    if (s.catalog) await (await Log.open(template)).close();
    s.damage?.(template);
    const copy = (): string => {
      const dir = path.join(tempDir('aof-repair-kill-'), 'log');
      copyLog(template, dir);
      return dir;
    };

    const whole = copy();
    const full = await runChild('src/testing/child-repair.js', [whole, s.mode, '0', 'trace']);
    expect(full.code, full.stderr).toBe(0);
    const { mutations } = JSON.parse(full.stdout) as { mutations: number };
    expect(mutations).toBeGreaterThan(3);
    // The changes that put the intent record in place and take it away (the trace lists `N op path`).
    const stepOf = (re: RegExp): number => Number(full.stderr.split('\n').find((l) => re.test(l))?.split(' ')[0]);
    const intentWritten = stepOf(new RegExp(`^\\d+ rename .*${INTENT_FILE}\\.tmp -> `));
    const intentRemoved = stepOf(new RegExp(`^\\d+ unlink .*/${INTENT_FILE}$`));
    expect(intentWritten).toBeGreaterThan(0);
    expect(intentRemoved).toBeGreaterThan(intentWritten);
    const reference = await repairedOutcome(copy(), s.mode);
    const unrepaired = await readAll(copy()).catch((err: unknown) => [`open: ${err instanceof AofError ? err.code : String(err)}`]);

    for (let n = 1; n <= mutations; n++) {
      const killed = copy();
      const run = await runChild('src/testing/child-repair.js', [killed, s.mode, String(n)]);
      expect(run.signal, `kill before change ${n}: ${run.stderr}`).toBe('SIGKILL');
      const opened = path.join(path.dirname(killed), 'opened');
      copyLog(killed, opened);

      // A repair after the kill finishes the job.
      expect(await repairedOutcome(killed, s.mode), `repair after a kill before change ${n}`).toEqual(reference);

      // So does a writer open, once the intent record is in place; before it, nothing was changed and the open sees the log as it was.
      const pending = n > intentWritten && n <= intentRemoved;
      expect(fs.existsSync(path.join(opened, INTENT_FILE)), `intent record after a kill before change ${n}`).toBe(pending);
      if (pending) {
        // Until then no tool says all is well, and a read-only handle (which may change nothing) refuses.
        const verify = await Log.verify(opened);
        expect(verify.ok).toBe(false);
        expect(verify.problems[0]).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(opened, INTENT_FILE) });
        const refused = await Log.open(opened, { readOnly: true }).then(async (l) => l.close(), (err: unknown) => err as AofError);
        expect(refused).toMatchObject({ code: 'AOF_CORRUPT', file: path.join(opened, INTENT_FILE) });
        if (n === intentWritten + 1) {
          // The command line too: never "nothing to repair" while a repair is half done.
          const dry = await aof(['repair', opened, '--dry-run']);
          expect(dry.code, dry.stderr).toBe(1);
          expect(dry.stdout).toContain('finish an interrupted repair first');
          const byCli = path.join(path.dirname(killed), 'cli');
          copyLog(opened, byCli);
          const cli = await aof(['repair', byCli, '--yes', '--json']);
          expect(cli.code, cli.stderr).toBe(0);
          expect(JSON.parse(cli.stdout)).toMatchObject({ resumed: true, after: { ok: true } });
          expect(await readAll(byCli)).toEqual(reference.records);
        }
      }
      const records = await readAll(opened).catch((err: unknown) => [`open: ${err instanceof AofError ? err.code : String(err)}`]);
      if (n <= intentWritten) {
        expect(records, `records after an open following a kill before change ${n}, before the intent record`).toEqual(unrepaired);
        continue;
      }
      expect(records, `records after an open following a kill before change ${n}`).toEqual(reference.records);
      expect(recoveryContents(opened), `recovery/ after an open following a kill before change ${n}`).toEqual(reference.recoveryAfterOpen);
      expectNoLeftovers(opened);
    }
  }, 240_000);
});
