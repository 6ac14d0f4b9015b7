#!/usr/bin/env node
/**
 * Archive-tier benchmark (standalone, issue 10), against a real S3-compatible
 * server: a throwaway Ceph radosgw on loopback (one monitor, one memstore
 * OSD, the beast frontend), started by the test harness tests/s3/radosgw-server.ts.
 * The server shares the machine with the benchmark.
 *
 *   npx tsc -p . && node bench/archive.mjs [--quick] [--json] [--segments 16] [--segment-mib 64] [--runs 5]
 *                                          [--append-seconds 4] [--no-gzip] [--dir DIR]
 *
 * 1. Upload throughput. N sealed segments of about --segment-mib each (100-byte
 *    seeded records, appendBatch, flush 'none') are archived by aof
 *    (`Log.open(dir, { archive: new S3Archive(...) })` then `archiveNow()`,
 *    timed from the open, compression none) and uploaded by plain SDK calls
 *    (`PutObject` below S3Archive's multipart threshold, otherwise
 *    CreateMultipartUpload / UploadPart / CompleteMultipartUpload with the
 *    same part size and part concurrency, one file after another as the
 *    archiver does, over an S3Client with the same transport settings) from
 *    the same files to the same bucket under another prefix; and by the same
 *    SDK calls with a Content-MD5 each (what server-checked integrity costs
 *    by itself). Every run starts with another uploader; objects are deleted
 *    and radosgw's garbage collector is run before each upload (memstore
 *    keeps everything in RAM). MB/s = 10^6 original bytes per second; the
 *    median of the runs is reported, with the CPU time the client process
 *    (worker threads included) and the server's daemons spent per GB.
 * 2. Read-back of an evicted segment: the segments are archived and evicted
 *    (`retention: { maxSegments: 1 }`) and read with `log.get(seq)` with a
 *    cache bound of one byte (only the segment being read stays cached), so
 *    every get of another segment fetches it from the server: fetch, CRC,
 *    footer and salt checks, then the read. Compared with a warm get (the
 *    segment is in the cache) and a plain SDK GetObject of the same object
 *    into a file.
 * 3. Appends while the archive drains: one producer awaiting each append
 *    (default flush strategy 'batch': a lone producer is synced at once, so
 *    every append is one write and one fdatasync), p50/p99 with no archive
 *    configured and with the archive configured and idle (--append-seconds
 *    each), and while the archive drains a backlog of N sealed segments (from
 *    the open until archiveNow() resolves); for reference, while plain SDK
 *    calls upload the same backlog in the same process (no archive). Up to 3
 *    runs; the run with the median draining p99 is shown.
 *
 * Output: a Markdown section on stdout (or JSON with --json); progress on
 * stderr. Without Ceph it prints what to install and exits 0 ("skipped").
 *
 * Standalone: imports the compiled package from dist/ (AOF_BENCH_DIST=DIR for
 * another build) and the radosgw harness (tests/s3/radosgw-server.ts),
 * transpiled on first use into dist/tests/s3/radosgw-server.js with the
 * project's TypeScript: neither tsconfig compiles tests/ (bench/tsconfig.json
 * has rootDir bench/), and the harness is one self-contained file.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** AOF_BENCH_DIST=DIR measures another build of the package (a dist/ directory), e.g. to compare a change with the last commit. */
const dist = path.resolve(process.env.AOF_BENCH_DIST ?? path.join(root, 'dist'));
const { Log, S3Archive } = await import(pathToFileURL(path.join(dist, 'src/index.js')).href);
const { seededRandom } = await import(pathToFileURL(path.join(dist, 'src/testing/random.js')).href);

