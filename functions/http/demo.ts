// GET /demo: the browser build (web/) and its demo page, served by the
// node:http adapter beside the API (docs/web.md). Bundled in memory once per
// process at the first request, so it always matches the engine it serves
// with. Static and keyless: the page asks for an API key itself when the
// server wants one.
import type { IncomingMessage, ServerResponse } from 'node:http';

const contentTypes: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  wasm: 'application/wasm',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

let bundle: Promise<Map<string, Uint8Array>> | undefined;

/** Whether `path` (no query string) belongs to the demo. */
export function isDemoPath(path: string): boolean {
  return path === '/demo' || path.startsWith('/demo/');
}

export function serveDemo(req: IncomingMessage, res: ServerResponse, path: string): void {
  req.resume();
  const json = (status: number, kind: string, message: string, headers: Record<string, string> = {}) => {
    const body = JSON.stringify({ error: { kind, message } });
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(404, 'not_found', `no route for ${req.method} ${path} (allowed: GET)`);
  const name = path === '/demo' || path === '/demo/' ? 'index.html' : path.slice('/demo/'.length);
  bundle ??= import('../../web/build.ts').then((m) => m.bundleWeb());
  bundle.then((files) => {
    const bytes = files.get(name);
    const type = contentTypes[name.slice(name.lastIndexOf('.') + 1)];
    if (!bytes || !type) return json(404, 'not_found', `no demo file ${JSON.stringify(name)}`);
    res.writeHead(200, { 'content-type': type, 'content-length': String(bytes.length), 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }, (e: Error) => {
    bundle = undefined;
    json(500, 'internal', `cannot bundle the demo: ${e.message}`);
  });
}
