// The HTTP API as a user meets it with raw fetch over 127.0.0.1: every route
// gives what the library gives, and bad input gets the right status and a
// message naming the problem, with nothing stored.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleLambdaEvent } from '../../functions/http/lambda.ts';
import { Router } from '../../functions/http/router.ts';
import { randomVectors } from '../helpers/random.ts';
import { call, expectErrorReply, startHarness, type Harness } from './http-harness.ts';

const dimension = 16;
const vectors = randomVectors(300, dimension, 11);
const row = (i: number) => Array.from(vectors.subarray(i * dimension, (i + 1) * dimension));
const points = Array.from({ length: 200 }, (_, i) => ({ id: `doc-${i}`, vector: row(i), metadata: { group: i % 4 === 0 ? 'even' : 'odd', rank: i } }));

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ bodyBytesMax: 1024 * 1024, corsOrigins: ['https://app.example'] });
  expect((await call(h.base, 'POST', '/v1/collections', { name: 'docs', dimension, metric: 'l2', hnsw: { m: 8, efConstruction: 64 } })).status).toBe(200);
  const upserted = await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: points.slice(0, 150) });
  expect(upserted.json).toEqual({ seq: 1 });
  await h.db.collection('docs').flush(); // a segment plus a tail, like a live server
  expect((await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: points.slice(150) })).json).toEqual({ seq: 2 });
});

afterAll(async () => {
  await h.close();
});

