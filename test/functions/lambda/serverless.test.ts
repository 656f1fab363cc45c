// The serverless deployment end to end on real protocol peers (DynamoDB Local
// with its stream, s3rver), started by the harness: the Lambda handlers are
// invoked with the event shapes Lambda sends. A client upserts through the
// function-URL handler (→ WAL items in DynamoDB); a poller reads the table's
// real stream and invokes the indexer handler (→ segment in S3 → manifest);
// a fresh worker with an empty /tmp cache then finds the records.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, type KeyRecord } from '../../../functions/auth/keys-file.ts';
import type { FunctionUrlEvent } from '../../../functions/http/lambda.ts';
import { createCompactorHandler } from '../../../functions/lambda/compactor.ts';
import { createHttpHandler, requestTooLargeMessage, type AuthMode } from '../../../functions/lambda/http.ts';
import { keysObjectKey } from '../../../functions/lambda/keys-object.ts';
import { createIndexerHandler, type StreamRecord } from '../../../functions/lambda/indexer.ts';
import type { Stores } from '../../../functions/lambda/indexing.ts';
import type { Logger } from '../../../functions/lambda/log.ts';
import { SegmentCache, type SegmentCacheOptions } from '../../../functions/lambda/segment-cache.ts';
import { importToDeployment } from '../../../functions/aws-import.ts';
import { DynamoLogStore } from '../../../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../../../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../../harness/emulators.ts';
import { StreamPoller } from './stream-poller.ts';

const secret = 'hs_k1_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const readOnlySecret = 'hs_k2_00112233445566778899aabbccddeeff';
const key = (id: string, s: string, access: KeyRecord['access']): KeyRecord => ({
  id, name: id, hash: hashKey(s), collections: '*', access, rate: { perSecond: 0, burst: 0 }, createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null,
});

let emulators: Emulators;
let table: string;
let bucket: string;
const directories: string[] = [];
const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const log: Logger = (level, message, fields = {}) => void lines.push({ level, message, fields });

beforeAll(async () => {
  emulators = await startEmulators();
  table = await emulators.newTable();
  bucket = await emulators.newBucket();
  const keys = { version: 1, keys: [key('k1', secret, 'read-write'), key('k2', readOnlySecret, 'read')] };
  await s3().put(keysObjectKey, new TextEncoder().encode(JSON.stringify(keys)));
});
afterAll(async () => {
  await emulators?.stop();
  for (const d of directories) await rm(d, { recursive: true, force: true });
});

function s3(): S3ObjectStore {
  return new S3ObjectStore({ bucket, client: emulators.s3Client() });
}

/** What one Lambda container makes: the stores, the object store behind a fresh /tmp cache. */
async function containerStores(calls?: string[], cacheOptions: Partial<SegmentCacheOptions> = {}): Promise<Stores & { cache: SegmentCache }> {
  const directory = await mkdtemp(join(tmpdir(), 'hyperspace-lambda-cache-'));
  directories.push(directory);
  const inner = s3();
  const cache = new SegmentCache(inner, { directory, bytesMax: 64 * 1024 * 1024, ...cacheOptions });
  const logStore = new DynamoLogStore({ table, objects: inner, client: emulators.dynamoClient() });
  if (!calls) return { objects: cache, log: logStore, cache };
  // Records every store call a request causes (the keys object aside).
  const spy = <T extends object>(target: T, name: string): T => new Proxy(target, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!(name === 'objects' && args[0] === keysObjectKey)) calls.push(`${name}.${String(p)}`);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { objects: spy(cache, 'objects'), log: spy(logStore, 'log'), cache };
}

