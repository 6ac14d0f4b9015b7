import { Worker } from 'node:worker_threads';
import { ClosedError, SnapshotFailedError } from '../errors.js';
import { WORKER_SOURCE } from './worker-source.js';

interface Reply {
  id: number;
  out?: ArrayBuffer;
  /** Bytes the worker wrote to the file for this slice (when it writes). */
  stored?: number;
  digest?: ArrayBuffer;
  error?: string;
  cancelled?: boolean;
  /** The `code` of the error in the worker (`ENOSPC`, `EIO`, `Z_DATA_ERROR`, ...). */
  errno?: string;
  /** The failed system call, when it was one (`write`). */
  syscall?: string;
}

/** Where the worker writes a save's slices itself: the file's descriptor and the first byte after the header. */
export interface WorkerWriteTarget {
  fd: number;
  position: number;
}

/** What the worker did with one slice. */
export interface ProcessedSlice {
  /** The deflate block, when compressing and the caller writes. */
  block?: Uint8Array;
  /** Bytes the worker wrote for the slice, when it writes. */
  stored?: number;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

/** A worker's failure, delivered to every request it still owed. */
export class WorkerJobError extends Error {
  constructor(
    message: string,
    /** True when the job was cancelled through its shared flag. */
    readonly cancelled: boolean,
    /** The `code` of the error in the worker, as Node's own errors carry it (`ENOSPC`, `Z_DATA_ERROR`). */
    readonly code?: string,
    /** The failed system call, when it was one: the worker's write failed (then `code` is its errno). */
    readonly syscall?: string,
  ) {
    super(message);
  }
}

/**
 * One worker thread for a store's checksumming and compression, started on
 * first use. It holds the process open only while it has work (`unref` when
 * idle). If it dies (an uncaught exception, `process.exit` in the thread),
 * every request it owed rejects with `AOF_SNAPSHOT_FAILED` (stage `worker`)
 * and the next job starts a new thread. `close()` terminates it and waits
 * for its exit.
 */
export class SnapshotWorker {
  private thread: Thread | undefined;
  /** Incremented per thread started: a job belongs to one thread and fails with it. */
  private generation = 0;
  /** Exits of threads not yet gone, so that close() leaves none behind. */
  private readonly exits = new Set<Promise<void>>();
  private nextId = 1;
  private nextJob = 1;
  private closed = false;
  /** Threads started, for reports and tests. */
  threadsStarted = 0;

  /** Starts a job over `sab` (deflate at `level`, or -1 for none); with `target`, the worker writes each slice to that file itself. */
  job(sab: SharedArrayBuffer, level: number, target?: WorkerWriteTarget): WorkerJob {
    if (this.closed) throw new ClosedError('snapshot store');
    const thread = this.ensure();
    const control = new SharedArrayBuffer(4);
    const id = this.nextJob++;
    thread.worker.postMessage({ t: 'begin', job: id, sab, control, level, fd: target?.fd ?? -1, position: target?.position ?? 0 });
    return new WorkerJob(this, thread.generation, id, new Int32Array(control));
  }

  /** The running thread's id, or undefined when none runs. */
  get threadId(): number | undefined {
    return this.thread?.worker.threadId;
  }

  /** Tests: makes the thread throw an uncaught exception, as a crash would. */
  crash(): void {
    this.thread?.worker.postMessage({ t: 'crash' });
  }

  /** Tests: stops the thread (it answers nothing) until the returned function is called. */
  hold(): () => void {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    this.ensure().worker.postMessage({ t: 'hold', flag: flag.buffer });
    return () => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    };
  }

  /** Sends a request to the thread of `generation`; rejects if that thread is gone. */
  request(generation: number, message: Record<string, unknown>): Promise<Reply> {
    const thread = this.thread;
    if (thread === undefined || generation !== thread.generation) {
      return Promise.reject(new SnapshotFailedError('worker', 'the snapshot worker thread exited before the job finished'));
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      if (thread.pending.size === 1) thread.worker.ref();
      thread.worker.postMessage({ ...message, id });
    });
  }

  /** Tells the thread to forget a job (no reply). */
  drop(generation: number, job: number): void {
    if (this.thread?.generation === generation) this.thread.worker.postMessage({ t: 'drop', job });
  }

  /** Terminates the thread (rejecting whatever it still owed) and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    if (thread !== undefined) await thread.worker.terminate();
    await Promise.all([...this.exits]);
  }

  private ensure(): Thread {
    if (this.thread !== undefined) return this.thread;
    // The source is CommonJS: a parent started with `--input-type=module` (`node --input-type=module -e ...`) must not pass that on.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')) });
    const thread: Thread = { worker, generation: ++this.generation, pending: new Map() };
    this.thread = thread;
    this.threadsStarted++;
    worker.unref();
    let failure: Error | undefined;
    const gone = (err: Error): void => {
      // Later jobs start a new thread rather than talk to this one.
      if (this.thread === thread) this.thread = undefined;
      const owed = [...thread.pending.values()];
      thread.pending.clear();
      for (const p of owed) p.reject(err);
    };
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        gone(failure ?? new SnapshotFailedError('worker', `the snapshot worker thread exited (code ${code}) before the job finished`));
        this.exits.delete(exited);
        resolve();
      });
    });
    this.exits.add(exited);
    worker.on('error', (err) => {
      failure = new SnapshotFailedError('worker', `the snapshot worker thread crashed: ${err.message}`, { cause: err });
      gone(failure);
    });
    worker.on('messageerror', (err) => {
      failure = new SnapshotFailedError('worker', 'a message from the snapshot worker could not be read', { cause: err });
      // Rejected only once the thread has stopped (the exit handler): until then it may still be writing with a job's descriptor.
      void worker.terminate();
    });
    worker.on('message', (reply: Reply) => {
      const p = thread.pending.get(reply.id);
      if (p === undefined) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      if (reply.error !== undefined) p.reject(new WorkerJobError(reply.error, reply.cancelled === true, reply.errno, reply.syscall));
      else p.resolve(reply);
    });
    return thread;
  }
}

interface Thread {
  worker: Worker;
  generation: number;
  pending: Map<number, Pending>;
}

/** One save or read in the worker: a running SHA-256 and, when enabled, (de)compression. */
export class WorkerJob {
  constructor(
    private readonly pool: SnapshotWorker,
    private readonly generation: number,
    private readonly id: number,
    private readonly control: Int32Array,
  ) {}

  /** Hashes `length` bytes at `offset` of the shared buffer (and deflates and writes them, as the job says). */
  async chunk(offset: number, length: number): Promise<ProcessedSlice> {
    const reply = await this.pool.request(this.generation, { t: 'chunk', job: this.id, offset, length });
    return { block: reply.out === undefined ? undefined : new Uint8Array(reply.out), stored: reply.stored };
  }

  /** Inflates a block at `offset` to `rawLength` bytes and hashes them; resolves them. */
  async inflate(offset: number, length: number, rawLength: number): Promise<Uint8Array> {
    const reply = await this.pool.request(this.generation, { t: 'inflate', job: this.id, offset, length, rawLength });
    return new Uint8Array(reply.out!);
  }

  /** The SHA-256 of everything hashed; ends the job. */
  async finish(): Promise<Buffer> {
    const reply = await this.pool.request(this.generation, { t: 'end', job: this.id });
    return Buffer.from(reply.digest!);
  }

  /** Stops the job: the worker refuses its remaining slices at once and forgets it. */
  cancel(): void {
    Atomics.store(this.control, 0, 1);
    this.pool.drop(this.generation, this.id);
  }
}