const USAGE = 'usage: node bench/archive.mjs [--quick] [--json] [--segments N] [--segment-mib M] [--runs R] [--append-seconds S] [--no-gzip] [--dir DIR]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      segments: { type: 'string' },
      'segment-mib': { type: 'string' },
      runs: { type: 'string' },
      'append-seconds': { type: 'string' },
      'no-gzip': { type: 'boolean', default: false },
      dir: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (err) {
  process.stderr.write(`${err.message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const QUICK = values.quick;
const num = (v, fallback, name) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(n > 0)) {
    process.stderr.write(`--${name} must be a positive number\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
};
const SEGMENTS = Math.round(num(values.segments, QUICK ? 2 : 16, 'segments'));
const SEGMENT_BYTES = Math.round(num(values['segment-mib'], QUICK ? 20 : 64, 'segment-mib') * 1024 * 1024);
const RUNS = Math.round(num(values.runs, QUICK ? 1 : 5, 'runs'));
const APPEND_SECONDS = num(values['append-seconds'], QUICK ? 0.5 : 4, 'append-seconds');
/** Runs of the append phases (each drains the whole backlog twice: aof, then the plain SDK reference). */
const APPEND_RUNS = Math.min(RUNS, 3);
const GZIP = !values['no-gzip'];
const RECORD_BYTES = 100;
const MB = 1e6;
const MiB = 1024 * 1024;

/** What S3Archive uses by default (src/archive/s3-archive.ts); the SDK baseline uses the same. */
const S3_THRESHOLD = 16 * MiB;
const S3_PART_BYTES = 8 * MiB;
const S3_PART_CONCURRENCY = 4;

const benchStarted = performance.now();
const progress = (text) => process.stderr.write(`[archive bench ${((performance.now() - benchStarted) / 1000).toFixed(0)}s] ${text}\n`);

/**
 * CPU time (clock ticks) of the whole machine and of this benchmark (this
 * process and the server's daemons), from /proc: what other processes took
 * during the run is the difference. Undefined where there is no /proc.
 */
function cpuTicks(pids) {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = cpu[0] + cpu[1] + cpu[2] + (cpu[5] ?? 0) + (cpu[6] ?? 0); // user, nice, system, irq, softirq
    let ours = 0;
    for (const pid of pids) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ours += Number(f[11]) + Number(f[12]); // utime, stime
      } catch {
        // exited
      }
    }
    return { busy, ours };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// The radosgw harness: compiled on first use.

async function loadHarness() {
  const source = path.join(root, 'tests', 's3', 'radosgw-server.ts');
  const compiled = path.join(root, 'dist', 'tests', 's3', 'radosgw-server.js');
  if (!fs.existsSync(source)) throw new Error(`${path.relative(root, source)} is missing`);
  if (!fs.existsSync(compiled) || fs.statSync(compiled).mtimeMs < fs.statSync(source).mtimeMs) {
    const { default: ts } = await import('typescript');
    const out = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
      fileName: 'radosgw-server.ts',
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, sourceMap: false },
    });
    fs.mkdirSync(path.dirname(compiled), { recursive: true });
    const tmp = `${compiled}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `// Transpiled from tests/s3/radosgw-server.ts by bench/archive.mjs: do not edit.\n${out.outputText}`);
    fs.renameSync(tmp, compiled);
  }
  return import(pathToFileURL(compiled).href);
}

// ---------------------------------------------------------------------------
// Small helpers.

function quantile(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}
const median = (values) => quantile(values, 0.5);
const summary = (ms) => ({ n: ms.length, p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99), maxMs: quantile(ms, 1) });

/** 100-byte JSON-ish records from a seeded generator: the same bytes on every run. */
function makeRecords(count, seed) {
  const rnd = seededRandom(seed);
  const types = ['order.created', 'order.paid', 'order.shipped', 'cart.updated', 'user.login', 'stock.moved'];
  const out = [];
  for (let i = 0; i < count; i++) {
    let s = `{"id":${Math.floor(rnd() * 1e9)},"type":"${types[Math.floor(rnd() * types.length)]}","amount":${Math.floor(rnd() * 100000)},"note":"`;
    while (s.length < RECORD_BYTES - 2) s += String.fromCharCode(97 + Math.floor(rnd() * 26));
    out.push(Buffer.from(`${s}"}`));
  }
  return out;
}
const RECORDS = makeRecords(4096, 0x5eed0010);

