// GET /demo on the node:http adapter: the browser build with the right content
// types, without a browser (test/web/browser.test.ts drives the page itself).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { MemoryLogStore, MemoryObjectStore } from '../../engine/stores/memory-stores.ts';
import { Router } from '../../functions/http/router.ts';
import { startHttpServer, type RunningHttpServer } from '../../functions/http/server.ts';

describe('the /demo route', () => {
  let db: HyperspaceDB;
  let http: RunningHttpServer;
  let base: string;
  beforeAll(async () => {
    db = await HyperspaceDB.open({ objects: new MemoryObjectStore(), log: new MemoryLogStore() }, { indexer: false });
    http = await startHttpServer(new Router({ db }));
    base = `http://127.0.0.1:${http.port}`;
  });
  afterAll(async () => {
    await http?.close({ drainMs: 0 });
    await db?.close();
  });

  it('serves the page, the bundle, the .wasm as its own application/wasm response, and a favicon', async () => {
    const expected: [string, string][] = [
      ['/demo', 'text/html; charset=utf-8'],
      ['/demo/', 'text/html; charset=utf-8'],
      ['/demo/demo.js', 'text/javascript; charset=utf-8'],
      ['/demo/hyperspace-web.js', 'text/javascript; charset=utf-8'],
      ['/demo/hyperspace-wasm.wasm', 'application/wasm'],
      ['/demo/favicon.svg', 'image/svg+xml'],
    ];
    for (const [path, type] of expected) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toBe(type);
      const bytes = new Uint8Array(await response.arrayBuffer());
      expect(bytes.length, path).toBe(Number(response.headers.get('content-length')));
      if (path.endsWith('.wasm')) expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0x61, 0x73, 0x6d]);
    }
    expect(await (await fetch(`${base}/demo/`)).text()).toContain('<link rel="icon" href="/demo/favicon.svg"');
  });

  it('answers unknown files and other methods with the API\'s error shape', async () => {
    const missing = await fetch(`${base}/demo/secrets.txt`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { kind: 'not_found', message: 'no demo file "secrets.txt"' } });
    const traversal = await fetch(`${base}/demo/..%2Fpackage.json`);
    expect(traversal.status).toBe(404);
    const post = await fetch(`${base}/demo/`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
    expect((await post.json()).error.message).toBe('no route for POST /demo/ (allowed: GET)');
    expect((await fetch(`${base}/v1/health`)).status).toBe(200); // the API is untouched
  });
});
