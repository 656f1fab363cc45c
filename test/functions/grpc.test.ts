// The gRPC server over a real socket: every operation through the SDK gives
// what the library gives on the same database, errors arrive with their
// status, kind and message, and nothing of a refused request is stored.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HyperspaceClient } from '../../client/index.ts';
import { HyperspaceError } from '../../engine/index.ts';
import { decodeChanges, decodePull } from '../../engine/sync.ts';
import { Authenticator } from '../../functions/auth/authenticator.ts';
import { hashKey } from '../../functions/auth/keys-file.ts';
import { Metrics } from '../../functions/metrics.ts';
import { collectionInfo, type Principal } from '../../functions/handlers.ts';
import { serviceDefinition, type ServiceName } from '../../proto/index.ts';
import { randomVectors } from '../helpers/random.ts';
import { expectClientError, startGrpcHarness, type GrpcHarness } from './grpc-harness.ts';

const dimension = 16;
const vectors = randomVectors(300, dimension, 7);
const vectorAt = (i: number) => vectors.subarray(i * dimension, (i + 1) * dimension);
const colours = ['red', 'green', 'blue'];

/** One raw call with the loaded service definition, answering the decoded message or the ServiceError. */
function rawCall(address: string, service: ServiceName, method: string, request: object, metadata = new grpc.Metadata()): Promise<any> {
  const Client = grpc.makeClientConstructor(serviceDefinition(service), service);
  const client = new Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as any)[method](request, metadata, (error: grpc.ServiceError | null, response: unknown) => {
      client.close();
      if (error) reject(error);
      else resolve(response);
    });
  });
}

function rawStream(address: string, service: ServiceName, method: string, request: object): Promise<grpc.ServiceError> {
  const Client = grpc.makeClientConstructor(serviceDefinition(service), service);
  const client = new Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    const call = (client as any)[method](request) as grpc.ClientReadableStream<unknown>;
    call.on('data', () => undefined);
    call.on('error', (error: grpc.ServiceError) => {
      client.close();
      resolve(error);
    });
  });
}

/** The frames of a server stream, in order. */
function rawFrames(address: string, service: ServiceName, method: string, request: object): Promise<Uint8Array[]> {
  const Client = grpc.makeClientConstructor(serviceDefinition(service), service);
  const client = new Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const frames: Uint8Array[] = [];
    const call = (client as any)[method](request) as grpc.ClientReadableStream<{ frame: Uint8Array }>;
    call.on('data', (m) => frames.push(m.frame));
    call.on('error', (error) => { client.close(); reject(error); });
    call.on('end', () => { client.close(); resolve(frames); });
  });
}

