// Region replication on real protocol peers: a home region (DynamoDB Local +
// s3rver) and a replica region (another DynamoDB Local + another s3rver). The
// home is written through the engine as its API and indexer would; the
// scheduled replicator handler copies what the replica lacks; the replica is
// read through its own read-only HTTP worker and a fresh engine, and its
// digest is compared with the home's at the same seq (docs/aws.md "Region replicas").
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HyperspaceDB, HyperspaceError, type CollectionConfigInput } from '../../../engine/index.ts';
import { replicateCollection, type RegionReplicatorOptions, type StorePair } from '../../../engine/region-replicator.ts';
import { DynamoLogStore } from '../../../engine/stores/dynamo-log-store.ts';
import { objectNotFound, type ObjectStore } from '../../../engine/stores/object-store.ts';
import type { LogStore } from '../../../engine/stores/log-store.ts';
import { S3ObjectStore } from '../../../engine/stores/s3-object-store.ts';
import { hashKey, type KeyRecord } from '../../../functions/auth/keys-file.ts';
import type { FunctionUrlEvent } from '../../../functions/http/lambda.ts';
import { keysObjectKey } from '../../../functions/lambda/keys-object.ts';
import type { Logger } from '../../../functions/lambda/log.ts';
import { createReplicaHttpHandler, handler as replicaHttpEntry, readOnlyStores } from '../../../functions/lambda/replica-http.ts';
import { createReplicatorHandler, handler as replicatorEntry } from '../../../functions/lambda/replicator.ts';
import { SegmentCache } from '../../../functions/lambda/segment-cache.ts';
import { startEmulators, type Emulators } from '../../harness/emulators.ts';
import { expectKindError } from '../../helpers/expect-kind.ts';

const secret = 'hs_k1_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const keyRecord: KeyRecord = {
  id: 'k1', name: 'k1', hash: hashKey(secret), collections: '*', access: 'read-write', rate: { perSecond: 0, burst: 0 },
  createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null,
};
const config: CollectionConfigInput = { dimension: 8, metric: 'l2' };
const vector = (i: number) => Array.from({ length: 8 }, (_, d) => Math.sin(i * 7 + d));
const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vector(from + i), metadata: { i: from + i } }));

let homeRegion: Emulators;
let replicaRegion: Emulators;
let home: StorePair;
let replica: StorePair;
let homeDb: HyperspaceDB;
const directories: string[] = [];
const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const log: Logger = (level, message, fields = {}) => void lines.push({ level, message, fields });

async function stores(emulators: Emulators): Promise<StorePair> {
  const objects = new S3ObjectStore({ bucket: await emulators.newBucket(), client: emulators.s3Client() });
  return { objects, log: new DynamoLogStore({ table: await emulators.newTable(), objects, client: emulators.dynamoClient() }) };
}

beforeAll(async () => {
  [homeRegion, replicaRegion] = await Promise.all([startEmulators(), startEmulators()]);
  [home, replica] = await Promise.all([stores(homeRegion), stores(replicaRegion)]);
  await replica.objects.put(keysObjectKey, new TextEncoder().encode(JSON.stringify({ version: 1, keys: [keyRecord] })));
  homeDb = await HyperspaceDB.open(home, { indexer: false, owner: 'home-indexer' });
}, 180_000);
afterAll(async () => {
  await homeDb?.close();
  await Promise.all([homeRegion?.stop(), replicaRegion?.stop()]);
  for (const d of directories) await rm(d, { recursive: true, force: true });
});

const replicator = (options: { gcGraceMs?: number } = {}) =>
  createReplicatorHandler({ home: async () => home, replica: async () => replica, homeRegion: 'us-east-1', log, owner: 'replicator-test', ...options });

function engineOptions(overrides: Partial<RegionReplicatorOptions> = {}): RegionReplicatorOptions {
  return { home, replica, owner: `replicator-${Math.random().toString(36).slice(2)}`, ...overrides };
}

/** A fresh reader of the replica region (a cold worker). */
async function replicaReader<T>(read: (db: HyperspaceDB) => Promise<T>): Promise<T> {
  const db = await HyperspaceDB.open(replica, { indexer: false, leases: false });
  try {
    return await read(db);
  } finally {
    await db.close();
  }
}

