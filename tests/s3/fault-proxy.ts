/**
 * A reverse proxy on 127.0.0.1 in front of the real test gateway that
 * forwards every request untouched, except the ones told to fail: answer with
 * an S3 error (503 SlowDown, 500 InternalError, ...) as a throttling or
 * failing load balancer would, or flip one byte of a request body on its way
 * (the server must refuse it). It never answers S3 requests by itself.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One injected fault, consumed by the next request it matches. */
export type Fault =
  | { kind: 'status'; status: number; code: string; match?: (req: http.IncomingMessage) => boolean }
  | { kind: 'corrupt-body'; match?: (req: http.IncomingMessage) => boolean }
  /** Forwards the response headers and its first `afterBytes` body bytes, then sends nothing more (the connection stays open). */
  | { kind: 'stall-response'; afterBytes: number; match?: (req: http.IncomingMessage) => boolean }
  /** Forwards the response headers and its first `afterBytes` body bytes, then resets the connection. */
  | { kind: 'cut-response'; afterBytes: number; match?: (req: http.IncomingMessage) => boolean };

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` of the proxy. */
  readonly endpoint: string;
  /** Queues faults; each applies to one matching request. */
  inject(...faults: Fault[]): void;
  /** Faults not consumed yet. */
  pending(): number;
  /** Requests seen, as `METHOD path`. */
  readonly seen: string[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const faults: Fault[] = [];
  const seen: string[] = [];
  const stalled: http.ServerResponse[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const index = faults.findIndex((f) => f.match === undefined || f.match(req));
    const fault = index >= 0 ? faults.splice(index, 1)[0] : undefined;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (fault?.kind === 'status') {
        const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>`;
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
        res.end(req.method === 'HEAD' ? undefined : xml);
        return;
      }
      if (fault?.kind === 'corrupt-body' && body.length > 0) {
        body = Buffer.from(body);
        body[body.length >> 1] ^= 0x5a;
      }
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (fault?.kind !== 'stall-response' && fault?.kind !== 'cut-response') {
            up.pipe(res);
            return;
          }
          let sent = 0;
          let done = false;
          up.on('data', (chunk: Buffer) => {
            if (done) return;
            const take = Math.min(chunk.length, fault.afterBytes - sent);
            if (take > 0) res.write(chunk.subarray(0, take));
            sent += take;
            if (sent >= fault.afterBytes) {
              done = true;
              up.destroy();
              if (fault.kind === 'cut-response') res.socket?.resetAndDestroy();
              else stalled.push(res);
            }
          });
        },
      );
      forward.on('error', () => {
        res.destroy();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inject: (...f) => void faults.push(...f),
    pending: () => faults.length,
    seen,
    async close() {
      for (const r of stalled) r.destroy();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