function machineLine(cephVersion, dir) {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  let fsType = '';
  try {
    const real = fs.realpathSync(dir);
    let best = '';
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [left, right] = line.split(' - ');
      if (left === undefined || right === undefined) continue;
      const mp = left.split(' ')[4] ?? '';
      if ((mp === '/' || real === mp || real.startsWith(`${mp}/`)) && mp.length >= best.length) {
        best = mp;
        fsType = `${right.split(' ')[0]} at ${mp}`;
      }
    }
  } catch {
    // not Linux
  }
  return `Machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, ${cephVersion} (radosgw beast + one memstore OSD on loopback, same machine)${fsType ? `, log files on ${fsType}` : ''}.`;
}

// ---------------------------------------------------------------------------
// The server, its bucket, and cleaning up between runs.

const BUCKET = 'aof-bench';

async function emptyBucket(s3, sdk) {
  let token;
  do {
    const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length > 0) await s3.send(new sdk.DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  const uploads = await s3.send(new sdk.ListMultipartUploadsCommand({ Bucket: BUCKET }));
  for (const u of uploads.Uploads ?? []) await s3.send(new sdk.AbortMultipartUploadCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId }));
}

/** Deletes every object and runs radosgw's garbage collector now (deleted tails otherwise stay in memstore for hours). */
async function cleanServer(server, s3, sdk) {
  await emptyBucket(s3, sdk);
  await promisify(execFile)('radosgw-admin', ['-c', path.join(server.dir, 'ceph.conf'), 'gc', 'process', '--include-all'], { timeout: 120_000 });
}

// ---------------------------------------------------------------------------
// Segments.

/** A closed log holding SEGMENTS sealed segments (and an active one after them). */
async function makeTemplate(dir) {
  const log = await Log.open(dir, { segment: { maxBytes: SEGMENT_BYTES }, flush: { strategy: 'none' } });
  try {
    let i = 0;
    const batch = new Array(1000);
    while (log.segments().filter((s) => s.status === 'sealed').length < SEGMENTS) {
      for (let k = 0; k < batch.length; k++) batch[k] = RECORDS[i++ % RECORDS.length];
      await log.appendBatch(batch);
    }
  } finally {
    await log.close();
  }
  syncTree(dir);
  const probe = await Log.open(dir, { readOnly: true });
  const sealed = probe.segments().filter((s) => s.status === 'sealed');
  await probe.close();
  return sealed.map((s) => ({ baseSeq: s.baseSeq, nextSeq: s.nextSeq, bytes: s.bytes, file: s.file }));
}

/**
 * A copy of the template log, written back to the disk before it is used:
 * otherwise the kernel would write back a segment's worth of dirty pages per
 * segment while the next measurement runs.
 */
function copyLog(from, to) {
  fs.cpSync(from, to, { recursive: true });
  syncTree(to);
}

