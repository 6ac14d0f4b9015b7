import type { FileHandle, FileSystem, OpenMode } from '../fs/types.js';
import { nodeFs } from '../fs/node-fs.js';
import { PassThroughFs } from './pass-through-fs.js';

/**
 * A file-system adapter for real-process crash tests: it counts the calls
 * that change what is on disk (opening a file for writing, writes, syncs,
 * truncation, mkdir, rename, link, unlink, rmdir, directory fsync) and SIGKILLs its own
 * process right before the Nth one. Calls that only read are not counted:
 * a kill between two reads leaves the same disk as a kill before the next
 * change, so counting changes alone reaches every state a kill can leave.
 *
 * The kill is real (`process.kill(process.pid, 'SIGKILL')`): no `finally`,
 * no exit handler, no flush runs, exactly as when an operator kills the
 * process. Used by `child-repair.js` and `child-backup.js`.
 */
export class KillFs extends PassThroughFs {
  private count = 0;
  private killAt: number | undefined;

  /** @param trace Called with each counted call (for debugging a failing step). */
  constructor(inner: FileSystem = nodeFs, private readonly trace?: (n: number, op: string, p: string) => void) {
    super(inner);
  }

  /** Changes counted since the last {@link arm} (or since creation). */
  get mutations(): number {
    return this.count;
  }

  /** Kills the process right before the `n`th change from now (n ≥ 1); `undefined` only counts. */
  arm(n: number | undefined): void {
    this.count = 0;
    this.killAt = n;
  }

  /** Counts one change; dies first when it is the armed one. */
  step(op: string, p: string): void {
    this.count++;
    this.trace?.(this.count, op, p);
    if (this.killAt !== undefined && this.count >= this.killAt) process.kill(process.pid, 'SIGKILL');
  }

  override async open(p: string, how: OpenMode, mode?: number): Promise<FileHandle> {
    if (how !== 'read') this.step(`open-${how}`, p);
    return super.open(p, how, mode);
  }

  protected override wrapHandle(handle: FileHandle): FileHandle {
    return new KillHandle(handle, this);
  }

  override mkdir(p: string, mode?: number): Promise<void> {
    this.step('mkdir', p);
    return super.mkdir(p, mode);
  }

  override rename(from: string, to: string): Promise<void> {
    this.step('rename', `${from} -> ${to}`);
    return super.rename(from, to);
  }

  override unlink(p: string): Promise<void> {
    this.step('unlink', p);
    return super.unlink(p);
  }

  override link(from: string, to: string): Promise<void> {
    this.step('link', `${from} -> ${to}`);
    return super.link(from, to);
  }

  override rmdir(p: string, options?: { recursive?: boolean }): Promise<void> {
    this.step('rmdir', p);
    return super.rmdir(p, options);
  }

  override syncDir(p: string): Promise<void> {
    this.step('syncDir', p);
    return super.syncDir(p);
  }
}

class KillHandle implements FileHandle {
  readonly readSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly writeSync?: (buffer: Uint8Array, offset: number, length: number, position: number) => number;
  readonly datasyncSync?: () => void;

  constructor(
    private readonly inner: FileHandle,
    private readonly owner: KillFs,
  ) {
    const readSync = inner.readSync?.bind(inner);
    const writeSync = inner.writeSync?.bind(inner);
    if (readSync !== undefined) this.readSync = readSync;
    if (writeSync !== undefined) {
      this.writeSync = (buffer, offset, length, position) => {
        owner.step('write', this.path);
        return writeSync(buffer, offset, length, position);
      };
    }
    const datasyncSync = inner.datasyncSync?.bind(inner);
    if (datasyncSync !== undefined) {
      this.datasyncSync = () => {
        owner.step('datasync', this.path);
        datasyncSync();
      };
    }
  }

  get path(): string {
    return this.inner.path;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.inner.read(buffer, offset, length, position);
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.owner.step('write', this.path);
    return this.inner.write(buffer, offset, length, position);
  }

  datasync(): Promise<void> {
    this.owner.step('datasync', this.path);
    return this.inner.datasync();
  }

  sync(): Promise<void> {
    this.owner.step('sync', this.path);
    return this.inner.sync();
  }

  truncate(length: number): Promise<void> {
    this.owner.step('truncate', this.path);
    return this.inner.truncate(length);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
