// The SDK's sync calls against the real servers, over HTTP and gRPC on one
// database: digest, pullChanges and pullBuckets (streamed over gRPC) with the
// bytes each moved, and syncInto keeping an embedded replica converged —
// full copy, catch-up, repair — with the errors each path can give.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceClient } from '../../client/index.ts';
import { syncInto } from '../../client/replica.ts';
import { HyperspaceDB, type Collection } from '../../engine/index.ts';
import { decodeChanges, decodePulls } from '../../engine/sync.ts';
import { startGrpcServer, type GrpcServer } from '../../functions/grpc/server.ts';
import { expectClientError } from '../functions/grpc-harness.ts';
import { startHarness, type Harness } from '../functions/http-harness.ts';
import { vectorOf } from '../engine/engine-data.ts';

const dimension = 4;
const point = (i: number, version = 0) => ({ id: `doc-${i}`, vector: vectorOf(`doc-${i}`, dimension, version), metadata: { i, version } });
const points = (from: number, to: number, version = 0) => Array.from({ length: to - from }, (_, k) => point(from + k, version));

let h: Harness;
let grpcServer: GrpcServer;
const clients: Record<'http' | 'grpc', HyperspaceClient> = {} as never;
const dirs: string[] = [];
const dbs: HyperspaceDB[] = [];

async function localDb(): Promise<HyperspaceDB> {
  const dir = await mkdtemp(join(tmpdir(), 'hyperspace-sdk-sync-'));
  dirs.push(dir);
  const db = await HyperspaceDB.open(dir, { indexer: false });
  dbs.push(db);
  return db;
}

beforeAll(async () => {
  h = await startHarness();
  grpcServer = await startGrpcServer({ db: h.db, host: '127.0.0.1', port: 0 });
  clients.http = HyperspaceClient.http(h.base, { retry: { attemptsMax: 1 } });
  clients.grpc = HyperspaceClient.grpc(`127.0.0.1:${grpcServer.port}`, { retry: { attemptsMax: 1 } });
});

