/**
 * Runs one case of the benchmark in its own process (forked by bench/main.ts):
 * node dist/bench/child.js '{"caseId": ..., "params": ..., "dir": ...}'
 * Reports progress and its figures over IPC.
 */
import * as fs from 'node:fs';
import { allCases } from './cases.js';
import { makeRecords } from './common.js';
import type { Params } from './params.js';

interface Request {
  caseId: string;
  params: Params;
  dir: string;
}

const send = (m: object): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) {
      process.stdout.write(JSON.stringify(m) + '\n');
      resolve();
    } else process.send(m, undefined, {}, () => resolve());
  });

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2]!) as Request;
  const def = allCases().find((c) => c.id === req.caseId);
  if (def === undefined) throw new Error(`no case ${req.caseId}`);
  fs.mkdirSync(req.dir, { recursive: true });
  let lastProgress = 0;
  try {
    const figures = await def.run({
      dir: req.dir,
      params: req.params,
      pool: makeRecords(),
      progress: (text) => {
        const t = performance.now();
        if (t - lastProgress < 50) return;
        lastProgress = t;
        void send({ kind: 'progress', text });
      },
    });
    await send({ kind: 'result', figures });
  } finally {
    fs.rmSync(req.dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    await send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  },
);
