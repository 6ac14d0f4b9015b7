import * as fs from 'node:fs';
import { AppendCommand, auditContents, BaseLogCommand, collect, describeError, expectCode, expectRecord, isExpectedGap, settle, violation, type AppendSpec, type Settled } from './commands.js';
import type { LogUnderTest } from './harness.js';
import { baseOfSegmentFile, damageCatalogPage, foreignSegment, restoreDir, segmentFiles, snapshotDir, type CatalogPage } from './hostile-files.js';
import { ModelViolation, type LogModel } from './model.js';
import type { Log } from '../log.js';
import type { LogRecord } from '../read/record.js';

/**
 * Hostile operations on a closed log's files, as `fc.commands` commands:
 * roll the last segment back to an older copy, delete a segment, put
 * another log's segment with the same name in its place, damage a page of
 * the catalog. Each checks the standard of docs/DURABILITY.md against the
 * model: the reopened log reads exactly the acknowledged records (nothing
 * wrong returned as data, nothing acknowledged silently lost), or the open
 * or the read fails with a typed error whose code the command accepts.
 * Then the directory is put back as it was before the attack, and the run
 * goes on from there.
 *
 * @module
 */

/** The hostile operations on files, by name. */
export type FileAttack = 'rollback' | 'delete' | 'foreign' | 'catalog';

/**
 * Codes a reopen or read may fail with once it has detected an attack:
 * acknowledged records missing (`AOF_DATA_LOST`, naming the range), a segment
 * of another log (`AOF_FOREIGN_SEGMENT`), or damage (`AOF_CORRUPT`, e.g. a
 * hole in the middle). The catalog is derived data: a damaged one must be
 * rebuilt, never fail the open. Pass more through a command's `accepted`
 * argument.
 */
export const FILE_ATTACK_CODES: Readonly<Record<FileAttack, readonly string[]>> = {
  rollback: ['AOF_CORRUPT', 'AOF_DATA_LOST'],
  delete: ['AOF_CORRUPT', 'AOF_DATA_LOST'],
  foreign: ['AOF_CORRUPT', 'AOF_DATA_LOST', 'AOF_FOREIGN_SEGMENT'],
  catalog: [],
};

/** What an attack's reopen showed. */
export type AttackOutcome = 'intact' | 'detected';

/**
 * Closes the log, settling whatever was in doubt (a failed state, appends
 * that may or may not have reached the disk), so that the model holds
 * exactly what is on disk before an attack.
 */
async function settleForAttack(m: LogModel, r: LogUnderTest): Promise<void> {
  m.sealedUpTo(r.sealedUpTo);
  const closed = await settle(() => r.close());
  if (!closed.ok) throw violation(`close() before an attack failed: ${describeError(closed.error)}`);
  m.closed();
  if (m.failed || m.inDoubtRecords > 0) {
    const opened = await settle(() => r.reopen());
    if (!opened.ok) throw violation(`reopening to settle the appends in doubt failed: ${describeError(opened.error)}`);
    m.restarted('close', r.log.nextSeq);
    await r.close();
  }
}

/**
 * Opens the attacked log and judges it: every record it returns must be the
 * acknowledged one at that sequence number; an error must be typed with an
 * `accepted` code; an open and a full read without error must hold exactly
 * the acknowledged range.
 */
export async function judgeAttackedLog(m: LogModel, r: LogUnderTest, what: string, accepted: readonly string[]): Promise<AttackOutcome> {
  const opened = await settle(() => r.reopen());
  if (!opened.ok) {
    if (opened.error instanceof ModelViolation) throw violation(`after ${what}: ${opened.error.message}`);
    if (accepted.length === 0) throw violation(`after ${what} the log does not open: ${describeError(opened.error)}`);
    expectCode(opened.error, accepted, `Log.open after ${what}`);
    return 'detected';
  }
  const log = r.log;
  const records: LogRecord[] = [];
  const read = await readPastGaps(m, log, records);
  for (const rec of records) expectRecord(rec, m.get(rec.seq), `read after ${what} (nothing wrong may be returned as data)`);
  if (!read.ok) {
    if (accepted.length === 0) throw violation(`after ${what} the read fails: ${describeError(read.error)}`);
    expectCode(read.error, accepted, `read after ${what}`);
    return 'detected';
  }
  if (log.firstSeq !== m.firstSeq || log.nextSeq !== m.nextSeq || records.length !== m.recordCount) {
    throw violation(`after ${what} the log opened and read [${log.firstSeq}, ${log.nextSeq}) (${records.length} records) without an error, but [${m.firstSeq}, ${m.nextSeq}) was acknowledged (${m.recordCount} records outside gaps): records silently lost or made up`);
  }
  return 'intact';
}

