/** What the benchmark ran on: CPU, memory, the disk and file system of its directory, Node, the peers' versions. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  v8: string;
  /** The directory every workload wrote under. */
  dir: string;
  mountPoint: string;
  fsType: string;
  mountOptions: string;
  device: string;
  /** Block device facts: model, size, rotational, write cache, scheduler. */
  disk: string;
  freeGiB: number;
  versions: Record<string, string>;
  commit: string;
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The mount holding `dir`, from /proc/self/mountinfo (longest matching mount point). */
function mountOf(dir: string): { mountPoint: string; fsType: string; options: string; source: string } | undefined {
  const info = read('/proc/self/mountinfo');
  if (info === undefined) return undefined;
  const real = fs.realpathSync(dir);
  let best: { mountPoint: string; fsType: string; options: string; source: string } | undefined;
  for (const line of info.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const f = left.split(' ');
    const mountPoint = (f[4] ?? '').replace(/\\040/g, ' ');
    const [fsType = '?', source = '?', superOptions = ''] = right.split(' ');
    const inside = mountPoint === '/' || real === mountPoint || real.startsWith(mountPoint + '/');
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, fsType, options: `${f[5] ?? ''} ${superOptions}`.trim(), source };
  }
  return best;
}

/** Facts about the block device behind `source` (e.g. /dev/vda1 → vda), from /sys. */
function diskFacts(source: string): string {
  const name = path.basename(source);
  let dev = `/sys/class/block/${name}`;
  if (!fs.existsSync(dev)) return `${source} (no /sys entry)`;
  dev = fs.realpathSync(dev);
  if (fs.existsSync(path.join(dev, 'partition'))) dev = path.dirname(dev);
  const q = (f: string): string | undefined => read(path.join(dev, 'queue', f));
  const sectors = Number(read(path.join(dev, 'size')) ?? 0);
  const model = read(path.join(dev, 'device', 'model')) ?? read(path.join(dev, 'device', 'vendor'));
  const rotational = q('rotational');
  const parts = [
    `${path.basename(dev)}${model !== undefined ? ` (${model})` : ''}`,
    sectors > 0 ? `${Math.round((sectors * 512) / 2 ** 30)} GiB` : undefined,
    rotational === undefined ? undefined : rotational === '1' ? 'rotational' : 'non-rotational',
    q('write_cache') !== undefined ? `write cache: ${q('write_cache')}` : undefined,
    q('scheduler') !== undefined ? `scheduler: ${q('scheduler')}` : undefined,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve(name);
    let dir = path.dirname(main);
    while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
      const up = path.dirname(dir);
      if (up === dir) return '?';
      dir = up;
    }
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version as string;
  } catch {
    return 'not installed';
  }
}

function gitCommit(repo: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} with uncommitted changes in src/`;
  } catch {
    return 'unknown';
  }
}

/** Describes this machine and the disk under `dir`. */
export async function describeMachine(dir: string, repo: string): Promise<Machine> {
  const cpus = os.cpus();
  const mount = mountOf(dir);
  let freeGiB = NaN;
  try {
    const s = fs.statfsSync(dir);
    freeGiB = Math.round((s.bavail * s.bsize) / 2 ** 30);
  } catch {
    // statfs is Node ≥ 18.15
  }
  const versions: Record<string, string> = {};
  for (const p of ['lmdb', 'better-sqlite3', 'classic-level', 'hypercore']) versions[p] = packageVersion(p);
  try {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    versions['SQLite'] = String(db.prepare('select sqlite_version()').pluck().get());
    db.close();
  } catch {
    // reported as not installed above
  }
  versions['aof'] = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).version as string;
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    dir,
    mountPoint: mount?.mountPoint ?? '?',
    fsType: mount?.fsType ?? '?',
    mountOptions: mount?.options ?? '?',
    device: mount?.source ?? '?',
    disk: mount !== undefined ? diskFacts(mount.source) : '?',
    freeGiB,
    versions,
    commit: gitCommit(repo),
  };
}
