import { assert } from '../assert.js';
import { ClosedError, errnoOf, IoError, LogFailedError } from '../errors.js';
import { writeFully } from '../fs/io.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { syncsBeforeAck } from '../flush/strategy.js';
import type { NormalizedOptions } from '../options.js';
import { encodeEmptyFrame, encodeFrame, FLAG_CLOSE_MARKER, FRAME_HEADER_BYTES, frameCrcSeed } from '../record/frame.js';
import { createSegment } from '../segment/create.js';
import { SEGMENT_HEADER_BYTES } from '../segment/header.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { encodeSegmentFooter } from '../segment/seal.js';
import { SparseIndexBuilder } from '../segment/sparse-index.js';
import { AppendQueue, type PendingAppend, type PendingItem } from './append-queue.js';
import { WriterMetrics } from './metrics.js';

/** What the writer tells the log about. */
export interface WriterEvents {
  /** Records `[from, to)` were acknowledged. */
  appended(from: number, to: number): void;
  /** An fsync covered `records` records / `bytes` bytes in `durationMs`. */
  flushed(records: number, bytes: number, durationMs: number): void;
  /** `segment` was sealed. */
  sealed(segment: LoadedSegment): void;
  /** `segment` became the active segment. */
  rolled(segment: LoadedSegment): void;
  /** The log entered the failed state. */
  failed(err: LogFailedError): void;
}

/**
 * The single writer of a log: takes appends in order, coalesces all that are
 * waiting into one frame and one write(2) (group commit), syncs per the flush
 * strategy, publishes acknowledged records to readers, and rolls segments.
 * One loop runs at a time, so file positions need no locking.
 */
