/**
 * A throwaway, real S3-compatible server for the tests: Debian's Ceph
 * packages make one out of one monitor, one OSD on the in-memory `memstore`
 * object store and radosgw's beast frontend on 127.0.0.1, all configured and
 * kept inside a temporary directory (its own ceph.conf with a fresh fsid, its
 * own run/log/data/pid paths). Nothing outside that directory is touched and
 * no manager daemon is needed.
 *
 * ```ts
 * const missing = radosgwMissing();           // undefined when Ceph is installed
 * describe.skipIf(missing !== undefined)(suiteName('S3Archive', missing), () => {
 *   let server: RadosgwServer;
 *   beforeAll(async () => { server = await startRadosgw(); });
 *   afterAll(async () => { await server?.stop(); });
 *   // server.endpoint, server.credentials, await server.createBucket('b'), server.killGateway(), ...
 * });
 * ```
 *
 * Facts this relies on (found by trying, see issue 10): the monitor gets an
 * explicit msgr v1 address and msgr2 is off; cephx is off inside the cluster;
 * pools have one replica; the OSD is created and placed in the CRUSH map by
 * hand, because its own crush/class updates at boot race the monitor with
 * auth off; short paxos intervals make startup ~1.5 s instead of ~10 s;
 * `tcp_nodelay=1` on beast makes small requests fast; daemons run in the
 * foreground with stdio redirected to files and are stopped one at a time
 * (gateway, OSD, monitor) by the pid recorded here.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, ListMultipartUploadsCommand, AbortMultipartUploadCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** The Debian packages that provide everything the harness runs. */
export const CEPH_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd'] as const;

/** The command that installs them (what `.ci/install-s3-server.sh` runs). */
export const CEPH_INSTALL_HINT = `apt-get update && apt-get install -y --no-install-recommends ${CEPH_PACKAGES.join(' ')}   (or run .ci/install-s3-server.sh as root)`;

/** Executables the harness needs, and the package each comes from. */
const REQUIRED: Array<[string, string]> = [
  ['ceph-mon', 'ceph-mon'],
  ['ceph-osd', 'ceph-osd'],
  ['radosgw', 'radosgw'],
  ['radosgw-admin', 'radosgw'],
  ['monmaptool', 'ceph-base (pulled in by ceph-mon)'],
  ['ceph', 'ceph-common (pulled in by ceph-mon)'],
];

/** Python with the `rados` binding (python3-rados, pulled in by ceph-common); the system one, never a pyenv shim. */
const PYTHON = '/usr/bin/python3';

/**
 * Why the S3 suite cannot run here, or undefined when it can: names the
 * missing executables and exactly what to install.
 */
export function radosgwMissing(): string | undefined {
  if (process.env.AOF_SKIP_S3 === '1') return 'AOF_SKIP_S3=1 is set';
  if (process.platform !== 'linux') return `the S3 test server needs Linux with Debian's Ceph packages (this is ${process.platform})`;
  const missing = REQUIRED.filter(([bin]) => which(bin) === undefined).map(([bin, pkg]) => `${bin} (${pkg})`);
  if (!isExecutable(PYTHON)) missing.push(`${PYTHON} (python3)`);
  if (missing.length === 0) return undefined;
  return `Ceph binaries not found: ${missing.join(', ')}. Install them with: ${CEPH_INSTALL_HINT}`;
}

/** A describe() title that says why the suite is skipped, when it is. */
export function suiteName(name: string, missing: string | undefined): string {
  return missing === undefined ? name : `${name} [SKIPPED: ${missing}]`;
}

/** Warns once on stderr that the S3 suite is skipped and why (vitest's skip output alone does not say). */
export function warnSkipped(missing: string | undefined): void {
  if (missing === undefined || warned) return;
  warned = true;
  process.stderr.write(`\n[aof tests] S3 suite skipped: ${missing}\n\n`);
}
let warned = false;

