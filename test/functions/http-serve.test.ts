// `hyperspace serve` as a process: health only once recovered, and SIGTERM
// with writes in flight drains them, so every acknowledged write is there
// when the data directory is opened again.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HyperspaceClient, HyperspaceClientError } from '../../client/index.ts';
import { HyperspaceDB } from '../../engine/index.ts';
import { createKey } from '../../functions/auth/keys-file.ts';
import { Router } from '../../functions/http/router.ts';
import { isLoopback, runServe, startServe } from '../../functions/serve.ts';
import { call, expectErrorReply } from './http-harness.ts';

const serveFile = fileURLToPath(new URL('../../functions/serve.ts', import.meta.url));
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hyperspace-serve-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `serve` in a child process; resolves with its HTTP base URL once it listens. */
async function serve(dir: string): Promise<{ child: ChildProcess; base: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', serveFile, '--data', dir, '--http-port', '0', '--grpc-port', 'off', '--drain-ms', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    child.stderr!.on('data', () => {
      const m = /http: listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { child, base, stderr: () => stderr, exited };
}

async function healthy(base: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const reply = await call(base, 'GET', '/v1/health').catch(() => undefined);
    if (reply?.status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('never healthy');
}

describe('hyperspace serve', () => {
  it('answers 503 with Retry-After until the data directory is recovered', async () => {
    const router = new Router({ db: () => undefined });
    const reply = await router.handle({ method: 'GET', path: '/v1/health', headers: {} });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(typeof reply.body).toBe('string'); // error replies are JSON text; the type also allows bytes
    expect(JSON.parse(reply.body as string)).toEqual({ error: { kind: 'unavailable', message: 'starting: the data directory is being recovered; retry shortly' } });
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].map(isLoopback)).toEqual([false, false, false, false]);
  });

  it('rejects usage mistakes with exit code 2', async () => {
    let stderr = '';
    const code = await runServe(['--http-port', 'eighty'], { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } } as never);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^hyperspace: --http-port must be an integer, got "eighty"/);
  });

  it('drains writes in flight on SIGTERM: no acknowledged write is lost', async () => {
    const dir = await scratch();
    const server = await serve(dir);
    await healthy(server.base);
    expect((await call(server.base, 'POST', '/v1/collections', { name: 'w', dimension: 4, metric: 'l2' })).status).toBe(200);
    const acknowledged: string[] = [];
    const statuses = new Set<number>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const points = Array.from({ length: 16 }, (_, j) => ({ id: `w${w}-${i}-${j}`, vector: [w, i, j, 1] }));
        try {
          const reply = await call(server.base, 'POST', '/v1/collections/w/upsert', { points });
          statuses.add(reply.status);
          if (reply.status === 200) acknowledged.push(...points.map((p) => p.id));
          else stop = true;
        } catch {
          stop = true; // the server closed: this write was never acknowledged
        }
      }
    };
    const writers = Array.from({ length: 16 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 800));
    const before = acknowledged.length;
    server.child.kill('SIGTERM');
    await Promise.all(writers);
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toMatch(/SIGTERM: draining \d+ request\(s\) in flight, then closing the database\nclosed\n/);
    expect(before).toBeGreaterThan(0);
    expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([]);

    const db = await HyperspaceDB.open(dir, { indexer: false });
    try {
      const collection = db.collection('w');
      expect(await collection.count()).toBeGreaterThanOrEqual(acknowledged.length);
      const missing: string[] = [];
      for (const id of acknowledged) if ((await collection.get(id)) === null) missing.push(id);
      expect(missing).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('serves the same data after a restart (SIGINT)', async () => {
    const dir = await scratch();
    const first = await serve(dir);
    await healthy(first.base);
    expect((await call(first.base, 'POST', '/v1/collections', { name: 'kept', dimension: 2, metric: 'dot' })).status).toBe(200);
    expect((await call(first.base, 'POST', '/v1/collections/kept/upsert', { points: [{ id: 'x', vector: [1, 2] }] })).status).toBe(200);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    const second = await serve(dir);
    await healthy(second.base);
    expect((await call(second.base, 'GET', '/v1/collections/kept/points/x')).json).toEqual({ id: 'x', vector: [1, 2], metadata: {} });
    expectErrorReply(await call(second.base, 'GET', '/v1/collections/kept/points/y'), 404, 'not_found', 'point not found: collection=kept id="y"');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('serves HTTP and gRPC over one database, one key store and one /metrics', async () => {
    const dir = await scratch();
    const { secret } = await createKey(dir, { name: 'both', collections: '*', access: 'read-write' });
    const running = await startServe({ data: dir, host: '127.0.0.1', httpPort: 0, grpcPort: 0, insecure: false, corsOrigins: [], bodyBytesMax: 1 << 20, drainMs: 2000 });
    cleanup.push(() => running.close());
    expect(running.grpc?.port).toBeGreaterThan(0);
    const http = HyperspaceClient.http(`http://127.0.0.1:${running.http.port}`, { apiKey: secret });
    const grpc = HyperspaceClient.grpc(`127.0.0.1:${running.grpc!.port}`, { apiKey: secret });
    const anonymous = HyperspaceClient.grpc(`127.0.0.1:${running.grpc!.port}`, { retry: { attemptsMax: 1 } });
    cleanup.push(async () => {
      await Promise.all([http.close(), grpc.close(), anonymous.close()]);
    });
    await http.createCollection('both', { dimension: 3, metric: 'l2' });
    await grpc.upsert('both', [{ id: 'a', vector: [1, 0, 0], metadata: { n: 1 } }, { id: 'b', vector: [0, 1, 0] }]);
    const query = { vector: [0.9, 0.1, 0], k: 2, include: ['metadata' as const] };
    const overHttp = await http.search('both', query);
    expect(overHttp.hits.map((hit) => hit.id)).toEqual(['a', 'b']);
    expect(await grpc.search('both', query)).toEqual(overHttp);
    const refused = await anonymous.count('both').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HyperspaceClientError);
    expect((refused as HyperspaceClientError).kind).toBe('unauthenticated');
    const metrics = await call(`http://127.0.0.1:${running.http.port}`, 'GET', '/metrics', undefined, { 'x-api-key': secret });
    expect(metrics.text).toMatch(/^hyperspace_requests_total\{transport="grpc",operation="search",outcome="ok"\} 1$/m);
    expect(metrics.text).toMatch(/^hyperspace_requests_total\{transport="http",operation="search",outcome="ok"\} 1$/m);
  });
});
