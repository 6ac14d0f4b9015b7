import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventStore, Log, SnapshotStore } from '../../src/index.js';
import { distPath } from '../helpers/child.js';
import { tempDir, tempLogDir } from '../helpers/tmp.js';

async function rejection(run: () => Promise<unknown>): Promise<{ code?: string; message: string; errno?: string } | undefined> {
  try {
    await run();
    return undefined;
  } catch (err) {
    return err as { code?: string; message: string; errno?: string };
  }
}

describe('a path containing a NUL byte is an argument error, never AOF_IO', () => {
  const nul = (): string => path.join(tempDir(), 'lo\0g');
  it.each<[string, (p: string) => Promise<unknown>]>([
    ['Log.open (writer)', (p) => Log.open(p)],
    ['Log.open (read-only)', (p) => Log.open(p, { readOnly: true })],
    ['Log.verify', (p) => Log.verify(p)],
    ['Log.repair', (p) => Log.repair(p)],
    ['Log.repair (dry run)', (p) => Log.repair(p, { dryRun: true })],
    ['option archiveCacheDir', (p) => Log.open(tempLogDir(), { archiveCacheDir: p })],
    ['SnapshotStore.open', (p) => SnapshotStore.open(p)],
    ['EventStore.open', (p) => EventStore.open(p)],
  ])('%s', async (_name, run) => {
    const err = await rejection(() => run(nul()));
    expect(err?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(err?.message).toContain('NUL');
  });

  it('log.backup to a destination with a NUL byte', async () => {
    const log = await Log.open(tempLogDir());
    await log.append('a');
    const err = await rejection(() => log.backup(nul()));
    expect(err?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(err?.message).toContain('NUL');
    await log.close();
  });
});

describe('a string payload with a lone surrogate', () => {
  it.each(['\ud800', 'a\udc00b', 'ok \ud83d', '\udfff\ud800'])('is rejected typed, naming where it is; nothing is written (%j)', async (text) => {
    const log = await Log.open(tempLogDir());
    await log.append('before');
    const single = await rejection(() => log.append(text));
    expect(single?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(single?.message).toContain('lone surrogate');
    const batch = await rejection(() => log.appendBatch(['fine', text]));
    expect(batch?.code).toBe('AOF_INVALID_ARGUMENT');
    expect(batch?.message).toContain('payload 1 of the batch');
    expect(log.nextSeq).toBe(1);
    await log.close();
  });

  it('well-formed strings (astral characters, surrogate pairs) round-trip byte-exact', async () => {
    const log = await Log.open(tempLogDir());
    const texts = ['😀', 'a\ud83d\ude00b', 'é水𝄞', ''];
    for (const t of texts) await log.append(t);
    const back: string[] = [];
    for await (const r of log.read()) back.push(r.payload.toString('utf8'));
    expect(back).toEqual(texts);
    await log.close();
  });

  it('EventStore: a lone surrogate in JSON data round-trips exactly (JSON escapes it); in a stream name or type it is rejected', async () => {
    const store = await EventStore.open(tempLogDir());
    await store.appendToStream('s', [{ type: 't', data: { text: 'x\ud800y', list: ['\udc00'] } }]);
    const events = [];
    for await (const e of store.readStream('s')) events.push(e);
    expect(events[0]!.data).toEqual({ text: 'x\ud800y', list: ['\udc00'] });
    expect((await rejection(() => store.appendToStream('s\ud800', [{ type: 't', data: {} }])))?.code).toBe('AOF_INVALID_ARGUMENT');
    expect((await rejection(() => store.appendToStream('s', [{ type: 't\udc00', data: {} }])))?.code).toBe('AOF_INVALID_ARGUMENT');
    await store.close();
  });
});

/** Runs dist/src/testing/child-open-report.js as the user nobody; undefined (with a line on stderr) when that is impossible here. */
function openAsNobody(dir: string, how: 'read' | 'write'): { ok: boolean; code?: string; errno?: string; message?: string; file?: string } | undefined {
  if (process.getuid?.() !== 0) {
    process.stderr.write('SKIP permission tests: they need root to start a child as the user nobody (root itself ignores file modes)\n');
    return undefined;
  }
  const r = spawnSync(process.execPath, [distPath('src/testing/child-open-report.js'), dir, how], { uid: 65534, gid: 65534, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: boolean; code?: string; errno?: string; message?: string; file?: string };
}

/** A log written by root with one record, in a directory nobody may enter. */
async function rootsLog(): Promise<string> {
  const parent = tempDir();
  fs.chmodSync(parent, 0o755);
  const dir = path.join(parent, 'log');
  const log = await Log.open(dir);
  await log.append('a');
  await log.close();
  return dir;
}

describe('permission errors name the file and the access that was refused', () => {
  it('the CLI on a log directory nobody may enter says so, not that there is no log', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o700);
    if (process.getuid?.() !== 0) {
      process.stderr.write('SKIP CLI permission test: it needs root to start a child as the user nobody\n');
      return;
    }
    for (const command of ['verify', 'stat']) {
      const r = spawnSync(process.execPath, [distPath('src/cli/main.js'), command, dir], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(r.status, command).toBe(3);
      expect(r.stderr).toContain(`permission denied: needs search (execute) and read access to the directory ${dir}`);
    }
  });

  it('read-only open of a segment nobody may read: names the segment and read access', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'segments'), 0o755);
    fs.chmodSync(path.join(dir, 'watermark'), 0o644);
    fs.chmodSync(path.join(dir, 'identity'), 0o644);
    const seg = path.join(dir, 'segments', '00000000000000000000.seg');
    fs.chmodSync(seg, 0o600);
    const out = openAsNobody(dir, 'read');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES', file: seg });
    expect(out.message).toContain(`read access to ${seg}`);
  });

  it('writer open of a segment nobody may write: names the segment and write access', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o777);
    for (const name of ['segments', 'index']) fs.chmodSync(path.join(dir, name), 0o777);
    for (const f of fs.readdirSync(path.join(dir, 'index'))) fs.chmodSync(path.join(dir, 'index', f), 0o666);
    fs.chmodSync(path.join(dir, 'watermark'), 0o666);
    fs.chmodSync(path.join(dir, 'LOCK.kernel'), 0o666);
    fs.chmodSync(path.join(dir, 'identity'), 0o666);
    const seg = path.join(dir, 'segments', '00000000000000000000.seg');
    fs.chmodSync(seg, 0o644);
    const out = openAsNobody(dir, 'write');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES', file: seg });
    expect(out.message).toContain(`read and write access to ${seg}`);
  });

  it('writer open in a directory nobody may write: names the directory and write access (to create its lock)', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o755);
    // The lock file as root left it (owner-only): the first file refused.
    const kept = openAsNobody(dir, 'write');
    if (kept === undefined) return;
    expect(kept).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES' });
    expect(kept.message).toContain(`read and write access to ${path.join(dir, 'LOCK.kernel')}`);
    // Without it (a log an older version wrote): creating it is what is refused.
    fs.rmSync(path.join(dir, 'LOCK.kernel'));
    const out = openAsNobody(dir, 'write');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES' });
    expect(out.message).toContain(`write access to the directory ${dir}`);
  });

  it('creating a log under a directory nobody may write: names the directory and write access', async () => {
    const parent = tempDir();
    fs.chmodSync(parent, 0o755);
    const out = openAsNobody(path.join(parent, 'log'), 'write');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES' });
    expect(out.message).toContain(`write access to the directory ${parent}`);
  });

  it('writer open of a log whose segments/ nobody may search: names it and the access, with its errno', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o700);
    const out = openAsNobody(dir, 'write');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES' });
    expect(out.message).toContain(`search (execute) access to every directory above ${path.join(dir, 'segments')}`);
  });

  it('read-only open of a directory nobody may list: names the directory and read access', async () => {
    const dir = await rootsLog();
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'segments'), 0o700);
    fs.chmodSync(path.join(dir, 'identity'), 0o644);
    const out = openAsNobody(dir, 'read');
    if (out === undefined) return;
    expect(out).toMatchObject({ ok: false, code: 'AOF_IO', errno: 'EACCES' });
    expect(out.message).toContain(`read access to the directory ${path.join(dir, 'segments')}`);
  });
});