describe('gRPC server through the SDK', () => {
  let h: GrpcHarness;
  let client: HyperspaceClient;

  beforeAll(async () => {
    h = await startGrpcHarness();
    client = h.client({ retry: { attemptsMax: 1 } });
  });
  afterAll(() => h.close());

  it('creates, lists, describes and drops collections as the library does', async () => {
    const created = await client.createCollection('docs', { dimension, metric: 'l2', hnsw: { m: 12 } });
    expect(created).toEqual(collectionInfo(h.db.collection('docs').describe()));
    expect(created.hnsw).toEqual({ m: 12, efConstruction: 200 });
    await client.createCollection('angles', { dimension: 3, metric: 'cosine', quantization: 'int8' });
    expect(await client.listCollections()).toEqual(h.db.listCollections().map(collectionInfo));
    expect((await client.describeCollection('angles')).quantization).toBe('int8');
    await client.deleteCollection('angles');
    expect(h.db.listCollections().map((c) => c.name)).toEqual(['docs']);
  });

  it('upserts Float32Array and number[] vectors and reads them back as the library does', async () => {
    const points = Array.from({ length: 200 }, (_, i) => ({
      id: `doc-${String(i).padStart(3, '0')}`,
      vector: i % 2 === 0 ? vectorAt(i) : Array.from(vectorAt(i)),
      metadata: { colour: colours[i % 3]!, rank: i, even: i % 2 === 0, tags: [`t${i % 5}`] },
    }));
    const first = await client.upsert('docs', points.slice(0, 100));
    const second = await client.upsert('docs', points.slice(100));
    expect(second.seq).toBe(first.seq + 1);
    expect(await client.get('docs', 'doc-007')).toEqual(await h.db.collection('docs').get('doc-007'));
    expect(await client.get('docs', 'doc-999')).toBeNull();
    expect(await client.count('docs')).toBe(200);
  });

  it('searches, with filters and includes, exactly as the library does — before and after a flush', async () => {
    const library = h.db.collection('docs');
    const queries = [
      { vector: vectorAt(250), k: 10 },
      { vector: Array.from(vectorAt(251)), k: 5, filter: { colour: 'red', rank: { $gte: 50 } }, include: ['metadata', 'vector'] as const },
      { vector: vectorAt(252), k: 3, consistency: 'eventual' as const, include: ['metadata'] as const },
    ];
    for (const round of ['tail', 'segment']) {
      for (const { vector, ...options } of queries) {
        const remote = await client.search('docs', { vector, ...options });
        expect(remote, round).toEqual(await library.search(vector, { ...options, include: options.include && [...options.include] }));
      }
      const batch = await client.searchBatch('docs', queries);
      expect(batch.map((r) => r.hits)).toEqual((await Promise.all(queries.map(({ vector, ...o }) =>
        library.search(vector, { ...o, include: o.include && [...o.include] })))).map((r) => r.hits));
      if (round === 'tail') {
        const flushed = await client.flush('docs');
        expect(flushed.segments).toBe(1);
        expect(flushed.tailLength).toBe(0);
      }
    }
  });

  it('counts and scrolls as the library does', async () => {
    const library = h.db.collection('docs');
    const filter = { $or: [{ colour: 'blue' }, { tags: { $in: ['t1'] } }] };
    expect(await client.count('docs', filter)).toBe(await library.count({ filter }));
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await client.scroll('docs', { cursor, limit: 40, filter });
      expect(page).toEqual(await library.scroll({ cursor, limit: 40, filter }));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBeGreaterThan(1);
    const all = [];
    for await (const point of client.scrollAll('docs', { limit: 64 })) all.push(point.id);
    expect(all).toHaveLength(200);
  });

  it('deletes, and a retried write with the same idempotency key returns its original seq', async () => {
    const key = 'delete-once';
    const first = await client.delete('docs', ['doc-000', 'doc-001', 'missing'], { idempotencyKey: key });
    const again = await client.delete('docs', ['doc-000', 'doc-001', 'missing'], { idempotencyKey: key });
    expect(again.seq).toBe(first.seq);
    expect(await client.get('docs', 'doc-000')).toBeNull();
    expect(await client.count('docs')).toBe(198);
  });

  it('answers bad input with INVALID_ARGUMENT, the engine message, and stores nothing', async () => {
    const before = h.db.collection('docs').describe().lastSeq;
    const error = await expectClientError(() => client.upsert('docs', [
      { id: 'good', vector: vectorAt(1) },
      { id: 'short', vector: [1, 2, 3] },
    ]), 'invalid', 'dimension mismatch: collection=docs expected=16 got=3 (point 1, id "short")');
    expect(error.status).toBe(grpc.status.INVALID_ARGUMENT);
    const nan = Array.from(vectorAt(2));
    nan[5] = Number.NaN;
    await expectClientError(() => client.upsert('docs', [{ id: 'nan', vector: nan }]), 'invalid', 'non-finite value at index 5 (point 0, id "nan")');
    await expectClientError(() => client.search('docs', { vector: vectorAt(1), k: 10_001 }), 'invalid', 'k must be an integer in 1..10000, got 10001');
    await expectClientError(() => client.search('docs', { vector: vectorAt(1), filter: { colour: { $near: 'red' } } }), 'invalid', /\$near/);
    await expectClientError(() => client.createCollection('bad/name', { dimension: 2, metric: 'l2' }), 'invalid',
      'collection name must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127} and not be . or .., got "bad/name"');
    expect(h.db.collection('docs').describe().lastSeq).toBe(before);
    expect(await client.get('docs', 'good')).toBeNull();
  });

  it('answers unknown collections with NOT_FOUND and existing names with ALREADY_EXISTS', async () => {
    const missing = await expectClientError(() => client.search('nope', { vector: [1] }), 'not_found', 'collection not found: name=nope');
    expect(missing.status).toBe(grpc.status.NOT_FOUND);
    const taken = await expectClientError(() => client.createCollection('docs', { dimension, metric: 'l2' }), 'conflict', 'collection already exists: name=docs');
    expect(taken.status).toBe(grpc.status.ALREADY_EXISTS);
  });

  it('sends the kind in the hs-error-kind trailer and the message in details', async () => {
    const error = await rawCall(h.address, 'PointsService', 'Count', { collection: 'nope' }).catch((e: grpc.ServiceError) => e);
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(error.details).toBe('collection not found: name=nope');
    expect(error.metadata.get('hs-error-kind')).toEqual(['not_found']);
  });

  it('answers raw requests with unset or out-of-range values with the engine\'s messages', async () => {
    const refused = (service: ServiceName, method: string, request: object) =>
      rawCall(h.address, service, method, request).then(() => { throw new Error('expected an error'); }, (e: grpc.ServiceError) => [e.code, e.details]);
    expect(await refused('CollectionsService', 'CreateCollection', { name: 'raw', dimension: 4 }))
      .toEqual([grpc.status.INVALID_ARGUMENT, 'metric must be one of l2, cosine, dot, poincare, got undefined']);
    expect(await refused('CollectionsService', 'CreateCollection', { name: 'raw', metric: 'METRIC_L2' }))
      .toEqual([grpc.status.INVALID_ARGUMENT, 'dimension must be an integer in [1, 65536], got undefined']);
    const infinite = Array.from(vectorAt(3));
    infinite[0] = Number.POSITIVE_INFINITY;
    expect(await refused('PointsService', 'Upsert', { collection: 'docs', points: [{ id: 'inf', vector: infinite }] }))
      .toEqual([grpc.status.INVALID_ARGUMENT, 'non-finite value at index 0 (point 0, id "inf")']);
    expect(await refused('PointsService', 'Upsert', { collection: 'docs', points: [{ vector: Array.from(vectorAt(3)) }] }))
      .toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^id must be/)]);
    expect(await refused('PointsService', 'Search', { collection: 'docs', query: { vector: Array.from(vectorAt(3)), consistency: 'CONSISTENCY_EVENTUAL', ef: 200_000 } }))
      .toEqual([grpc.status.INVALID_ARGUMENT, 'ef must be an integer in 1..100000, got 200000']);
    expect(await h.db.collection('docs').get('inf')).toBeNull();
  });

  it('serves health, stats, the Merkle digest and the replication pulls', async () => {
    expect(await client.health()).toEqual({ serving: true, collections: 1 });
    const stats = await rawCall(h.address, 'AdminService', 'Stats', {});
    expect(stats.collections.map((c: { name: string }) => c.name)).toEqual(['docs']);
    const digest = await rawCall(h.address, 'SyncService', 'GetDigest', { collection: 'docs' });
    const library = await h.db.collection('docs').digest();
    expect(Buffer.from(digest.root).toString('hex')).toBe(library.root);
    expect(digest.buckets.map((b: Buffer) => Buffer.from(b).toString('hex'))).toEqual(library.buckets);
    expect(digest.consistency).toEqual(library.consistency);
    const compacted = await rawCall(h.address, 'AdminService', 'Compact', { collection: 'docs' });
    expect(compacted.collection.name).toBe('docs');
    // Catch-up and repair answer with the same frames as HTTP (engine/sync.ts decodes both).
    const changes = decodeChanges((await rawCall(h.address, 'SyncService', 'PullChanges', { collection: 'docs' })).frame);
    expect(changes).toMatchObject({ afterSeq: 0, done: true, root: library.root });
    const behind = await rawCall(h.address, 'SyncService', 'PullChanges', { collection: 'docs', afterSeq: 1e9 }).catch((e: grpc.ServiceError) => e);
    expect(behind.code).toBe(grpc.status.ALREADY_EXISTS); // conflict: a replica never moves backwards
    const frames = await rawFrames(h.address, 'SyncService', 'PullBuckets', { collection: 'docs', expand: ['00'], ids: ['p1', 'nope'] });
    expect(frames).toHaveLength(1);
    const answer = decodePull(frames[0]);
    expect(answer).toMatchObject({ deferredIds: [], expanded: [{ node: { bucket: 0, path: [] } }] });
    expect(answer.missing).toContain('nope');
    const bad = await rawStream(h.address, 'SyncService', 'PullBuckets', { collection: 'docs', expand: ['zz'] });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('gRPC server limits, deadlines and auth', () => {
  const keys: Record<string, Principal> = {
    'key-rw': { keyId: 'rw', collections: '*', access: 'read-write' },
    'key-ro': { keyId: 'ro', collections: '*', access: 'read' },
  };
  let h: GrpcHarness;
  let slowAuthMs = 0;

  beforeAll(async () => {
    h = await startGrpcHarness({
      messageBytesMax: 64 * 1024,
      authenticate: async (headers) => {
        if (slowAuthMs > 0) await new Promise((resolve) => setTimeout(resolve, slowAuthMs));
        const presented = headers['x-api-key'] ?? headers.authorization?.replace(/^Bearer /, '');
        if (presented === undefined) throw new HyperspaceError('unauthenticated', 'missing API key: send authorization: Bearer <key> or x-api-key');
        const principal = keys[presented];
        if (!principal) throw new HyperspaceError('unauthenticated', 'unknown API key');
        return principal;
      },
    });
    await h.db.createCollection('small', { dimension: 4, metric: 'l2' });
  });
  afterAll(() => h.close());

  it('refuses calls without a key (UNAUTHENTICATED) and writes with a read-only key (PERMISSION_DENIED)', async () => {
    const anonymous = h.client({ retry: { attemptsMax: 1 } });
    const refused = await expectClientError(() => anonymous.count('small'), 'unauthenticated', 'missing API key: send authorization: Bearer <key> or x-api-key');
    expect(refused.status).toBe(grpc.status.UNAUTHENTICATED);
    const reader = h.client({ apiKey: 'key-ro', retry: { attemptsMax: 1 } });
    expect(await reader.count('small')).toBe(0);
    const denied = await expectClientError(() => reader.upsert('small', [{ id: 'a', vector: [0, 0, 0, 1] }]), 'forbidden',
      'key ro is read-only: upsert needs read-write access');
    expect(denied.status).toBe(grpc.status.PERMISSION_DENIED);
    const writer = h.client({ apiKey: 'key-rw' });
    expect((await writer.upsert('small', [{ id: 'a', vector: [0, 0, 0, 1] }])).seq).toBe(1);
    const apiKeyHeader = new grpc.Metadata();
    apiKeyHeader.set('x-api-key', 'key-ro');
    expect((await rawCall(h.address, 'PointsService', 'Count', { collection: 'small' }, apiKeyHeader)).count).toBe(1);
  });

  it('answers a message over the size limit with RESOURCE_EXHAUSTED, kind too_large, not retried', async () => {
    const writer = h.client({ apiKey: 'key-rw', messageBytesMax: 1024 * 1024 });
    const points = Array.from({ length: 5000 }, (_, i) => ({ id: `p${i}`, vector: [i, 0, 0, 1] }));
    const error = await expectClientError(() => writer.upsert('small', points), 'too_large', /larger than max/);
    expect(error.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await h.db.collection('small').count()).toBe(1);
  });

  it('honours the deadline: DEADLINE_EXCEEDED, and the late write is never started', async () => {
    const writer = h.client({ apiKey: 'key-rw', deadlineMs: 100 });
    slowAuthMs = 300;
    try {
      const error = await expectClientError(() => writer.upsert('small', [{ id: 'late', vector: [1, 1, 1, 1] }]), 'deadline', /^Deadline exceeded/);
      expect(error.status).toBe(grpc.status.DEADLINE_EXCEEDED);
      await new Promise((resolve) => setTimeout(resolve, 400));
    } finally {
      slowAuthMs = 0;
    }
    expect(await h.db.collection('small').get('late')).toBeNull();
    expect(h.db.collection('small').describe().lastSeq).toBe(1);
  });
});

describe('gRPC server with the API-key authenticator and shared metrics', () => {
  const secret = 'hs_k1_0123456789abcdef';
  let h: GrpcHarness;
  const metrics = new Metrics();

  beforeAll(async () => {
    const authenticator = await Authenticator.open({
      keys: [{
        id: 'k1', name: 'test', hash: hashKey(secret), collections: ['limited'], access: 'read-write',
        rate: { perSecond: 1, burst: 1 }, createdAt: new Date(0).toISOString(), revokedAt: null,
      }],
    });
    h = await startGrpcHarness({
      metrics,
      authenticate: (headers) => authenticator.authenticate({ authorization: headers.authorization, apiKey: headers['x-api-key'] }),
    });
    await h.db.createCollection('limited', { dimension: 2, metric: 'l2' });
    await h.db.createCollection('other', { dimension: 2, metric: 'l2' });
  });
  afterAll(() => h.close());

  it('answers a rate-limited key with overloaded and retry-after; the SDK waits that long and retries', async () => {
    const once = h.client({ apiKey: secret, retry: { attemptsMax: 1 } });
    expect(await once.count('limited')).toBe(0);
    const limited = await expectClientError(() => once.count('limited'), 'overloaded', /^rate limit exceeded for key k1: 1 requests\/s, burst 1; retry after /);
    expect(limited.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    const patient = h.client({ apiKey: secret, retry: { attemptsMax: 3, delayMsBase: 1, delayMsMax: 2 } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await patient.count('limited')).toBe(0);
    const started = Date.now();
    expect(await patient.count('limited')).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  it('scopes keys to collections and records every call in the shared metrics', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const client = h.client({ apiKey: secret, retry: { attemptsMax: 1 } });
    await expectClientError(() => client.count('other'), 'forbidden', 'key k1 has no access to collection=other');
    const text = metrics.render();
    expect(text).toMatch(/hyperspace_requests_total\{transport="grpc",operation="count",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/hyperspace_requests_total\{transport="grpc",operation="count",outcome="overloaded"\} [1-9]/);
    expect(text).toMatch(/hyperspace_requests_total\{transport="grpc",operation="count",outcome="forbidden"\} 1/);
  });
});
