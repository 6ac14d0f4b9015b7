import fc from 'fast-check';
import { batchArb, payloadArb, TEST_LIMITS, type ArbitraryLimits } from './arbitraries.js';
import type { AppendSpec, LogCommand } from './commands.js';
import { DamageCatalogCommand, DeleteSegmentCommand, FILE_ATTACK_CODES, ForeignSegmentCommand, RollbackSegmentCommand, type FileAttack } from './hostile-commands.js';
import type { CatalogPage } from './hostile-files.js';
import { DescriptorExhaustionCommand, DiskFullCommand, KillDuringRepairCommand } from './hostile-runtime.js';

/** Relative weights of the hostile commands {@link hostileCommands} generates (0 leaves one out). */
export interface HostileWeights {
  /** {@link RollbackSegmentCommand}. */
  rollback: number;
  /** {@link DeleteSegmentCommand}. */
  delete: number;
  /** {@link ForeignSegmentCommand}. */
  foreign: number;
  /** {@link DamageCatalogCommand}. */
  catalog: number;
  /** {@link KillDuringRepairCommand}. */
  repairKill: number;
  /** {@link DiskFullCommand}. */
  diskFull: number;
  /** {@link DescriptorExhaustionCommand}. */
  descriptors: number;
}

/** Every hostile command, equally often. */
export const DEFAULT_HOSTILE_WEIGHTS: HostileWeights = { rollback: 1, delete: 1, foreign: 1, catalog: 1, repairKill: 1, diskFull: 1, descriptors: 1 };

/** Options of {@link hostileCommands}. */
export interface HostileCommandsOptions {
  /** Record and batch bounds: must match the log's options (default {@link TEST_LIMITS}). */
  limits?: ArbitraryLimits;
  /** Weights by command, merged over {@link DEFAULT_HOSTILE_WEIGHTS}. */
  weights?: Partial<HostileWeights>;
  /** More codes each file attack accepts once detected (for example a data-loss code of a newer engine). */
  extraCodes?: Partial<Record<FileAttack, readonly string[]>>;
}

/**
 * The hostile commands as weighted arbitraries, ready for
 * `logCommands({ extra: hostileCommands() })`: they mix with appends,
 * crashes and faults, and each checks the log against the model.
 *
 * ```ts
 * await runModelTest({ commands: { extra: hostileCommands({ weights: { catalog: 0 } }) } });
 * ```
 */
export function hostileCommands(options: HostileCommandsOptions = {}): Array<{ weight: number; arbitrary: fc.Arbitrary<LogCommand> }> {
  const limits = options.limits ?? TEST_LIMITS;
  const w = { ...DEFAULT_HOSTILE_WEIGHTS, ...options.weights };
  const codes = (attack: FileAttack): readonly string[] => [...FILE_ATTACK_CODES[attack], ...(options.extraCodes?.[attack] ?? [])];
  const spec: fc.Arbitrary<AppendSpec> = fc.oneof(
    { weight: 2, arbitrary: payloadArb(limits).map((p): AppendSpec => ({ batch: false, payloads: [p] })) },
    { weight: 1, arbitrary: batchArb(limits, 4).map((payloads): AppendSpec => ({ batch: true, payloads })) },
  );
  const specs = fc.array(spec, { minLength: 1, maxLength: 4 });
  const pick = fc.nat({ max: 1_000_000 });
  const seed = fc.integer({ min: 1, max: 0x7fffffff });
  const pages: CatalogPage[] = ['meta', 'main-root', 'last', 'any'];
  const all: Array<{ weight: number; arbitrary: fc.Arbitrary<LogCommand> }> = [
    { weight: w.rollback, arbitrary: fc.tuple(specs, fc.boolean(), seed).map(([s, roll, sd]) => new RollbackSegmentCommand(s, roll, sd, codes('rollback'))) },
    { weight: w.delete, arbitrary: fc.tuple(pick, seed).map(([p, sd]) => new DeleteSegmentCommand(p, sd, codes('delete'))) },
    { weight: w.foreign, arbitrary: fc.tuple(pick, fc.integer({ min: 1, max: 4 }), seed).map(([p, n, sd]) => new ForeignSegmentCommand(p, n, sd, codes('foreign'))) },
    { weight: w.catalog, arbitrary: fc.tuple(fc.constantFrom(...pages), pick, seed).map(([page, p, sd]) => new DamageCatalogCommand(page, p, sd, codes('catalog'))) },
    { weight: w.repairKill, arbitrary: fc.tuple(pick, fc.integer({ min: 0, max: 40 })).map(([p, n]) => new KillDuringRepairCommand(p, n)) },
    { weight: w.diskFull, arbitrary: fc.tuple(specs, fc.boolean()).map(([s, roll]) => new DiskFullCommand(s, roll)) },
    { weight: w.descriptors, arbitrary: fc.tuple(fc.integer({ min: 0, max: 24 }), pick, specs).map(([n, p, s]) => new DescriptorExhaustionCommand(n, p, s)) },
  ];
  return all.filter((c) => c.weight > 0);
}
