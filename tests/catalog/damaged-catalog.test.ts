import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/index.js';
import type { StatReport } from '../../src/cli/commands/stat.js';
import type { RepairReport } from '../../src/recovery/repair.js';
import type { VerifyReport } from '../../src/recovery/verify.js';
import { CATALOG_PROBE_TIMEOUT_MS, PROBE_DIR_PREFIX } from '../../src/catalog/probe.js';
import { distPath } from '../helpers/child.js';
import { lmdbMeta, overwritePage } from '../helpers/lmdb-pages.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';
import { AOF, requireBuilt } from '../cli/run.js';

beforeAll(requireBuilt);

const RECORDS = 45;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node SCRIPT ARGS` with its own, empty temp directory (TMPDIR), to see what it leaves there. */
function run(script: string, args: readonly string[], tmp: string): Promise<Run> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Fails with how the child ended when it died of a signal (SIGBUS, SIGSEGV, SIGABRT) or printed no JSON. */
function json<T>(r: Run): T {
  expect(r.signal, `the child died of ${r.signal}; stderr: ${r.stderr}`).toBeNull();
  try {
    // The CLI prints pretty JSON; open-child one line after anything else.
    return JSON.parse(r.stdout.trim().startsWith('{') ? r.stdout : r.stdout.trim().split('\n').pop()!) as T;
  } catch {
    throw new Error(`no JSON: exit ${r.code}, stdout ${r.stdout.slice(0, 500)}, stderr ${r.stderr.slice(0, 2000)}`);
  }
}

const aof = (args: readonly string[], tmp: string): Promise<Run> => run(AOF, args, tmp);
const openChild = (dir: string, mode: 'read' | 'write' | 'verify', tmp: string): Promise<Run> => run(distPath('src/testing/open-child.js'), [dir, mode], tmp);

/** A closed log of 45 records in 5 segments, its catalog written by the writer's close. */
async function buildLog(): Promise<string> {
  const dir = tempLogDir();
  const log = await Log.open(dir, { segment: { maxRecords: 10 } });
  for (let i = 0; i < RECORDS; i++) await log.append(`r${i}`);
  await log.close();
  return dir;
}

const DAMAGE = {
  /** Random bytes on the main database's root page: the page naming every database of the environment. */
  'the main database’s root page': (data: string) => overwritePage(data, lmdbMeta(data).mainRoot, { seed: 7 }),
  /**
   * 0xff on the last page in use (page numbers and sizes pointing past the end: SIGBUS where read). It was the
   * file's last page until the catalog kept allocated space after it (see src/catalog/lmdb-reserve.ts).
   */
  'the last page in use': (data: string) => overwritePage(data, lmdbMeta(data).lastPage, 0xff),
};

/** Entries of the log directory that are neither the log's own nor its recovery/ copies: what a probe could leave. */
function strayEntries(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => !['segments', 'index', 'recovery', 'watermark', 'cache', 'LOCK.kernel', 'identity'].includes(n));
}

describe('a page of garbage in the catalog’s data.mdb (break 5)', () => {
  it.each(Object.keys(DAMAGE) as Array<keyof typeof DAMAGE>)('on %s: no process dies; stat, readers, verify, repair and the writer all tell the truth', async (where) => {
    const template = await buildLog();
    const data = (dir: string): string => path.join(dir, 'index', 'data.mdb');
    DAMAGE[where](data(template));
    const copy = (): string => {
      const dir = path.join(tempDir(), 'log');
      fs.cpSync(template, dir, { recursive: true });
      return dir;
    };
    const tmp = tempDir('aof-private-tmp-');

    // aof stat: a read-only open; the catalog is reported damaged, the records are all there.
    const statDir = copy();
    const stat = json<StatReport>(await aof(['stat', statDir, '--json'], tmp));
    expect(stat.catalog.state).toBe('damaged');
    expect(stat.records).toBe(RECORDS);

    // A read-only handle reads every record (from the files: the catalog is derived data).
    const read = json<{ records: number }>(await openChild(copy(), 'read', tmp));
    expect(read).toMatchObject({ records: RECORDS });

    // Log.verify and aof verify report the damaged catalog, naming its file.
    const verifyDir = copy();
    const verified = json<VerifyReport>(await openChild(verifyDir, 'verify', tmp));
    const problem = { code: 'AOF_CORRUPT', severity: 'error', file: data(verifyDir) };
    expect(verified.ok).toBe(false);
    expect(verified.problems).toEqual([expect.objectContaining(problem)]);
    const cli = await aof(['verify', verifyDir, '--json'], tmp);
    expect(cli.code).toBe(1);
    expect(json<VerifyReport>(cli).problems).toEqual([expect.objectContaining(problem)]);

    // aof repair: the dry run names it, the repair rebuilds it (the damaged file kept under recovery/), verify is clean after.
    const repairDir = copy();
    const dry = await aof(['repair', repairDir, '--dry-run', '--json'], tmp);
    expect(dry.code).toBe(1);
    expect(json<RepairReport>(dry).actions).toEqual([expect.objectContaining({ file: data(repairDir) })]);
    const repaired = await aof(['repair', repairDir, '--yes', '--json'], tmp);
    expect(repaired.code, repaired.stderr).toBe(0);
    const action = json<RepairReport>(repaired).actions[0] as { preservedAt: string };
    expect(action.preservedAt).toContain(path.join(repairDir, 'recovery'));
    expect(fs.existsSync(path.join(action.preservedAt, 'data.mdb'))).toBe(true);
    expect((await aof(['verify', repairDir], tmp)).code).toBe(0);
    expect(json<StatReport>(await aof(['stat', repairDir, '--json'], tmp)).catalog).toEqual({ state: 'ok', agrees: true });

    // The writer: open rebuilds the catalog from the footers, keeping the damaged one under recovery/.
    const writeDir = copy();
    const wrote = json<{ records: number; segments: string[]; catalog: { rebuilt: boolean; damagedMovedTo: string } }>(await openChild(writeDir, 'write', tmp));
    expect(wrote.records).toBe(RECORDS);
    expect(wrote.segments).toEqual(['sealed', 'sealed', 'sealed', 'sealed', 'active']);
    expect(wrote.catalog.rebuilt).toBe(true);
    expect(wrote.catalog.damagedMovedTo).toContain(path.join(writeDir, 'recovery'));
    expect(json<StatReport>(await aof(['stat', writeDir, '--json'], tmp)).catalog).toEqual({ state: 'ok', agrees: true });

    // The probes left nothing behind: not in the temp directory, not in the log directories.
    expect(fs.readdirSync(tmp)).toEqual([]);
    for (const dir of [statDir, verifyDir, repairDir, writeDir]) expect(strayEntries(dir)).toEqual([]);
  }, 180_000);

  it('a probe killed with its process leaves a work directory that the next probe removes once stale; a live one is left alone', async () => {
    const dir = await buildLog();
    // Without the close checksum every open probes the catalog.
    fs.rmSync(path.join(dir, 'index', 'closed-checksum.json'));
    const stale = path.join(dir, `${PROBE_DIR_PREFIX}killed`);
    const live = path.join(dir, `${PROBE_DIR_PREFIX}running`);
    for (const d of [stale, live]) fs.mkdirSync(path.join(d, 'copy'), { recursive: true });
    const longAgo = new Date(Date.now() - 2 * CATALOG_PROBE_TIMEOUT_MS - 60_000);
    fs.utimesSync(stale, longAgo, longAgo);
    const tmp = tempDir('aof-private-tmp-');
    expect(json<{ records: number }>(await openChild(dir, 'read', tmp))).toMatchObject({ records: RECORDS });
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a healthy catalog verifies clean and repair leaves it alone', async () => {
    const dir = await buildLog();
    const tmp = tempDir('aof-private-tmp-');
    expect((await aof(['verify', dir], tmp)).code).toBe(0);
    const repaired = await aof(['repair', dir, '--yes', '--json'], tmp);
    expect(repaired.code).toBe(0);
    expect(json<RepairReport>(repaired).actions).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
