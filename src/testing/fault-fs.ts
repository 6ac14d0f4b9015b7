import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert } from '../assert.js';
import type { FileHandle, FileStat, FileSystem, LinkStat, OpenMode } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { randomInt, seededRandom } from './random.js';

/** Operations of the adapter that faults can target. */
export type FsOperation = 'open' | 'read' | 'write' | 'datasync' | 'sync' | 'truncate' | 'size' | 'close' | 'readdir' | 'mkdir' | 'rename' | 'unlink' | 'link' | 'rmdir' | 'stat' | 'lstat' | 'syncDir';

/** One call seen by a {@link FaultFs} created with `record: true`. */
export interface RecordedCall {
  op: FsOperation;
  /** The path (for `rename` and `link`, the source). */
  path: string;
  /** The second path of `rename` and `link`. */
  to?: string;
}

/** A fault to inject: fail calls of `op` (on paths matching `path`) with `errno`. */
export interface FaultRule {
  op: FsOperation;
  errno: string;
  /** Only calls on paths containing this string (or matching this pattern); for `rename` and `link`, either path. */
  path?: string | RegExp;
  /** Let this many matching calls succeed first (fail the Nth+1). Default 0. */
  skip?: number;
  /** Fail this many matching calls, then stop (default 1; Infinity for every call). */
  times?: number;
}

/** What a simulated power loss did to each file. */
export interface PowerLossReport {
  /** Files whose unsynced writes were (partly) dropped, with how many of their unsynced operations survived. */
  files: Array<{ path: string; unsyncedOps: number; keptOps: number; torn: 'none' | 'prefix' | 'zeros' }>;
  /** Directory entries that vanished or came back because their directory was not fsynced. */
  entriesReverted: string[];
}

/** Options of {@link FaultFs}. */
export interface FaultFsOptions {
  /** Seed of every random choice (short-write lengths, what survives a power loss). */
  seed?: number;
  /** The adapter faults are layered on (default: the real file system). */
  inner?: FileSystem;
  /**
   * On power loss, whether unsynced writes may survive in part: `prefix`
   * (default) keeps a seeded prefix of them in order, the last one possibly
   * torn or zero-filled; `none` drops them all.
   */
  unsyncedSurvival?: 'prefix' | 'none';
  /** Keep every call in {@link FaultFs.journal}, in order (for tests that enumerate what an operation does). Default false. */
  record?: boolean;
}

type PendingOp = { kind: 'write'; position: number; data: Buffer } | { kind: 'truncate'; length: number };

/** The life of one file (an inode): its content as of its last fsync, and the changes since. */
class FileState {
  pending: PendingOp[] = [];
  constructor(public durable: Buffer) {}

  sync(): void {
    this.durable = applyOps(this.durable, this.pending);
    this.pending = [];
  }
}

function applyOps(base: Buffer, ops: readonly PendingOp[]): Buffer {
  let out = Buffer.from(base);
  for (const op of ops) {
    if (op.kind === 'truncate') {
      out = op.length <= out.length ? out.subarray(0, op.length) : Buffer.concat([out, Buffer.alloc(op.length - out.length)]);
    } else {
      const end = op.position + op.data.length;
      if (end > out.length) out = Buffer.concat([out, Buffer.alloc(end - out.length)]);
      op.data.copy(out, op.position);
    }
  }
  return Buffer.from(out);
}

/** A directory's entries: durable (as of its last fsync) and current. */
class DirState {
  constructor(
    public durable: Map<string, FileState>,
    public current: Map<string, FileState>,
  ) {}
}

