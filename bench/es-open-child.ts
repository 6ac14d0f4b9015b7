/**
 * The fresh process of issue 19's open-plus-first-load workload (spawned by
 * bench/es-cases.ts): opens the store and loads one stream, then prints
 * `{"insideMs": ..., "events": ...}` on one line (timed from before its first
 * import to after the load) and closes.
 *
 *   node dist/bench/es-open-child.js aof|sqlite DIR STREAM
 *
 * Only dynamic imports: a static import would run before the clock starts.
 */
const t0 = performance.now();

async function main(): Promise<void> {
  const [engine, dir, stream] = process.argv.slice(2);
  if (dir === undefined || stream === undefined) throw new Error('usage: es-open-child.js aof|sqlite DIR STREAM');
  if (engine === 'aof') {
    const { EventStore } = await import('aof');
    const es = await EventStore.open(dir, { flush: { strategy: 'none' } });
    const events: unknown[] = [];
    for await (const e of es.readStream(stream)) events.push(e);
    process.stdout.write(`${JSON.stringify({ insideMs: performance.now() - t0, events: events.length })}\n`);
    await es.close();
  } else if (engine === 'sqlite') {
    const path = await import('node:path');
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dir, 'events.sqlite'));
    const rows = db.prepare('SELECT version, type, data FROM events WHERE stream = ? ORDER BY version').all(stream) as Array<{ data: string }>;
    const events = rows.map((r) => JSON.parse(r.data) as unknown);
    process.stdout.write(`${JSON.stringify({ insideMs: performance.now() - t0, events: events.length })}\n`);
    db.close();
  } else throw new Error(`unknown engine ${String(engine)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