/** Access key pair of a radosgw user. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A running throwaway cluster. */
export interface RadosgwServer {
  /** `http://127.0.0.1:PORT` of the S3 gateway. */
  readonly endpoint: string;
  /** Always `us-east-1` (radosgw's default zonegroup accepts it). */
  readonly region: string;
  /** Keys of the user created at start (full access to its own buckets). */
  readonly credentials: S3Credentials;
  /** The temporary directory holding config, logs and daemon data. */
  readonly dir: string;
  /** Gateway port. */
  readonly port: number;
  /** Pids of the running daemons (`gateway` is undefined while it is killed). */
  pids(): { monitor: number; osd: number; gateway: number | undefined };
  /** Milliseconds `startRadosgw` took. */
  readonly startupMs: number;
  /** An S3Client for this server (path style, WHEN_REQUIRED checksums, bounded timeouts); the caller destroys it. */
  client(overrides?: Partial<S3ClientConfig>): S3Client;
  /** Creates a bucket (idempotent). */
  createBucket(name: string): Promise<void>;
  /** Deletes every object and pending multipart upload in a bucket, then the bucket. */
  removeBucket(name: string): Promise<void>;
  /** Creates another user, e.g. one without access to the first user's buckets. */
  createUser(uid: string): Promise<S3Credentials>;
  /** SIGKILLs the gateway (the OSD and monitor keep the data) and resolves once it is gone: the endpoint refuses connections. */
  killGateway(): Promise<void>;
  /** Starts the gateway again on the same port and resolves once it answers HTTP. */
  startGateway(): Promise<void>;
  /** killGateway + startGateway. */
  restartGateway(): Promise<void>;
  /** SIGSTOPs the gateway: connections are accepted by the kernel but nothing is answered (a stalled server). */
  pauseGateway(): void;
  /** SIGCONTs a paused gateway. */
  resumeGateway(): void;
  /** Stops gateway, OSD and monitor, in that order, and removes the directory (unless AOF_KEEP_S3_DIR=1). */
  stop(): Promise<void>;
}

/** Options of {@link startRadosgw}. */
export interface StartRadosgwOptions {
  /** Give up starting after this long (default 60 s). */
  timeoutMs?: number;
  /** Parent directory of the cluster's temp dir (default os.tmpdir()). */
  parentDir?: string;
  /** Extra `key = value` lines for the gateway's config section. */
  gatewayConfig?: Record<string, string | number>;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  exitCode: number | null | undefined;
  logFile: string;
}

const running = new Set<Daemon>();
let exitHookInstalled = false;

/** If the test process exits without stop() (an exception, a failed hook): never leave daemons behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of running) {
      try {
        if (d.child.pid !== undefined) process.kill(d.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * A watchdog for when the test process dies without running any handler
 * (vitest kills a timed-out worker with SIGKILL): a shell that holds the read
 * end of a pipe from us. On EOF (we are gone) it SIGKILLs the pids listed in
 * `pids` that still run this cluster's config, and removes the directory.
 * `stop()` writes "exit" first, so a normal stop leaves it nothing to do.
 */
const WATCHDOG_SH = `
while IFS= read -r line; do [ "$line" = exit ] && exit 0; done
for p in $(cat "$1/pids" 2>/dev/null); do
  if tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -F "$1/ceph.conf"; then kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; fi
done
[ "$2" = keep ] || rm -rf "$1"
`;

interface Watchdog {
  record(pid: number | undefined): void;
  release(): void;
}

