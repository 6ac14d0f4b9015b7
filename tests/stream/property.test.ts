import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStore, WrongExpectedVersionError, type AppendResult, type ExpectedVersion } from '../../src/index.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect } from './support.js';

const STREAMS = ['a', 'b', 'c'];

/** One append as generated: which stream, how many events, what it expects, whether it carries ids or retries an earlier append. */
interface Op {
  stream: number;
  count: number;
  /** -3 'any', -2 'stream_exists', -1 'no_stream', n >= 0 a version. */
  expect: number;
  withIds: boolean;
  /** Retry the earlier op with this index (mod the ops so far) instead, with the same events, ids and expectation. */
  retry: number | undefined;
}

interface Issued {
  stream: string;
  data: number[];
  ids: string[] | undefined;
  expected: ExpectedVersion;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  stream: fc.integer({ min: 0, max: STREAMS.length - 1 }),
  count: fc.integer({ min: 1, max: 3 }),
  expect: fc.integer({ min: -3, max: 6 }),
  withIds: fc.boolean(),
  retry: fc.option(fc.nat(), { nil: undefined, freq: 4 }),
});

const roundArb = fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 8 }), reopen: fc.integer({ min: 0, max: 3 }).map((x) => x === 0) });

function expectation(n: number): ExpectedVersion {
  return n === -3 ? 'any' : n === -2 ? 'stream_exists' : n === -1 ? 'no_stream' : n;
}

/** What the model says an append resolves to: a conflict, the next version, or the very result of the earlier append it retries. */
type Outcome = 'conflict' | { version: number } | { retryOf: Issued };

/**
 * The model: per stream, the data of each event in version order, and which
 * appends with ids were written. Appends to one stream are decided in call
 * order, so a round issued concurrently decides, stream by stream, as if
 * issued in order. Positions depend on how streams interleave in the log, so
 * the model checks them against what reads return instead of predicting them.
 */
class Model {
  readonly streams = new Map<string, number[]>();
  private readonly written = new Set<Issued>();

  apply(op: Issued): Outcome {
    const events = this.streams.get(op.stream) ?? [];
    const actual = events.length - 1;
    // A retry of a written append resolves with its result (ids remembered: the window is larger than any run).
    if (this.written.has(op) && (op.expected === 'any' || op.expected === 'stream_exists' || !ok(op.expected, actual))) return { retryOf: op };
    if (!ok(op.expected, actual)) return 'conflict';
    events.push(...op.data);
    this.streams.set(op.stream, events);
    if (op.ids !== undefined) this.written.add(op);
    return { version: events.length - 1 };
  }
}

function ok(expected: ExpectedVersion, actual: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual < 0;
  if (expected === 'stream_exists') return actual >= 0;
  return expected === actual;
}

describe('EventStore against a model (fast-check)', () => {
  it('random interleavings of concurrent appends with expectations, retries and reopens agree with the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(roundArb, { minLength: 1, maxLength: 6 }), async (rounds) => {
        const dir = tempLogDir();
        let es = await EventStore.open(dir, { flush: { strategy: 'none' } });
        const model = new Model();
        const history: Issued[] = [];
        const firstResult = new Map<Issued, AppendResult>();
        let n = 0;
        try {
          for (const round of rounds) {
            const issued: Issued[] = round.ops.map((op) => {
              if (op.retry !== undefined && history.length > 0) {
                const earlier = history[op.retry % history.length]!;
                if (earlier.ids !== undefined) return earlier;
              }
              const data = Array.from({ length: op.count }, () => n++);
              const one: Issued = { stream: STREAMS[op.stream]!, data, ids: op.withIds ? data.map((d) => `id-${d}`) : undefined, expected: expectation(op.expect) };
              history.push(one);
              return one;
            });
            const results = await Promise.all(
              issued.map((op) =>
                es
                  .appendToStream(
                    op.stream,
                    op.data.map((d, i) => ({ type: 't', data: d, ...(op.ids === undefined ? {} : { id: op.ids[i] }) })),
                    { expectedVersion: op.expected },
                  )
                  .then(
                    (r) => r as AppendResult | 'conflict',
                    (err: unknown) => {
                      if (err instanceof WrongExpectedVersionError) return 'conflict' as const;
                      throw err;
                    },
                  ),
              ),
            );
            const outcomes = issued.map((op) => model.apply(op));
            for (let i = 0; i < issued.length; i++) {
              const outcome = outcomes[i]!;
              const got = results[i]!;
              if (outcome === 'conflict') expect(got).toBe('conflict');
              else if ('version' in outcome) {
                expect(got).toMatchObject({ nextExpectedVersion: outcome.version });
                firstResult.set(issued[i]!, got as AppendResult);
              } else expect(got).toEqual(firstResult.get(outcome.retryOf));
            }
            if (round.reopen) {
              await es.close();
              es = await EventStore.open(dir, { flush: { strategy: 'none' } });
            }
            let total = 0;
            for (const s of STREAMS) {
              const events = model.streams.get(s) ?? [];
              total += events.length;
              expect(es.streamVersion(s)).toBe(events.length === 0 ? undefined : events.length - 1);
              const read = await collect(es.readStream(s));
              expect(read.map((e) => e.data)).toEqual(events);
              // Each result's position is where its last event is.
              for (const [op, r] of firstResult) if (op.stream === s) expect(read[r.nextExpectedVersion]!.position).toBe(r.position);
            }
            expect(es.log.nextSeq).toBe(total);
          }
        } finally {
          await es.close();
        }
      }),
      { numRuns: Number(process.env.AOF_ES_PROPERTY_RUNS ?? 25), seed: 20_240_612 },
    );
  });
});
