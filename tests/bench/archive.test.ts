/**
 * The archive benchmark must not rot: `node bench/archive.mjs --quick` starts
 * its own radosgw, uploads a few segments with aof and with plain SDK calls,
 * reads evicted segments back and appends while the archive drains. This runs
 * it and checks that every row of its section came out with figures. No
 * timing thresholds: the figures of a smoke run mean nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { radosgwMissing, suiteName, warnSkipped } from '../s3/radosgw-server.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const missing = radosgwMissing();
warnSkipped(missing);

describe.skipIf(missing !== undefined)(suiteName('node bench/archive.mjs --quick', missing), () => {
  let status: number | null;
  let stdout: string;
  let stderr: string;

  beforeAll(() => {
    if (!fs.existsSync(path.join(repo, 'dist', 'src', 'index.d.ts'))) {
      const build = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'tsconfig.json')], { cwd: repo, encoding: 'utf8' });
      expect(build.status, build.stdout + build.stderr).toBe(0);
    }
    const run = spawnSync(process.execPath, [path.join(repo, 'bench', 'archive.mjs'), '--quick'], { cwd: repo, encoding: 'utf8', timeout: 110_000 });
    status = run.status;
    stdout = run.stdout;
    stderr = run.stderr;
  }, 120_000);

  it('finishes and reports its progress on stderr', () => {
    expect(status, stderr).toBe(0);
    expect(stderr).toContain('radosgw up at http://127.0.0.1:');
  });

  it('prints the machine line and a table row with figures for every measurement', () => {
    expect(stdout).toMatch(/^Machine: .+ cores, .+ Node v\d+/m);
    const figure = String.raw`\s*[\d,.]+\s*`;
    const rows = [
      String.raw`\| aof \`archiveNow\(\)\` \(S3Archive, verified\) \|${figure}\| \*\*[\d.]+x\*\* \(target >= 0\.9x\) \|.*\|${figure}\|${figure}\|$`,
      String.raw`\| plain SDK PutObject / multipart, same files \|${figure}\| 1\.00x \|.*\|${figure}\|${figure}\|$`,
      String.raw`\| plain SDK \+ Content-MD5 .*\|${figure}\|${figure}x \|.*\|${figure}\|${figure}\|$`,
      String.raw`\| aof, gzip .*\|${figure}\|${figure}x \|`,
      String.raw`\| \`log\.get\(seq\)\`, evicted, not cached .*\|${figure}\|${figure}\|${figure}\|$`,
      String.raw`\| plain SDK GetObject of the same object into a file \|${figure}\|${figure}\|${figure}\|$`,
      String.raw`\| \`log\.get\(seq\)\`, evicted, in the cache \(warm\) \|${figure}\|${figure}\|${figure}\|$`,
      String.raw`\| no archive configured \|${figure}\|${figure}\|${figure}x \|`,
      String.raw`\| archive configured, idle \|${figure}\|${figure}\| 1\.00x \|`,
      String.raw`\| archive draining a backlog \|${figure}\|${figure}\|${figure}x \|`,
      String.raw`\| reference: no archive, plain SDK uploading .*\|${figure}\|${figure}\|${figure}x \|`,
    ];
    for (const row of rows) expect(stdout).toMatch(new RegExp(`^${row}`, 'm'));
    expect(stdout).not.toContain('n/a');
  });
});