describe('every route gives the library result', () => {
  it('health, list, describe', async () => {
    expect((await call(h.base, 'GET', '/v1/health')).json).toEqual({ status: 'serving', collections: 1 });
    const described = await call(h.base, 'GET', '/v1/collections/docs');
    const d = h.db.collection('docs').describe();
    expect(described.json.collection).toEqual({ ...d, hnsw: { m: 8, efConstruction: 64 } });
    expect((await call(h.base, 'GET', '/v1/collections')).json).toEqual({ collections: [described.json.collection] });
    expect(described.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it('search and search-batch', async () => {
    const query = row(250);
    const filter = { group: 'odd', rank: { $lt: 180 } };
    const direct = await h.db.collection('docs').search(query, { k: 7, filter, include: ['metadata', 'vector'] });
    const reply = await call(h.base, 'POST', '/v1/collections/docs/search', { vector: query, k: 7, filter, include: ['metadata', 'vector'] });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ hits: direct.hits.map((hit) => ({ ...hit, vector: Array.from(hit.vector!) })), consistency: direct.consistency });
    const distances = reply.json.hits.map((hit: { distance: number }) => hit.distance);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    const batch = await call(h.base, 'POST', '/v1/collections/docs/search-batch', { searches: [{ vector: query, k: 3 }, { vector: row(260), k: 2, consistency: 'eventual' }] });
    expect(batch.json.results[0].hits).toEqual(direct.hits.length ? (await h.db.collection('docs').search(query, { k: 3 })).hits : []);
    expect(batch.json.results[1]).toEqual(await h.db.collection('docs').search(row(260), { k: 2, consistency: 'eventual' }));
  });

  it('points/{id}, count, scroll', async () => {
    const got = await call(h.base, 'GET', '/v1/collections/docs/points/doc-3');
    const record = (await h.db.collection('docs').get('doc-3'))!;
    expect(got.json).toEqual({ id: 'doc-3', vector: Array.from(record.vector), metadata: record.metadata });
    expectErrorReply(await call(h.base, 'GET', '/v1/collections/docs/points/missing'), 404, 'not_found', 'point not found: collection=docs id="missing"');
    expect((await call(h.base, 'POST', '/v1/collections/docs/count', { filter: { group: 'even' } })).json).toEqual({ count: 50 });
    expect((await call(h.base, 'POST', '/v1/collections/docs/count')).json).toEqual({ count: 200 });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await call(h.base, 'POST', '/v1/collections/docs/scroll', { cursor, limit: 64, filter: { group: 'odd' } });
      expect(page.status).toBe(200);
      seen.push(...page.json.points.map((p: { id: string }) => p.id));
      cursor = page.json.nextCursor;
    } while (cursor);
    const direct = await h.db.collection('docs').scroll({ limit: 1000, filter: { group: 'odd' } });
    expect(seen).toEqual(direct.points.map((p) => p.id));
  });

  it('an id with slashes and spaces, URL-encoded', async () => {
    const id = 'a/b c?d%e';
    expect((await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: [{ id, vector: row(290) }] })).status).toBe(200);
    const got = await call(h.base, 'GET', `/v1/collections/docs/points/${encodeURIComponent(id)}`);
    expect(got.json.id).toBe(id);
    const deleted = await call(h.base, 'POST', '/v1/collections/docs/delete', { ids: [id] });
    expect(deleted.json.seq).toBe(h.db.collection('docs').describe().lastSeq);
    expect(got.json.metadata).toEqual({});
  });

  it('idempotency key: a retried upsert returns its original seq', async () => {
    const body = { points: [{ id: 'retried', vector: row(291) }] };
    const first = await call(h.base, 'POST', '/v1/collections/docs/upsert', body, { 'idempotency-key': 'upsert-291' });
    const again = await call(h.base, 'POST', '/v1/collections/docs/upsert', body, { 'idempotency-key': 'upsert-291' });
    expect(again.json.seq).toBe(first.json.seq);
    const del1 = await call(h.base, 'POST', '/v1/collections/docs/delete', { ids: ['retried'] }, { 'idempotency-key': 'delete-291' });
    const del2 = await call(h.base, 'POST', '/v1/collections/docs/delete', { ids: ['retried'] }, { 'idempotency-key': 'delete-291' });
    expect(del2.json.seq).toBe(del1.json.seq);
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: [{ id: 'other', vector: row(292) }] }, { 'idempotency-key': 'upsert-291' }),
      409, 'conflict', /^idempotency key reused with a different payload: collection=docs key=upsert-291/);
  });

  it('flush, compact, create and drop', async () => {
    const flushed = await call(h.base, 'POST', '/v1/collections/docs/flush');
    expect(flushed.json.collection.tailLength).toBe(0);
    const compacted = await call(h.base, 'POST', '/v1/collections/docs/compact', {});
    expect(compacted.json.collection.segments).toBe(1);
    expect(compacted.json.collection.count).toBe(200);
    const created = await call(h.base, 'POST', '/v1/collections', { name: 'tmp', dimension: 3, metric: 'cosine', quantization: 'int8' });
    expect(created.json.collection).toMatchObject({ name: 'tmp', dimension: 3, metric: 'cosine', quantization: 'int8', hnsw: { m: 16, efConstruction: 200 }, count: 0 });
    expectErrorReply(await call(h.base, 'POST', '/v1/collections', { name: 'tmp', dimension: 3, metric: 'cosine' }), 409, 'conflict', 'collection already exists: name=tmp');
    expect((await call(h.base, 'DELETE', '/v1/collections/tmp')).json).toEqual({});
    expectErrorReply(await call(h.base, 'GET', '/v1/collections/tmp'), 404, 'not_found', 'collection not found: name=tmp');
  });

  it('metrics: counts per operation, latency histograms and collection gauges', async () => {
    const reply = await call(h.base, 'GET', '/metrics');
    expect(reply.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(reply.text).toMatch(/^hyperspace_requests_total\{transport="http",operation="search",outcome="ok"\} \d+$/m);
    expect(reply.text).toMatch(/^hyperspace_requests_total\{transport="http",operation="get",outcome="not_found"\} 1$/m);
    expect(reply.text).toMatch(/^hyperspace_request_duration_seconds_bucket\{transport="http",operation="upsert",outcome="ok",le="\+Inf"\} \d+$/m);
    expect(reply.text).toMatch(/^hyperspace_collection_wal_tail_records\{collection="docs"\} \d+$/m);
    expect(reply.text).toMatch(/^hyperspace_collection_segments\{collection="docs"\} 1$/m);
    expect(reply.text).toMatch(/^hyperspace_collection_cache_bytes\{collection="docs"\} [1-9]\d*$/m);
  });
});

