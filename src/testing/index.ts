/**
 * Test support for users of aof and for its own suites, imported from
 * `aof/testing`:
 * - file-system adapters that count calls ({@link CountingFs}), inject
 *   faults and simulate power loss ({@link FaultFs}), or simulate a process
 *   crash ({@link ProcessFs});
 * - a pure model of the log ({@link LogModel}) and a harness around a real
 *   one ({@link LogUnderTest}) that can crash, lose power and reopen;
 * - fast-check arbitraries (payloads, batches, log options, fault schedules)
 *   and `fc.commands`-ready commands that check the log against the model;
 * - a one-call runner ({@link runModelTest}) that prints fast-check's replay
 *   recipe on failure;
 * - a corruption fuzzer's pieces: a map of a log's files by region, seeded
 *   damage, and the checks every damaged log must pass;
 * - hostile commands ({@link hostileCommands}) to mix with appends: a
 *   rolled-back, deleted or foreign segment, a damaged catalog, a repair
 *   killed half-way, a full disk, exhausted descriptors.
 *
 * See docs/TESTING.md.
 *
 * @packageDocumentation
 */
export { CountingFs } from './counting-fs.js';
export { FaultFs, type FaultFsOptions, type FaultRule, type FsOperation, type PowerLossReport, type RecordedCall } from './fault-fs.js';
export { seededRandom, randomInt } from './random.js';
export { ProcessFs, CRASHED_ERRNO } from './process-fs.js';
export { KillFs } from './kill-fs.js';
export {
  LogModel,
  ModelViolation,
  FLUSH_STRATEGY_NAMES,
  DEFAULT_MODEL_LIMITS,
  syncsBeforeAck,
  payloadBytes,
  sameBytes,
  type FlushStrategy,
  type ModelRecord,
  type ModelGap,
  type ExpectedRead,
  type ModelLimits,
  type LogModelOptions,
  type InputVerdict,
  type RestartKind,
  type SurvivalBounds,
} from './model.js';
export { LogUnderTest, ManualClock, emptyStats, statusReachable, type KnownIssue, type LogUnderTestOptions, type RestartOutcome, type HarnessStats } from './harness.js';
export {
  TEST_LIMITS,
  FAULT_OPERATIONS,
  seededBytes,
  sizedBytesArb,
  payloadArb,
  oversizedPayloadArb,
  batchArb,
  flushOptionsArb,
  logOptionsArb,
  faultRuleArb,
  faultScheduleArb,
  type ArbitraryLimits,
  type LogOptionsArbOptions,
  type FaultArbOptions,
} from './arbitraries.js';
export {
  BaseLogCommand,
  AppendCommand,
  ConcurrentAppendsCommand,
  GetCommand,
  ReadCommand,
  RollCommand,
  FlushCommand,
  TickCommand,
  ReopenCommand,
  CrashCommand,
  PowerLossCommand,
  FaultCommand,
  VerifyCommand,
  ReadOnlyViewCommand,
  InvalidInputCommand,
  TailCommand,
  DEFAULT_COMMAND_WEIGHTS,
  logCommands,
  faultOpsFor,
  auditContents,
  checkConsistent,
  expectRecord,
  expectGapError,
  expectGetOutcome,
  expectReadOutcome,
  auditReads,
  describeError,
  type LogCommand,
  type AppendSpec,
  type BurstCrash,
  type FaultableAction,
  type InvalidInputKind,
  type CommandWeights,
  type LogCommandsOptions,
} from './commands.js';
export { runModelTest, auditLog, ModelTestFailure, type ModelTestOptions, type ModelTestReport } from './runner.js';
export {
  REGION_KINDS,
  mapLogLayout,
  segmentRegions,
  damageArb,
  applyDamage,
  checkDamagedLog,
  ReadBoundFs,
  type RegionKind,
  type FrameExtent,
  type SegmentLayout,
  type Region,
  type LogLayout,
  type DamageTarget,
  type HostileField,
  type HostileValue,
  type Damage,
  type AppliedDamage,
  type DamageArbOptions,
  type DamageCheckOptions,
  type DamageCheckReport,
  type VerifySummary,
} from './corruption.js';
export {
  /** Weighted arbitraries of every hostile command, for `logCommands({ extra: hostileCommands() })`. */
  hostileCommands,
  /** Every hostile command, equally often. */
  DEFAULT_HOSTILE_WEIGHTS,
  type HostileWeights,
  type HostileCommandsOptions,
} from './hostile-arbitraries.js';
export {
  /** A restored disk snapshot of the last segment: must be reported (`FILE_ATTACK_CODES.rollback`), never resumed over. */
  RollbackSegmentCommand,
  /** A deleted segment file: the missing range must be reported. */
  DeleteSegmentCommand,
  /** Another log's segment with the same name in place of ours: its records must never be returned. */
  ForeignSegmentCommand,
  /** A page of garbage in the catalog's `data.mdb`: no process dies, the catalog is rebuilt, every record reads. */
  DamageCatalogCommand,
  /** Codes each file attack accepts once the engine detects it. */
  FILE_ATTACK_CODES,
  /** Opens an attacked log and judges it against the model (for commands of your own). */
  judgeAttackedLog,
  type FileAttack,
  type AttackOutcome,
} from './hostile-commands.js';
export {
  /** Every write fails with ENOSPC during appends, a roll and close; once space is freed nothing is lost. */
  DiskFullCommand,
  /** Paused readers within `maxOpenFiles`, EMFILE on every open: reads fail typed, the writer goes on. */
  DescriptorExhaustionCommand,
  /** `Log.repair` killed after n calls, then run again: it finishes the job and the writer opens. */
  KillDuringRepairCommand,
  DISK_FULL_CODES,
  DESCRIPTOR_READ_CODES,
} from './hostile-runtime.js';
export {
  /** Which page of `index/data.mdb` a catalog attack damages. */
  type CatalogPage,
  /** How many descriptors this process holds on a log's segment files (Linux `/proc/self/fd`). */
  openSegmentDescriptors,
} from './hostile-files.js';
