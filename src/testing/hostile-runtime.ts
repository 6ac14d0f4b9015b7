import * as fs from 'node:fs';
import { AofError } from '../errors.js';
import { Log } from '../log.js';
import type { LogRecord } from '../read/record.js';
import { auditContents, BaseLogCommand, describeError, expectCode, expectGapError, expectGetOutcome, expectRecord, runAppend, runGet, runRead, runRoll, settle, violation, type AppendSpec } from './commands.js';
import { mapLogLayout } from './corruption.js';
import type { LogUnderTest } from './harness.js';
import { openSegmentDescriptors } from './hostile-files.js';
import type { LogModel } from './model.js';
import { ProcessFs } from './process-fs.js';

/**
 * Hostile conditions while the engine runs, as `fc.commands` commands: a
 * repair killed half-way, a full disk, exhausted descriptors. Each holds
 * the standard of docs/DURABILITY.md: typed errors with the codes listed
 * here, nothing acknowledged lost, nothing wrong returned, no process
 * killed, and the log works again once the condition is gone.
 *
 * @module
 */

/** Codes an operation may fail with while the disk is full. */
export const DISK_FULL_CODES: readonly string[] = ['AOF_IO', 'AOF_LOG_FAILED'];
/** Codes a read may fail with while no descriptor can be opened (the writer must not fail for it). */
export const DESCRIPTOR_READ_CODES: readonly string[] = ['AOF_IO'];

/** Closes the log; a rejection must be typed (never a raw `EBADF`), and the log must be closed after it. */
async function closeTyped(m: LogModel, r: LogUnderTest, what: string): Promise<void> {
  m.sealedUpTo(r.sealedUpTo);
  const closed = await settle(() => r.close());
  if (!closed.ok) {
    if (!(closed.error instanceof AofError)) throw violation(`close() ${what} threw an untyped error: ${describeError(closed.error)}`);
    expectCode(closed.error, DISK_FULL_CODES, `close() ${what}`);
  } else m.closed();
}

/** Reopens after a hostile condition is gone: must open, and hold every acknowledged record (and whatever in doubt came back). */
async function reopenAndAudit(m: LogModel, r: LogUnderTest, what: string): Promise<void> {
  const opened = await settle(() => r.reopen());
  if (!opened.ok) throw violation(`reopening after ${what} failed: ${describeError(opened.error)}`);
  m.restarted('close', r.log.nextSeq);
  await auditContents(m, r, `after ${what}`);
}

/**
 * The disk fills up: every write and every preallocation fails with
 * `ENOSPC` while `specs` are appended (and a `roll()` tried, when `roll`),
 * and `close()` runs on the full disk. Each call resolves or rejects with
 * {@link DISK_FULL_CODES}; `close()` returns (or rejects typed). Then space
 * is freed: the reopened log holds every acknowledged record.
 */
export class DiskFullCommand extends BaseLogCommand {
  constructor(
    /** Appends tried on the full disk. */
    readonly specs: AppendSpec[],
    /** Try a `roll()` too. */
    readonly roll: boolean,
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    for (const op of ['write', 'truncate'] as const) r.machine.failNext(op, 'ENOSPC', { times: Number.POSITIVE_INFINITY });
    try {
      for (const spec of this.specs) await runAppend(m, r, spec, true);
      if (this.roll) await runRoll(m, r, true);
      await closeTyped(m, r, 'on a full disk');
    } finally {
      r.machine.clearFaults(); // space is freed
    }
    await r.afterFaults();
    await reopenAndAudit(m, r, 'the disk was full');
  }
  toString(): string {
    return `diskFull(${this.specs.length} appends${this.roll ? ', roll' : ''}, close)`;
  }
}

