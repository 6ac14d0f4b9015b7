import { AofError, GapError } from '../../errors.js';
import { EventStore } from '../../stream/event-store.js';
import type { RecordedEvent } from '../../stream/types.js';
import { intOption, UsageError } from '../args.js';
import { defineCommand, requireLogDir } from '../command.js';
import { EXIT_STATUS_HELP, ExitCode } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';

export const eventsCommand = defineCommand({
  name: 'events',
  help: `usage: aof events DIR [STREAM] [--from N] [--max N] [--backwards] [-f]
       aof events DIR [--from N] [--prefix P] [--type T[,T...]] [--metadata] [-f]

Prints the events of the event store in DIR as JSON lines, decoded:
  {"position":N,"stream":"...","version":N,"type":"...","id":"...","timestamp":MS,
   "data":...,"metadata":...}
(data stored as bytes is printed in base64, with "dataEncoding":"base64").
Opens the store read-only and takes no lock: it runs beside a live writer and
never shows an event whose append has not resolved.

With STREAM, that stream's events in version order (truncated or deleted
events are not shown):
  --from N      first version (default 0; with --backwards, the last)
  --max N       at most N events
  --backwards   last event first (aof events DIR cart-1 --backwards --max 1
                prints the stream's last event)
Without STREAM, every event in log order:
  --from N      first log position
  --prefix P    only streams whose names start with P
  --type T,...  only events of these types
  --metadata    also the events of metadata streams ($$STREAM)
Either way:
  -f, --follow  keep printing new events until interrupted (Ctrl-C or
                SIGTERM end it with exit status 0)

Exit status: 0 when done or interrupted, 1 when damage stopped it (AOF_CORRUPT)
or a gap (AOF_GAP) was met, 2 on bad usage, 3 when it could not run (no such
directory; AOF_INDEX_UNAVAILABLE when no writer has built the stream index).
${EXIT_STATUS_HELP}`,
  options: {
    from: { type: 'string' },
    max: { type: 'string' },
    backwards: { type: 'boolean' },
    prefix: { type: 'string' },
    type: { type: 'string' },
    metadata: { type: 'boolean' },
    follow: { type: 'boolean', short: 'f' },
  },
  positionals: { required: ['DIR'], optional: ['STREAM'] },
  async run({ values, positionals: [dir, stream] }, io) {
    const from = intOption('from', values.from);
    const max = intOption('max', values.max);
    const follow = values.follow === true;
    if (stream === undefined) {
      if (max !== undefined || values.backwards === true) throw new UsageError(`--${max !== undefined ? 'max' : 'backwards'} applies to one stream: give STREAM`);
    } else if (values.prefix !== undefined || values.type !== undefined || values.metadata === true) {
      throw new UsageError('--prefix, --type and --metadata filter the events of all streams: give no STREAM');
    }
    if (follow && (values.backwards === true || max !== undefined)) throw new UsageError('-f follows forwards: it does not combine with --backwards or --max');
    const types = values.type === undefined ? undefined : values.type.split(',').filter((t) => t.length > 0);
    if (types !== undefined && types.length === 0) throw new UsageError('--type needs at least one event type');
    requireLogDir(dir!);
    const interrupted = interruptOnSignals();
    let es: EventStore | undefined;
    try {
      es = await EventStore.open(dir!, { readOnly: true });
      const filter = { streamPrefix: values.prefix, eventTypes: types, includeMetadataStreams: values.metadata === true };
      let events: AsyncIterable<RecordedEvent>;
      if (follow) {
        if (stream !== undefined) io.err(`aof events: following stream ${JSON.stringify(stream)} of ${dir} (Ctrl-C to stop)`);
        else io.err(`aof events: following ${dir} (Ctrl-C to stop)`);
        events = stream === undefined ? es.subscribe({ from, signal: interrupted.signal, ...filter }) : es.subscribe({ stream, from, signal: interrupted.signal });
      } else {
        events = stream === undefined ? es.readAll({ from, ...filter }) : es.readStream(stream, { from, maxCount: max, direction: values.backwards === true ? 'backwards' : 'forwards' });
      }
      for await (const e of events) {
        if (interrupted.signal.aborted) break;
        await io.write(formatEvent(e));
      }
      return ExitCode.OK;
    } catch (err) {
      if (interrupted.signal.aborted && (err as { name?: unknown }).name === 'AbortError') return ExitCode.OK;
      if (err instanceof GapError || (err instanceof AofError && err.code === 'AOF_CORRUPT')) {
        io.err(`aof events: ${err.code}: ${err.message}`);
        return ExitCode.PROBLEMS;
      }
      throw err;
    } finally {
      await es?.close();
      interrupted.dispose();
    }
  },
});

/** One event as a JSON line; bytes as base64. */
export function formatEvent(e: RecordedEvent): string {
  const bytes = e.data instanceof Uint8Array;
  return JSON.stringify({
    position: e.position,
    stream: e.stream,
    version: e.version,
    type: e.type,
    id: e.id,
    timestamp: e.timestamp,
    data: bytes ? Buffer.from(e.data as Uint8Array).toString('base64') : e.data,
    ...(bytes ? { dataEncoding: 'base64' } : {}),
    ...(e.metadata === undefined ? {} : { metadata: e.metadata }),
  });
}