/**
 * Reads the whole log into `records`, resuming after each `AOF_GAP` that the
 * model expects right where the read got to (a gap a repair left is no sign
 * of an attack); any other failure settles the read.
 */
async function readPastGaps(m: LogModel, log: Log, records: LogRecord[]): Promise<Settled<void>> {
  let from: number | undefined;
  for (;;) {
    const read = await settle(() => collect(log, from === undefined ? {} : { from }, records));
    if (read.ok) return { ok: true, value: undefined };
    const last = records[records.length - 1];
    const position = last === undefined || (from !== undefined && last.seq < from) ? (from ?? log.firstSeq) : last.seq + 1;
    if (!isExpectedGap(m, position, read.error)) return read;
    from = read.error.to;
  }
}

/**
 * The frame of every file attack: settle, close, copy the directory, attack
 * (`attack` returns false when it changed nothing, and the log must then
 * open intact), judge, put the directory back on a new machine, reopen and
 * audit.
 */
async function underAttack(m: LogModel, r: LogUnderTest, describe: () => string, accepted: readonly string[], seed: number, attack: () => Promise<boolean> | boolean): Promise<AttackOutcome> {
  await settleForAttack(m, r);
  const copy = snapshotDir(r.dir);
  let outcome: AttackOutcome;
  let what = 'an attack';
  try {
    const changed = await attack();
    what = describe(); // after the attack, which knows the file it chose
    r.replaceMachine(seed);
    outcome = await judgeAttackedLog(m, r, what, changed ? accepted : []);
  } finally {
    await r.dispose();
    restoreDir(copy, r.dir);
  }
  r.replaceMachine(seed + 1, true);
  const reopened = await settle(() => r.reopen());
  if (!reopened.ok) throw violation(`reopening the log put back as it was before ${what} failed: ${describeError(reopened.error)}`);
  m.restarted('close', r.log.nextSeq);
  await auditContents(m, r, `the log put back after ${what}`);
  return outcome;
}

/** Base of the file attacks: remembers the last outcome (for coverage counts). */
abstract class FileAttackCommand extends BaseLogCommand {
  /** What the last run's reopen showed. */
  outcome: AttackOutcome | undefined;
  constructor(
    /** Seed of the attack's random choices and of the next machines. */
    readonly seed: number,
    /** Codes accepted once the engine detects the attack (default {@link FILE_ATTACK_CODES}). */
    readonly accepted: readonly string[],
  ) {
    super();
  }
}

/**
 * A restored disk snapshot of the last segment: copies the last segment
 * file, makes `specs` appends (and a `roll()` when `roll`), closes, and
 * puts the old copy back. The records appended since are gone from the
 * file: the reopen must say so (`AOF_DATA_LOST` naming the range), never resume
 * as if they had not been acknowledged.
 */
