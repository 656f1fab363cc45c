// The browser build in headless Chromium against a real `hyperspace serve`:
// the demo page, offline use, persistence across reloads, errors, and sync
// with the server (docs/web.md).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, chromiumPath, freePort, launchChromium, startServer, type RunningServer } from './browser-harness.ts';

const available = existsSync(chromiumPath);

describe.skipIf(!available)('HyperspaceDB in the browser', () => {
  let server: RunningServer;
  let data: string;
  let port: number;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const failed: string[] = [];

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'hyperspace-browser-'));
    port = await freePort();
    server = await startServer(data, port);
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`); });
    page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function openDemo(): Promise<void> {
    await page.goto(`${server.url}/demo/`);
    await page.waitForFunction(() => (window as any).demo !== undefined, undefined, { timeout: 30_000 });
  }

  it('serves the demo page, its .wasm as application/wasm, and makes no failed request', async () => {
    const wasm = page.waitForResponse((r) => r.url().endsWith('.wasm'));
    await openDemo();
    const response = await wasm;
    expect(response.headers()['content-type']).toBe('application/wasm');
    expect(await page.evaluate(() => (window as any).demo.hs.kernelName)).toBe('wasm-simd128');
    expect(failed).toEqual([]);
  });

  it('runs the demo: load a data set, search it, push it to the server, sync a server-side delete back', async () => {
    const logged = (text: string) => page.waitForFunction((t) => document.getElementById('log')!.textContent!.includes(t), text, { timeout: 20_000 })
      .catch(async (e) => { throw new Error(`${(e as Error).message}\nlog:\n${await page.textContent('#log')}`); });
    if (!page.url().endsWith('/demo/')) await openDemo();
    await page.fill('#count', '500');
    await page.click('#load');
    await logged('loaded 500 vectors into demo (cosine)');
    await page.click('#search');
    await logged('search over 500 records');
    expect(await page.locator('#hits tr').count()).toBe(10);
    await page.click('#push');
    await logged('is now a replica of the server');
    expect((await api(server.url, 'GET', '/v1/collections/demo')).collection.count).toBe(500);
    await api(server.url, 'POST', '/v1/collections/demo/delete', { ids: ['p7'] });
    await page.click('#sync');
    await logged('1 deletes');
    expect(await page.textContent('#log')).not.toMatch(/error|invalid|conflict|unavailable/);
  });

  it('creates and searches a Poincaré collection offline, and finds it after a reload (IndexedDB)', async () => {
    await context.setOffline(true);
    const before = await page.evaluate(async () => {
      const { db } = (window as any).demo;
      const c = await db.createCollection('local', { dimension: 8, metric: 'poincare' });
      const points = Array.from({ length: 500 }, (_, i) => ({
        id: `p${i}`, vector: Array.from({ length: 8 }, (_, j) => Math.sin(i * 7 + j) * 0.1), metadata: { even: i % 2 === 0 },
      }));
      await c.upsert(points.slice(0, 300));
      await c.flush(); // a segment in IndexedDB ...
      await c.upsert(points.slice(300)); // ... and a WAL tail
      const query = points[42].vector;
      const all = await c.search(query, { k: 5 });
      const even = await c.search(query, { k: 5, filter: { even: true } });
      return { all: all.hits, even: even.hits, count: await c.count() };
    });
    await context.setOffline(false);
    expect(before.count).toBe(500);
    expect(before.all[0]).toEqual({ id: 'p42', distance: 0 });
    expect(before.even.every((h: { id: string }) => Number(h.id.slice(1)) % 2 === 0)).toBe(true);

    await page.reload();
    await page.waitForFunction(() => (window as any).demo !== undefined);
    const after = await page.evaluate(async () => {
      const { db } = (window as any).demo;
      const c = db.collection('local');
      const query = Array.from({ length: 8 }, (_, j) => Math.sin(42 * 7 + j) * 0.1);
      return { all: (await c.search(query, { k: 5 })).hits, even: (await c.search(query, { k: 5, filter: { even: true } })).hits,
        count: await c.count(), loadMs: db.loadMs, p499: await c.get('p499') };
    });
    expect(after.all).toEqual(before.all);
    expect(after.even).toEqual(before.even);
    expect(after.count).toBe(500);
    expect(after.p499.metadata).toEqual({ even: false });
    expect(after.loadMs).toBeGreaterThan(0);
  });

  it('keeps immutable objects in IndexedDB: whole and ranged reads, head, sorted list, conflicts, deletes', async () => {
    const result = await page.evaluate(async () => {
      const { hs } = (window as any).demo;
      const stores = await hs.openIndexedDbStores('object-store-test');
      const o = stores.objects;
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
      await o.put('c/segments/b.hyp', bytes);
      await o.put('c/segments/b.hyp', bytes); // the same bytes again: a retry, no-op
      await o.put('c/segments/a.hyp', new Uint8Array([1, 2, 3]));
      await o.put('c/manifests/1', new Uint8Array([9]));
      const error = async (f: () => Promise<unknown>) => { try { await f(); return null; } catch (e) { return `${(e as any).kind}: ${(e as Error).message}`; } };
      const out = {
        whole: Array.from(await o.get('c/segments/b.hyp')).slice(0, 5),
        range: Array.from(await o.get('c/segments/b.hyp', { offset: 250, length: 4 })),
        head: await o.head('c/segments/b.hyp'), missingHead: await o.head('nope'),
        list: await o.list('c/segments/'),
        conflict: await error(() => o.put('c/segments/a.hyp', new Uint8Array([1, 2, 4]))),
        pastEnd: await error(() => o.get('c/segments/a.hyp', { offset: 2, length: 2 })),
        missing: await error(() => o.get('c/segments/z.hyp')),
        afterDelete: null as string[] | null,
      };
      await o.delete('c/segments/a.hyp');
      await o.delete('c/segments/a.hyp');
      out.afterDelete = await o.list('c/');
      await stores.close();
      return out;
    });
    expect(result).toEqual({
      whole: [0, 1, 2, 3, 4], range: [250, 0, 1, 2], head: { size: 1000 }, missingHead: null,
      list: ['c/segments/a.hyp', 'c/segments/b.hyp'],
      conflict: 'conflict: object already exists with different content: key=c/segments/a.hyp size=3 newSize=3',
      pastEnd: 'invalid: range out of bounds: key=c/segments/a.hyp offset=2 length=2 size=3',
      missing: 'not_found: object not found: key=c/segments/z.hyp',
      afterDelete: ['c/manifests/1', 'c/segments/b.hyp'],
    });
  });

  it('refuses bad input with the same kind and message as the server', async () => {
    const config = { dimension: 4, metric: 'poincare' };
    await api(server.url, 'POST', '/v1/collections', { name: 'errs', ...config });
    const cases: { label: string; op: 'create' | 'upsert' | 'search' | 'delete'; body: any }[] = [
      { label: 'dimension mismatch', op: 'upsert', body: { points: [{ id: 'a', vector: [0.1, 0.2] }] } },
      { label: 'outside the ball', op: 'upsert', body: { points: [{ id: 'a', vector: [0.9, 0.9, 0, 0] }] } },
      { label: 'non-number value', op: 'upsert', body: { points: [{ id: 'a', vector: [0.1, 'x', 0, 0] }] } },
      { label: 'empty id', op: 'upsert', body: { points: [{ id: '', vector: [0, 0, 0, 0] }] } },
      { label: 'bad metadata', op: 'upsert', body: { points: [{ id: 'a', vector: [0, 0, 0, 0], metadata: { nested: { x: 1 } } }] } },
      { label: 'k out of range', op: 'search', body: { vector: [0, 0, 0, 0], k: 0 } },
      { label: 'query dimension', op: 'search', body: { vector: [0, 0, 0], k: 3 } },
      { label: 'bad filter', op: 'search', body: { vector: [0, 0, 0, 0], k: 3, filter: { x: { $regex: 'a' } } } },
      { label: 'bad collection name', op: 'create', body: { name: '../x', dimension: 4, metric: 'l2' } },
      { label: 'unknown metric', op: 'create', body: { name: 'm', dimension: 4, metric: 'hamming' } },
      { label: 'dimension 0', op: 'create', body: { name: 'm', dimension: 0, metric: 'l2' } },
    ];
    await page.evaluate(async (cfg) => { await (window as any).demo.db.createCollection('errs', cfg); }, config);
    for (const { label, op, body } of cases) {
      const path = op === 'create' ? '/v1/collections' : `/v1/collections/errs/${op}`;
      const fromServer = (await api(server.url, 'POST', path, body)).error;
      const fromBrowser = await page.evaluate(async ({ op, body }) => {
        const { db } = (window as any).demo;
        try {
          if (op === 'create') await db.createCollection(body.name, { dimension: body.dimension, metric: body.metric });
          else if (op === 'upsert') await db.collection('errs').upsert(body.points);
          else if (op === 'search') await db.collection('errs').search(body.vector, { k: body.k, filter: body.filter });
          return null;
        } catch (e) {
          return { kind: (e as any).kind, message: (e as Error).message };
        }
      }, { op, body });
      expect(fromBrowser, label).toEqual(fromServer);
    }
  });

  const serverRoot = async (name: string) => (await api(server.url, 'GET', `/v1/collections/${name}/digest`)).root as string;
  const sync = (name: string) => page.evaluate(async (name) => {
    const { db, hs } = (window as any).demo;
    try {
      const report = await hs.syncFromServer(db, new hs.HttpServer({ url: location.origin }), name);
      const local = await db.collection(name).digest();
      return { ...report, localRoot: local.root };
    } catch (e) {
      return { error: { kind: (e as any).kind, message: (e as Error).message } };
    }
  }, name);

  function points(from: number, to: number, version = 0) {
    return Array.from({ length: to - from }, (_, k) => {
      const i = from + k;
      return { id: `s${i}`, vector: Array.from({ length: 16 }, (_, j) => Math.cos(i * 3 + j + version)), metadata: { i, version } };
    });
  }

  it('syncs a server collection until the digests match, then sees a server-side delete disappear', async () => {
    await api(server.url, 'POST', '/v1/collections', { name: 'shared', dimension: 16, metric: 'cosine', hnsw: { m: 12, efConstruction: 100 } });
    for (let i = 0; i < 2000; i += 500) await api(server.url, 'POST', '/v1/collections/shared/upsert', { points: points(i, i + 500) });
    const first = await sync('shared');
    expect(first.error).toBeUndefined();
    expect(first.localRoot).toBe(await serverRoot('shared'));
    expect(first.root).toBe(first.localRoot);
    expect(first.upserts).toBe(2000);
    expect(await page.evaluate(() => (window as any).demo.db.collection('shared').config.hnsw)).toEqual({ M: 12, efConstruction: 100 });

    await api(server.url, 'POST', '/v1/collections/shared/delete', { ids: ['s1', 's2', 's3'] });
    await api(server.url, 'POST', '/v1/collections/shared/upsert', { points: points(10, 30, 1) });
    const second = await sync('shared');
    expect(second.localRoot).toBe(await serverRoot('shared'));
    expect(second.deletes).toBe(3);
    const local = await page.evaluate(async () => {
      const c = (window as any).demo.db.collection('shared');
      return { s1: await c.get('s1'), s10: (await c.get('s10'))?.metadata, count: await c.count() };
    });
    expect(local).toEqual({ s1: null, s10: { i: 10, version: 1 }, count: 1997 });
  });

  it('pushes a write through the server\'s upsert path and sees it come back by sync; a local write to the copy is refused', async () => {
    const result = await page.evaluate(async () => {
      const { db, hs } = (window as any).demo;
      const server = new hs.HttpServer({ url: location.origin });
      const vector = Array.from({ length: 16 }, (_, j) => (j === 3 ? 1 : 0));
      await server.upsert('shared', [{ id: 'from-browser', vector, metadata: { by: 'page' } }]);
      let refused = null;
      try { await db.collection('shared').upsert([{ id: 'local', vector }]); } catch (e) { refused = (e as any).kind; }
      await hs.syncFromServer(db, server, 'shared');
      const c = db.collection('shared');
      return { refused, got: (await c.get('from-browser'))?.metadata, top: (await c.search(vector, { k: 1 })).hits[0].id, root: (await c.digest()).root };
    });
    expect(result).toMatchObject({ refused: 'conflict', got: { by: 'page' }, top: 'from-browser' });
    expect(result.root).toBe(await serverRoot('shared'));
  });

  it('keeps searching with the server stopped, queues writes, then pushes them and converges when it is back', async () => {
    await server.stop();
    const offline = await sync('shared');
    expect(offline.error?.kind).toBe('unavailable');
    expect(failed.every((f) => f.includes('ERR_CONNECTION_REFUSED'))).toBe(true);
    failed.length = 0; // the refused requests of the offline attempt were the point
    const hits = await page.evaluate(async () => {
      const c = (window as any).demo.db.collection('shared');
      return (await c.search(Array.from({ length: 16 }, (_, j) => Math.cos(500 * 3 + j)), { k: 3 })).hits.map((h: { id: string }) => h.id);
    });
    expect(hits[0]).toBe('s500');
    const queued = await page.evaluate(async () => {
      const { db } = (window as any).demo;
      const vector = Array.from({ length: 16 }, (_, j) => (j === 5 ? 1 : 0));
      await db.outbox.upsert('shared', [{ id: 'written-offline', vector, metadata: { when: 'offline' } }]);
      let refused = null;
      try { await db.outbox.upsert('shared', [{ id: 'bad', vector: [1, 2] }]); } catch (e) { refused = (e as Error).message; }
      return { pending: await db.outbox.pending('shared'), refused };
    });
    expect(queued).toEqual({ pending: 1, refused: 'dimension mismatch: collection=shared expected=16 got=2 (point 0, id "bad")' });

    server = await startServer(data, port);
    await api(server.url, 'POST', '/v1/collections/shared/upsert', { points: points(2000, 2100) });
    await api(server.url, 'POST', '/v1/collections/shared/delete', { ids: ['s500'] });
    const back = await sync('shared');
    expect(back.error).toBeUndefined();
    expect(back.outbox).toEqual({ pushed: 1, rejected: [], remaining: 0 });
    expect(back.localRoot).toBe(await serverRoot('shared'));
    const after = await page.evaluate(async () => {
      const { db } = (window as any).demo;
      const c = db.collection('shared');
      return { s500: await c.get('s500'), offline: (await c.get('written-offline'))?.metadata, count: await c.count(), pending: await db.outbox.pending() };
    });
    expect(after).toEqual({ s500: null, offline: { when: 'offline' }, count: 2098, pending: 0 });
  });

  it('after a reload the copy is still in sync (catch-up by sequence moves nothing)', async () => {
    await page.reload();
    await page.waitForFunction(() => (window as any).demo !== undefined);
    const again = await sync('shared');
    expect(again.mode).toBe('catch-up');
    expect(again.upserts + again.deletes).toBe(0);
    expect(again.localRoot).toBe(await serverRoot('shared'));
    expect(failed).toEqual([]);
  });

  it('repairs a copy that diverged without a trace in its sequence (by digest difference, over the pull endpoint)', async () => {
    const damaged = await page.evaluate(async () => {
      const c = (window as any).demo.db.collection('shared');
      const at = c.syncView().sourceSeq;
      // Corruption of the local copy: s600 gets other content and a stray record appears, at the same leader seq.
      await c.commitReplicated([{ id: 's600', seq: 1, vector: new Float32Array(16).fill(0.25), metadata: {} },
        { id: 'stray', seq: 1, vector: new Float32Array(16).fill(0.5), metadata: {} }], [], at);
      return (await c.digest()).root;
    });
    expect(damaged).not.toBe(await serverRoot('shared'));
    const repaired = await sync('shared');
    expect(repaired.mode).toBe('repair');
    expect(repaired.repair).toMatchObject({ recordsPulled: 1, recordsDeleted: 1 });
    expect(repaired.localRoot).toBe(await serverRoot('shared'));
    const records = await page.evaluate(async () => {
      const c = (window as any).demo.db.collection('shared');
      return { s600: (await c.get('s600'))?.metadata, stray: await c.get('stray') };
    });
    expect(records).toEqual({ s600: { i: 600, version: 0 }, stray: null });
  });

  it('runs the same engine in a Web Worker: writes, searches, errors and persistence off the page\'s thread', async () => {
    const inWorker = () => page.evaluate(async () => {
      const { hs } = (window as any).demo;
      const w = await hs.WorkerDatabase.open('worker-db');
      const names = (await w.listCollections()).map((c: { name: string }) => c.name);
      if (!names.includes('w')) {
        await w.createCollection('w', { dimension: 4, metric: 'l2' });
        await w.collection('w').upsert(Array.from({ length: 200 }, (_, i) => ({ id: `w${i}`, vector: new Float32Array([i, i % 7, 1, 0]) })));
        await w.collection('w').flush();
      }
      const hits = (await w.collection('w').search(new Float32Array([42, 0, 1, 0]), { k: 2 })).hits;
      let refused = null;
      try { await w.collection('w').upsert([{ id: 'x', vector: [1, 2] }]); } catch (e) { refused = { isError: e instanceof hs.HyperspaceError, kind: (e as any).kind, message: (e as Error).message }; }
      const described = await w.collection('w').describe();
      await w.close();
      return { kernel: w.kernelName, hits, refused, count: described.count, segments: described.segments };
    });
    const first = await inWorker();
    expect(first).toEqual({
      kernel: 'wasm-simd128', hits: [{ id: 'w42', distance: 0 }, { id: 'w43', distance: 2 }],
      refused: { isError: true, kind: 'invalid', message: 'dimension mismatch: collection=w expected=4 got=2 (point 0, id "x")' },
      count: 200, segments: 1,
    });
    await page.reload();
    await page.waitForFunction(() => (window as any).demo !== undefined);
    expect(await inWorker()).toEqual(first); // reopened from IndexedDB in a new worker
  });

  it('refuses to open the database in a second tab while the first holds it', async () => {
    const second = await context.newPage();
    await second.goto(`${server.url}/demo/favicon.svg`);
    // A string, so the test runner does not rewrite the page's dynamic import.
    const refused = await second.evaluate(`(async () => {
      const hs = await import('/demo/hyperspace-web.js');
      try {
        await hs.openBrowserDatabase('hyperspace-demo');
        return null;
      } catch (e) {
        return { kind: e.kind, message: e.message };
      }
    })()`);
    expect(refused).toEqual({ kind: 'conflict', message: 'database hyperspace-demo is open in another tab or window (waited 5000 ms); close it there first' });
    await second.close();
  });
});
