import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { aof, copyFixture, requireBuilt } from './run.js';

const COMMANDS = ['stat', 'verify', 'repair', 'dump', 'tail', 'bench', 'demo'];

beforeAll(requireBuilt);

describe('aof: help and usage errors', () => {
  it('lists every command with --help, exit 0, and prints the exit statuses', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await aof(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^usage: aof <command>/);
      for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c} `);
      expect(r.stdout).toContain('exit status: 0 ok, 1 problems found, 2 bad usage, 3 could not run, 4 log locked by a writer');
    }
  });

  it('with no command, prints the usage on stderr and exits 2', async () => {
    const r = await aof([]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: aof <command>/);
  });

  it('prints the version', async () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await aof(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it.each(COMMANDS)('aof %s --help prints its usage and exit status on stdout, exit 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await aof([command, flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^usage: aof ${command}`));
      expect(r.stdout).toMatch(/Exit status:/);
    }
    const viaHelp = await aof(['help', command]);
    expect(viaHelp.code, viaHelp.stderr).toBe(0);
    expect(viaHelp.stdout).toMatch(new RegExp(`^usage: aof ${command}`));
  });

  it('an unknown command exits 2 with the command list', async () => {
    const r = await aof(['frobnicate']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("aof: unknown command 'frobnicate'");
    expect(r.stderr).toContain('usage: aof <command>');
  });

  it.each(COMMANDS)('aof %s with an unknown option exits 2 and prints its usage', async (command) => {
    const r = await aof([command, '--no-such-option', 'x']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`aof ${command}: unknown option --no-such-option`);
    expect(r.stderr).toContain(`usage: aof ${command}`);
  });

  it.each(['stat', 'verify', 'repair', 'dump', 'tail'])('aof %s without its directory exits 2', async (command) => {
    const r = await aof([command]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`aof ${command}: missing argument (DIR|DIR \\(or FILE with --raw\\))`));
    expect(r.stderr).toContain(`usage: aof ${command}`);
  });

  it('extra arguments, missing values, values given to flags and bad values exit 2', async () => {
    const dir = copyFixture('valid');
    const cases: Array<[string[], RegExp]> = [
      [['stat', dir, 'extra'], /unexpected argument 'extra'/],
      [['bench', 'extra'], /unexpected argument 'extra'/],
      [['dump', dir, '--from'], /option --from needs a value/],
      [['dump', dir, '--from', '--to', '3'], /option --from needs a value/],
      [['dump', dir, '--from', 'x'], /--from must be a non-negative integer, got 'x'/],
      [['dump', dir, '--from', '-1'], /option --from needs a value|--from must be a non-negative integer/],
      [['dump', dir, '--from', '5', '--to', '2'], /--to 2 is before --from 5/],
      [['dump', dir, '--format', 'xml'], /--format must be json, hex or utf8, got 'xml'/],
      [['dump', dir, '--records'], /--records applies to --raw/],
      [['dump', '--raw', path.join(dir, 'segments', '00000000000000000000.seg'), '--from', '1'], /--from and --to apply to a log directory/],
      [['verify', dir, '--json=yes'], /option --json takes no value/],
      [['repair', dir, '--mode', 'rewind'], /--mode must be truncate or skip, got 'rewind'/],
      [['tail', dir, '-n', '3', '--from', '1'], /either --from or -n/],
      [['bench', '--duration', '5'], /--duration must be between 10 and 60000/],
    ];
    for (const [args, message] of cases) {
      const r = await aof(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).toContain(`usage: aof ${args[0]}`);
    }
  });

  it('a directory that does not exist or is not a log exits 3, for every command that reads one', async () => {
    const missing = path.join(tempDir(), 'nope');
    const notALog = tempDir();
    for (const command of ['stat', 'verify', 'repair', 'dump', 'tail']) {
      const r = await aof([command, missing]);
      expect(r.code, command).toBe(3);
      expect(r.stderr).toContain(`aof ${command}: cannot read ${missing}: no such directory`);
      const s = await aof([command, notALog]);
      expect(s.code, command).toBe(3);
      expect(s.stderr).toContain('is not a log directory: it has no segments/');
    }
    const raw = await aof(['dump', '--raw', path.join(notALog, 'x.seg')]);
    expect(raw.code, raw.stderr).toBe(3);
    expect(raw.stderr).toContain('no such file');
    expect(fs.existsSync(missing)).toBe(false);
  });
});