function injected(op: string, errno: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${errno}: injected ${op} failure on ${p}`), { code: errno, syscall: op, path: p });
}

/**
 * A fault-injecting file-system adapter for `Log.open(dir, { fs })`, in the
 * spirit of LazyFS and SQLite's crash tests. It works over real files and
 * keeps, beside them, what a power loss would leave: each file's content as
 * of its last fsync and each directory's entries as of its last directory
 * fsync. It can:
 * - fail the next (or Nth) call of an operation with an errno ({@link failNext});
 * - make writes short ({@link shortWriteNext});
 * - simulate power loss ({@link powerLoss}): unsynced writes are dropped (or a
 *   seeded prefix survives, the last one torn or zero-filled), entries of
 *   unsynced directories revert. The instance is then dead, as the process
 *   would be: every later call fails, and the test reopens with a new one.
 * Every random choice comes from the seed, so a failing run replays exactly.
 */
export class FaultFs implements FileSystem {
  /** Calls made, by operation. */
  readonly calls = new Map<FsOperation, number>();
  /** Every call in order, when created with `record: true` (else stays empty). */
  readonly journal: RecordedCall[] = [];
  private readonly record: boolean;
  private readonly inner: FileSystem;
  private readonly random: () => number;
  private readonly survival: 'prefix' | 'none';
  private rules: Array<FaultRule & { seen: number; failed: number }> = [];
  private shortWrites = 0;
  private readonly files = new Map<string, FileState>();
  private readonly dirs = new Map<string, DirState>();
  private inFlight = 0;
  private settled: Array<() => void> = [];
  private dead = false;

  constructor(options: FaultFsOptions = {}) {
    this.inner = options.inner ?? nodeFs;
    this.random = seededRandom(options.seed ?? 1);
    this.survival = options.unsyncedSurvival ?? 'prefix';
    this.record = options.record ?? false;
  }

  /** Fails matching calls of `rule.op` with `rule.errno` (see {@link FaultRule}). */
  failNext(op: FsOperation, errno: string, options: Omit<FaultRule, 'op' | 'errno'> = {}): void {
    this.rules.push({ op, errno, ...options, seen: 0, failed: 0 });
  }

  /** Makes the next `count` writes write only a seeded part of their bytes (at least one). */
  shortWriteNext(count = 1): void {
    this.shortWrites += count;
  }

  /** Removes every pending fault. */
  clearFaults(): void {
    this.rules = [];
    this.shortWrites = 0;
  }

  /** True while an injected fault is still waiting for its call. */
  get faultsPending(): boolean {
    return this.shortWrites > 0 || this.rules.some((r) => r.failed < (r.times ?? 1));
  }

  /**
   * Simulates a power loss: waits for calls already inside the real file
   * system, then rewrites the files and directories this instance touched to
   * what would survive. The instance is dead afterwards.
   */
  async powerLoss(): Promise<PowerLossReport> {
    this.dead = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.settled.push(resolve));
    const report: PowerLossReport = { files: [], entriesReverted: [] };
    for (const [dir, state] of this.dirs) this.revertDir(dir, state, report);
    for (const [dir, state] of this.dirs) {
      for (const [name, file] of state.durable) this.restoreFile(path.join(dir, name), file, report);
    }
    return report;
  }

  // --- FileSystem -----------------------------------------------------------

  async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    return this.run('open', p, async () => {
      const existed = how === 'createNew' ? false : fs.existsSync(p);
      const handle = await this.inner.open(p, how, mode);
      if (how === 'read') return new FaultHandle(handle, this, undefined);
      const dir = this.dirState(path.dirname(p));
      let state = dir.current.get(path.basename(p));
      if (state === undefined) {
        state = new FileState(existed ? fs.readFileSync(p) : Buffer.alloc(0));
        dir.current.set(path.basename(p), state);
        // A file that was there before this instance saw it is taken as durable.
        if (existed) dir.durable.set(path.basename(p), state);
      }
      this.files.set(p, state);
      return new FaultHandle(handle, this, state);
    });
  }

  readdir(p: string): Promise<string[]> {
    return this.run('readdir', p, () => this.inner.readdir(p));
  }

  mkdir(p: string, mode?: number): Promise<void> {
    return this.run('mkdir', p, () => this.inner.mkdir(p, mode));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('rename', from, async () => {
      if (fs.statSync(from).isDirectory()) return this.renameDir(from, to);
      const src = this.dirState(path.dirname(from));
      const dst = this.dirState(path.dirname(to));
      const state = src.current.get(path.basename(from)) ?? new FileState(fs.readFileSync(from));
      await this.inner.rename(from, to);
      src.current.delete(path.basename(from));
      dst.current.set(path.basename(to), state);
      this.files.set(to, state);
    }, to);
  }

  unlink(p: string): Promise<void> {
    return this.run('unlink', p, async () => {
      const dir = this.dirState(path.dirname(p));
      await this.inner.unlink(p);
      dir.current.delete(path.basename(p));
    });
  }

  link(from: string, to: string): Promise<void> {
    return this.run('link', from, async () => {
      const src = this.dirState(path.dirname(from));
      const dst = this.dirState(path.dirname(to));
      const state = src.current.get(path.basename(from)) ?? new FileState(fs.readFileSync(from));
      await this.inner.link(from, to);
      // Both names are one inode: writes through either reach the same content.
      dst.current.set(path.basename(to), state);
    }, to);
  }

  /**
   * Removes a directory. The removal is taken as durable at once: a later
   * power loss does not bring back its entries (the engine only removes its
   * own temporary or pruned directories, whose return would be harmless).
   */
  rmdir(p: string, options?: { recursive?: boolean }): Promise<void> {
    return this.run('rmdir', p, async () => {
      await this.inner.rmdir(p, options);
      this.forgetTree(path.resolve(p));
    });
  }

  stat(p: string): Promise<FileStat> {
    return this.run('stat', p, () => this.inner.stat(p));
  }

  lstat(p: string): Promise<LinkStat> {
    return this.run('lstat', p, () => this.inner.lstat(p));
  }

  syncDir(p: string): Promise<void> {
    return this.run('syncDir', p, async () => {
      await this.inner.syncDir(p);
      const state = this.dirs.get(path.resolve(p));
      if (state !== undefined) state.durable = new Map(state.current);
    });
  }

  // --- internals --------------------------------------------------------------

  /**
   * Renames a directory. Like a removal, the rename is taken as durable at
   * once; the files tracked inside it move with it, so a power loss still
   * drops their unsynced writes at their new paths.
   */
  private async renameDir(from: string, to: string): Promise<void> {
    await this.inner.rename(from, to);
    const [a, b] = [path.resolve(from), path.resolve(to)];
    const moved = (key: string): string | undefined => (key === a ? b : key.startsWith(a + path.sep) ? b + key.slice(a.length) : undefined);
    for (const [key, state] of [...this.dirs]) {
      const next = moved(key);
      if (next === undefined) continue;
      this.dirs.delete(key);
      this.dirs.set(next, state);
    }
    for (const [key, state] of [...this.files]) {
      const next = moved(path.resolve(key));
      if (next === undefined) continue;
      this.files.delete(key);
      this.files.set(next, state);
    }
  }

  /** Forgets the tracked directories and files at or under `root` (removed). */
  private forgetTree(root: string): void {
    const under = (key: string): boolean => key === root || key.startsWith(root + path.sep);
    for (const key of [...this.dirs.keys()]) if (under(key)) this.dirs.delete(key);
    for (const key of [...this.files.keys()]) if (under(path.resolve(key))) this.files.delete(key);
    this.dirs.get(path.dirname(root))?.current.delete(path.basename(root));
  }

  /** Runs one call: counts it, fails it if a rule says so, tracks it as in flight. `other` is a second path rules may match (rename, link). */
  async run<T>(op: FsOperation, p: string, call: () => Promise<T>, other?: string): Promise<T> {
    this.enter(op, p, other);
    this.inFlight++;
    try {
      return await call();
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.settled.splice(0)) wake();
    }
  }

  /** As {@link run}, for a synchronous call (never in flight across a turn of the event loop). */
  runSync<T>(op: FsOperation, p: string, call: () => T): T {
    this.enter(op, p);
    return call();
  }

  /** Counts a call; throws if power was lost or a rule fails it. */
  private enter(op: FsOperation, p: string, other?: string): void {
    if (this.dead) throw injected(op, 'EIO', `${p} (power was lost)`);
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    if (this.record) this.journal.push(other === undefined ? { op, path: p } : { op, path: p, to: other });
    const rule = this.matchRule(op, p, other);
    if (rule !== undefined) throw injected(op, rule.errno, p);
  }

  /** Whether the next write is to be short; consumes one. */
  takeShortWrite(length: number): number | undefined {
    if (this.shortWrites === 0 || length < 2) return undefined;
    this.shortWrites--;
    return randomInt(this.random, 1, length - 1);
  }

  private matchRule(op: FsOperation, p: string, other: string | undefined): FaultRule | undefined {
    const matches = (pattern: string | RegExp, candidate: string): boolean => (typeof pattern === 'string' ? candidate.includes(pattern) : pattern.test(candidate));
    for (const rule of this.rules) {
      if (rule.op !== op || rule.failed >= (rule.times ?? 1)) continue;
      if (rule.path !== undefined && !matches(rule.path, p) && !(other !== undefined && matches(rule.path, other))) continue;
      if (rule.seen++ < (rule.skip ?? 0)) continue;
      rule.failed++;
      return rule;
    }
    return undefined;
  }

  private dirState(dir: string): DirState {
    const key = path.resolve(dir);
    let state = this.dirs.get(key);
    if (state === undefined) {
      // First change in this directory: what is there now is taken as durable.
      const entries = new Map<string, FileState>();
      for (const name of fs.existsSync(key) ? fs.readdirSync(key) : []) {
        const full = path.join(key, name);
        if (fs.statSync(full).isFile()) entries.set(name, this.files.get(full) ?? new FileState(fs.readFileSync(full)));
      }
      state = new DirState(entries, new Map(entries));
      this.dirs.set(key, state);
    }
    return state;
  }

  private revertDir(dir: string, state: DirState, report: PowerLossReport): void {
    for (const name of state.current.keys()) {
      if (!state.durable.has(name)) {
        fs.rmSync(path.join(dir, name), { force: true });
        report.entriesReverted.push(path.join(dir, name));
      }
    }
    for (const name of state.durable.keys()) {
      if (state.current.get(name) !== state.durable.get(name)) report.entriesReverted.push(path.join(dir, name));
    }
  }

  private restoreFile(p: string, file: FileState, report: PowerLossReport): void {
    const survivors = this.survivingOps(file.pending);
    fs.writeFileSync(p, applyOps(file.durable, survivors.ops));
    if (file.pending.length > 0) report.files.push({ path: p, unsyncedOps: file.pending.length, keptOps: survivors.ops.length, torn: survivors.torn });
  }

  /** Which unsynced operations reach the disk: a seeded prefix, the last one possibly torn. */
  private survivingOps(pending: readonly PendingOp[]): { ops: PendingOp[]; torn: 'none' | 'prefix' | 'zeros' } {
    if (this.survival === 'none' || pending.length === 0) return { ops: [], torn: 'none' };
    const kept = randomInt(this.random, 0, pending.length);
    const ops = pending.slice(0, kept);
    const next = pending[kept];
    if (next === undefined || next.kind !== 'write' || next.data.length < 2) return { ops, torn: 'none' };
    const choice = randomInt(this.random, 0, 2);
    if (choice === 0) return { ops, torn: 'none' };
    const cut = randomInt(this.random, 1, next.data.length - 1);
    // A torn write keeps a prefix of its bytes; delayed allocation can extend the file with zeros instead.
    const data = choice === 1 ? next.data.subarray(0, cut) : Buffer.alloc(cut);
    return { ops: [...ops, { kind: 'write', position: next.position, data }], torn: choice === 1 ? 'prefix' : 'zeros' };
  }
}

class FaultHandle implements FileHandle {
  /** Present when the wrapped handle has them: the synchronous path gets the same faults, counted under `read` and `write`. */
  readonly readSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly writeSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  /** Present when the wrapped handle has it: the same faults as `datasync`, counted under `datasync`. */
  readonly datasyncSync?: () => void;

  constructor(
    private readonly inner: FileHandle,
    private readonly owner: FaultFs,
    private readonly state: FileState | undefined,
  ) {
    const readSync = inner.readSync?.bind(inner);
    const writeSync = inner.writeSync?.bind(inner);
    if (readSync !== undefined) this.readSync = (buffer, offset, length, position) => owner.runSync('read', this.path, () => readSync(buffer, offset, length, position));
    if (writeSync !== undefined) {
      this.writeSync = (buffer, offset, length, position) =>
        owner.runSync('write', this.path, () => this.recordWrite(buffer, offset, position, writeSync(buffer, offset, owner.takeShortWrite(length) ?? length, position)));
    }
    const datasyncSync = inner.datasyncSync?.bind(inner);
    if (datasyncSync !== undefined) {
      this.datasyncSync = () =>
        owner.runSync('datasync', this.path, () => {
          datasyncSync();
          this.state?.sync();
        });
    }
  }

  /** Remembers written bytes as not yet durable, for power loss. */
  private recordWrite(buffer: Uint8Array, offset: number, position: number, n: number): number {
    assert(this.state !== undefined, `write on a handle opened for reading: ${this.path}`);
    this.state.pending.push({ kind: 'write', position, data: Buffer.from(buffer.subarray(offset, offset + n)) });
    return n;
  }

  get path(): string {
    return this.inner.path;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.owner.run('read', this.path, () => this.inner.read(buffer, offset, length, position));
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.owner.run('write', this.path, async () => {
      assert(this.state !== undefined, `write on a handle opened for reading: ${this.path}`);
      return this.recordWrite(buffer, offset, position, await this.inner.write(buffer, offset, this.owner.takeShortWrite(length) ?? length, position));
    });
  }

  datasync(): Promise<void> {
    return this.owner.run('datasync', this.path, async () => {
      await this.inner.datasync();
      this.state?.sync();
    });
  }

  sync(): Promise<void> {
    return this.owner.run('sync', this.path, async () => {
      await this.inner.sync();
      this.state?.sync();
    });
  }

  truncate(length: number): Promise<void> {
    return this.owner.run('truncate', this.path, async () => {
      await this.inner.truncate(length);
      this.state?.pending.push({ kind: 'truncate', length });
    });
  }

  size(): Promise<number> {
    return this.owner.run('size', this.path, () => this.inner.size());
  }

  close(): Promise<void> {
    // Closing never fails and works after power loss: the process is gone, its descriptors with it.
    return this.inner.close().catch(() => undefined);
  }
}