function startWatchdog(dir: string): Watchdog {
  const keep = process.env.AOF_KEEP_S3_DIR === '1' ? 'keep' : 'remove';
  const child = spawn('/bin/sh', ['-c', WATCHDOG_SH, 'aof-radosgw-watchdog', dir, keep], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  const stdin = child.stdin!;
  stdin.on('error', () => undefined);
  (stdin as unknown as { unref?: () => void }).unref?.();
  return {
    record(pid) {
      if (pid !== undefined) fs.appendFileSync(path.join(dir, 'pids'), `${pid}\n`);
    },
    release() {
      stdin.end('exit\n');
    },
  };
}

/**
 * Starts a throwaway Ceph cluster with an S3 gateway on 127.0.0.1 and a user
 * with keys. Call once per test file (beforeAll): about 1.5 s.
 */
export async function startRadosgw(options: StartRadosgwOptions = {}): Promise<RadosgwServer> {
  const missing = radosgwMissing();
  if (missing !== undefined) throw new Error(missing);
  installExitHook();
  try {
    return await startOnce(options);
  } catch (first) {
    // The ports were free a moment before the daemons bound them; another test file may have taken one. One more try, with new ports.
    try {
      return await startOnce(options);
    } catch {
      throw first;
    }
  }
}

async function startOnce(options: StartRadosgwOptions): Promise<RadosgwServer> {
  const t0 = performance.now();
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const dir = fs.mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'aof-radosgw-'));
  const daemons: { monitor?: Daemon; osd?: Daemon; gateway?: Daemon } = {};
  const watchdog = startWatchdog(dir);
  try {
    for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const fsid = randomUUID();
    const [monPort, gatewayPort] = await freePorts(2);
    const conf = path.join(dir, 'ceph.conf');
    fs.writeFileSync(conf, cephConf(dir, fsid, monPort, gatewayPort, options.gatewayConfig ?? {}));
    const c = ['-c', conf];

    // Monitor: a monmap with an explicit msgr v1 address, mkfs, then run in the foreground.
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')], dir, deadline);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')], dir, deadline);
    // The OSD's memstore is formatted offline while the monitor starts.
    const osdUuid = randomUUID();
    const osdMkfs = run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid, '--no-mon-config'], dir, deadline);
    daemons.monitor = launch('ceph-mon', [...c, '-f', '-i', 'a'], dir, 'mon', watchdog);
    await osdMkfs;

    // Register osd.0 with the monitor and place it in the CRUSH map ourselves (one client connection).
    await run(PYTHON, ['-c', REGISTER_OSD_PY, conf, osdUuid, String(Math.max(1, Math.floor((deadline - Date.now()) / 1000)))], dir, deadline, daemons.monitor);

    daemons.osd = launch('ceph-osd', [...c, '-f', '-i', '0'], dir, 'osd', watchdog);
    daemons.gateway = launch('radosgw', [...c, '-f', '-n', GATEWAY_NAME], dir, 'rgw', watchdog);
    await waitForHttp(gatewayPort, deadline, daemons.gateway, [daemons.osd, daemons.monitor]);

    const credentials = await createUser(dir, conf, 'aof-test', deadline);
    const startupMs = Math.round(performance.now() - t0);
    return makeServer(dir, conf, gatewayPort, credentials, startupMs, daemons as Required<typeof daemons>, watchdog);
  } catch (err) {
    await stopAll([daemons.gateway, daemons.osd, daemons.monitor]);
    watchdog.release();
    const logs = tailLogs(dir);
    if (process.env.AOF_KEEP_S3_DIR !== '1') fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start the radosgw test server: ${(err as Error).message}${logs}`, { cause: err });
  }
}

const GATEWAY_NAME = 'client.rgw.gw';

function cephConf(dir: string, fsid: string, monPort: number, gatewayPort: number, extra: Record<string, string | number>): string {
  const global: Record<string, string | number> = {
    fsid,
    'mon host': `v1:127.0.0.1:${monPort}`,
    'mon initial members': 'a',
    'ms bind msgr2': 'false',
    'ms bind ipv6': 'false',
    'public addr': '127.0.0.1',
    'auth cluster required': 'none',
    'auth service required': 'none',
    'auth client required': 'none',
    'osd pool default size': 1,
    'osd pool default min size': 1,
    'mon allow pool size one': 'true',
    'mon allow pool delete': 'true',
    'osd crush chooseleaf type': 0,
    'osd pool default pg num': 8,
    'osd pool default pgp num': 8,
    'osd pool default pg autoscale mode': 'off',
    'mon warn on pool no redundancy': 'false',
    'paxos propose interval': 0.05,
    'paxos min wait': 0.01,
    'run dir': path.join(dir, 'run'),
    'log file': path.join(dir, 'log', '$name.log'),
    'pid file': path.join(dir, 'run', '$name.pid'),
    'admin socket': path.join(dir, 'run', '$name.asok'),
    'mon data': path.join(dir, 'mon', '$cluster-$id'),
    'osd data': path.join(dir, 'osd', '$cluster-$id'),
    'osd objectstore': 'memstore',
    'memstore device bytes': 2 * 1024 * 1024 * 1024,
    'osd crush update on start': 'false',
    'osd class update on start': 'false',
    // A SIGKILLed gateway leaves its cache-invalidation watches on the OSD for
    // osd_client_watch_timeout (30 s); with the metadata cache on, the next
    // bucket or user change (by a gateway or radosgw-admin) waits on them
    // (client_notify_timeout, 10 s per attempt). One gateway needs no cache
    // coherence: cache off, for every client.
    'rgw cache enabled': 'false',
  };
  const gateway: Record<string, string | number> = {
    'rgw frontends': `beast endpoint=127.0.0.1:${gatewayPort} tcp_nodelay=1`,
    'rgw data': path.join(dir, 'rgw'),
    'rgw thread pool size': 64,
    'rgw enable usage log': 'false',
    'rgw enable ops log': 'false',
    ...extra,
  };
  const section = (name: string, values: Record<string, string | number>): string => `[${name}]\n${Object.entries(values).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
  return `${section('global', global)}\n${section(GATEWAY_NAME, gateway)}`;
}

/** Creates osd.0 (`osd new`) and adds it under the default CRUSH root, through one librados connection. */
const REGISTER_OSD_PY = `
import json, sys, rados
conf, uuid, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = rados.Rados(conffile=conf)
c.connect(timeout=timeout)
def cmd(**kw):
    ret, out, err = c.mon_command(json.dumps(kw), b'', timeout=timeout)
    if ret != 0:
        sys.exit('%s failed: %d %s' % (kw['prefix'], ret, err))
cmd(prefix='osd new', uuid=uuid, id=0)
cmd(prefix='osd crush add', id=0, weight=1.0, args=['root=default'])
c.shutdown()
`;

async function createUser(dir: string, conf: string, uid: string, deadline: number): Promise<S3Credentials> {
  // radosgw-admin accepts keys we choose; the key alphabet matches what radosgw generates.
  const accessKeyId = randomKey(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
  const secretAccessKey = randomKey(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  await run('radosgw-admin', ['-c', conf, 'user', 'create', `--uid=${uid}`, `--display-name=${uid}`, `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`], dir, deadline);
  return { accessKeyId, secretAccessKey };
}

function randomKey(length: number, alphabet: string): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

function makeServer(dir: string, conf: string, port: number, credentials: S3Credentials, startupMs: number, daemons: { monitor: Daemon; osd: Daemon; gateway: Daemon }, watchdog: Watchdog): RadosgwServer {
  const endpoint = `http://127.0.0.1:${port}`;
  let gateway: Daemon | undefined = daemons.gateway;
  let stopped = false;
  const clients: S3Client[] = [];
  const admin = (): S3Client => {
    const c = server.client();
    clients.push(c);
    return c;
  };
  const server: RadosgwServer = {
    endpoint,
    region: 'us-east-1',
    credentials,
    dir,
    port,
    startupMs,
    pids: () => ({ monitor: daemons.monitor.child.pid!, osd: daemons.osd.child.pid!, gateway: gateway?.child.pid }),
    client: (overrides = {}) =>
      new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000, socketTimeout: 10_000, throwOnRequestTimeout: true },
        ...overrides,
      }),
    async createBucket(name) {
      try {
        await admin().send(new CreateBucketCommand({ Bucket: name }));
      } catch (err) {
        const code = (err as { name?: string }).name;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
      }
    },
    async removeBucket(name) {
      const s3 = admin();
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: name }));
      for (const u of uploads.Uploads ?? []) await s3.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key!, UploadId: u.UploadId! }));
      await s3.send(new DeleteBucketCommand({ Bucket: name }));
    },
    createUser: (uid) => createUser(dir, conf, uid, Date.now() + 30_000),
    async killGateway() {
      const g = gateway;
      gateway = undefined;
      if (g !== undefined) await stopDaemon(g, 'SIGKILL');
    },
    async startGateway() {
      if (stopped) throw new Error('the radosgw test server is stopped');
      if (gateway !== undefined) return;
      const g = launch('radosgw', ['-c', conf, '-f', '-n', GATEWAY_NAME], dir, 'rgw', watchdog);
      gateway = g;
      try {
        await waitForHttp(port, Date.now() + 30_000, g, [daemons.osd, daemons.monitor]);
      } catch (err) {
        throw new Error(`could not restart radosgw: ${(err as Error).message}${tailLogs(dir)}`, { cause: err });
      }
    },
    async restartGateway() {
      await server.killGateway();
      await server.startGateway();
    },
    pauseGateway() {
      if (gateway?.child.pid !== undefined) process.kill(gateway.child.pid, 'SIGSTOP');
    },
    resumeGateway() {
      if (gateway?.child.pid !== undefined) process.kill(gateway.child.pid, 'SIGCONT');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients.splice(0)) c.destroy();
      if (gateway?.child.pid !== undefined) {
        try {
          process.kill(gateway.child.pid, 'SIGCONT');
        } catch {
          // gone already
        }
      }
      await stopAll([gateway, daemons.osd, daemons.monitor]);
      gateway = undefined;
      watchdog.release();
      if (process.env.AOF_KEEP_S3_DIR !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Starts a daemon in the foreground with stdio redirected to a file (never pipes: nothing may wait on them). */
function launch(command: string, args: string[], dir: string, tag: string, watchdog: Watchdog): Daemon {
  const logFile = path.join(dir, 'log', `${tag}.out`);
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(which(command) ?? command, args, { cwd: dir, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  watchdog.record(child.pid);
  const daemon: Daemon = { name: tag, child, exited: Promise.resolve(), exitCode: undefined, logFile };
  daemon.exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      daemon.exitCode = code ?? (signal === null ? -1 : -2);
      running.delete(daemon);
      resolve();
    });
    child.once('error', () => {
      daemon.exitCode = -1;
      running.delete(daemon);
      resolve();
    });
  });
  running.add(daemon);
  return daemon;
}