describe('bad input names the problem and stores nothing', () => {
  const upsert = (body: unknown) => call(h.base, 'POST', '/v1/collections/docs/upsert', body);

  it('malformed JSON, wrong body types, unknown fields', async () => {
    expectErrorReply(await upsert('{"points": [}'), 400, 'invalid', /^malformed JSON body: /);
    expectErrorReply(await upsert('[1,2]'), 400, 'invalid', 'request body must be a JSON object, got array');
    expectErrorReply(await upsert(new Uint8Array([0x7b, 0xff, 0x7d])), 400, 'invalid', 'request body is not valid UTF-8');
    expectErrorReply(await upsert({ points: 'many' }), 400, 'invalid', 'points must be an array');
    expectErrorReply(await upsert({ points: [], collection: 'other' }), 400, 'invalid', 'unknown field "collection" in the request body (the collection is named in the path)');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/search', { vector: row(0), topK: 3 }), 400, 'invalid',
      'unknown field "topK" in search request (expected: collection, vector, k, ef, filter, consistency, include)');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/search', { vector: row(0), k: 0 }), 400, 'invalid', 'k must be an integer in 1..10000, got 0');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/search', { vector: row(0), k: 10001 }), 400, 'invalid', 'k must be an integer in 1..10000, got 10001');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/search', { vector: row(0), k: '5' }), 400, 'invalid', 'k must be an integer in 1..10000, got 5');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/count', { filter: { rank: { $near: 3 } } }), 400, 'invalid', /\$near/);
  });

  it('wrong dimension, NaN as a string, 1e999, one bad point among good ones', async () => {
    const before = h.db.collection('docs').describe().lastSeq;
    expectErrorReply(await upsert({ points: [{ id: 'short', vector: [1, 2, 3] }] }), 400, 'invalid', 'dimension mismatch: collection=docs expected=16 got=3 (point 0, id "short")');
    expectErrorReply(await upsert({ points: [{ id: 'nan', vector: [...row(0).slice(1), 'NaN'] }] }), 400, 'invalid', 'vector value at index 15 is not a number (point 0, id "nan")');
    expectErrorReply(await upsert({ points: [{ id: 'inf', vector: [...row(0).slice(1), 'Infinity'] }] }), 400, 'invalid', 'vector value at index 15 is not a number (point 0, id "inf")');
    const overflowing = `{"points":[{"id":"big","vector":[${row(0).slice(1).join(',')},1e999]}]}`;
    expectErrorReply(await upsert(overflowing), 400, 'invalid', 'number out of range at points[0].vector[15]: JSON numbers must be finite float64 values');
    expectErrorReply(await upsert(`{"points":[{"id":"m","vector":[${row(0).join(',')}],"metadata":{"score":-1E+400}}]}`), 400, 'invalid',
      'number out of range at points[0].metadata.score: JSON numbers must be finite float64 values');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/search', `{"vector":[${row(0).join(',')}],"k":1e999}`), 400, 'invalid',
      'number out of range at k: JSON numbers must be finite float64 values');
    const batch = [...points.slice(0, 5).map((p) => ({ ...p, id: `new-${p.id}` })), { id: 'bad', vector: row(0).slice(2) }, { id: 'after', vector: row(1) }];
    expectErrorReply(await upsert({ points: batch }), 400, 'invalid', 'dimension mismatch: collection=docs expected=16 got=14 (point 5, id "bad")');
    expectErrorReply(await upsert({ points: [{ id: 7, vector: row(0) }] }), 400, 'invalid', 'id must be a non-empty string of at most 256 bytes UTF-8 (point 0)');
    expect(h.db.collection('docs').describe().lastSeq).toBe(before);
    expect(await h.db.collection('docs').get('new-doc-0')).toBeNull();
  });

  it('unknown collection and route, bad path encoding, deadline', async () => {
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/nope/search', { vector: [1] }), 404, 'not_found', 'collection not found: name=nope');
    expectErrorReply(await call(h.base, 'GET', '/v1/nothing'), 404, 'not_found', 'no route for GET /v1/nothing');
    expectErrorReply(await call(h.base, 'POST', '/v1/health', {}), 404, 'not_found', 'no route for POST /v1/health (allowed: GET)');
    expectErrorReply(await call(h.base, 'GET', '/v1/collections/docs/points/%E0%A4%A'), 400, 'invalid', 'malformed percent-encoding in path segment "%E0%A4%A"');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/upsert', { points: [{ id: 'late', vector: row(0) }] }, { 'x-timeout-ms': '0' }),
      504, 'deadline', 'deadline exceeded before upsert started');
    expect(await h.db.collection('docs').get('late')).toBeNull();
  });
});

