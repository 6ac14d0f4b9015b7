import type { FileHandle, FileStat, FileSystem, LinkStat, OpenMode } from '../fs/types.js';

/** Errno carried by every call a crashed {@link ProcessFs} refuses. */
export const CRASHED_ERRNO = 'EIO';

function crashed(op: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${CRASHED_ERRNO}: ${op} on ${p} after the simulated process crash`), { code: CRASHED_ERRNO, syscall: op, path: p });
}

/**
 * One simulated process's view of the file system, for process-crash tests.
 *
 * A process crash (SIGKILL, a panic) ends every system call the process
 * would make afterwards, but keeps everything it already wrote: the bytes
 * are in the OS page cache, and whether they later reach the disk is a
 * matter for the machine, not the process. So a crash is simulated by
 * wrapping the machine's adapter (usually a {@link FaultFs}, which tracks
 * what is synced) in a `ProcessFs` per process: {@link crash} (or
 * {@link crashAfter}) makes this wrapper refuse every later call, while the
 * machine below keeps its files, its page cache and its record of what was
 * synced. The next "process" opens the log through a new `ProcessFs` over
 * the same machine; a later `FaultFs.powerLoss()` still drops what no
 * process ever synced.
 *
 * Closing a handle always reaches the machine (the kernel closes a dead
 * process's descriptors), so a crashed `Log` can be `close()`d to release
 * its in-process writer lock without writing a byte.
 */
export class ProcessFs implements FileSystem {
  /** Calls made through this process, by operation. */
  readonly calls = new Map<string, number>();
  private dead = false;
  private crashAt: number | undefined;
  private crashWhen: ((op: string, path: string) => boolean) | undefined;
  private onCrash: (() => void) | undefined;
  private callCount = 0;
  private inFlight = 0;
  private settled: Array<() => void> = [];

  /** @param machine The adapter of the machine this process runs on (a `FaultFs`, or the real file system). */
  constructor(readonly machine: FileSystem) {}

  /** True once the process has crashed. */
  get crashed(): boolean {
    return this.dead;
  }

  /** Calls made so far (all operations). */
  get totalCalls(): number {
    return this.callCount;
  }

  /**
   * Crashes the process now: every later call fails with `EIO`. Resolves once
   * calls already inside the machine have returned, so that what the crash
   * left on the machine is settled.
   */
  async crash(): Promise<void> {
    this.die();
    await this.whenSettled();
  }

  /**
   * Arms a crash: the next `calls` calls go through, the one after them and
   * every later one fail, as if the process had been killed right there.
   * `onCrash` runs synchronously at that moment (for example to start a
   * power loss). Arming again replaces the previous schedule.
   */
  crashAfter(calls: number, onCrash?: () => void): void {
    this.crashAt = this.callCount + Math.max(0, Math.floor(calls));
    this.onCrash = onCrash;
  }

  /**
   * Arms a crash right before a given call: the first call of `op` whose
   * path contains `path` (or matches it), after `skip` such calls, fails and
   * kills the process; so do all later calls. Crash points named this way
   * survive changes to how many calls come before them. `onCrash` runs at
   * that moment, as with {@link crashAfter}.
   */
  crashBefore(op: string, path?: string | RegExp, skip = 0, onCrash?: () => void): void {
    let seen = 0;
    this.crashWhen = (callOp, callPath) => {
      if (callOp !== op) return false;
      if (path !== undefined && !(typeof path === 'string' ? callPath.includes(path) : path.test(callPath))) return false;
      return seen++ >= skip;
    };
    this.onCrash = onCrash;
  }

  /** Cancels a crash armed with {@link crashAfter} or {@link crashBefore} that has not happened yet. */
  disarm(): void {
    this.crashAt = undefined;
    this.crashWhen = undefined;
    this.onCrash = undefined;
  }

  /** Resolves once no call is inside the machine. */
  whenSettled(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.settled.push(resolve));
  }

  async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    const handle = await this.run('open', p, () => this.machine.open(p, how, mode));
    return new ProcessHandle(handle, this);
  }

  readdir(p: string): Promise<string[]> {
    return this.run('readdir', p, () => this.machine.readdir(p));
  }

  mkdir(p: string, mode?: number): Promise<void> {
    return this.run('mkdir', p, () => this.machine.mkdir(p, mode));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('rename', from, () => this.machine.rename(from, to));
  }

  unlink(p: string): Promise<void> {
    return this.run('unlink', p, () => this.machine.unlink(p));
  }

  link(from: string, to: string): Promise<void> {
    return this.run('link', from, () => this.machine.link(from, to));
  }

  rmdir(p: string, options?: { recursive?: boolean }): Promise<void> {
    return this.run('rmdir', p, () => this.machine.rmdir(p, options));
  }

  stat(p: string): Promise<FileStat> {
    return this.run('stat', p, () => this.machine.stat(p));
  }

  lstat(p: string): Promise<LinkStat> {
    return this.run('lstat', p, () => this.machine.lstat(p));
  }

  syncDir(p: string): Promise<void> {
    return this.run('syncDir', p, () => this.machine.syncDir(p));
  }

  /** Runs one call unless the process is dead (or dies at this call). */
  async run<T>(op: string, p: string, call: () => Promise<T>): Promise<T> {
    this.enter(op, p);
    this.inFlight++;
    try {
      return await call();
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.settled.splice(0)) wake();
    }
  }

  /** As {@link run}, for a synchronous call. */
  runSync<T>(op: string, p: string, call: () => T): T {
    this.enter(op, p);
    return call();
  }

  /** Counts a call; throws if the process is dead or dies at it. */
  private enter(op: string, p: string): void {
    if (this.dead) throw crashed(op, p);
    this.callCount++;
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    if ((this.crashAt !== undefined && this.callCount > this.crashAt) || this.crashWhen?.(op, p) === true) {
      this.die();
      throw crashed(op, p);
    }
  }

  private die(): void {
    if (this.dead) return;
    this.dead = true;
    this.crashAt = undefined;
    this.crashWhen = undefined;
    const hook = this.onCrash;
    this.onCrash = undefined;
    hook?.();
  }
}

class ProcessHandle implements FileHandle {
  /** Present when the machine's handle has them; a crash can strike them too. */
  readonly readSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly writeSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly datasyncSync?: () => void;

  constructor(
    private readonly inner: FileHandle,
    private readonly owner: ProcessFs,
  ) {
    const readSync = inner.readSync?.bind(inner);
    const writeSync = inner.writeSync?.bind(inner);
    if (readSync !== undefined) this.readSync = (buffer, offset, length, position) => owner.runSync('read', this.path, () => readSync(buffer, offset, length, position));
    if (writeSync !== undefined) this.writeSync = (buffer, offset, length, position) => owner.runSync('write', this.path, () => writeSync(buffer, offset, length, position));
    const datasyncSync = inner.datasyncSync?.bind(inner);
    if (datasyncSync !== undefined) this.datasyncSync = () => owner.runSync('datasync', this.path, datasyncSync);
  }

  get path(): string {
    return this.inner.path;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.owner.run('read', this.path, () => this.inner.read(buffer, offset, length, position));
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.owner.run('write', this.path, () => this.inner.write(buffer, offset, length, position));
  }

  datasync(): Promise<void> {
    return this.owner.run('datasync', this.path, () => this.inner.datasync());
  }

  sync(): Promise<void> {
    return this.owner.run('sync', this.path, () => this.inner.sync());
  }

  truncate(length: number): Promise<void> {
    return this.owner.run('truncate', this.path, () => this.inner.truncate(length));
  }

  size(): Promise<number> {
    return this.owner.run('size', this.path, () => this.inner.size());
  }

  close(): Promise<void> {
    // The kernel closes a dead process's descriptors: always reaches the machine, never fails.
    return this.inner.close().catch(() => undefined);
  }
}
