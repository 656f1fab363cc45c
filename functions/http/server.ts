// The node:http adapter of the router. It owns what only a socket has: the
// body limit while the body streams in, and the graceful drain.
//
// A body over the limit is answered 413 as soon as Content-Length shows it (a
// chunked body: as soon as the limit is passed), without buffering it. The
// rest of the body is then read and discarded on a kept-alive connection,
// never reset: closing a socket with unread data makes the kernel send RST,
// and the client's kernel then drops the 413 it had not read yet.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HyperspaceError } from '../../engine/index.ts';
import { isDemoPath, serveDemo } from './demo.ts';
import type { HttpResponse, Router } from './router.ts';

export interface HttpServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningHttpServer {
  port: number;
  host: string;
  server: Server;
  /** Requests being served right now. */
  readonly inFlight: number;
  /**
   * Graceful stop: refuse new requests (503), let in-flight ones finish (at
   * most `drainMs`), then close every connection.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

export async function startHttpServer(router: Router, options: HttpServerOptions = {}): Promise<RunningHttpServer> {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;

  const server = createServer({ keepAlive: true }, (req, res) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    if (draining) {
      res.setHeader('connection', 'close');
      send(res, router.errorResponse(new HyperspaceError('unavailable', 'server is shutting down; retry on another server or later'), { headers: headersOf(req) }));
      req.resume();
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    if (isDemoPath(path)) return serveDemo(req, res, path);
    serve(router, req, res);
  });
  // Headers must arrive promptly; a whole (large) body gets the default 5 minutes.
  server.headersTimeout = 30_000;
  // Answer an `Expect: 100-continue` over the limit with 413 before the body is sent.
  server.on('checkContinue', (req, res) => {
    const declared = declaredLength(req);
    if (declared !== undefined && declared > router.bodyBytesMax) {
      res.setHeader('connection', 'close');
      send(res, router.refuseBody(declared, requestLine(req)));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    port: address.port,
    host: address.address,
    server,
    get inFlight() {
      return inFlight;
    },
    async close({ drainMs = 10_000 } = {}) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await closed;
    },
  };
}

function serve(router: Router, req: IncomingMessage, res: ServerResponse): void {
  const line = requestLine(req);
  const headers = line.headers;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > router.bodyBytesMax) {
    send(res, router.refuseBody(declared, line));
    req.resume(); // discard the rest; the connection stays open
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    received += chunk.length;
    if (received > router.bodyBytesMax) {
      refused = true;
      chunks.length = 0;
      send(res, router.refuseBody(undefined, line));
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    const body = chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    router.handle({ ...line, body }).then((response) => send(res, response), (e) => send(res, router.errorResponse(e, { headers })));
  });
  req.on('error', () => undefined); // the client went away; 'close' accounts for it
}

function declaredLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  return value === undefined ? undefined : Number(value);
}

function requestLine(req: IncomingMessage): { method: string; path: string; headers: Record<string, string | undefined> } {
  return { method: req.method ?? 'GET', path: (req.url ?? '/').split('?', 1)[0], headers: headersOf(req) };
}

function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function send(res: ServerResponse, response: HttpResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(response.body)) });
  res.end(response.body);
}
