/**
 * Test support for users of aof and for its own suites: file-system adapters
 * that count calls ({@link CountingFs}) or inject faults and simulate power
 * loss ({@link FaultFs}), and a seeded random source. Import from
 * `aof/testing`.
 *
 * @packageDocumentation
 */
export { CountingFs } from './counting-fs.js';
export { FaultFs, type FaultFsOptions, type FaultRule, type FsOperation, type PowerLossReport } from './fault-fs.js';
export { seededRandom, randomInt } from './random.js';