export class RollbackSegmentCommand extends FileAttackCommand {
  constructor(
    /** Appends made between the copy and the rollback. */
    readonly specs: AppendSpec[],
    /** Seal the segment after them (the old copy is then an unsealed middle segment). */
    readonly roll: boolean,
    seed: number,
    accepted: readonly string[] = FILE_ATTACK_CODES.rollback,
  ) {
    super(seed, accepted);
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    await settleForAttack(m, r);
    const file = segmentFiles(r.dir).at(-1);
    const old = file === undefined ? undefined : fs.readFileSync(file);
    const reopened = await settle(() => r.reopen());
    if (!reopened.ok) throw violation(`reopening before the rollback failed: ${describeError(reopened.error)}`);
    m.restarted('close', r.log.nextSeq);
    for (const spec of this.specs) await new AppendCommand(spec).run(m, r);
    if (this.roll && !m.failed) await settle(() => r.log.roll()).then((res) => (res.ok ? m.sealedUpTo(m.nextSeq) : undefined));
    this.outcome = await underAttack(m, r, () => `rolling ${file ?? 'the last segment'} back`, this.accepted, this.seed, () => {
      if (file === undefined || old === undefined) return false;
      const now = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
      if (now !== undefined && now.equals(old)) return false;
      fs.writeFileSync(file, old);
      return true;
    });
  }
  toString(): string {
    return `rollbackLastSegment(after ${this.specs.length} appends${this.roll ? ' and a roll' : ''}, seed ${this.seed})`;
  }
}

/** An operator deletes a segment file (picked among them). The reopen must report the missing range. */
export class DeleteSegmentCommand extends FileAttackCommand {
  constructor(
    /** Picks the segment, modulo their number. */
    readonly pick: number,
    seed: number,
    accepted: readonly string[] = FILE_ATTACK_CODES.delete,
  ) {
    super(seed, accepted);
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    let target = 'a segment file';
    this.outcome = await underAttack(m, r, () => `deleting ${target}`, this.accepted, this.seed, () => {
      const files = segmentFiles(r.dir);
      if (files.length === 0) return false;
      target = files[this.pick % files.length]!;
      fs.unlinkSync(target);
      return true;
    });
  }
  toString(): string {
    return `deleteSegment(#${this.pick}, seed ${this.seed})`;
  }
}

/**
 * Another log's segment with the same base name (sealed like ours, with
 * records of its own) replaces one of ours. Its records must never be
 * returned as this log's.
 */
export class ForeignSegmentCommand extends FileAttackCommand {
  constructor(
    /** Picks the segment, modulo their number. */
    readonly pick: number,
    /** Records in the foreign segment. */
    readonly records: number,
    seed: number,
    accepted: readonly string[] = FILE_ATTACK_CODES.foreign,
  ) {
    super(seed, accepted);
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    let target = 'one of ours';
    this.outcome = await underAttack(m, r, () => `putting another log's segment in place of ${target}`, this.accepted, this.seed, async () => {
      const files = segmentFiles(r.dir);
      if (files.length === 0) return false;
      const index = this.pick % files.length;
      target = files[index]!;
      const foreign = await foreignSegment(`${r.dir}.foreign`, baseOfSegmentFile(target), this.records, index < files.length - 1, this.seed);
      fs.copyFileSync(foreign, target);
      fs.rmSync(`${r.dir}.foreign`, { recursive: true, force: true });
      return true;
    });
  }
  toString(): string {
    return `foreignSegment(#${this.pick}, ${this.records} records, seed ${this.seed})`;
  }
}

/**
 * A page of seeded garbage in the catalog's `data.mdb`: a meta page, the
 * main database's root, the last page, or any. No process may die of it;
 * the open rebuilds the catalog from the segment footers and reads every
 * acknowledged record.
 */
export class DamageCatalogCommand extends FileAttackCommand {
  constructor(
    /** Which page. */
    readonly page: CatalogPage,
    /** Picks the page for `meta` and `any`. */
    readonly pick: number,
    seed: number,
    accepted: readonly string[] = FILE_ATTACK_CODES.catalog,
  ) {
    super(seed, accepted);
  }
  protected async apply(m: LogModel, r: LogUnderTest): Promise<void> {
    let page: number | undefined;
    this.outcome = await underAttack(m, r, () => `garbage in catalog page ${page} (${this.page})`, this.accepted, this.seed, () => (page = damageCatalogPage(r.dir, this.page, this.pick, this.seed)) !== undefined);
  }
  toString(): string {
    return `damageCatalog(${this.page}${this.page === 'meta' || this.page === 'any' ? ` #${this.pick}` : ''}, seed ${this.seed})`;
  }
}