/** Signals one daemon and waits (bounded) for it to exit; escalates to SIGKILL. */
async function stopDaemon(d: Daemon, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (d.exitCode !== undefined) return;
  try {
    process.kill(d.child.pid!, signal);
  } catch {
    return;
  }
  if (await within(d.exited, graceMs)) return;
  try {
    process.kill(d.child.pid!, 'SIGKILL');
  } catch {
    return;
  }
  await within(d.exited, graceMs);
}

/** Gateway, then OSD (it waits for the monitor to acknowledge its shutdown), then monitor. */
async function stopAll(order: Array<Daemon | undefined>): Promise<void> {
  for (const d of order) if (d !== undefined) await stopDaemon(d);
}

function within(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Runs a short command to completion (bounded by the deadline); rejects with its output on failure or if `watch` dies meanwhile. */
function run(command: string, args: string[], cwd: string, deadline: number, watch?: Daemon): Promise<string> {
  return new Promise((resolve, reject) => {
    const timeout = Math.max(1, deadline - Date.now());
    const child = execFile(which(command) ?? command, args, { cwd, timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(command)} ${args[0] === '-c' && command === PYTHON ? '(register osd)' : args.filter((a) => !a.startsWith('--secret')).slice(0, 4).join(' ')} failed: ${err.message.split('\n')[0]}\n${stderr}${stdout}`.trim()));
      else resolve(stdout);
    });
    void watch?.exited.then(() => child.kill('SIGKILL'));
  });
}

/** Polls until the gateway answers an HTTP request (bounded by the deadline); fails at once if a daemon exits. */
async function waitForHttp(port: number, deadline: number, gateway: Daemon, others: Daemon[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    for (const d of [gateway, ...others]) {
      if (d.exitCode !== undefined) throw new Error(`${d.name} exited with ${d.exitCode} while waiting for the gateway`);
    }
    if (await answersHttp(port)) return;
    if (Date.now() > deadline) throw new Error(`radosgw did not answer on 127.0.0.1:${port} in time`);
    await new Promise((r) => setTimeout(r, Math.min(50, 5 + attempt * 5)));
  }
}

function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) done(data.startsWith('HTTP/1.1 '));
    });
    socket.once('end', () => done(data.startsWith('HTTP/1.1 ')));
  });
}

/** Ports that were free a moment ago (the kernel picks them). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

function tailLogs(dir: string): string {
  let out = '';
  for (const name of ['mon.out', 'osd.out', 'rgw.out', 'mon.a.log', 'osd.0.log', `${GATEWAY_NAME}.log`]) {
    try {
      const text = fs.readFileSync(path.join(dir, 'log', name), 'utf8').trim();
      if (text.length > 0) out += `\n--- ${name} (last lines) ---\n${text.split('\n').slice(-15).join('\n')}`;
    } catch {
      // not written
    }
  }
  return out;
}

function which(bin: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin', '/bin', '/sbin'])) {
    if (d === '') continue;
    const p = path.join(d, bin);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