describe('body limit', () => {
  it('answers 413 from Content-Length, and the client reads it while still sending', async () => {
    const socket = connect(h.server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    const declared = 64 * 1024 * 1024;
    socket.write(`POST /v1/collections/docs/upsert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(Buffer.alloc(256 * 1024, 0x20));
    const deadline = Date.now() + 5000;
    while (!received.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received).toContain('"kind":"too_large"');
    expect(received).toContain('request body too large: 67108864 bytes > 1048576 (split the batch)');
    // The server keeps reading and discarding: sending the rest is not reset.
    let sent = 256 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let failed: Error | undefined;
    socket.on('error', (e) => (failed = e));
    while (sent < declared && !failed) {
      const piece = chunk.subarray(0, Math.min(chunk.length, declared - sent));
      if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
      sent += piece.length;
    }
    expect(failed).toBeUndefined();
    // ... and the connection can serve the next request.
    received = '';
    socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!received.includes('"serving"') && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 5));
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  it('answers Expect: 100-continue over the limit with 413 instead of 100', async () => {
    const socket = connect(h.server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.write('POST /v1/collections/docs/upsert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await closed; // Connection: close, since the body was never sent
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received).not.toContain('100 Continue');
    expect(received).toContain('request body too large: 99999999 bytes > 1048576 (split the batch)');
  });

  it('fetch with an oversized body receives the 413', async () => {
    const big = JSON.stringify({ points: Array.from({ length: 4000 }, (_, i) => ({ id: `big-${i}`, vector: row(i % 300) })) });
    expect(big.length).toBeGreaterThan(1024 * 1024);
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/upsert', big), 413, 'too_large', `request body too large: ${big.length} bytes > 1048576 (split the batch)`);
    expect(await h.db.collection('docs').get('big-0')).toBeNull();
    expect((await call(h.base, 'GET', '/metrics')).text).toMatch(/^hyperspace_requests_total\{transport="http",operation="upsert",outcome="too_large"\} [1-9]\d*$/m);
  });

  it('cuts a chunked body off at the limit', async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 4 * 1024 * 1024) return controller.close();
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const response = await fetch(`${h.base}/v1/collections/docs/upsert`, { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: { kind: 'too_large', message: 'request body too large: more than 1048576 bytes > 1048576 (split the batch)' } });
  });
});

describe('CORS', () => {
  it('is off by default: a request from any web origin is refused', async () => {
    const router = new Router({ db: h.db });
    const reply = await router.handle({ method: 'POST', path: '/v1/collections/docs/delete', headers: { origin: 'http://localhost:3000' }, body: '{"ids":["doc-2"]}' });
    expect(reply.status).toBe(403);
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(await h.db.collection('docs').get('doc-2')).not.toBeNull();
  });

  it('is answered for allowed origins only', async () => {
    const preflight = await fetch(`${h.base}/v1/collections/docs/search`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Idempotency-Key');
    const allowed = await call(h.base, 'GET', '/v1/health', undefined, { origin: 'https://app.example' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expectErrorReply(await call(h.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-1'] }, { origin: 'https://evil.example' }), 403, 'forbidden',
      'origin not allowed: https://evil.example (allow it with --cors-origin)');
    expect(await h.db.collection('docs').get('doc-1')).not.toBeNull();
  });
});

describe('Lambda function-URL adapter', () => {
  it('routes the same requests through the same router', async () => {
    const router = new Router({ db: h.db, bodyBytesMax: 1024 });
    const event = (method: string, rawPath: string, body?: unknown, base64 = false) => ({
      rawPath, headers: { 'Content-Type': 'application/json' }, requestContext: { http: { method } },
      ...(body === undefined ? {} : { body: base64 ? Buffer.from(JSON.stringify(body)).toString('base64') : JSON.stringify(body), isBase64Encoded: base64 }),
    });
    const counted = await handleLambdaEvent(router, event('POST', '/v1/collections/docs/count', { filter: { group: 'even' } }, true));
    expect(counted).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, body: '{"count":50}', isBase64Encoded: false });
    const got = await handleLambdaEvent(router, event('GET', '/v1/collections/docs/points/doc-4'));
    expect(JSON.parse(got.body).id).toBe('doc-4');
    const tooBig = await handleLambdaEvent(router, event('POST', '/v1/collections/docs/upsert', { points: points.slice(0, 10) }));
    expect(tooBig.statusCode).toBe(413);
    expect(JSON.parse(tooBig.body).error.kind).toBe('too_large');
    expect((await handleLambdaEvent(router, event('GET', '/v1/collections/nope'))).statusCode).toBe(404);
  });
});
