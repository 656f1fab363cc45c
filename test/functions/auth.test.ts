// API keys as an operator and a client meet them: `hyperspace keys` writes only
// hashes, the server asks for a key once one exists, scopes and read-only keys
// are enforced, and each key has its own token bucket (429 + Retry-After).
import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../functions/auth/authenticator.ts';
import { runKeysCommand } from '../../functions/auth/keys-cli.ts';
import { createKey, hashKey, readKeys } from '../../functions/auth/keys-file.ts';
import { TokenBucket } from '../../functions/auth/rate-limit.ts';
import { startServe } from '../../functions/serve.ts';
import { call, expectErrorReply, startHarness, type Harness } from './http-harness.ts';

function captured() {
  let stdout = '';
  let stderr = '';
  return {
    io: { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } } as never,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
  };
}

async function keysCli(dir: string, ...args: string[]) {
  const out = captured();
  const code = await runKeysCommand([...args, '--data', dir], out.io);
  return { code, stdout: out.stdout, stderr: out.stderr };
}

let h: Harness;
let admin: string;
let reader: string;
let scoped: string;
let limited: string;

beforeAll(async () => {
  h = await startHarness();
  admin = (await keysCli(h.dir, 'create', '--name', 'admin')).stdout.split('\n')[0];
  reader = (await keysCli(h.dir, 'create', '--name', 'reader', '--access', 'read')).stdout.split('\n')[0];
  scoped = (await keysCli(h.dir, 'create', '--name', 'scoped', '--collections', 'other,docs2')).stdout.split('\n')[0];
  limited = (await createKey(h.dir, { name: 'limited', collections: '*', access: 'read', rate: { perSecond: 1, burst: 3 } })).secret;
  // Re-create the router's authenticator over the directory, as serve does.
  await h.server.close();
  const { startHttpServer } = await import('../../functions/http/server.ts');
  const { Router } = await import('../../functions/http/router.ts');
  const router = new Router({ db: h.db, authenticator: await Authenticator.open({ dataDir: h.dir, reloadIntervalMs: 0 }) });
  h.server = await startHttpServer(router);
  h.base = `http://127.0.0.1:${h.server.port}`;
  const bearer = { authorization: `Bearer ${admin}` };
  expect((await call(h.base, 'POST', '/v1/collections', { name: 'docs', dimension: 2, metric: 'l2' }, bearer)).status).toBe(200);
  expect((await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: [{ id: 'a', vector: [1, 2] }] }, bearer)).json).toEqual({ seq: 1 });
});

afterAll(async () => {
  await h.close();
});