function syncTree(p) {
  const fd = fs.openSync(p, 'r');
  try {
    if (fs.fstatSync(fd).isDirectory()) for (const name of fs.readdirSync(p)) syncTree(path.join(p, name));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// 1. Upload throughput.

function s3ArchiveFor(server, prefix, compression = 'none') {
  return new S3Archive({ bucket: BUCKET, prefix, endpoint: server.endpoint, credentials: server.credentials, compression });
}

/** A log opened with an S3Archive of its own; `close()` closes both (the log does not own its archive). */
async function openArchived(server, dir, prefix, options = {}, compression = 'none') {
  const archive = s3ArchiveFor(server, prefix, compression);
  let log;
  try {
    log = await Log.open(dir, { ...options, archive });
  } catch (err) {
    await archive.close();
    throw err;
  }
  const close = async () => {
    try {
      await log.close();
    } finally {
      await archive.close();
    }
  };
  return Object.assign(log, { closeAll: close });
}

/** aof: open a copy of the template with the archive and time until archiveNow() resolves (the archiver starts at open). */
async function aofUpload(server, template, workDir, prefix, compression, segments) {
  const dir = path.join(workDir, `upload-${compression}-${randomBytes(3).toString('hex')}`);
  copyLog(template, dir);
  const failures = [];
  const cpu0 = cpuMs(server);
  const t0 = performance.now();
  const log = await openArchived(server, dir, prefix, {}, compression);
  log.on('archive', (e) => {
    if (e.status === 'failed') failures.push(e.error?.code ?? 'failed');
  });
  try {
    await log.archiveNow();
    const ms = performance.now() - t0;
    const cpu = cpuMs(server, cpu0);
    const m = log.metrics().archive;
    if (m.archived !== segments.length) throw new Error(`aof archived ${m.archived} segments, expected ${segments.length}`);
    if (failures.length > 0) progress(`aof upload: ${failures.length} failed attempt(s) (${failures.join(', ')}), retried`);
    return { ms, bytes: m.bytesArchived, cpu };
  } finally {
    await log.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The plain SDK: the same files, one after another, PutObject or multipart
 * with S3Archive's part size and concurrency. `md5`: with a Content-MD5 on
 * every request (the server checks the bytes it got), which is the least
 * verification costs.
 */
async function sdkUpload({ server, s3, sdk }, segments, prefix, md5 = false) {
  const contentMd5 = (body) => (md5 ? { ContentMD5: createHash('md5').update(body).digest('base64') } : {});
  const cpu0 = cpuMs(server);
  const t0 = performance.now();
  let bytes = 0;
  for (const seg of segments) {
    const key = `${prefix}segments/${String(seg.baseSeq).padStart(20, '0')}.seg`;
    const size = fs.statSync(seg.file).size;
    if (size < S3_THRESHOLD) {
      const body = await fs.promises.readFile(seg.file);
      await s3.send(new sdk.PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: body.length, ...contentMd5(body) }));
    } else {
      const { UploadId } = await s3.send(new sdk.CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      const handle = await fs.promises.open(seg.file, 'r');
      try {
        const parts = Math.ceil(size / S3_PART_BYTES);
        const etags = new Array(parts);
        let next = 0;
        const worker = async () => {
          while (next < parts) {
            const index = next++;
            const start = index * S3_PART_BYTES;
            const length = Math.min(S3_PART_BYTES, size - start);
            const body = Buffer.allocUnsafe(length);
            await handle.read(body, 0, length, start);
            const res = await s3.send(new sdk.UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: index + 1, Body: body, ContentLength: length, ...contentMd5(body) }));
            etags[index] = res.ETag;
          }
        };
        await Promise.all(Array.from({ length: Math.min(S3_PART_CONCURRENCY, parts) }, worker));
        await s3.send(new sdk.CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
      } finally {
        await handle.close();
      }
    }
    bytes += size;
  }
  return { ms: performance.now() - t0, bytes, cpu: cpuMs(server, cpu0) };
}

/** CPU milliseconds used by this process (worker threads included) and by the server's daemons, since `from`. */
function cpuMs(server, from) {
  const own = process.cpuUsage();
  let daemons = 0;
  for (const pid of Object.values(server.pids())) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      daemons += (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
    } catch {
      // no /proc
    }
  }
  const now = { client: (own.user + own.system) / 1000, server: daemons };
  return from === undefined ? now : { client: now.client - from.client, server: now.server - from.server };
}

const UPLOADERS = {
  aof: { label: 'aof', run: (ctx) => aofUpload(ctx.server, ctx.template, ctx.work, 'aof/', 'none', ctx.segments) },
  sdk: { label: 'SDK', run: (ctx) => sdkUpload(ctx, ctx.segments, 'sdk/') },
  sdkMd5: { label: 'SDK + Content-MD5', run: (ctx) => sdkUpload(ctx, ctx.segments, 'sdk-md5/', true) },
};

async function uploadThroughput(ctx) {
  const { server, s3, sdk, template, work, segments } = ctx;
  // Warm-up, not timed: radosgw creates its data pool at the first upload.
  await sdkUpload(ctx, segments.slice(0, 1), 'warm-up/');
  const names = Object.keys(UPLOADERS);
  const got = Object.fromEntries(names.map((n) => [n, []]));
  for (let run = 0; run < RUNS; run++) {
    // Each run starts with another uploader, so none always goes first.
    const order = names.map((_, i) => names[(i + run) % names.length]);
    for (const name of order) {
      await cleanServer(server, s3, sdk);
      const r = await UPLOADERS[name].run(ctx);
      got[name].push({ ...r, mbPerS: r.bytes / MB / (r.ms / 1000), cpuPerGb: { client: r.cpu.client / (r.bytes / 1e9) / 1000, server: r.cpu.server / (r.bytes / 1e9) / 1000 } });
      progress(`upload run ${run + 1}/${RUNS}: ${UPLOADERS[name].label} ${(r.bytes / MB / (r.ms / 1000)).toFixed(0)} MB/s`);
    }
  }
  let gzip;
  if (GZIP) {
    await cleanServer(server, s3, sdk);
    const r = await aofUpload(server, template, work, 'aof-gzip/', 'gzip', segments);
    let stored = 0;
    let token;
    do {
      const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'aof-gzip/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) stored += o.Size ?? 0;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    gzip = { ...r, mbPerS: r.bytes / MB / (r.ms / 1000), storedBytes: stored };
    progress(`upload gzip: ${gzip.mbPerS.toFixed(0)} MB/s of original bytes, stored ${((stored / r.bytes) * 100).toFixed(1)}%`);
  }
  await cleanServer(server, s3, sdk);
  const summarize = (runs) => ({
    runs: runs.map((r) => r.mbPerS),
    mbPerS: median(runs.map((r) => r.mbPerS)),
    cpuSecondsPerGb: { client: median(runs.map((r) => r.cpuPerGb.client)), server: median(runs.map((r) => r.cpuPerGb.server)) },
  });
  const aof = summarize(got.aof);
  const plain = summarize(got.sdk);
  return { bytes: got.aof[0].bytes, aof, sdk: plain, sdkMd5: summarize(got.sdkMd5), ratio: aof.mbPerS / plain.mbPerS, gzip };
}

// ---------------------------------------------------------------------------
// 2. Read-back of an evicted segment.

async function readBack(ctx) {
  const { server, s3, sdk, template, work, segments } = ctx;
  await cleanServer(server, s3, sdk);
  const dir = path.join(work, 'readback');
  copyLog(template, dir);
  const prefix = 'readback/';
  // A cache bound of one byte keeps only the segment being read; each sample also opens the log afresh,
  // so no file handle a reader kept from an earlier sample can serve it.
  const open = () => openArchived(server, dir, prefix, { retention: { maxSegments: 1 }, archiveCacheMaxBytes: 1 });
  const cold = [];
  const warm = [];
  const plain = [];
  const rnd = seededRandom(0x7e7d);
  const tmp = path.join(work, 'sdk-get.seg');
  try {
    let evicted;
    {
      const log = await open();
      await log.archiveNow();
      evicted = log.segments().filter((s) => s.status === 'evicted');
      await log.closeAll();
    }
    if (evicted.length !== segments.length) throw new Error(`expected ${segments.length} evicted segments, found ${evicted.length}`);
    const rounds = Math.max(1, Math.ceil(24 / evicted.length));
    for (let round = 0; round < rounds; round++) {
      for (const seg of evicted) {
        const log = await open();
        try {
          await log.archiveNow(); // nothing to upload: the archiver's start (a listing) is over before the clock starts
          const seq = seg.baseSeq + Math.floor(rnd() * (seg.nextSeq - seg.baseSeq));
          let t = performance.now();
          const rec = await log.get(seq);
          cold.push(performance.now() - t);
          if (rec === undefined || rec.seq !== seq) throw new Error(`get(${seq}) of an evicted segment returned ${rec?.seq}`);
          if (log.metrics().archive.fetches !== 1) throw new Error(`get(${seq}) did not fetch its segment from the archive`);
          // Warm: the same segment, now in the cache.
          for (let k = 0; k < 50; k++) {
            const s = seg.baseSeq + Math.floor(rnd() * (seg.nextSeq - seg.baseSeq));
            t = performance.now();
            await log.get(s);
            warm.push(performance.now() - t);
          }
          if (log.metrics().archive.fetches !== 1) throw new Error('warm gets fetched again');
        } finally {
          await log.closeAll();
        }
        // The plain SDK: GetObject of the same object into a file.
        const key = `${prefix}segments/${String(seg.baseSeq).padStart(20, '0')}.seg`;
        const t = performance.now();
        const res = await s3.send(new sdk.GetObjectCommand({ Bucket: BUCKET, Key: key }));
        await pipeline(res.Body, fs.createWriteStream(tmp));
        plain.push(performance.now() - t);
        fs.rmSync(tmp, { force: true });
      }
      progress(`read-back round ${round + 1}/${rounds}: cold get p50 ${median(cold).toFixed(1)} ms, SDK GetObject p50 ${median(plain).toFixed(1)} ms`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(tmp, { force: true });
    await cleanServer(server, s3, sdk);
  }
  return { segmentBytes: median(segments.map((s) => s.bytes)), cold: summary(cold), warm: summary(warm), sdk: summary(plain) };
}

// ---------------------------------------------------------------------------
// 3. Appends while the archive drains.

async function timedAppends(log, untilMs, stop) {
  const ms = [];
  let i = 0;
  for (let k = 0; k < 100; k++) await log.append(RECORDS[i++ % RECORDS.length]); // warm-up, not measured
  const started = performance.now();
  while (stop === undefined ? performance.now() - started < untilMs : !stop()) {
    const t = performance.now();
    await log.append(RECORDS[i++ % RECORDS.length]);
    ms.push(performance.now() - t);
  }
  return { ms, seconds: (performance.now() - started) / 1000 };
}

/** Appends measured while `work()` runs; resolves both. */
async function appendsDuring(log, work) {
  let done = false;
  let failure;
  const started = performance.now();
  const running = work().then(
    (value) => {
      done = true;
      return value;
    },
    (err) => {
      failure = err;
      done = true;
    },
  );
  const appends = await timedAppends(log, 0, () => done);
  const value = await running;
  if (failure !== undefined) throw failure;
  return { appends, value, seconds: (performance.now() - started) / 1000 };
}

async function appendsWhileDraining(ctx) {
  const { server, s3, sdk, template, work, segments } = ctx;
  const backlogBytes = segments.reduce((n, s) => n + s.bytes, 0);
  const runs = [];
  for (let run = 0; run < APPEND_RUNS; run++) {
    await cleanServer(server, s3, sdk);
    // No archive: a copy of the template opened without one.
    const plainDir = path.join(work, `appends-plain-${run}`);
    copyLog(template, plainDir);
    const plainLog = await Log.open(plainDir);
    const none = await timedAppends(plainLog, APPEND_SECONDS * 1000);
    // Reference: the same log while plain SDK calls upload the same backlog in this process: what an
    // upload costs the event loop and the CPU (the server shares the machine) without aof's archiver.
    const reference = await appendsDuring(plainLog, () => sdkUpload(ctx, segments, `appends-sdk-${run}/`));
    await plainLog.close();
    fs.rmSync(plainDir, { recursive: true, force: true });
    await cleanServer(server, s3, sdk);
    // Draining: a copy of the template with the archive, its N sealed segments queued (the archiver starts at open).
    const dir = path.join(work, `appends-${run}`);
    copyLog(template, dir);
    const log = await openArchived(server, dir, `appends-${run}/`);
    const draining = await appendsDuring(log, () => log.archiveNow());
    if (log.metrics().archive.bytesArchived !== backlogBytes) throw new Error('the drain did not upload the whole backlog');
    // Idle: the same log, everything archived, the archive configured.
    const idle = await timedAppends(log, APPEND_SECONDS * 1000);
    await log.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
    const r = {
      none: summary(none.ms),
      idle: summary(idle.ms),
      draining: summary(draining.appends.ms),
      sdkUploading: summary(reference.appends.ms),
      drainMbPerS: backlogBytes / MB / draining.seconds,
      drainSeconds: draining.seconds,
      sdkMbPerS: backlogBytes / MB / reference.seconds,
    };
    runs.push(r);
    progress(`appends run ${run + 1}/${APPEND_RUNS}: p99 none ${r.none.p99Ms.toFixed(2)} ms, idle ${r.idle.p99Ms.toFixed(2)} ms, draining ${r.draining.p99Ms.toFixed(2)} ms (drain ${r.drainMbPerS.toFixed(0)} MB/s over ${r.drainSeconds.toFixed(1)} s), plain SDK uploading ${r.sdkUploading.p99Ms.toFixed(2)} ms`);
  }
  await cleanServer(server, s3, sdk);
  // The run with the median draining p99 is reported whole; every run's p99s are listed beside it.
  const byP99 = [...runs].sort((a, b) => a.draining.p99Ms - b.draining.p99Ms);
  return { runs, median: byP99[(byP99.length - 1) >> 1] };
}

// ---------------------------------------------------------------------------
// Report.

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

function markdown(r) {
  const lines = [];
  const u = r.upload;
  const totalMiB = (r.params.segments * r.params.segmentBytes) / MiB;
  lines.push(`${r.machine}`);
  lines.push('');
  if (r.otherCpu !== undefined && r.otherCpu > 0.1) {
    lines.push(`Warning: other processes used ${f0(r.otherCpu * 100)}% of one core on average during the run (besides this benchmark and its server): the figures are noisy.`);
    lines.push('');
  }
  lines.push(`${r.params.segments} sealed segments of ${r.params.segmentBytes / MiB} MiB (${f0(totalMiB)} MiB, 100-byte records), ${r.params.runs} run(s) each, median shown; S3Archive defaults (no compression, multipart from ${S3_THRESHOLD / MiB} MiB, ${S3_PART_BYTES / MiB} MiB parts, ${S3_PART_CONCURRENCY} at once).${r.params.quick ? ' A --quick smoke run: these figures mean little.' : ''}`);
  lines.push('');
  lines.push('| upload | MB/s | vs plain SDK | runs (MB/s) | CPU s/GB: client | CPU s/GB: server |');
  lines.push('|---|---:|---:|---|---:|---:|');
  const urow = (name, x, ratio) => `| ${name} | ${f0(x.mbPerS)} | ${ratio} | ${x.runs.map(f0).join(', ')} | ${f2(x.cpuSecondsPerGb.client)} | ${f2(x.cpuSecondsPerGb.server)} |`;
  lines.push(urow('aof `archiveNow()` (S3Archive, verified)', u.aof, `**${f2(u.ratio)}x** (target >= 0.9x)`));
  lines.push(urow('plain SDK PutObject / multipart, same files', u.sdk, '1.00x'));
  lines.push(urow('plain SDK + Content-MD5 (server-checked bytes, nothing else)', u.sdkMd5, `${f2(u.sdkMd5.mbPerS / u.sdk.mbPerS)}x`));
  if (u.gzip !== undefined) lines.push(`| aof, gzip (MB/s of original bytes; stored ${f1((u.gzip.storedBytes / u.gzip.bytes) * 100)}%) | ${f0(u.gzip.mbPerS)} | ${f2(u.gzip.mbPerS / u.sdk.mbPerS)}x | ${f0(u.gzip.mbPerS)} | | |`);
  lines.push('');
  const b = r.readBack;
  lines.push(`Read-back of a record in an evicted ${f1(b.segmentBytes / MiB)} MiB segment (${b.cold.n} cold gets over ${r.params.segments} segments):`);
  lines.push('');
  lines.push('| read | p50 ms | p99 ms | samples |');
  lines.push('|---|---:|---:|---:|');
  lines.push(`| \`log.get(seq)\`, evicted, not cached (fetch + verify + read) | ${f1(b.cold.p50Ms)} | ${f1(b.cold.p99Ms)} | ${b.cold.n} |`);
  lines.push(`| plain SDK GetObject of the same object into a file | ${f1(b.sdk.p50Ms)} | ${f1(b.sdk.p99Ms)} | ${b.sdk.n} |`);
  lines.push(`| \`log.get(seq)\`, evicted, in the cache (warm) | ${f2(b.warm.p50Ms)} | ${f2(b.warm.p99Ms)} | ${b.warm.n} |`);
  lines.push('');
  const a = r.appends.median;
  lines.push(`Single awaited appends (default flush 'batch': one write + one fdatasync each), and while the archive drains a backlog of ${r.params.segments} segments (drain at ${f0(a.drainMbPerS)} MB/s over ${f1(a.drainSeconds)} s; the run with the median draining p99 of ${r.appends.runs.length}):`);
  lines.push('');
  lines.push('| appends | p50 ms | p99 ms | p99 vs idle | appends | p99 of every run (ms) |');
  lines.push('|---|---:|---:|---:|---:|---|');
  const row = (name, key) => `| ${name} | ${f2(a[key].p50Ms)} | ${f2(a[key].p99Ms)} | ${f2(a[key].p99Ms / a.idle.p99Ms)}x | ${f0(a[key].n)} | ${r.appends.runs.map((x) => f2(x[key].p99Ms)).join(', ')} |`;
  lines.push(row('no archive configured', 'none'));
  lines.push(row('archive configured, idle', 'idle'));
  lines.push(row('archive draining a backlog', 'draining'));
  lines.push(row(`reference: no archive, plain SDK uploading the same backlog in the same process (${f0(a.sdkMbPerS)} MB/s)`, 'sdkUploading'));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Main.

async function main() {
  let harness;
  try {
    harness = await loadHarness();
  } catch (err) {
    process.stdout.write(`Skipped: the radosgw harness could not be loaded (${err.message}).\n`);
    return 0;
  }
  const missing = harness.radosgwMissing();
  if (missing !== undefined) {
    progress(`skipped: ${missing}`);
    process.stdout.write(values.json ? `${JSON.stringify({ skipped: missing })}\n` : `Skipped: no S3-compatible test server here. ${missing}\n`);
    return 0;
  }
  const sdk = await import('@aws-sdk/client-s3');
  const work = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'aof-archive-bench-'));
  let server;
  let s3;
  try {
    progress('starting radosgw');
    // rgw gc: deleted objects' tails are collected when we ask (cleanServer), not hours later.
    server = await harness.startRadosgw({ gatewayConfig: { 'rgw gc obj min wait': 0 } });
    progress(`radosgw up at ${server.endpoint} in ${server.startupMs} ms`);
    // The plain SDK client: the transport S3Archive builds for itself (keep-alive sockets, no
    // 100-continue, no aws-chunked checksums, which radosgw 16.2 refuses), so only the engine differs.
    s3 = new sdk.S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: server.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      expectContinueHeader: false,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, socketTimeout: 30_000, httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }) },
    });
    await server.createBucket(BUCKET);
    const cephVersion = (await promisify(execFile)('radosgw', ['--version']).catch(() => ({ stdout: 'Ceph (version unknown)' }))).stdout.trim().replace(/\s*\(([0-9a-f]{40})\)/, '').replace(/^ceph version/, 'Ceph');

    const pids = () => [process.pid, ...Object.values(server.pids()).filter((p) => p !== undefined)];
    const ticks0 = cpuTicks(pids());
    const t0 = performance.now();
    /** Cores' worth of CPU other processes used since the start (0.5: half a core on average). */
    const otherCpu = () => {
      const ticks1 = cpuTicks(pids());
      if (ticks0 === undefined || ticks1 === undefined) return undefined;
      const hz = 100; // USER_HZ on Linux
      return Math.max(0, (ticks1.busy - ticks0.busy - (ticks1.ours - ticks0.ours)) / hz / ((performance.now() - t0) / 1000));
    };
    const template = path.join(work, 'template');
    progress(`writing ${SEGMENTS} segments of ${SEGMENT_BYTES / MiB} MiB`);
    const segments = await makeTemplate(template);
    const ctx = { server, s3, sdk, template, work, segments };

    const upload = await uploadThroughput(ctx);
    const readBackResult = await readBack(ctx);
    const appends = await appendsWhileDraining(ctx);
    const result = {
      machine: machineLine(cephVersion, work),
      params: { quick: QUICK, segments: SEGMENTS, segmentBytes: SEGMENT_BYTES, runs: RUNS, recordBytes: RECORD_BYTES, multipartThresholdBytes: S3_THRESHOLD, partBytes: S3_PART_BYTES, partConcurrency: S3_PART_CONCURRENCY },
      upload,
      readBack: readBackResult,
      appends,
      otherCpu: otherCpu(),
    };
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${markdown(result)}\n`);
    return 0;
  } finally {
    if (server !== undefined && s3 !== undefined) await server.removeBucket(BUCKET).catch(() => undefined);
    s3?.destroy();
    await server?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`archive bench failed: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