afterAll(async () => {
  await clients.http.close();
  await clients.grpc.close();
  await grpcServer.close();
  for (const db of dbs) await db.close();
  await h.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe.each(['http', 'grpc'] as const)('SDK sync over %s', (transport) => {
  const client = () => clients[transport];
  const name = `docs-${transport}`;
  let leader: Collection;
  beforeAll(async () => {
    // One collection per transport, named docs on each: its own database would need its own servers.
    leader = await h.db.createCollection(name, { dimension, metric: 'l2', hnsw: { M: 8, efConstruction: 32 } });
    await leader.upsert(points(0, 10_000));
    await leader.upsert(points(10_000, 10_100));
    await leader.delete(['doc-5']);
  });

  it('digest: the server\'s root and bucket hashes at its consistency point, with the bytes moved', async () => {
    const digest = await client().digest(name);
    const { bytes, ...rest } = digest;
    expect(rest).toEqual(await leader.digest());
    expect(digest.buckets).toHaveLength(256);
    // 256 hashes: hex in JSON, 32 raw bytes each on gRPC.
    expect(bytes.received).toBeGreaterThan(transport === 'http' ? 256 * 64 : 256 * 32);
    expect(bytes.sent).toBe(transport === 'http' ? 0 : 2 + name.length); // a GET has no body; on gRPC: field 1, length, name
  });

  it('pullChanges: a changes frame, paged by whole batches, its bytes counted', async () => {
    const page = await client().pullChanges(name, { afterSeq: 0, limit: 50 });
    const changes = decodeChanges(page.frame);
    expect(changes).toMatchObject({ afterSeq: 0, throughSeq: 1, leaderSeq: 3, done: false });
    expect(changes.upserts).toHaveLength(9_999); // batch 1 whole (doc-5 is deleted since)
    expect(page.bytes.received).toBeGreaterThanOrEqual(page.frame.length);
    expect(page.bytes.received).toBeLessThan(page.frame.length + 16);
    expect(page.bytes.sent).toBeGreaterThan(0);
    const last = decodeChanges((await client().pullChanges(name, { afterSeq: 2 })).frame);
    expect(last).toMatchObject({ throughSeq: 3, done: true, root: (await leader.digest()).root, deletes: [{ id: 'doc-5', seq: 3 }] });
  });

  it('pullBuckets: expanded nodes and records; over gRPC ids that do not fit one frame follow in the stream', async () => {
    // ~40 records a bucket: 8 whole buckets and 9,900 ids are more than the 10,000 records of one answer.
    const buckets = ['00', '01', '02', '03', '04', '05', '06', '07'];
    const ids = Array.from({ length: 9_900 }, (_, k) => `doc-${k + 200}`);
    const answer = await client().pullBuckets(name, { expand: ['ca'], nodes: buckets, ids, hashBytes: 32 });
    const pulled = decodePulls(answer.frames);
    expect(pulled.expanded[0]).toMatchObject({ node: { bucket: 0xca, path: [] }, kind: 'children' });
    const digest = leader.syncView().digest;
    const inNodes = new Set(buckets.flatMap((b) => digest.bucketEntries(parseInt(b, 16))).map((e) => e.id));
    if (transport === 'grpc') {
      expect(answer.frames.length).toBe(2);
      expect(pulled.deferredIds).toEqual([]);
      expect(pulled.records).toHaveLength(inNodes.size + ids.length); // an id in a node asked for comes twice
    } else {
      expect(answer.frames.length).toBe(1);
      expect(pulled.records.length).toBeLessThanOrEqual(10_000);
      expect(pulled.deferredIds.length).toBeGreaterThan(0);
      expect(pulled.records.length + pulled.deferredIds.length).toBe(inNodes.size + ids.length);
    }
    expect(answer.bytes.received).toBeGreaterThan(answer.frames.reduce((n, f) => n + f.length, 0) - 1);
  });

  it('syncInto: a full copy, then catch-up, then a repair, each converging at the server\'s root and seq', async () => {
    const db = await localDb();
    const first = await syncInto(client(), db, name);
    expect(first).toMatchObject({ mode: 'catch-up', upserts: 10_099, sourceSeq: 3 });
    const replica = db.collection(name);
    const expectConverged = async () => {
      const [l, r] = [await leader.digest(), await replica.digest()];
      expect(r.root).toBe(l.root);
      expect(r.consistency.walSeq).toBe(l.consistency.walSeq);
    };
    await expectConverged();
    expect(first.root).toBe((await leader.digest()).root);
    expect(first.bytes.received).toBeGreaterThan(10_099 * dimension * 4);

    const extra = await h.db.createCollection(`extra-${transport}`, { dimension, metric: 'l2' });
    await extra.upsert(points(0, 3));
    const small = await syncInto(client(), db, `extra-${transport}`);
    expect(small).toMatchObject({ mode: 'catch-up', upserts: 3 });

    // Catch-up moves only the changes.
    await leader.upsert(points(10, 20, 1));
    await leader.delete(['doc-20', 'doc-21']);
    const caught = await syncInto(client(), db, name);
    expect(caught).toMatchObject({ mode: 'catch-up', upserts: 10, deletes: 2 });
    expect(caught.bytes.sent + caught.bytes.received).toBeLessThan((first.bytes.sent + first.bytes.received) / 50);
    await expectConverged();
    expect(await replica.get('doc-20')).toBeNull();
    expect(await replica.get('doc-5')).toBeNull();

    // A diverged replica is repaired: what the server lacks goes, nothing deleted comes back.
    await replica.commitReplicated([{ id: 'doc-20', seq: 1, vector: vectorOf('x', dimension), metadata: {} }], ['doc-30'], replica.syncView().sourceSeq!);
    const repaired = await syncInto(client(), db, name);
    expect(repaired.mode).toBe('repair');
    expect(repaired.repair).toMatchObject({ recordsPulled: 1, recordsDeleted: 1 });
    await expectConverged();
    expect(await replica.get('doc-20')).toBeNull();
    await leader.upsert(points(20, 22, 2)); // written again on the server: back on the replica
    await syncInto(client(), db, name);
    await expectConverged();
    expect((await replica.get('doc-21'))?.metadata).toEqual({ i: 21, version: 2 });
  });

  it('errors: kinds and messages of the server and of the replica', async () => {
    await expectClientError(() => client().digest('nope'), 'not_found', 'collection not found: name=nope');
    await expectClientError(() => client().pullChanges(name, { afterSeq: 1e9 }), 'conflict',
      new RegExp(`^afterSeq 1000000000 is ahead of the leader: collection=${name} last seq \\d+ \\(a replica never moves backwards\\)$`));
    await expectClientError(() => client().pullChanges(name, { afterSeq: 0, limit: 10_001 }), 'invalid', 'limit must be an integer in 1..10000, got 10001');
    await expectClientError(() => client().pullBuckets(name, { expand: ['zz'] }), 'invalid', 'node must be 2 hex digits of bucket and at most 12 hex nibbles, got "zz"');
    await expectClientError(() => client().pullBuckets(name, { ids: ['a'], hashBytes: 16 }), 'invalid', 'hashBytes must be 8 or 32, got 16');
    await expectClientError(() => client().pullBuckets(name, { ids: Array.from({ length: 10_001 }, (_, k) => `x${k}`) }), 'too_large', 'batch too large: 10001 ids > 10000');

    const db = await localDb();
    const mine = await db.createCollection(name, { dimension, metric: 'l2', hnsw: { M: 8, efConstruction: 32 } });
    await mine.upsert([point(1)]);
    await expect(syncInto(client(), db, name)).rejects.toMatchObject({
      kind: 'conflict', message: `collection=${name} has local writes; a replica must start empty (drop it and sync again)`,
    });
    await db.dropCollection(name);
    await db.createCollection(name, { dimension: 2, metric: 'dot' }).then((c) => c.upsert([{ id: 'a', vector: [1, 0] }]));
    await expect(syncInto(client(), db, name)).rejects.toMatchObject({
      kind: 'conflict', message: `collection=${name} exists here with local writes and another config than the leader's; drop it to follow`,
    });
    await expectClientError(() => syncInto(client(), db, 'nope'), 'not_found', 'collection not found: name=nope');
  });
});

describe('SDK sync: transport-specific errors', () => {
  it('gRPC refuses a limit or hashBytes protobuf would truncate', async () => {
    await expectClientError(() => clients.grpc.pullChanges('docs', { afterSeq: 0, limit: -1 }), 'invalid', 'limit must be an integer in 0..4294967295 on gRPC, got -1');
    await expectClientError(() => clients.grpc.pullBuckets('docs-grpc', { ids: ['a'], hashBytes: 8.5 }), 'invalid', 'hashBytes must be an integer in 0..4294967295 on gRPC, got 8.5');
  });

  it('HTTP refuses a sync reply that is not a binary frame', async () => {
    const fake = HyperspaceClient.http('http://127.0.0.1:9', { retry: { attemptsMax: 1 }, fetch: async () => new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } }) });
    await expectClientError(() => fake.pullChanges('docs', { afterSeq: 0 }), 'internal', 'a sync reply must be a binary frame (application/octet-stream), got JSON');
  });

  it('a replica ahead of the server is refused, never moved back', async () => {
    const older = await h.db.createCollection('older', { dimension, metric: 'l2' });
    await older.upsert(points(0, 2));
    await older.upsert(points(2, 4));
    const db = await localDb();
    await syncInto(clients.http, db, 'older');
    await h.db.dropCollection('older');
    await (await h.db.createCollection('older', { dimension, metric: 'l2' })).upsert(points(0, 1));
    const before = await db.collection('older').digest();
    await expectClientError(() => syncInto(clients.http, db, 'older'), 'conflict', 'afterSeq 2 is ahead of the leader: collection=older last seq 1 (a replica never moves backwards)');
    expect(await db.collection('older').digest()).toEqual(before);
  });
});
