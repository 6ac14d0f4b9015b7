import { assert } from '../assert.js';
import { ClosedError, errnoOf, IoError, LogFailedError } from '../errors.js';
import { FlushController } from '../flush/controller.js';
import { writeFully, writeFullyPreferSync } from '../fs/io.js';
import { LoopYield } from '../fs/loop-yield.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import type { NormalizedOptions } from '../options.js';
import { encodeEmptyFrame, encodeGroupedFrame, FLAG_CLOSE_MARKER, FRAME_HEADER_BYTES, frameCrcSeed, frameRecordCount, RECORD_HEADER_BYTES_V3, recordHeaderBytesOf } from '../record/frame.js';
import { createSegment } from '../segment/create.js';
import { SEGMENT_HEADER_BYTES } from '../segment/header.js';
import type { LoadedSegment } from '../segment/loaded-segment.js';
import { Segment } from '../segment/segment.js';
import type { SegmentList } from '../segment/segment-list.js';
import { encodeSegmentFooter } from '../segment/seal.js';
import { AppendQueue, type PendingAppend, type PendingItem } from './append-queue.js';
import { readClock, tryReadClock } from './clock.js';
import { WriterMetrics } from './metrics.js';
import type { WrittenFrame } from './written-frame.js';

/**
 * In segments of format versions 1 and 2, appends written together are split
 * into frames of at most this many bytes (an append is never split): one
 * write(2), one fsync, but a lookup reads and checksums only a small frame.
 */
export const FRAME_COALESCE_BYTES = 4 * 1024;

/**
 * In version-3 segments a get reads one record through the position table,
 * not a frame: the appends of one write go into one frame (group-commit
 * frame) of at most this many bytes, and no more than the write itself (at
 * most `writeBufferBytes`, and `syncIoMaxBytes` for writes on the calling
 * thread). None of them is acknowledged before the shared write and sync
 * complete, so one frame CRC may cover them all; sequential reads and
 * recovery then check one CRC per write instead of one per 4 KiB.
 */
export const GROUP_FRAME_MAX_BYTES = 1024 * 1024;

/** What the writer tells the log about. */
export interface WriterEvents {
  /** Records `[from, to)` were acknowledged. */
  appended(from: number, to: number): void;
  /** An fsync covered `records` records / `bytes` bytes in `durationMs`. */
  flushed(records: number, bytes: number, durationMs: number): void;
  /** Awaited before the active segment is sealed: where the archive's local-disk bound makes the writer wait. */
  beforeSeal(): Promise<void>;
  /** `segment` was sealed (footer durable); awaited before the next segment starts. */
  sealed(segment: LoadedSegment): Promise<void>;
  /** `segment` became the active segment (file and directory entry durable); awaited before appends go on. */
  rolled(segment: LoadedSegment): Promise<void>;
  /** The log entered the failed state. */
  failed(err: LogFailedError): void;
}

/**
 * The single writer of a log. Takes appends in order; coalesces all that are
 * waiting into one frame and one write(2); under a syncing strategy, keeps
 * gathering frames while the flush controller says more producers are coming,
 * then covers them all with one fdatasync (group commit) before acknowledging;
 * publishes acknowledged records to readers; rolls segments. One loop runs at
 * a time, so file positions need no locking.
 */
