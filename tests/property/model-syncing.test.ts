import { describe, expect, it } from 'vitest';
import { logOptionsArb, runModelTest, TEST_LIMITS } from '../../src/testing/index.js';
import { KNOWN_ENGINE_ISSUES, propertyRuns, propertySeed, propertyTimeoutMs } from './support.js';

/**
 * Model-based runs of a real log under the syncing strategies (always,
 * batch, adaptive): appends, batches, reads, rolls, flushes, tails, clean
 * restarts, process crashes (also in the middle of group commits and of
 * recovery), power losses and injected I/O faults, checked after every
 * command against the model: no acknowledged record is ever lost, reads
 * equal the model, sequence numbers strictly increase, segment statuses
 * only move forward, and whatever a reopened log shows is durable.
 */

const RUNS = propertyRuns(40);

describe.each(['always', 'batch', 'adaptive'] as const)('model-based runs under %s', (strategy) => {
  it(
    `lose no acknowledged record through crashes, power losses and faults (${RUNS} runs)`,
    async () => {
      const report = await runModelTest({
        log: logOptionsArb({ strategies: [strategy], limits: TEST_LIMITS }),
        numRuns: RUNS,
        knownIssues: KNOWN_ENGINE_ISSUES,
        maxCommands: 30,
        seed: propertySeed(0x5eed + strategy.length),
      });
      // The runs reached what they are meant to: restarts of every kind and faults that fired.
      expect(report.stats.crashes + report.stats.powerLosses).toBeGreaterThan(0);
      expect(report.stats.faultsInjected).toBeGreaterThan(0);
    },
    propertyTimeoutMs(RUNS, 400),
  );
});