/** The home's digest and the replica's: equal roots at the same home seq. */
async function expectConverged(name: string): Promise<void> {
  const leader = await homeDb.collection(name).digest();
  const copy = await replicaReader((db) => db.collection(name).digest());
  expect(copy.consistency.walSeq).toBe(leader.consistency.walSeq);
  expect(copy.root).toBe(leader.root);
  expect(copy.buckets).toEqual(leader.buckets);
}

/** `target` with some of its methods replaced (a fault, a stale read, a race), the others bound to it. */
function overriding<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get(t, property) {
      if (Object.hasOwn(methods, property)) return methods[property as keyof T];
      const value = Reflect.get(t, property, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** Segment reads from the home (or writes to the replica) corrupted while `when()` says so. */
const corruptingGets = (inner: ObjectStore, when: () => boolean): ObjectStore =>
  overriding(inner, { get: async (key: string) => (isSegment(key) && when() ? flipByte(await inner.get(key)) : inner.get(key)) });
const corruptingPuts = (inner: ObjectStore, when: () => boolean): ObjectStore =>
  overriding(inner, { put: (key: string, bytes: Uint8Array) => inner.put(key, isSegment(key) && when() ? flipByte(bytes) : bytes) });

/** A home collection with `n` points in one segment. */
async function indexedCollection(name: string, n: number, input: CollectionConfigInput = config) {
  const c = await homeDb.createCollection(name, input);
  await c.upsert(points(0, n));
  await c.flush();
  return c;
}

/** One bit pattern changed in the header's Merkle root (offset 40): covered by the header checksum. */
function flipByte(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[40] ^= 0xff;
  return copy;
}

const isSegment = (key: string) => key.includes('/segments/');

function event(method: string, path: string, options: { body?: unknown; key?: string | null } = {}): FunctionUrlEvent {
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'abc.lambda-url.eu-west-1.on.aws' };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? secret}`;
  return {
    rawPath: path, rawQueryString: '', headers, requestContext: { http: { method } },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }), isBase64Encoded: false,
  };
}

/** A replica function-URL worker (one container: stores behind a fresh /tmp cache). */
async function replicaWorker() {
  const directory = await mkdtemp(join(tmpdir(), 'hyperspace-replica-cache-'));
  directories.push(directory);
  const containerStores = { objects: new SegmentCache(replica.objects, { directory, bytesMax: 64 * 1024 * 1024 }), log: replica.log };
  const handler = createReplicaHttpHandler({ stores: async () => containerStores, auth: 'keys', homeRegion: 'us-east-1', log });
  return async (method: string, path: string, options: Parameters<typeof event>[2] = {}) => {
    const result = await handler(event(method, path, options), { awsRequestId: 'req' });
    return { status: result.statusCode, body: JSON.parse(result.body) as any };
  };
}

describe('region replication: the scheduled replicator between two S3 servers and two DynamoDB Local instances', () => {
  it('copies a collection the first time: every segment verified, the WAL tail, the config; digests equal at the home seq', async () => {
    const docs = await homeDb.createCollection('docs', config);
    await docs.upsert(points(0, 30));
    await docs.flush();
    await docs.upsert(points(30, 10));
    await docs.flush();
    await docs.upsert(points(40, 5)); // the tail
    await docs.delete(['p3', 'p41']); // one in a segment, one in the tail
    const homeManifest = (await home.log.getPointer('docs'))!;
    const homeSegments = await home.objects.list('collections/docs/segments/');
    expect(homeSegments).toHaveLength(2);

    const result = await replicator()();
    expect(result).toMatchObject({ collections: 1, committed: ['docs'], failed: [], segmentsCopied: 2 });
    let segmentBytes = 0;
    for (const key of homeSegments) segmentBytes += (await home.objects.head(key))!.size;
    expect(result.bytesCopied).toBe(segmentBytes);
    const line = lines.find((l) => l.message === 'replicated: committed' && l.fields.collection === 'docs')!;
    const homeSeq = await home.log.lastSeq('docs');
    expect(line.fields).toMatchObject({ homeRegion: 'us-east-1', sourceVersion: homeManifest.version, sourceSeq: homeSeq, segmentsCopied: 2, bytesCopied: segmentBytes, tailRecords: 6 });
    expect(line.fields.tailSegmentBytes).toBeGreaterThan(0);
    expect(lines.some((l) => l.message === 'replication run' && l.level === 'info' && l.fields.bytesCopied === segmentBytes)).toBe(true);

    // The same objects under the same keys, plus the tail segment built in the replica region.
    const copied = await replica.objects.list('collections/docs/segments/');
    expect(copied).toHaveLength(3);
    for (const key of homeSegments) expect(copied).toContain(key);
    expect(await replica.log.getCollectionConfig('docs')).toBe(await home.log.getCollectionConfig('docs'));
    await expectConverged('docs');
    const described = await replicaReader(async (db) => db.collection('docs').describe());
    expect(described).toMatchObject({ count: 43, replica: { sourceSeq: homeSeq } });
  });

  it('copies nothing when run again: only the two pointers, the replica\'s manifest and the home seq are read', async () => {
    const result = await replicator()();
    expect(result).toMatchObject({ committed: [], upToDate: ['docs'], segmentsCopied: 0, bytesCopied: 0, bytesFetched: 0 });
    const pointer = await replica.log.getPointer('docs');
    expect((await replicator()()).upToDate).toEqual(['docs']);
    expect(await replica.log.getPointer('docs')).toEqual(pointer);
  });

  it('copies only the new segment after the home indexes more, and counts its bytes', async () => {
    const docs = homeDb.collection('docs');
    await docs.upsert(points(50, 20));
    await docs.flush();
    const before = new Set(await replica.objects.list('collections/docs/segments/'));
    const fresh = (await home.objects.list('collections/docs/segments/')).filter((key) => !before.has(key));
    expect(fresh).toHaveLength(1);
    const result = await replicator()();
    expect(result).toMatchObject({ committed: ['docs'], segmentsCopied: 1, bytesCopied: (await home.objects.head(fresh[0]))!.size });
    await expectConverged('docs');
  });

  it('ships the WAL tail: a replica worker reads the home\'s acknowledged writes up to its last seq, a warm one after the next run too', async () => {
    const docs = homeDb.collection('docs');
    await docs.upsert([{ id: 'fresh', vector: vector(1000), metadata: { tail: true } }]);
    await docs.delete(['p10']);
    await replicator()();
    const worker = await replicaWorker();
    const found = await worker('POST', '/v1/collections/docs/search', { body: { vector: vector(1000), k: 1, include: ['metadata'] } });
    expect(found).toMatchObject({ status: 200, body: { hits: [{ id: 'fresh', distance: 0, metadata: { tail: true } }] } });
    expect(found.body.consistency.walSeq).toBe(await home.log.lastSeq('docs'));
    expect(await worker('GET', '/v1/collections/docs/points/p10')).toMatchObject({ status: 404 });

    // The same warm worker after the home writes again and the replicator runs: the new manifest and the marker's seq.
    await docs.upsert([{ id: 'fresher', vector: vector(2000), metadata: {} }]);
    await replicator()();
    const again = await worker('POST', '/v1/collections/docs/search', { body: { vector: vector(2000), k: 1 } });
    expect(again.body.hits[0].id).toBe('fresher');
    const homeSeq = await home.log.lastSeq('docs');
    expect((await worker('GET', '/v1/collections/docs')).body.collection.replica).toMatchObject({ sourceSeq: homeSeq });
    const digest = await worker('GET', '/v1/collections/docs/digest');
    expect(digest.body).toMatchObject({ root: (await docs.digest()).root, consistency: { walSeq: homeSeq } });
  });

  it('replicates deletes through compaction without resurrecting them, and collects what no manifest names after the commit', async () => {
    const docs = homeDb.collection('docs');
    await docs.delete(['p0', 'p31', 'p55', 'fresh']);
    await docs.flush();
    await docs.compact();
    expect(await replicator({ gcGraceMs: 0 })()).toMatchObject({ committed: ['docs'], failed: [] });
    await replicaReader(async (db) => {
      for (const id of ['p0', 'p3', 'p10', 'p31', 'p41', 'p55', 'fresh']) expect(await db.collection('docs').get(id)).toBeNull();
      expect((await db.collection('docs').get('p1'))?.metadata).toEqual({ i: 1 });
    });
    await expectConverged('docs');
    // Only the current manifest and its segments remain (grace 0), and they are the home's.
    const manifest = JSON.parse(new TextDecoder().decode(await replica.objects.get((await replica.log.getPointer('docs'))!.key)));
    expect(await replica.objects.list('collections/docs/segments/')).toEqual(manifest.segments.map((s: { key: string }) => s.key).sort());
    expect(await replica.objects.list('collections/docs/manifests/')).toHaveLength(1);
    expect(manifest.segments).toHaveLength(1);
    expect(manifest.sourceVersion).toBe((await home.log.getPointer('docs'))!.version);
  });

  it('rejects a segment corrupted on its way from the home region and fetches it again; never commits one corrupted every time', async () => {
    const c = await indexedCollection('corrupt-in', 25);
    let corrupted = 0;
    const flaky = corruptingGets(home.objects, () => corrupted++ === 0);
    const report = await replicateCollection(engineOptions({ home: { objects: flaky, log: home.log } }), 'corrupt-in');
    expect(report).toMatchObject({ outcome: 'committed', segmentsCopied: 1, arrivalsRejected: 1 });
    expect(report.bytesFetched).toBeGreaterThan(2 * report.bytesCopied);
    await expectConverged('corrupt-in');

    await c.upsert(points(100, 25));
    await c.flush();
    const pointer = await replica.log.getPointer('corrupt-in');
    const broken = corruptingGets(home.objects, () => true);
    await expectKindError(HyperspaceError, () => replicateCollection(engineOptions({ home: { objects: broken, log: home.log } }), 'corrupt-in'), 'data',
      /^segment arrived corrupted 3 times from the home region, not committed: collection=corrupt-in key=(collections\/corrupt-in\/segments\/chunk_[0-9a-f]{8}-[0-9A-Z]{26}\.hyp): segment header checksum mismatch: file=\1$/);
    expect(await replica.log.getPointer('corrupt-in')).toEqual(pointer);
  });

  it('writes a segment again when it does not read back as written in the replica region; gives up after three', async () => {
    const c = await indexedCollection('corrupt-out', 25);
    let writes = 0;
    const flaky = corruptingPuts(replica.objects, () => writes++ === 0);
    const report = await replicateCollection(engineOptions({ replica: { objects: flaky, log: replica.log } }), 'corrupt-out');
    expect(report).toMatchObject({ outcome: 'committed', segmentsCopied: 1, arrivalsRejected: 1 });
    await expectConverged('corrupt-out');

    await c.upsert(points(100, 5));
    await c.flush();
    const broken = corruptingPuts(replica.objects, () => true);
    await expectKindError(HyperspaceError, () => replicateCollection(engineOptions({ replica: { objects: broken, log: replica.log } }), 'corrupt-out'), 'data',
      /^segment did not read back as written in the replica region 3 times, not committed: collection=corrupt-out key=collections\/corrupt-out\/segments\/chunk_/);
    // Nothing half-written stays behind under a home key.
    const homeKeys = await home.objects.list('collections/corrupt-out/segments/');
    const replicaKeys = new Set(await replica.objects.list('collections/corrupt-out/segments/'));
    expect(homeKeys.filter((key) => replicaKeys.has(key))).toHaveLength(1);
  });

  it('lets overlapping runs race safely: the lease lets one work, a run whose lease was taken over loses the pointer CAS and cleans up', async () => {
    const c = await indexedCollection('race', 20);
    await c.upsert(points(20, 3));
    const [a, b] = await Promise.all([replicator()(), replicator()()]);
    const outcomes = [a, b].map((r) => (r.committed.includes('race') ? 'committed' : r.busy.includes('race') ? 'busy' : r.upToDate.includes('race') ? 'up-to-date' : 'other'));
    expect(outcomes.filter((o) => o === 'committed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'other')).toHaveLength(0);
    await expectConverged('race');

    // Run A reads and copies, then loses its lease to run B, which commits first.
    await c.upsert(points(30, 3));
    const ownerA = 'replicator-a';
    let rival: Promise<unknown> | undefined;
    const slowLog = overriding(replica.log, {
      casPointer: async (...args: Parameters<LogStore['casPointer']>) => {
        await replica.log.releaseLease('race', ownerA, args[3]!.epoch!);
        rival ??= replicateCollection(engineOptions({ owner: 'replicator-b' }), 'race');
        expect(await rival).toMatchObject({ outcome: 'committed' });
        return replica.log.casPointer(...args);
      },
    });
    const lost = await replicateCollection(engineOptions({ owner: ownerA, replica: { objects: replica.objects, log: slowLog } }), 'race');
    expect(lost).toMatchObject({ outcome: 'lost' });
    const manifests = await replica.objects.list('collections/race/manifests/');
    const current = (await replica.log.getPointer('race'))!;
    expect(manifests).toContain(current.key);
    // A's manifest (the same version under its own epoch) was deleted.
    expect(manifests.filter((key) => key.includes(`/v${String(current.version).padStart(12, '0')}-`))).toEqual([current.key]);
    await expectConverged('race');
  });

  it('never moves a replica backwards: a home pointer older than the replica\'s, or a home behind its seq, commits nothing', async () => {
    const c = await indexedCollection('regress', 10);
    const older = (await home.log.getPointer('regress'))!;
    await c.upsert(points(10, 10));
    await c.flush();
    await replicator()();
    const pointer = await replica.log.getPointer('regress');
    // A stale read (or a restored home) that names the previous manifest.
    const stale = overriding(home.log, { getPointer: async () => older });
    await expectKindError(HyperspaceError, () => replicateCollection(engineOptions({ home: { objects: home.objects, log: stale } }), 'regress'), 'conflict',
      `home of collection=regress is behind its region replica: home at seq 2 manifest v${older.version}, replica reflects seq 2 manifest v${older.version + 1}; ` +
      'refusing to move the replica backwards (if the home collection was dropped and re-created, drop it in the replica region)');
    // Dropped and re-created at home between two runs, with the same config: its seqs start again at 1.
    await homeDb.dropCollection('regress');
    const again = await homeDb.createCollection('regress', config);
    await again.upsert(points(0, 1));
    const result = await replicator()();
    expect(result.failed).toEqual(['regress']);
    expect(lines.find((l) => l.message === 'replication failed' && l.fields.collection === 'regress')?.fields).toMatchObject({
      errorKind: 'conflict',
      error: 'home of collection=regress is behind its region replica: home at seq 1 manifest v0, replica reflects seq 2 manifest v2; ' +
        'refusing to move the replica backwards (if the home collection was dropped and re-created, drop it in the replica region)',
    });
    expect(await replica.log.getPointer('regress')).toEqual(pointer);
    await homeDb.dropCollection('regress');
  });

  it('drops a collection the home dropped, replaces one re-created with another config, and leaves one it did not write alone', async () => {
    await indexedCollection('gone', 5);
    const swapped = await homeDb.createCollection('swapped', config);
    await swapped.upsert(points(0, 5));
    await replicator()();
    expect(await replica.objects.list('collections/gone/')).not.toEqual([]);
    await homeDb.dropCollection('gone');
    await homeDb.dropCollection('swapped');
    const reborn = await homeDb.createCollection('swapped', { dimension: 4, metric: 'cosine' });
    await reborn.upsert([{ id: 'x', vector: [1, 2, 3, 4] }]);
    const result = await replicator()();
    expect(result.dropped).toEqual(['gone']);
    expect(result.committed).toContain('swapped');
    expect(await replica.log.listCollections()).not.toContain('gone');
    expect(await replica.objects.list('collections/gone/')).toEqual([]);
    expect(JSON.parse((await replica.log.getCollectionConfig('swapped'))!)).toMatchObject({ dimension: 4, metric: 'cosine' });
    await expectConverged('swapped');

    // A collection somebody made in the replica region by hand, with the name of a home collection.
    const local = await HyperspaceDB.open(replica, { indexer: false, owner: 'someone' });
    await (await local.createCollection('mine', config)).upsert(points(0, 2));
    await local.close();
    await homeDb.createCollection('mine', config);
    const refused = await replicator()();
    expect(refused.failed).toEqual(['mine']);
    expect(lines.find((l) => l.message === 'replication failed' && l.fields.collection === 'mine')?.fields).toMatchObject({
      errorKind: 'conflict',
      error: 'collection=mine in the replica region is not a region replica (it was not written by the replicator): it is left alone; drop it there to replicate the home collection',
    });
    await homeDb.dropCollection('mine');
    expect((await replicator()()).failed).toEqual(['mine']); // not dropped either
    expect(await replica.log.getCollectionConfig('mine')).not.toBeNull();
  });

  it('reads the home again when its indexer moves underneath, and gives up after three snapshots', async () => {
    const c = await indexedCollection('moving', 5);
    let misses = 0;
    const collected = (limit: number) => overriding(home.objects, {
      get: async (key: string) => {
        if (key.includes('/manifests/') && misses++ < limit) throw objectNotFound(key);
        return home.objects.get(key);
      },
    });
    expect(await replicateCollection(engineOptions({ home: { objects: collected(1), log: home.log } }), 'moving')).toMatchObject({ outcome: 'committed' });
    await c.upsert(points(5, 5));
    await c.flush();
    misses = 0;
    await expectKindError(HyperspaceError, () => replicateCollection(engineOptions({ home: { objects: collected(99), log: home.log } }), 'moving'), 'unavailable',
      /^home of collection=moving changed during 3 snapshots \(object not found: key=collections\/moving\/manifests\/v000000000002-e[0-9a-f]{8}\.json\); the next run retries$/);
    // A WAL that skips a seq is corruption, not a race.
    const gap = overriding(home.log, { read: async () => [] });
    await c.upsert(points(10, 1));
    await expectKindError(HyperspaceError, () => replicateCollection(engineOptions({ home: { objects: home.objects, log: gap } }), 'moving'), 'data',
      'home wal gap: collection=moving expected seq 3');
  });

  it('serves reads in the replica region and answers writes with 409 conflict naming the home region', async () => {
    const worker = await replicaWorker();
    expect((await worker('GET', '/v1/collections')).body.collections.map((c: { name: string }) => c.name)).toContain('docs');
    expect(await worker('GET', '/v1/collections/docs/points/p1')).toMatchObject({ status: 200, body: { id: 'p1', metadata: { i: 1 } } });
    const refusals: [string, string, unknown, string][] = [
      ['POST', '/v1/collections', { name: 'new', dimension: 8, metric: 'l2' }, 'read-only replica of home region us-east-1: send createCollection to the home region'],
      ['DELETE', '/v1/collections/docs', undefined, 'read-only replica of home region us-east-1: send deleteCollection to the home region (collection=docs)'],
      ['POST', '/v1/collections/docs/upsert', { points: points(900, 1) }, 'read-only replica of home region us-east-1: send upsert to the home region (collection=docs)'],
      ['POST', '/v1/collections/docs/delete', { ids: ['p1'] }, 'read-only replica of home region us-east-1: send delete to the home region (collection=docs)'],
      ['POST', '/v1/collections/docs/flush', {}, 'read-only replica of home region us-east-1: send flush to the home region (collection=docs)'],
      ['POST', '/v1/collections/docs/compact', {}, 'read-only replica of home region us-east-1: send compact to the home region (collection=docs)'],
    ];
    for (const [method, path, body, message] of refusals) {
      expect(await worker(method, path, { body })).toEqual({ status: 409, body: { error: { kind: 'conflict', message } } });
    }
    // The key is checked first.
    expect(await worker('POST', '/v1/collections/docs/upsert', { body: { points: [] }, key: null })).toMatchObject({ status: 401 });
    expect(await replicaReader(async (db) => (await db.collection('docs').get('p900')))).toBeNull();
    // Behind the handler, the stores refuse writes too.
    const guarded = readOnlyStores(replica, 'us-east-1');
    await expectKindError(HyperspaceError, () => guarded.log.append('docs', new Uint8Array(1)), 'conflict', 'read-only replica of home region us-east-1: send append to the home region');
    await expectKindError(HyperspaceError, () => guarded.objects.put('collections/docs/x', new Uint8Array(1)), 'conflict', 'read-only replica of home region us-east-1: send put to the home region');
    expect(await guarded.log.getPointer('docs')).toEqual(await replica.log.getPointer('docs'));
  });

  it('takes the home region from the environment the stack sets, and says so when it is missing', async () => {
    vi.stubEnv('HYPERSPACE_HOME_REGION', undefined);
    try {
      const message = 'environment variable HYPERSPACE_HOME_REGION is not set (the stack sets it: infra/)';
      await expectKindError(HyperspaceError, () => replicatorEntry({}), 'invalid', message);
      await expectKindError(HyperspaceError, () => replicaHttpEntry(event('GET', '/v1/health')), 'invalid', message);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