export class Writer {
  readonly metrics = new WriterMetrics();
  private readonly queue: AppendQueue;
  private readonly writeBuffer: Buffer;
  private readonly controller: FlushController;
  /** Where the next frame goes and which sequence number it starts at (ahead of the published state while frames await their fsync). */
  private writeOffset: number;
  private writeSeq: number;
  /** File size the active segment was extended to (preallocation); writes below it do not change the size. */
  private allocatedEnd: number;
  private unacked: WrittenFrame[] = [];
  private running = false;
  private closed = false;
  private failure: LogFailedError | undefined;
  /** The fdatasync started ahead of need under `none`/`interval` (see `writebackBytes`), while one runs. */
  private writeback: Promise<void> | undefined;
  private unsyncedRecords = 0;
  private unsyncedBytes = 0;
  private idleWaiters: Array<() => void> = [];
  private arrivalWaiter: (() => void) | undefined;
  private readonly loopYield = new LoopYield();
  private intervalTimer: NodeJS.Timeout | undefined;
  /**
   * Under `always`, an fdatasync covering at most `syncIoMaxBytes` runs on
   * the event loop's thread, as the writes before it do: a producer awaiting
   * each append would only wait for the thread-pool round trip otherwise
   * (on the development machine, with fdatasync free on tmpfs, 240 µs per
   * append through the pool, 12-16 µs here). Not under `batch` and
   * `adaptive`: they gather only when appends arrive while an fdatasync
   * runs, which they cannot do while it blocks the thread; nor under `none`
   * and `interval`, whose fdatasyncs must not hold up appends.
   */
  private readonly syncOnThisThread: boolean;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly opts: NormalizedOptions,
    private readonly segments: SegmentList,
    handle: FileHandle,
    private readonly events: WriterEvents,
    /** The log's identity, stamped into the header of every segment the writer starts. */
    private readonly logId: Buffer,
  ) {
    // The active segment owns its write handle from here on, and closes it exactly once.
    this.active.attachAppendHandle(handle);
    assert(!this.active.sealed, 'the writer starts on an unsealed segment');
    this.queue = new AppendQueue(opts.maxPendingBytes);
    this.writeBuffer = Buffer.allocUnsafe(opts.writeBufferBytes);
    this.controller = new FlushController(opts.flush);
    this.syncOnThisThread = opts.flush.strategy === 'always';
    this.writeOffset = this.active.dataEnd;
    this.writeSeq = this.active.nextSeq;
    this.allocatedEnd = this.writeOffset;
    const period = this.controller.intervalMs;
    if (period !== undefined) this.intervalTimer = setInterval(() => this.backgroundSync(), period).unref();
  }

  /** The segment appends go to. */
  get active(): Segment {
    // The last segment: unsealed but for a roll that failed between sealing it and starting the next.
    return this.segments.last!;
  }

  /** The failed-state error, once an fsync failed. */
  get failedWith(): LogFailedError | undefined {
    return this.failure;
  }

  /** Bytes accepted and not yet written. */
  get pendingBytes(): number {
    return this.queue.pendingBytes;
  }

  /** Queues an append of one payload, or of a batch's (one frame); resolves the first sequence number once acknowledged. */
  append(payloads: Uint8Array | readonly Uint8Array[]): Promise<number> {
    let frameBytes: number;
    let count: number;
    if (payloads instanceof Uint8Array) {
      frameBytes = RECORD_HEADER_BYTES_V3 + payloads.byteLength;
      count = 1;
    } else {
      frameBytes = 0;
      for (const p of payloads) frameBytes += RECORD_HEADER_BYTES_V3 + p.byteLength;
      count = payloads.length;
    }
    const promise = new Promise<number>(captureSettlers);
    this.submit({ kind: 'append', payloads, count, frameBytes, resolve: capturedResolve as (seq: number) => void, reject: capturedReject });
    return promise;
  }

  /** Seals the active segment and starts a new one, in order with appends. */
  roll(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit({ kind: 'roll', resolve, reject }));
  }

  /** Resolves once everything appended before is on stable storage. */
  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit({ kind: 'flush', resolve, reject }));
  }

  /** Puts the writer in the failed state from outside (e.g. its lock was lost). */
  poison(failure: LogFailedError): void {
    this.fail(failure);
  }

  /**
   * Writes and syncs everything queued, then a clean-close marker, and closes
   * the file. After a failure it only closes the file: the marker would vouch
   * for data an fsync failed to cover.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.intervalTimer);
    if (this.failure === undefined) await this.flush().catch(() => undefined);
    this.closed = true;
    await this.whenIdle();
    // After a failure nothing synced: a writeback may still be running on the handle about to close.
    await this.writeback;
    try {
      if (this.failure === undefined) await this.writeCloseMarker();
    } finally {
      await this.closeHandle();
    }
  }

  /** An open that failed after the writer was made: closes its handle, writes nothing. */
  async abandon(): Promise<void> {
    this.closed = true;
    clearInterval(this.intervalTimer);
    await this.closeHandle();
  }

  /** The active segment's write handle; using it after it was closed is a bug. */
  private get out(): FileHandle {
    return this.active.appendHandle;
  }

  /** Closes the active segment's write handle if it still has one (after a roll that failed once the last segment was sealed, none does). */
  private closeHandle(): Promise<void> {
    return this.active.closeAppendHandle();
  }

  private submit(item: PendingItem): void {
    if (this.failure !== undefined) return item.reject(this.failure);
    if (this.closed) return item.reject(new ClosedError());
    this.queue.push(item);
    // Only the gathering strategies need arrival times: the others skip the clock read per append.
    if (item.kind === 'append' && this.controller.gathers) this.controller.observeArrival(performance.now());
    this.metrics.observePending(this.queue.pendingBytes, this.queue.waitingCount);
    this.arrivalWaiter?.();
    if (!this.running) {
      this.running = true;
      // Start on a microtask: every append issued in this turn joins the first write.
      queueMicrotask(() => void this.run());
    }
  }

  private async run(): Promise<void> {
    try {
      // Writes on this thread resolve appends in the same turn: let timers (the interval sync) and I/O run now and then.
      for (;;) {
        // Peeked after the yield, never before it: a failure meanwhile (the lock check's timer) empties the queue.
        if (this.loopYield.due()) await this.loopYield.wait();
        const item = this.queue.peek();
        if (item === undefined || this.failure !== undefined) break;
        if (item.kind === 'append') await this.commitAppends();
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
      item.reject(asError(err));
    }
  }

  /** Writes the appends at the head of the queue, gathers more while worthwhile, syncs per strategy, acknowledges. */
  private async commitAppends(): Promise<void> {
    // Checked here first: an append that needs no roll (nearly all) takes no extra promise and microtask step.
    const head = this.queue.peek() as PendingAppend;
    if (this.needsRoll(head) && !(await this.rollIfNeeded(head))) return;
    await this.writeQueued();
    this.startWritebackIfDue();
    if (this.controller.syncBeforeAck) {
      if (this.unacked.length > 0 && this.controller.gatherDelayMs() > 0) await this.gather();
      if (this.unacked.length > 0 && !(await this.syncOrFail())) return;
    }
    this.acknowledge();
  }

  /** Keeps writing arriving appends into the current fsync's batch until the controller's delay or bounds are reached. */
  private async gather(): Promise<void> {
    const delayMs = this.controller.gatherDelayMs();
    if (delayMs <= 0) return;
    const deadline = performance.now() + delayMs;
    while (this.failure === undefined && !this.controller.enoughGathered(this.unsyncedRecords, this.unsyncedBytes)) {
      const next = this.queue.peek();
      if (next !== undefined) {
        if (next.kind !== 'append' || this.needsRoll(next)) return;
        await this.writeQueued();
        if (this.loopYield.due()) await this.loopYield.wait();
        continue;
      }
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0 || !(await this.waitForArrival(Math.min(remainingMs, this.controller.arrivalPatienceMs())))) return;
    }
  }

  /** Resolves true when an item arrives within `ms`, false on timeout. */
  private waitForArrival(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.arrivalWaiter = undefined;
        resolve(false);
      }, ms);
      this.arrivalWaiter = () => {
        clearTimeout(timer);
        this.arrivalWaiter = undefined;
        resolve(true);
      };
    });
  }

  private async rollIfNeeded(head: PendingAppend): Promise<boolean> {
    if (!this.needsRoll(head)) return true;
    try {
      await this.rollNow();
      return true;
    } catch (err) {
      this.queue.shift();
      head.reject(asError(err));
      return false;
    }
  }

  /** Where frame data must end: `segment.maxBytes` bounds header and frames; the footer comes on top when sealed. */
  private dataLimit(): number {
    return this.opts.segment.maxBytes;
  }

  private needsRoll(head: PendingAppend): boolean {
    const seg = this.active;
    if (this.writeOffset === SEGMENT_HEADER_BYTES) return false;
    const { maxRecords, maxAgeMs } = this.opts.segment;
    if (this.writeOffset + FRAME_HEADER_BYTES + head.frameBytes > this.dataLimit()) return true;
    if (this.writeSeq - seg.baseSeq + head.count > maxRecords) return true;
    // A clock with no valid time says nothing about age: the append it would stamp is rejected anyway.
    const now = tryReadClock(this.opts.clock);
    return now !== undefined && now - seg.createdMs >= maxAgeMs;
  }

  /**
   * Takes the appends at the head of the queue that fit one write of at most
   * `limit` bytes (a larger append is a write of its own), split into
   * frames of at most `FRAME_COALESCE_BYTES` (an append is never split; a
   * larger one is a frame of its own). Small frames keep a lookup cheap: a
   * `get` reads and checksums one frame, not a whole write.
   */
  private takeFrames(limit: number): { frames: PendingAppend[][]; bytes: number; appends: number } {
    const seg = this.active;
    const frameLimit = seg.version >= 3 ? GROUP_FRAME_MAX_BYTES : FRAME_COALESCE_BYTES;
    const shrink = RECORD_HEADER_BYTES_V3 - recordHeaderBytesOf(seg.version);
    const { maxRecords } = this.opts.segment;
    const dataLimit = this.dataLimit();
    const frames: PendingAppend[][] = [];
    let frame: PendingAppend[] = [];
    let frameBytes = 0;
    let bytes = 0;
    let records = 0;
    let appends = 0;
    for (let item = this.queue.peek(); item?.kind === 'append'; item = this.queue.peek()) {
      // Appends are sized for version-3 records; an older active segment's records are smaller.
      const itemBytes = item.frameBytes - shrink * item.count;
      const startsFrame = frame.length === 0 || frameBytes + itemBytes > frameLimit;
      const added = itemBytes + (startsFrame ? FRAME_HEADER_BYTES : 0);
      if (bytes > 0) {
        if (bytes + added > limit) break;
        if (this.writeOffset + bytes + added > dataLimit) break;
        if (this.writeSeq - seg.baseSeq + records + item.count > maxRecords) break;
      }
      if (startsFrame) {
        frame = [];
        frames.push(frame);
        frameBytes = 0;
      }
      frame.push(this.queue.shift() as PendingAppend);
      frameBytes += itemBytes;
      bytes += added;
      records += item.count;
      appends++;
    }
    return { frames, bytes, appends };
  }

  /**
   * Writes the appends queued at the head, up to a write buffer's worth, in
   * writes of at most `syncIoMaxBytes` where the handle can write on this
   * thread: a thread-pool round trip per write costs more than the split
   * (appendBatch of 1,000 in flight: about +25%). One sync covers them all.
   */
  private async writeQueued(): Promise<void> {
    const sync = this.out.writeSync !== undefined && this.opts.syncIoMaxBytes > 0;
    const limit = sync ? Math.min(this.opts.syncIoMaxBytes, this.writeBuffer.length) : this.writeBuffer.length;
    let budget = this.writeBuffer.length;
    for (;;) {
      // A roll or a write awaited before may have seen the writer fail: its queue is empty then.
      const head = this.queue.peek();
      if (head?.kind !== 'append' || this.failure !== undefined) return;
      // An append too large for a write on this thread goes through the thread pool: with what follows it, as one write.
      const written = await this.writeNextGroup(head.frameBytes + FRAME_HEADER_BYTES > limit ? this.writeBuffer.length : limit);
      budget -= written;
      const next = this.queue.peek();
      if (written === 0 || budget < limit || next?.kind !== 'append' || this.needsRoll(next)) return;
      if (this.loopYield.due()) return;
    }
  }

  /**
   * Encodes the next appends as frames and writes them with one write(2);
   * a failed write rejects them all and is cut back off. Resolves the bytes
   * written (0 when the write failed).
   */
  private async writeNextGroup(limit = this.writeBuffer.length): Promise<number> {
    const { frames, bytes: total, appends } = this.takeFrames(limit);
    const seg = this.active;
    let now: number;
    try {
      now = readClock(this.opts.clock);
    } catch (err) {
      // Checked before a byte is written: a bad clock rejects these appends and leaves the log as it was.
      for (const f of frames) for (const g of f) g.reject(asError(err));
      return 0;
    }
    const buffer = total <= this.writeBuffer.length ? this.writeBuffer : Buffer.allocUnsafe(total);
    const last = this.unacked[this.unacked.length - 1];
    // Time going backwards is clamped: timestamps never decrease along the log, which seekTime's bisection needs.
    // A new segment has no frames yet: its creation time (never before the previous segment's last timestamp) is the floor.
    const timestamp = Math.max(now, last?.timestamp ?? seg.lastTimestamp, seg.createdMs);
    const offset = this.writeOffset;
    const written: WrittenFrame[] = [];
    let at = 0;
    let seq = this.writeSeq;
    const crcSeed = frameCrcSeed(seg.salt);
    const recordHeaderBytes = recordHeaderBytesOf(seg.version);
    const keepsPositions = seg.positions !== undefined;
    for (const group of frames) {
      let records = 0;
      for (const g of group) records += g.count;
      // The encoder notes where each record starts: the position table takes them as they are once acknowledged.
      const recordStarts = keepsPositions ? new Uint32Array(records) : undefined;
      const frameBytes = encodeGroupedFrame(buffer, at, crcSeed, seq, timestamp, group, 0, recordHeaderBytes, recordStarts && { offsets: recordStarts, base: offset });
      const count = frameRecordCount(buffer, at);
      assert(count === records, `frame of ${count} records holds the ${records} of its appends`);
      written.push({ group, firstSeq: seq, count, offset: offset + at, frameBytes, timestamp, recordStarts });
      at += frameBytes;
      seq += count;
    }
    assert(at === total, 'frames fill exactly the planned write');
    try {
      await this.preallocate(offset + total);
      await writeFullyPreferSync(this.out, buffer, 0, total, offset, this.opts.syncIoMaxBytes);
    } catch (err) {
      await this.cutBack(offset, err);
      const io = new IoError('append failed; nothing of it was kept', err, { file: seg.file, offset });
      for (const f of frames) for (const g of f) g.reject(io);
      return 0;
    }
    this.writeOffset = offset + total;
    if (this.failure !== undefined) {
      // The log failed while this write was under way (a writeback's fdatasync, a lost lock): these appends were off the queue, so fail() could not reject them.
      for (const f of frames) for (const g of f) g.reject(this.failure);
      return 0;
    }
    this.unsyncedRecords += seq - this.writeSeq;
    this.unsyncedBytes += total;
    this.metrics.observeWrite(seq - this.writeSeq, total, appends);
    this.writeSeq = seq;
    for (const f of written) this.unacked.push(f);
    return total;
  }

  /**
   * Extends the file ahead of the write position, so that the fdatasyncs of
   * the next writes need not record a new size. The zero-filled space is cut
   * off when the segment is sealed or closed, and by recovery after a crash.
   */
  private async preallocate(end: number): Promise<void> {
    const chunk = this.opts.segment.preallocateBytes;
    // Only an fdatasync per acknowledgement gains from it; under none and interval it would cost an ftruncate per chunk for nothing.
    if (chunk === 0 || !this.controller.syncBeforeAck || end <= this.allocatedEnd) return;
    const target = Math.max(end, Math.min(this.allocatedEnd + chunk, this.opts.segment.maxBytes));
    await this.out.truncate(target);
    this.allocatedEnd = target;
  }

  /** Cuts preallocated space off so the file ends where its data does. */
  private async trimToData(): Promise<void> {
    if (this.allocatedEnd > this.writeOffset) await this.out.truncate(this.writeOffset);
    this.allocatedEnd = this.writeOffset;
  }

  /** Publishes every written frame to readers and resolves its appends, in order. */
  private acknowledge(): void {
    const frames = this.unacked;
    // fail() rejected whatever was unacknowledged: nothing is acknowledged after it.
    if (frames.length === 0 || this.failure !== undefined) return;
    this.unacked = [];
    const seg = this.active;
    for (const f of frames) this.publish(seg, f);
    try {
      // Tail readers are woken before the appends resolve: their wake-ups run first, ahead of a producer's next
      // append (whose fdatasync may block this thread under `always`). Nothing can observe the order otherwise.
      this.events.appended(frames[0]!.firstSeq, seg.nextSeq);
    } finally {
      for (const f of frames) {
        let seq = f.firstSeq;
        for (const g of f.group) {
          g.resolve(seq);
          seq += g.count;
        }
      }
    }
  }

  /** Makes a frame visible to readers: everything here is acknowledged. */
  private publish(seg: Segment, f: WrittenFrame): void {
    const positions = seg.positions;
    if (positions !== undefined) {
      // Where each record starts: a get reads exactly its bytes (version 3).
      assert(f.recordStarts !== undefined, 'frames of a segment with a position table note their record starts');
      positions.beginFrame(f.firstSeq, f.timestamp);
      positions.addRecordStarts(f.recordStarts);
      positions.endFrame(f.offset + f.frameBytes);
    }
    seg.publishFrame(f, f.offset, this.opts.segment.indexIntervalBytes);
  }

  /** After a failed write: cut the partial frame off so the file ends on a whole frame again. */
  private async cutBack(offset: number, cause: unknown): Promise<void> {
    this.metrics.writeErrors++;
    try {
      await this.out.truncate(offset);
      this.allocatedEnd = offset;
    } catch (err) {
      this.fail(new LogFailedError(`write failed (${errnoOf(cause) ?? 'error'}) and its partial frame could not be cut off`, err, { file: this.active.file, offset }));
    }
  }

  /** fdatasync of everything written; on failure the log enters the failed state, rejecting every unacknowledged append. */
  private async syncOrFail(): Promise<boolean> {
    // Its counts are settled when it ends: wait for it, so the counts below are what this sync covers.
    if (this.writeback !== undefined) await this.writeback;
    if (this.failure !== undefined) return false;
    if (this.unsyncedBytes === 0) return true;
    const started = performance.now();
    try {
      const out = this.out;
      if (this.syncOnThisThread && out.datasyncSync !== undefined && this.unsyncedBytes <= this.opts.syncIoMaxBytes) out.datasyncSync();
      else await out.datasync();
    } catch (err) {
      this.syncFailed(err);
      return false;
    }
    this.controller.observeSync(performance.now() - started, this.queue.peek() !== undefined);
    this.synced(this.unsyncedRecords, this.unsyncedBytes, started);
    return true;
  }

  /**
   * Under `none` and `interval`, starts an fdatasync in the background once
   * `writebackBytes` are written and not synced; appends go on meanwhile.
   * Sealing a segment and closing sync it anyway: this way that sync finds
   * only what was written since the last writeback began (a full 64 MiB
   * segment took about 60 ms, an append stall at every roll). One writeback
   * runs at a time. A failure is an fsync failure like any other: the failed
   * state.
   */
  private startWritebackIfDue(): void {
    const threshold = this.opts.writebackBytes;
    if (threshold === 0 || this.controller.syncBeforeAck || this.writeback !== undefined || this.unsyncedBytes < threshold || this.failure !== undefined) return;
    const records = this.unsyncedRecords;
    const bytes = this.unsyncedBytes;
    const started = performance.now();
    this.writeback = this.out.datasync().then(
      () => {
        this.writeback = undefined;
        this.synced(records, bytes, started);
      },
      (err: unknown) => {
        this.writeback = undefined;
        this.syncFailed(err);
      },
    );
  }

  /** Books an fdatasync that covered the first `records` and `bytes` not yet synced. The counts settle before the `flush` listeners run. */
  private synced(records: number, bytes: number, started: number): void {
    const durationMs = performance.now() - started;
    this.unsyncedRecords -= records;
    this.unsyncedBytes -= bytes;
    assert(this.unsyncedRecords >= 0 && this.unsyncedBytes >= 0, 'an fdatasync covers only what was written');
    this.metrics.observeSync(durationMs, records, bytes);
    this.events.flushed(records, bytes, durationMs);
  }

  private syncFailed(err: unknown): void {
    this.fail(new LogFailedError('fsync failed; data written since the last fsync may not be durable, reopen the log to re-verify it', err, { file: this.active.file }));
  }

  private async syncNow(): Promise<void> {
    if (!(await this.syncOrFail())) throw this.failure!;
  }

  private backgroundSync(): void {
    if (this.unsyncedBytes > 0 && !this.closed && this.failure === undefined) this.flush().catch(() => undefined);
  }

  private async rollNow(): Promise<void> {
    const seg = this.active;
    assert(this.unacked.length === 0, 'a segment is sealed only when every frame in it is acknowledged');
    if (seg.dataEnd === SEGMENT_HEADER_BYTES) return;
    // The next segment's creation time, checked before anything is sealed: a bad clock leaves the segment active.
    const now = readClock(this.opts.clock);
    // The wait for archive room may be long: nothing acknowledged waits undurable meanwhile (interval, none).
    if (!(await this.syncOrFail())) throw this.failure!;
    await this.events.beforeSeal();
    const footer = encodeSegmentFooter(seg);
    try {
      await this.trimToData();
      await writeFully(this.out, footer, 0, footer.length, seg.dataEnd);
    } catch (err) {
      await this.cutBack(seg.dataEnd, err);
      throw new IoError('sealing the segment failed; it stays active', err, { file: seg.file, offset: seg.dataEnd });
    }
    this.unsyncedBytes += footer.length;
    await this.syncNow();
    seg.seal(footer.length, footer.readUInt32LE(footer.length - 12));
    await this.events.sealed(seg);
    await this.closeHandle();
    await this.startSegment(seg.nextSeq, Math.max(now, seg.lastTimestamp));
  }

  private async startSegment(baseSeq: number, createdMs: number): Promise<void> {
    let created: Awaited<ReturnType<typeof createSegment>>;
    try {
      created = await createSegment(this.fs, this.dir, baseSeq, createdMs, this.opts.fileMode, this.logId);
    } catch (err) {
      // The sealed segment is closed and no new one exists: nowhere to append until a reopen.
      this.fail(new LogFailedError('a new segment could not be created after sealing the last one', err, { file: this.active.file }));
      throw this.failure!;
    }
    const segment = new Segment(created.segment);
    segment.attachAppendHandle(created.handle);
    this.segments.append(segment);
    this.writeOffset = segment.dataEnd;
    this.writeSeq = segment.nextSeq;
    this.allocatedEnd = this.writeOffset;
    this.metrics.rolls++;
    await this.events.rolled(segment);
  }

  private async writeCloseMarker(): Promise<void> {
    const seg = this.active;
    assert(this.writeOffset === seg.dataEnd, 'close marker follows the last acknowledged frame');
    const marker = encodeEmptyFrame(frameCrcSeed(seg.salt), seg.nextSeq, 0, Math.max(tryReadClock(this.opts.clock) ?? 0, seg.lastTimestamp), FLAG_CLOSE_MARKER);
    try {
      await this.trimToData();
      await writeFully(this.out, marker, 0, marker.length, seg.dataEnd);
      await this.out.datasync();
    } catch (err) {
      // No half-written marker: cut back to the last acknowledged frame (the next open then recovers without one).
      await this.out.truncate(seg.dataEnd).catch(() => undefined);
      throw new IoError('close could not write its clean-close marker; every acknowledged record is kept, and the next open recovers the log without the marker', err, { file: seg.file, offset: seg.dataEnd });
    }
  }

  private fail(failure: LogFailedError): void {
    if (this.failure !== undefined) return;
    this.failure = failure;
    clearInterval(this.intervalTimer);
    for (const f of this.unacked.splice(0)) for (const g of f.group) g.reject(failure);
    for (const item of this.queue.drain()) item.reject(failure);
    this.events.failed(failure);
  }
}

/**
 * The settling functions of the promise last constructed with
 * {@link captureSettlers}: one executor shared by every append, where an
 * arrow per call would allocate a closure and its context for each record.
 */
let capturedResolve: (value: never) => void = () => undefined;
let capturedReject: (err: Error) => void = () => undefined;
function captureSettlers(resolve: (value: never) => void, reject: (err: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