export class Writer {
  readonly metrics = new WriterMetrics();
  private readonly queue: AppendQueue;
  private readonly writeBuffer: Buffer;
  private index: SparseIndexBuilder;
  private running = false;
  private closed = false;
  private failure: LogFailedError | undefined;
  private unsyncedRecords = 0;
  private unsyncedBytes = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly opts: NormalizedOptions,
    private readonly segments: LoadedSegment[],
    private handle: FileHandle,
    private readonly events: WriterEvents,
  ) {
    this.queue = new AppendQueue(opts.maxPendingBytes);
    this.writeBuffer = Buffer.allocUnsafe(opts.writeBufferBytes);
    this.index = new SparseIndexBuilder(opts.segment.indexIntervalBytes, this.active.index);
    this.active.index = this.index.entries;
    assert(!this.active.sealed, 'the writer starts on an unsealed segment');
  }

  /** The segment appends go to. */
  get active(): LoadedSegment {
    return this.segments[this.segments.length - 1]!;
  }

  /** The failed-state error, once an fsync failed. */
  get failedWith(): LogFailedError | undefined {
    return this.failure;
  }

  /** Bytes accepted and not yet written. */
  get pendingBytes(): number {
    return this.queue.pendingBytes;
  }

  /** Queues an append of whole payloads (one frame); resolves the first sequence number once acknowledged. */
  append(payloads: Uint8Array[]): Promise<number> {
    let frameBytes = 0;
    for (const p of payloads) frameBytes += 4 + p.byteLength;
    return new Promise<number>((resolve, reject) => this.submit({ kind: 'append', payloads, frameBytes, resolve, reject }));
  }

  /** Seals the active segment and starts a new one, in order with appends. */
  roll(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit({ kind: 'roll', resolve, reject }));
  }

  /** Resolves once everything appended before is on stable storage. */
  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit({ kind: 'flush', resolve, reject }));
  }

  /**
   * Writes everything queued, then a clean-close marker, and closes the file.
   * After a failure it only closes the file: the marker would vouch for data
   * an fsync failed to cover.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === undefined) await this.flush().catch(() => undefined);
    this.closed = true;
    await this.whenIdle();
    try {
      if (this.failure === undefined) await this.writeCloseMarker();
    } finally {
      await this.handle.close();
    }
  }

  private submit(item: PendingItem): void {
    if (this.failure !== undefined) return item.reject(this.failure);
    if (this.closed) return item.reject(new ClosedError());
    this.queue.push(item);
    this.metrics.observePending(this.queue.pendingBytes, this.queue.waitingCount);
    if (!this.running) {
      this.running = true;
      // Start on a microtask: every append issued in this turn joins the first write.
      queueMicrotask(() => void this.run());
    }
  }

  private async run(): Promise<void> {
    try {
      for (let item = this.queue.peek(); item !== undefined; item = this.queue.peek()) {
        if (item.kind === 'append') await this.writeGroup();
        else await this.control(this.queue.shift()!);
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async control(item: PendingItem): Promise<void> {
    assert(item.kind !== 'append', 'control items only');
    try {
      if (item.kind === 'roll') await this.rollNow();
      else await this.syncNow();
      item.resolve();
    } catch (err) {
      item.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Takes the appends at the head of the queue that fit one frame, and writes them. */
  private async writeGroup(): Promise<void> {
    const head = this.queue.peek() as PendingAppend;
    if (this.needsRoll(head)) {
      try {
        await this.rollNow();
      } catch (err) {
        this.queue.shift();
        head.reject(asError(err));
        return;
      }
    }
    const group = this.takeGroup();
    await this.writeFrame(group);
  }

  private needsRoll(head: PendingAppend): boolean {
    const seg = this.active;
    if (seg.dataEnd === SEGMENT_HEADER_BYTES) return false;
    const { maxBytes, maxRecords, maxAgeMs } = this.opts.segment;
    if (seg.dataEnd + FRAME_HEADER_BYTES + head.frameBytes > maxBytes) return true;
    if (seg.nextSeq - seg.baseSeq + head.payloads.length > maxRecords) return true;
    return this.opts.clock() - seg.createdMs >= maxAgeMs;
  }

  private takeGroup(): PendingAppend[] {
    const seg = this.active;
    const { maxBytes, maxRecords } = this.opts.segment;
    const group: PendingAppend[] = [];
    let bytes = FRAME_HEADER_BYTES;
    let records = 0;
    for (let item = this.queue.peek(); item?.kind === 'append'; item = this.queue.peek()) {
      if (group.length > 0) {
        if (bytes + item.frameBytes > this.writeBuffer.length) break;
        if (seg.dataEnd + bytes + item.frameBytes > maxBytes) break;
        if (seg.nextSeq - seg.baseSeq + records + item.payloads.length > maxRecords) break;
      }
      group.push(this.queue.shift() as PendingAppend);
      bytes += item.frameBytes;
      records += item.payloads.length;
    }
    return group;
  }

  private async writeFrame(group: PendingAppend[]): Promise<void> {
    const seg = this.active;
    const payloads = group.length === 1 ? group[0]!.payloads : group.flatMap((g) => g.payloads);
    const frameBytes = FRAME_HEADER_BYTES + group.reduce((n, g) => n + g.frameBytes, 0);
    const buffer = frameBytes <= this.writeBuffer.length ? this.writeBuffer : Buffer.allocUnsafe(frameBytes);
    const timestamp = Math.max(this.opts.clock(), seg.lastTimestamp);
    const firstSeq = seg.nextSeq;
    assert(encodeFrame(buffer, 0, frameCrcSeed(seg.salt), firstSeq, timestamp, payloads) === frameBytes, 'frame length matches its plan');
    const offset = seg.dataEnd;
    try {
      await writeFully(this.handle, buffer, 0, frameBytes, offset);
    } catch (err) {
      await this.cutBack(offset, err);
      const io = new IoError('append failed; nothing of it was kept', err, { file: seg.file, offset });
      for (const g of group) g.reject(io);
      return;
    }
    this.unsyncedRecords += payloads.length;
    this.unsyncedBytes += frameBytes;
    if (syncsBeforeAck(this.opts.flush) && !(await this.syncOrFail(group))) return;
    this.publish(seg, firstSeq, payloads.length, offset, frameBytes, timestamp);
    this.metrics.observeWrite(payloads.length, frameBytes, group.length);
    let seq = firstSeq;
    for (const g of group) {
      g.resolve(seq);
      seq += g.payloads.length;
    }
    this.events.appended(firstSeq, firstSeq + payloads.length);
  }

  /** Makes a written frame visible to readers: everything here is acknowledged. */
  private publish(seg: LoadedSegment, firstSeq: number, count: number, offset: number, frameBytes: number, timestamp: number): void {
    assert(firstSeq === seg.nextSeq, `sequence numbers strictly increase: ${firstSeq} follows ${seg.nextSeq}`);
    assert(offset === seg.dataEnd, 'frames are published in file order');
    this.index.add(firstSeq, offset, timestamp);
    if (seg.recordCount === 0) seg.firstTimestamp = timestamp;
    seg.recordCount += count;
    seg.nextSeq = firstSeq + count;
    seg.dataEnd = offset + frameBytes;
    seg.lastTimestamp = timestamp;
  }

  /** After a failed write: cut the partial frame off so the file ends on a whole frame again. */
  private async cutBack(offset: number, cause: unknown): Promise<void> {
    this.metrics.writeErrors++;
    try {
      await this.handle.truncate(offset);
    } catch (err) {
      this.fail(new LogFailedError(`write failed (${errnoOf(cause) ?? 'error'}) and its partial frame could not be cut off`, err, { file: this.active.file, offset }));
    }
  }

  /** fdatasync; on failure the log enters the failed state and `group` is rejected. */
  private async syncOrFail(group: PendingAppend[] = []): Promise<boolean> {
    if (this.unsyncedBytes === 0) return true;
    const started = performance.now();
    try {
      await this.handle.datasync();
    } catch (err) {
      const failure = new LogFailedError('fsync failed; acknowledged data may not be durable, reopen the log to re-verify it', err, { file: this.active.file });
      for (const g of group) g.reject(failure);
      this.fail(failure);
      return false;
    }
    const durationMs = performance.now() - started;
    this.metrics.observeSync(durationMs, this.unsyncedRecords, this.unsyncedBytes);
    this.events.flushed(this.unsyncedRecords, this.unsyncedBytes, durationMs);
    this.unsyncedRecords = 0;
    this.unsyncedBytes = 0;
    return true;
  }

  private async syncNow(): Promise<void> {
    if (!(await this.syncOrFail())) throw this.failure!;
  }

  private async rollNow(): Promise<void> {
    const seg = this.active;
    if (seg.dataEnd === SEGMENT_HEADER_BYTES) return;
    const footer = encodeSegmentFooter(seg);
    try {
      await writeFully(this.handle, footer, 0, footer.length, seg.dataEnd);
    } catch (err) {
      await this.cutBack(seg.dataEnd, err);
      throw new IoError('sealing the segment failed; it stays active', err, { file: seg.file, offset: seg.dataEnd });
    }
    this.unsyncedBytes += footer.length;
    await this.syncNow();
    seg.sealed = true;
    this.events.sealed(seg);
    await this.handle.close();
    await this.startSegment(seg.nextSeq, Math.max(this.opts.clock(), seg.lastTimestamp));
  }

  private async startSegment(baseSeq: number, createdMs: number): Promise<void> {
    let created: Awaited<ReturnType<typeof createSegment>>;
    try {
      created = await createSegment(this.fs, this.dir, baseSeq, createdMs, this.opts.fileMode);
    } catch (err) {
      // The sealed segment is closed and no new one exists: nowhere to append until a reopen.
      this.fail(new LogFailedError('a new segment could not be created after sealing the last one', err, { file: this.active.file }));
      throw this.failure!;
    }
    this.handle = created.handle;
    this.index = new SparseIndexBuilder(this.opts.segment.indexIntervalBytes);
    created.segment.index = this.index.entries;
    this.segments.push(created.segment);
    this.metrics.rolls++;
    this.events.rolled(created.segment);
  }

  private async writeCloseMarker(): Promise<void> {
    const seg = this.active;
    const marker = encodeEmptyFrame(frameCrcSeed(seg.salt), seg.nextSeq, 0, Math.max(this.opts.clock(), seg.lastTimestamp), FLAG_CLOSE_MARKER);
    await writeFully(this.handle, marker, 0, marker.length, seg.dataEnd);
    await this.handle.datasync();
  }

  /** Puts the writer in the failed state from outside (e.g. its lock was lost). */
  poison(failure: LogFailedError): void {
    this.fail(failure);
  }

  private fail(failure: LogFailedError): void {
    if (this.failure !== undefined) return;
    this.failure = failure;
    for (const item of this.queue.drain()) item.reject(failure);
    this.events.failed(failure);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