/**
 * Descriptors run out: `readers` read iterators and tail followers are
 * left paused part-way (each holding whatever the engine gives it), then
 * every `open` fails with `EMFILE` while a full read, a `get` and `specs`
 * appends run. Checks: descriptors on segment files never exceed
 * `maxOpenFiles` + 1 (the active segment) while the readers are paused; a
 * read fails only with {@link DESCRIPTOR_READ_CODES} and never puts the
 * writer into its failed state; appends resolve or reject typed; every
 * segment descriptor is released after `close()`; the reopened log holds
 * every acknowledged record.
 */
export class DescriptorExhaustionCommand extends BaseLogCommand {
  constructor(
    /** Paused readers opened first. */
    readonly readers: number,
    /** Picks where each reader starts. */
    readonly pick: number,
    /** Appends tried while no file can be opened. */
    readonly specs: AppendSpec[],
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    const maxOpen = r.openOptions().maxOpenFiles ?? 64;
    const paused: Array<AsyncIterator<LogRecord>> = [];
    const ac = new AbortController();
    try {
      const held = m.nextSeq - m.firstSeq;
      for (let i = 0; i < this.readers && held > 0; i++) {
        const from = m.firstSeq + ((this.pick + i * 7919) % held);
        const source = i % 2 === 0 ? r.log.read({ from }) : r.log.tail({ from, signal: ac.signal });
        const it = source[Symbol.asyncIterator]();
        if (await pausedAt(m, it, from)) paused.push(it);
      }
      const open = openSegmentDescriptors(r.dir);
      if (open !== undefined && open > maxOpen + 1) throw violation(`${paused.length} paused readers hold ${open} segment descriptors; the bound is maxOpenFiles (${maxOpen}) + the active segment`);
      const failedBefore = m.failed;
      r.machine.failNext('open', 'EMFILE', { times: Number.POSITIVE_INFINITY });
      try {
        await runRead(m, r, 0, undefined, true);
        await runGet(m, r, this.pick, true);
        if (!failedBefore && r.log.metrics().failed) throw violation('EMFILE on a read put the writer into its failed state');
        for (const spec of this.specs) await runAppend(m, r, spec, true);
      } finally {
        r.machine.clearFaults();
      }
    } finally {
      ac.abort();
      for (const it of paused) await it.return?.().catch(() => undefined);
    }
    await r.afterFaults();
    await closeTyped(m, r, 'after descriptors ran out');
    const left = openSegmentDescriptors(r.dir);
    if (left !== undefined && left > 0) throw violation(`${left} segment descriptors are still open after close()`);
    await reopenAndAudit(m, r, 'descriptors ran out');
  }
  toString(): string {
    return `exhaustDescriptors(${this.readers} paused readers, ${this.specs.length} appends)`;
  }
}

/**
 * Takes the first step of a reader from `from` and checks it: the record
 * there, or `AOF_GAP` where the model has a gap (the reader is then done and
 * holds nothing). Resolves whether the reader is left paused.
 */
async function pausedAt(m: LogModel, it: AsyncIterator<LogRecord>, from: number): Promise<boolean> {
  const what = `paused reader from ${from}`;
  const step = await settle(() => it.next());
  const gap = m.gapAt(from);
  if (gap !== undefined) {
    if (step.ok) throw violation(`${what} ${step.value.done === true ? 'ended' : `yielded record ${step.value.value.seq}`}, but ${from} is in the gap ${gap.from}..${gap.to - 1} (AOF_GAP expected)`);
    expectGapError(step.error, gap, what);
    return false;
  }
  if (!step.ok) throw violation(`${what} failed: ${describeError(step.error)}`);
  if (step.value.done !== true) expectRecord(step.value.value, m.get(from), what);
  return true;
}

/**
 * `aof repair` killed half-way: damages a data frame (picked) of the closed
 * log, runs `Log.repair` in a process that dies after `crashAfter` calls,
 * then runs it again. The second repair must finish the job (it resolves),
 * the writer must open, and the log must hold exactly the acknowledged
 * records before the damaged frame (what repair cuts is the test's own
 * damage; nothing before it may be lost, nothing wrong returned). The
 * numbers from the damaged frame up to what the log had acknowledged are a
 * gap (`AOF_GAP`, exactly those bounds), and the log resumes after it: an
 * acknowledged number is never given to another record.
 */