function event(method: string, path: string, options: { body?: unknown; key?: string | null; rawBody?: string } = {}): FunctionUrlEvent {
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'abc.lambda-url.us-east-1.on.aws' };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? secret}`;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return {
    version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '', headers,
    requestContext: { http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'test' }, requestId: 'r1' },
    ...(body === undefined ? {} : { body }), isBase64Encoded: false,
  } as FunctionUrlEvent;
}

async function worker(auth: AuthMode = 'keys', calls?: string[], cacheOptions: Partial<SegmentCacheOptions> = {}) {
  const stores = await containerStores(calls, cacheOptions);
  const handler = createHttpHandler({ stores: async () => stores, auth, log });
  const call = async (method: string, path: string, options: Parameters<typeof event>[2] = {}) => {
    const result = await handler(event(method, path, options), { awsRequestId: 'req' });
    return { status: result.statusCode, body: JSON.parse(result.body) as any };
  };
  return { call, cache: stores.cache, handlerRaw: (e: FunctionUrlEvent) => handler(e) };
}

const vector = (i: number) => Array.from({ length: 8 }, (_, d) => Math.sin(i * 7 + d));
const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vector(from + i), metadata: { i: from + i } }));

describe('serverless: function URL → WAL → stream → indexer → S3 → a fresh worker', () => {
  let poller: StreamPoller;
  let walRecords: StreamRecord[] = [];
  const indexer = async () => createIndexerHandler({ stores: async () => containerStores(), log, owner: 'indexer-test' });

  it('serves writes and read-your-writes before anything is indexed, on the writing worker and on another', async () => {
    poller = await StreamPoller.open(emulators.dynamoClient(), emulators.dynamoEndpoint, table);
    const a = await worker();
    expect(await a.call('POST', '/v1/collections', { body: { name: 'docs', dimension: 8, metric: 'l2' } })).toMatchObject({ status: 200 });
    const up = await a.call('POST', '/v1/collections/docs/upsert', { body: { points: points(0, 40) } });
    expect(up).toMatchObject({ status: 200, body: { seq: 1 } });
    const found = await a.call('POST', '/v1/collections/docs/search', { body: { vector: vector(7), k: 1 } });
    expect(found.body.hits[0]).toMatchObject({ id: 'p7', distance: 0 });

    // A second container (another Lambda) sees the WAL tail too.
    const b = await worker();
    expect((await b.call('POST', '/v1/collections/docs/search', { body: { vector: vector(9), k: 1 } })).body.hits[0].id).toBe('p9');
    expect((await b.call('GET', '/v1/collections/docs')).body.collection).toMatchObject({ count: 40, segments: 0, tailLength: 40 });
  });

  it('indexes on the stream\'s wake-up: a segment in S3 and a manifest, the WAL read by the indexer itself', async () => {
    const records = await poller.poll();
    walRecords = records.filter((r) => r.eventName === 'INSERT' && r.dynamodb?.Keys?.pk?.S?.startsWith('wal#'));
    expect(walRecords.length).toBe(1);
    expect(await (await indexer())({ Records: records })).toEqual({ batchItemFailures: [] });
    const segments = await s3().list('collections/docs/segments/');
    expect(segments).toHaveLength(1);
    const logStore = new DynamoLogStore({ table, objects: s3(), client: emulators.dynamoClient() });
    expect((await logStore.getPointer('docs'))?.version).toBe(1);
  });

  it('changes nothing when stream records come twice, late and out of order, or are not WAL inserts', async () => {
    const logStore = new DynamoLogStore({ table, objects: s3(), client: emulators.dynamoClient() });
    const pointer = await logStore.getPointer('docs');
    const segments = await s3().list('collections/docs/segments/');
    // The indexer's own writes (pointer, lease) are on the stream too: not wake-ups.
    const own = await poller.poll();
    expect(own.length).toBeGreaterThan(0);
    const handler = await indexer();
    const shuffled = [...walRecords, ...own, ...walRecords].reverse();
    expect(await handler({ Records: shuffled })).toEqual({ batchItemFailures: [] });
    expect(await handler({ Records: walRecords })).toEqual({ batchItemFailures: [] });
    expect(await logStore.getPointer('docs')).toEqual(pointer);
    expect(await s3().list('collections/docs/segments/')).toEqual(segments);
  });

  it('answers a search from a fresh worker with an empty cache out of the segment it downloads once', async () => {
    const fresh = await worker();
    expect(fresh.cache.describe()).toMatchObject({ files: 0, downloads: 0 });
    const found = await fresh.call('POST', '/v1/collections/docs/search', { body: { vector: vector(31), k: 3, include: ['metadata'] } });
    expect(found.status).toBe(200);
    expect(found.body.hits[0]).toMatchObject({ id: 'p31', distance: 0, metadata: { i: 31 } });
    expect(found.body.consistency).toEqual({ manifestVersion: 1, walSeq: 1 });
    expect((await fresh.call('GET', '/v1/collections/docs')).body.collection).toMatchObject({ count: 40, segments: 1, tailLength: 0 });
    await fresh.call('POST', '/v1/collections/docs/search', { body: { vector: vector(3), k: 1 } });
    expect(fresh.cache.describe()).toMatchObject({ files: 1, downloads: 1 });
  });

  it('keeps a warm worker current: the indexer\'s manifest replaces the tail it folded', async () => {
    const warm = await worker();
    await warm.call('POST', '/v1/collections/docs/upsert', { body: { points: points(40, 10) } });
    expect((await warm.call('GET', '/v1/collections/docs')).body.collection).toMatchObject({ count: 50, segments: 1, tailLength: 10 });
    expect(await (await indexer())({ Records: await poller.poll() })).toEqual({ batchItemFailures: [] });
    expect((await warm.call('GET', '/v1/collections/docs')).body.collection).toMatchObject({ count: 50, segments: 2, tailLength: 0, indexedSeq: 2 });
    expect((await warm.call('POST', '/v1/collections/docs/search', { body: { vector: vector(45), k: 1 } })).body.hits[0].id).toBe('p45');
  });

  it('flushes and compacts through the function URL (an indexing pass under a lease), and the compactor merges and collects', async () => {
    const w = await worker();
    await w.call('POST', '/v1/collections/docs/upsert', { body: { points: points(50, 5) } });
    expect(await w.call('POST', '/v1/collections/docs/flush', { body: {} })).toMatchObject({ status: 200, body: { collection: { count: 55, segments: 3, tailLength: 0 } } });
    expect(await w.call('POST', '/v1/collections/docs/compact', { body: {} })).toMatchObject({ status: 200, body: { collection: { count: 55, segments: 1 } } });
    const readOnly = await w.call('POST', '/v1/collections/docs/flush', { body: {}, key: readOnlySecret });
    expect(readOnly).toMatchObject({ status: 403, body: { error: { kind: 'forbidden', message: 'key k2 is read-only: flush needs read-write access' } } });
    const compactor = createCompactorHandler({ stores: async () => containerStores(), log, owner: 'compactor-test' });
    expect(await compactor({})).toMatchObject({ collections: 1, compacted: ['docs'], skipped: [], failed: [] });
    await poller.poll();
  });

  it('reports the records of a collection it could not index as batch item failures, and only those', async () => {
    const w = await worker();
    expect((await w.call('POST', '/v1/collections', { body: { name: 'busy', dimension: 8, metric: 'l2' } })).status).toBe(200);
    await w.call('POST', '/v1/collections/busy/upsert', { body: { points: points(0, 3) } });
    await w.call('POST', '/v1/collections/docs/upsert', { body: { points: points(60, 3) } });
    const logStore = new DynamoLogStore({ table, objects: s3(), client: emulators.dynamoClient() });
    await logStore.acquireLease('busy', 'another-indexer', 60_000);
    const records = await poller.poll();
    const busy = records.filter((r) => r.dynamodb?.Keys?.pk?.S?.startsWith('wal#busy#')).map((r) => r.dynamodb!.SequenceNumber!);
    expect(busy).toHaveLength(1);
    expect(await (await indexer())({ Records: records })).toEqual({ batchItemFailures: busy.map((itemIdentifier) => ({ itemIdentifier })) });
    expect(lines.some((l) => l.level === 'warn' && l.message === 'indexing failed: the records go back to the stream for a retry' && l.fields.collection === 'busy')).toBe(true);
    expect((await w.call('GET', '/v1/collections/docs')).body.collection).toMatchObject({ tailLength: 0 });
  });
});

describe('serverless: importing more than 6 MB from S3', () => {
  it('streams a 9 MB JSONL object from S3 into the WAL; the indexer folds it and a fresh worker searches it', async () => {
    const poller = await StreamPoller.open(emulators.dynamoClient(), emulators.dynamoEndpoint, table);
    await poller.poll();
    const w = await worker();
    expect((await w.call('POST', '/v1/collections', { body: { name: 'bulk', dimension: 256, metric: 'cosine' } })).status).toBe(200);
    const wide = (i: number) => Array.from({ length: 256 }, (_, d) => Number(Math.sin(i * 13 + d * 0.7).toFixed(6)));
    const lines = Array.from({ length: 4200 }, (_, i) => JSON.stringify({ id: `b${i}`, vector: wide(i), metadata: { i } })).join('\n');
    expect(lines.length).toBeGreaterThan(6 * 1024 * 1024);
    await s3().put('imports/bulk.jsonl', new TextEncoder().encode(lines));
    const stores = await containerStores();
    const result = await importToDeployment({ stores, collection: 'bulk', source: `s3://${bucket}/imports/bulk.jsonl`, s3: emulators.s3Client() });
    expect(result).toEqual({ imported: 4200, lastSeq: 5 });
    expect(await (await createIndexerHandler({ stores: async () => containerStores(), log, owner: 'indexer-bulk' }))({ Records: await poller.poll() }))
      .toEqual({ batchItemFailures: [] });
    const fresh = await worker();
    expect((await fresh.call('GET', '/v1/collections/bulk')).body.collection).toMatchObject({ count: 4200, segments: 1, tailLength: 0 });
    expect((await fresh.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(1234), k: 1 } })).body.hits[0].id).toBe('b1234');

    // A worker that opens segments partially (docs/format/segment.md §8): ranged GETs answer first.
    const cold = await worker('keys', undefined, { partialOpenBytesMin: 0 });
    const answer = await cold.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(777), k: 3, include: ['vector'] } });
    expect(answer.body.hits[0]).toMatchObject({ id: 'b777', distance: expect.closeTo(0, 5) });
    expect(cold.cache.describe().rangedReads).toBe(2); // the head (every small section, one GET), then the nearest clusters
    const point = await cold.call('GET', '/v1/collections/bulk/points/b778');
    expect(point.body).toMatchObject({ id: 'b778', metadata: { i: 778 } });
    expect(cold.cache.describe()).toMatchObject({ files: 1, downloads: 1 });
    const ranged = cold.cache.describe().rangedReads;
    expect((await cold.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(99), k: 1 } })).body.hits[0].id).toBe('b99');
    expect(cold.cache.describe().rangedReads).toBe(ranged);

    // A segment larger than the whole cache: cold searches go on; reads that need the file fail with the
    // cache's reason, and the download is not tried again on every query.
    const small = await worker('keys', undefined, { partialOpenBytesMin: 0, bytesMax: 1024 * 1024 });
    const downloadsOf = () => small.cache.describe().downloads;
    expect((await small.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(42), k: 1 } })).body.hits[0].id).toBe('b42');
    const refused = await small.call('GET', '/v1/collections/bulk/points/b42');
    expect(refused.status).toBe(413);
    expect(refused.body.error.message).toMatch(/^segment larger than the whole segment cache: key=collections\/bulk\/segments\/chunk_[0-9a-f]{8}-[0-9A-Z]{26}\.hyp bytes=\d+ cacheBytesMax=1048576 \(raise the function's ephemeral storage and HYPERSPACE_CACHE_BYTES\)$/);
    for (const i of [43, 44]) expect((await small.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(i), k: 1 } })).body.hits[0].id).toBe(`b${i}`);
    await new Promise((resolve) => setTimeout(resolve, 500)); // time for any background download the searches started
    expect(downloadsOf()).toBe(1); // fetched once, refused by the cache, not fetched again

    // Sync answers (records and Merkle leaves) wait for the whole file on a cold worker instead of failing.
    const syncing = await worker('keys', undefined, { partialOpenBytesMin: 0 });
    await syncing.call('POST', '/v1/collections/bulk/search', { body: { vector: wide(5), k: 1 } });
    const changes = await syncing.handlerRaw(event('POST', '/v1/collections/bulk/sync/changes', { body: { afterSeq: 4, limit: 10 } }));
    expect(changes.statusCode).toBe(200);
    expect(syncing.cache.describe()).toMatchObject({ downloads: 1 });
  });
});

