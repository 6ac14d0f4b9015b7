import { describe, expect, it } from 'vitest';
import { logOptionsArb, runModelTest, TEST_LIMITS } from '../../src/testing/index.js';
import { KNOWN_ENGINE_ISSUES, propertyRuns, propertySeed, propertyTimeoutMs } from './support.js';

/**
 * Model-based runs under the strategies that acknowledge after write(2)
 * (interval, none): a process crash loses nothing acknowledged; a power
 * loss keeps a prefix of what was written, at least everything a completed
 * flush(), a seal or a clean close covered, never a torn batch.
 */

const RUNS = propertyRuns(40);

describe.each(['interval', 'none'] as const)('model-based runs under %s', (strategy) => {
  it(
    `keep a prefix of what was written, at least what was flushed (${RUNS} runs)`,
    async () => {
      const report = await runModelTest({
        log: logOptionsArb({ strategies: [strategy], limits: TEST_LIMITS }),
        numRuns: RUNS,
        knownIssues: KNOWN_ENGINE_ISSUES,
        maxCommands: 30,
        seed: propertySeed(0xa5 + strategy.length),
      });
      expect(report.stats.crashes + report.stats.powerLosses).toBeGreaterThan(0);
    },
    propertyTimeoutMs(RUNS, 400),
  );
});

describe('model-based runs, crash-heavy mix', () => {
  it(
    `crashes and power losses in the middle of group commits and recoveries (${RUNS} runs, every strategy)`,
    async () => {
      const report = await runModelTest({
        numRuns: RUNS,
        knownIssues: KNOWN_ENGINE_ISSUES,
        maxCommands: 25,
        commands: { weights: { burstCrash: 8, crash: 4, powerLoss: 4, concurrent: 6, fault: 2, tail: 1, get: 1, read: 1 } },
        seed: propertySeed(0xc4a5),
      });
      expect(report.stats.crashesDuringRecovery).toBeGreaterThan(0);
    },
    propertyTimeoutMs(RUNS, 400),
  );
});