export class KillDuringRepairCommand extends BaseLogCommand {
  constructor(
    /** Picks the damaged frame among the data frames. */
    readonly pick: number,
    /** Calls the first repair makes before it is killed. */
    readonly crashAfter: number,
  ) {
    super();
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    await closeTyped(m, r, 'before a repair');
    if (m.failed || m.inDoubtRecords > 0) {
      await reopenAndAudit(m, r, 'settling before a repair');
      await closeTyped(m, r, 'before a repair');
    }
    // Repair counts every commit point (the catalog, the identity file, the published watermark):
    // after the clean close all of them stand at the acknowledged end, whatever the flush strategy,
    // and the published watermark never passes it. So this is where the log must resume.
    const end = m.nextSeq;
    const frames = mapLogLayout(r.dir).segments.flatMap((s) => s.frames.filter((f) => f.flags === 0 && f.count > 0).map((f) => ({ file: s.file, ...f })));
    const frame = frames.length === 0 ? undefined : frames[this.pick % frames.length]!;
    if (frame !== undefined) {
      // One byte in the frame's records (or its header): its checksum fails.
      const at = frame.offset + frame.bytes - 1;
      const fd = fs.openSync(frame.file, 'r+');
      try {
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, at);
        b[0] = b[0]! ^ 0x5a;
        fs.writeSync(fd, b, 0, 1, at);
      } finally {
        fs.closeSync(fd);
      }
    }
    r.replaceMachine(this.pick + this.crashAfter);
    const dying = new ProcessFs(r.machine);
    dying.crashAfter(this.crashAfter);
    await settle(() => Log.repair(r.dir, { fs: dying }));
    const second = await settle(() => Log.repair(r.dir, { fs: r.machine }));
    if (!second.ok) throw violation(`a repair after a repair killed after ${this.crashAfter} calls failed: ${describeError(second.error)}`);
    // Repair cut the test's own damage: the statuses seen before no longer bind.
    r.replaceMachine(this.pick + this.crashAfter + 1, true);
    const opened = await settle(() => r.reopen());
    if (!opened.ok) throw violation(`the writer does not open after a repair killed after ${this.crashAfter} calls and a second repair: ${describeError(opened.error)}`);
    const cut = frame?.firstSeq ?? end;
    expectResumedAt(r.log.nextSeq, cut, end);
    m.acceptLoss(cut, end);
    const what = 'after an interrupted repair and a second one';
    // [first, cut) reads as before, then AOF_GAP for exactly [cut, end); nothing after it.
    await auditContents(m, r, what);
    for (const seq of cut < end ? [cut, end - 1] : []) expectGetOutcome(m, seq, await settle(() => r.log.get(seq)), false, `${what}, get(${seq})`);
  }
  toString(): string {
    return `killDuringRepair(frame #${this.pick}, killed after ${this.crashAfter} calls)`;
  }
}

/** Throws unless a log repaired at `cut` resumes at `end`, the end it had acknowledged. */
function expectResumedAt(nextSeq: number, cut: number, end: number): void {
  if (nextSeq === end) return;
  if (nextSeq < cut) throw violation(`after the repairs the log ends at ${nextSeq}, but the damage was at ${cut}: acknowledged records before the damage were lost`);
  if (nextSeq < end) throw violation(`after the repairs the log resumes at ${nextSeq}, but it had acknowledged up to ${end}: numbers ${nextSeq}..${end - 1} would be given to new records (the gap must reach ${end})`);
  throw violation(`after the repairs the log resumes at ${nextSeq}, but it had acknowledged only up to ${end}: the gap takes numbers ${end}..${nextSeq - 1} that were never acknowledged`);
}