describe('serverless: the function URL\'s edges', () => {
  it('refuses a body over 6 MB with 413 and what to do instead, before any store is touched', async () => {
    const calls: string[] = [];
    const w = await worker('keys', calls);
    const big = JSON.stringify({ points: [{ id: 'x', vector: [0], metadata: { pad: 'a'.repeat(6 * 1024 * 1024) } }] });
    expect(await w.call('POST', '/v1/collections/docs/upsert', { rawBody: big })).toEqual({
      status: 413, body: { error: { kind: 'too_large', message: requestTooLargeMessage } },
    });
    expect(requestTooLargeMessage).toBe('request body over the Lambda function URL limit of 6 MB: split the batch into several requests or import from S3 (docs/aws.md)');
    expect(calls).toEqual([]);
  });

  it('never reaches the engine without a valid key: no key, an unknown key, a malformed header', async () => {
    const calls: string[] = [];
    const w = await worker('keys', calls);
    expect(await w.call('POST', '/v1/collections/docs/search', { body: { vector: vector(1) }, key: null })).toEqual({
      status: 401, body: { error: { kind: 'unauthenticated', message: 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"' } },
    });
    expect(await w.call('POST', '/v1/collections/docs/upsert', { body: { points: points(0, 1) }, key: 'hs_nope_0000' })).toEqual({
      status: 401, body: { error: { kind: 'unauthenticated', message: 'invalid or revoked API key' } },
    });
    const malformed = await w.handlerRaw({ ...event('GET', '/v1/collections', { key: null }), headers: { authorization: 'Basic dXNlcjpwdw==' } });
    expect(malformed).toMatchObject({ statusCode: 401 });
    expect(JSON.parse(malformed.body).error.message).toBe('Authorization header must be "Bearer <key>"');
    expect(calls).toEqual([]);
    // With a valid key the worker opens the stores; the next request without one still touches nothing.
    expect(await w.call('GET', '/v1/collections')).toMatchObject({ status: 200 });
    expect(calls.length).toBeGreaterThan(0);
    calls.length = 0;
    expect((await w.call('DELETE', '/v1/collections/docs', { key: 'hs_nope_0000' })).status).toBe(401);
    expect(calls).toEqual([]);
  });

  it('in IAM mode trusts the invocation (AWS checked SigV4 before invoking) and serves without a key', async () => {
    const w = await worker('iam');
    expect(await w.call('GET', '/v1/collections/docs', { key: null })).toMatchObject({ status: 200, body: { collection: { name: 'docs' } } });
  });

  it('answers health without a key and without opening anything', async () => {
    const calls: string[] = [];
    const w = await worker('keys', calls);
    expect(await w.call('GET', '/v1/health', { key: null })).toEqual({ status: 200, body: { status: 'serving', collections: 0 } });
    expect(calls).toEqual([]);
  });
});
