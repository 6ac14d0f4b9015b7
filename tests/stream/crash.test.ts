import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventStore, WrongExpectedVersionError } from '../../src/index.js';
import { distPath } from '../helpers/child.js';
import { seededRandom } from '../helpers/rng.js';
import { tempLogDir } from '../helpers/tmp.js';
import { collect, versionsFromLog } from './support.js';

/**
 * A child process running the compiled store (`npm test` builds dist/ first):
 * `concurrency` deciders over `streams` streams, each reading the stream's
 * version and appending one or two events expecting it, printing
 * `ack STREAM VERSION DATA` for every event of every resolved append.
 */
const CHILD = `
const [entry, dir, strategy, concurrency, streams] = process.argv.slice(-5);
const { EventStore, WrongExpectedVersionError } = await import(entry);
const es = await EventStore.open(dir, { flush: { strategy } });
process.stdout.write('ready\\n');
let n = 0;
const decider = async (id) => {
  for (let i = 0; ; i++) {
    const stream = 's' + ((id * 31 + i * 7) % Number(streams));
    const seen = es.streamVersion(stream);
    const data = n++;
    const count = data % 5 === 0 ? 2 : 1;
    try {
      const r = await es.appendToStream(stream, Array.from({ length: count }, () => ({ type: 'd', data })), { expectedVersion: seen ?? 'no_stream' });
      let out = '';
      for (let k = 0; k < count; k++) out += 'ack ' + stream + ' ' + (r.nextExpectedVersion - count + 1 + k) + ' ' + data + '\\n';
      process.stdout.write(out);
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError)) throw err;
    }
  }
};
await Promise.all(Array.from({ length: Number(concurrency) }, (_, id) => decider(id)));
`;

interface Ack {
  stream: string;
  version: number;
  data: number;
}

async function runAndKill(dir: string, strategy: string, concurrency: number, acksBeforeKill: number): Promise<Ack[]> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, '--', pathToFileURL(distPath('src/index.js')).href, dir, strategy, String(concurrency), '12'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acks: Ack[] = [];
  let partial = '';
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) => {
      if (signal === null) reject(new Error(`child exited with code ${code}: ${stderr}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('ack ')) continue;
        const [, stream, version, data] = line.split(' ');
        acks.push({ stream: stream!, version: Number(version), data: Number(data) });
      }
      if (acks.length >= acksBeforeKill) resolve();
    });
  });
  child.kill('SIGKILL');
  await exited;
  return acks;
}

/** Kills per strategy; AOF_ES_CRASH_RUNS scales it. */
const KILLS = Number(process.env.AOF_ES_CRASH_RUNS ?? 2);

describe.each(['always', 'batch', 'none'])('SIGKILL of an event-store writer under %s', (strategy) => {
  it(`after ${KILLS} kills at seeded moments, every acknowledged event is there and the index decides against the log`, async () => {
    const dir = tempLogDir();
    const rnd = seededRandom(strategy.length * 7717);
    const acked: Ack[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      acked.push(...(await runAndKill(dir, strategy, 2 + Math.floor(rnd() * 40), 50 + Math.floor(rnd() * 600))));
      const es = await EventStore.open(dir);
      try {
        const truth = await versionsFromLog(es);
        for (const [stream, version] of truth) expect(es.streamVersion(stream), `${stream} after kill ${kill}`).toBe(version);
        // A process crash never leaves the index ahead of the log (it is written after the log): at most behind, then caught up.
        expect(es.indexReport.action).not.toBe('rebuilt');
        // A process crash keeps what write(2) returned, whatever the strategy: every acknowledged event survives.
        const stored = new Map<string, unknown>();
        for (const stream of truth.keys()) for (const e of await collect(es.readStream(stream))) stored.set(`${stream}@${e.version}`, e.data);
        for (const a of acked) expect(stored.get(`${a.stream}@${a.version}`), `${a.stream}@${a.version}`).toBe(a.data);
        // One stale decision per stream is refused; the right one goes through.
        for (const [stream, version] of truth) {
          await expect(es.appendToStream(stream, [{ type: 'stale', data: -1 }], { expectedVersion: version === 0 ? 'no_stream' : version - 1 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
        }
        const [stream, version] = [...truth][0]!;
        await es.appendToStream(stream, [{ type: 'check', data: -2 }], { expectedVersion: version });
        acked.push({ stream, version: version + 1, data: -2 });
      } finally {
        await es.close();
      }
    }
  });
});