describe('hyperspace keys', () => {
  it('stores only hashes, in a file only the owner reads', async () => {
    const text = await readFile(`${h.dir}/keys.json`, 'utf8');
    for (const secret of [admin, reader, scoped, limited]) {
      expect(secret).toMatch(/^hs_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(text).not.toContain(secret.slice(16));
      expect(text).toContain(hashKey(secret));
    }
    expect((await stat(`${h.dir}/keys.json`)).mode & 0o777).toBe(0o600);
  });

  it('lists and revokes; usage mistakes exit 2', async () => {
    const list = await keysCli(h.dir, 'list');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n').filter(Boolean)).toHaveLength(4);
    expect(list.stdout).toMatch(/active +read-write +collections=other,docs2 +rate=1000\/s burst 2000 +name="scoped"/);
    const json = JSON.parse((await keysCli(h.dir, 'list', '--json')).stdout);
    expect(json[0]).not.toHaveProperty('hash');
    expect((await keysCli(h.dir, 'revoke', 'nope')).stderr).toBe('error (not_found): API key not found: id=nope\n');
    const bad = await keysCli(h.dir, 'rotate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^hyperspace: unknown keys action "rotate" \(create, list or revoke\)/);
    expect((await keysCli(h.dir, 'create', '--access', 'admin')).code).toBe(2);
  });
});

describe('requests with keys', () => {
  it('health needs no key; everything else does', async () => {
    expect((await call(h.base, 'GET', '/v1/health')).status).toBe(200);
    expectErrorReply(await call(h.base, 'GET', '/v1/collections'), 401, 'unauthenticated', 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    expectErrorReply(await call(h.base, 'GET', '/v1/collections', undefined, { authorization: 'Bearer hs_000000000000_nope' }), 401, 'unauthenticated', 'invalid or revoked API key');
    expectErrorReply(await call(h.base, 'GET', '/v1/collections', undefined, { authorization: `Basic ${admin}` }), 401, 'unauthenticated', 'Authorization header must be "Bearer <key>"');
    expect((await call(h.base, 'GET', '/v1/collections/docs', undefined, { 'x-api-key': reader })).status).toBe(200);
  });

  it('a read-only key reads but cannot write (403), and nothing is stored', async () => {
    const as = { 'x-api-key': reader };
    expect((await call(h.base, 'POST', '/v1/collections/docs/search', { vector: [1, 2], k: 1 }, as)).json.hits[0].id).toBe('a');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: [{ id: 'b', vector: [3, 4] }] }, as), 403, 'forbidden',
      /^key [0-9a-f]{12} is read-only: upsert needs read-write access$/);
    expectErrorReply(await call(h.base, 'DELETE', '/v1/collections/docs', undefined, as), 403, 'forbidden', /is read-only: deleteCollection needs read-write access$/);
    expect(await h.db.collection('docs').get('b')).toBeNull();
  });

  it('a key scoped to other collections sees only those', async () => {
    const as = { authorization: `bearer ${scoped}` };
    expectErrorReply(await call(h.base, 'GET', '/v1/collections/docs/points/a', undefined, as), 403, 'forbidden', /^key [0-9a-f]{12} has no access to collection=docs$/);
    expect((await call(h.base, 'GET', '/v1/collections', undefined, as)).json).toEqual({ collections: [] });
    expectErrorReply(await call(h.base, 'GET', '/metrics', undefined, as), 403, 'forbidden', /has no access to metrics/);
    expect((await call(h.base, 'POST', '/v1/collections', { name: 'other', dimension: 2, metric: 'dot' }, as)).status).toBe(200);
    expect((await call(h.base, 'GET', '/v1/collections', undefined, as)).json.collections.map((c: { name: string }) => c.name)).toEqual(['other']);
  });

  it('a key past its rate gets 429 with Retry-After', async () => {
    const as = { 'x-api-key': limited };
    for (let i = 0; i < 3; i++) expect((await call(h.base, 'GET', '/v1/collections/docs', undefined, as)).status).toBe(200);
    const refused = await call(h.base, 'GET', '/v1/collections/docs', undefined, as);
    expectErrorReply(refused, 429, 'overloaded', /^rate limit exceeded for key [0-9a-f]{12}: 1 requests\/s, burst 3; retry after 1 s$/);
    expect(refused.headers.get('retry-after')).toBe('1');
    // Other keys have their own buckets.
    expect((await call(h.base, 'GET', '/v1/collections/docs', undefined, { 'x-api-key': reader })).status).toBe(200);
  });

  it('a revoked key stops working on the running server', async () => {
    const id = (await readKeys(h.dir)).find((k) => k.name === 'reader')!.id;
    expect((await keysCli(h.dir, 'revoke', id)).code).toBe(0);
    expectErrorReply(await call(h.base, 'GET', '/v1/collections/docs', undefined, { 'x-api-key': reader }), 401, 'unauthenticated', 'invalid or revoked API key');
  });
});

describe('token bucket', () => {
  it('refills at the rate up to the burst', () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 2 }, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 1]);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(100)).toBe(1);
    expect(new TokenBucket({ perSecond: 0, burst: 1 }).take()).toBe(0);
  });
});

describe('serving without keys', () => {
  it('is refused on a non-loopback address unless --insecure', async () => {
    const options = { data: `${h.dir}/nokeys`, host: '0.0.0.0', httpPort: 0, grpcPort: null, insecure: false, corsOrigins: [], bodyBytesMax: 1024 * 1024, drainMs: 1000 };
    await expect(startServe(options)).rejects.toThrow(/^refusing to serve on non-loopback address 0\.0\.0\.0 without API keys: create one with "hyperspace keys create --data .*\/nokeys", or pass --insecure/);
    const running = await startServe({ ...options, insecure: true });
    expect((await call(`http://127.0.0.1:${running.http.port}`, 'GET', '/v1/collections')).status).toBe(200);
    await running.close();
  });

  it('with a key, a non-loopback server asks for it', async () => {
    const data = `${h.dir}/withkeys`;
    const created = await keysCli(data, 'create');
    expect(created.code).toBe(0);
    const running = await startServe({ data, host: '0.0.0.0', httpPort: 0, grpcPort: null, insecure: false, corsOrigins: [], bodyBytesMax: 1024 * 1024, drainMs: 1000 });
    const base = `http://127.0.0.1:${running.http.port}`;
    expect((await call(base, 'GET', '/v1/collections')).status).toBe(401);
    expect((await call(base, 'GET', '/v1/collections', undefined, { 'x-api-key': created.stdout.split('\n')[0] })).status).toBe(200);
    await running.close();
  });
});
