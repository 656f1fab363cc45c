// The SDK's retry policy against fake servers that inject faults: only
// `unavailable` and `overloaded` are retried, with jittered exponential
// backoff, within the call's deadline, and a write keeps one idempotency key
// across all its attempts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { HyperspaceClient } from '../../client/index.ts';
import { backoffMs, retryDefaults } from '../../client/retry.ts';
import { serviceDefinition } from '../../proto/index.ts';
import { expectClientError } from '../functions/grpc-harness.ts';

interface Seen {
  method: string;
  url: string;
  idempotencyKey: string | undefined;
  body: string;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

const fast = { attemptsMax: 4, delayMsBase: 1, delayMsMax: 5 };
const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** An HTTP server that answers the scripted replies in order (the last one repeats) and records each request. */
async function fakeHttpServer(replies: Reply[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const header = request.headers['idempotency-key'];
      seen.push({ method: request.method!, url: request.url!, idempotencyKey: typeof header === 'string' ? header : undefined, body });
      const reply = replies[Math.min(seen.length, replies.length) - 1]!;
      if (reply === 'hang') return;
      response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      response.end(JSON.stringify(reply.body ?? {}));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const unavailable = { status: 503, body: { error: { kind: 'unavailable', message: 'database is closed' } } };

describe('SDK retries over HTTP', () => {
  it('retries an upsert answered unavailable twice, with one idempotency key, and returns the seq', async () => {
    const fake = await fakeHttpServer([unavailable, unavailable, { status: 200, body: { seq: 7 } }]);
    const client = HyperspaceClient.http(fake.url, { retry: fast });
    expect(await client.upsert('docs', [{ id: 'a', vector: new Float32Array([0.5, 0.25]) }])).toEqual({ seq: 7 });
    expect(fake.seen).toHaveLength(3);
    expect(fake.seen.map((s) => `${s.method} ${s.url}`)).toEqual(Array(3).fill('POST /v1/collections/docs/upsert'));
    expect(JSON.parse(fake.seen[0]!.body)).toEqual({ points: [{ id: 'a', vector: [0.5, 0.25] }] });
    const key = fake.seen[0]!.idempotencyKey;
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.seen.map((s) => s.idempotencyKey)).toEqual([key, key, key]);
  });

  it('gives each write call its own key, and sends the caller\'s key when given', async () => {
    const fake = await fakeHttpServer([{ status: 200, body: { seq: 1 } }]);
    const client = HyperspaceClient.http(fake.url, { retry: fast });
    await client.delete('docs', ['a']);
    await client.delete('docs', ['a']);
    await client.delete('docs', ['a'], { idempotencyKey: 'mine' });
    const [first, second, third] = fake.seen.map((s) => s.idempotencyKey);
    expect(first).not.toBe(second);
    expect(third).toBe('mine');
  });

  it('retries overloaded (429), waiting at least the Retry-After hint', async () => {
    const fake = await fakeHttpServer([
      { status: 429, body: { error: { kind: 'overloaded', message: 'rate limit: key k1' } }, headers: { 'retry-after': '0.05' } },
      { status: 200, body: { count: 3 } },
    ]);
    const client = HyperspaceClient.http(fake.url, { retry: fast });
    const started = Date.now();
    expect(await client.count('docs')).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(fake.seen).toHaveLength(2);
  });

  it('does not retry any other kind', async () => {
    for (const [status, kind] of [[400, 'invalid'], [401, 'unauthenticated'], [404, 'not_found'], [409, 'conflict'], [413, 'too_large'], [500, 'internal'], [504, 'deadline']] as const) {
      const fake = await fakeHttpServer([{ status, body: { error: { kind, message: `refused with ${kind}` } } }]);
      const client = HyperspaceClient.http(fake.url, { retry: fast });
      const error = await expectClientError(() => client.search('docs', { vector: [1, 2] }), kind, `refused with ${kind}`);
      expect(error.status).toBe(status);
      expect(fake.seen, kind).toHaveLength(1);
    }
  });

  it('gives up after attemptsMax and throws the last error', async () => {
    const fake = await fakeHttpServer([unavailable]);
    const client = HyperspaceClient.http(fake.url, { retry: { ...fast, attemptsMax: 3 } });
    await expectClientError(() => client.upsert('docs', [{ id: 'a', vector: [1] }]), 'unavailable', 'database is closed');
    expect(fake.seen).toHaveLength(3);
  });

  it('treats a refused connection as unavailable and retries it', async () => {
    const fake = await fakeHttpServer([]);
    const url = fake.url;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const client = HyperspaceClient.http(url, { retry: { ...fast, attemptsMax: 2 } });
    await expectClientError(() => client.listCollections(), 'unavailable', /^listCollections: no reply from http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/);
  });

  it('stops at the call\'s deadline with kind deadline, without retrying', async () => {
    const fake = await fakeHttpServer(['hang']);
    const client = HyperspaceClient.http(fake.url, { retry: fast, timeoutMs: 100 });
    const started = Date.now();
    await expectClientError(() => client.count('docs'), 'deadline', 'deadline exceeded: count got no reply in time');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.seen).toHaveLength(1);
  });

  it('does not start a retry that the deadline would cut off', async () => {
    const fake = await fakeHttpServer([{ ...unavailable, headers: { 'retry-after': '5' } }]);
    const client = HyperspaceClient.http(fake.url, { retry: fast, timeoutMs: 500 });
    await expectClientError(() => client.count('docs'), 'unavailable', 'database is closed');
    expect(fake.seen).toHaveLength(1);
  });

  it('reconciles a create whose first reply was lost by reading the collection back', async () => {
    const info = { name: 'docs', dimension: 2, metric: 'l2', quantization: 'none', hnsw: { m: 16, efConstruction: 200 } };
    const fake = await fakeHttpServer([
      unavailable,
      { status: 409, body: { error: { kind: 'conflict', message: 'collection already exists: name=docs' } } },
      { status: 200, body: { collection: info } },
    ]);
    const client = HyperspaceClient.http(fake.url, { retry: fast });
    expect(await client.createCollection('docs', { dimension: 2, metric: 'l2' })).toEqual(info);
    expect(fake.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /v1/collections', 'POST /v1/collections', 'GET /v1/collections/docs']);
  });
});

describe('SDK retries over gRPC', () => {
  it('retries an upsert answered UNAVAILABLE twice, with one idempotency key', async () => {
    const keys: string[] = [];
    const server = new grpc.Server();
    server.addService(serviceDefinition('PointsService'), {
      Upsert: (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
        keys.push(call.request.idempotencyKey);
        if (keys.length <= 2) return callback({ code: grpc.status.UNAVAILABLE, details: 'warming up' });
        callback(null, { seq: 42 });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = HyperspaceClient.grpc(`127.0.0.1:${port}`, { retry: fast });
    try {
      expect(await client.upsert('docs', [{ id: 'a', vector: [1] }])).toEqual({ seq: 42 });
      expect(keys).toHaveLength(3);
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await client.close();
      server.forceShutdown();
    }
  });
});

describe('backoff', () => {
  it('is full jitter under a cap that doubles per retry up to delayMsMax', () => {
    const policy = { ...retryDefaults, delayMsBase: 100, delayMsMax: 1000 };
    expect([1, 2, 3, 4, 5].map((retry) => backoffMs(policy, retry, 0, () => 0.999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffMs(policy, 3, 0, () => 0)).toBe(0);
    expect(backoffMs(policy, 1, 250, () => 0.5)).toBe(250);
  });
});
