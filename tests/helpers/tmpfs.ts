import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** True when this process may mount file systems (the full-disk tests need a small tmpfs). */
export const IS_ROOT = process.getuid?.() === 0;

/** Says on stderr why a root-only test is skipped, so a run as another user shows it. */
export function reportRootSkip(what: string): void {
  if (!IS_ROOT) process.stderr.write(`SKIPPED ${what}: needs root (mount -t tmpfs); CI runs as root and must run it\n`);
}

/** A small tmpfs mounted on a fresh directory; `unmount` removes both. */
export interface SmallDisk {
  dir: string;
  /** Bytes an unprivileged write can still take. */
  free(): number;
  /** Writes a file taking all but `leaveBytes` of the free space; returns its path. */
  fill(leaveBytes: number): string;
  unmount(): void;
}

export function mountSmallDisk(sizeBytes: number): SmallDisk {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aof-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  const free = (): number => {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    fill(leaveBytes) {
      const file = path.join(dir, `filler-${Date.now()}-${Math.random().toString(16).slice(2)}`);
      fs.writeFileSync(file, Buffer.alloc(Math.max(0, free() - leaveBytes)));
      return file;
    },
    unmount() {
      execFileSync('umount', [dir]);
      fs.rmdirSync(dir);
    },
  };
}
