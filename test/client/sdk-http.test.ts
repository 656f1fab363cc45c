// The SDK over HTTP against the real HTTP server, with the gRPC server on the
// same database: both transports give what the library gives, and the same
// errors with the same kinds and messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceClient, type SearchQuery } from '../../client/index.ts';
import { collectionInfo } from '../../functions/handlers.ts';
import { startGrpcServer, type GrpcServer } from '../../functions/grpc/server.ts';
import { expectClientError } from '../functions/grpc-harness.ts';
import { startHarness, type Harness } from '../functions/http-harness.ts';
import { randomVectors } from '../helpers/random.ts';

const dimension = 8;
const vectors = randomVectors(120, dimension, 11);
const vectorAt = (i: number) => vectors.subarray(i * dimension, (i + 1) * dimension);

describe('SDK over HTTP and gRPC on one database', () => {
  let h: Harness;
  let grpcServer: GrpcServer;
  let http: HyperspaceClient;
  let grpc: HyperspaceClient;

  beforeAll(async () => {
    h = await startHarness({ bodyBytesMax: 256 * 1024 });
    grpcServer = await startGrpcServer({ db: h.db, port: 0 });
    http = HyperspaceClient.http(h.base, { retry: { attemptsMax: 1 } });
    grpc = HyperspaceClient.grpc(`127.0.0.1:${grpcServer.port}`, { retry: { attemptsMax: 1 } });
  });
  afterAll(async () => {
    await http.close();
    await grpc.close();
    await grpcServer.close();
    await h.close();
  });

  it('manages collections as the library does', async () => {
    expect(await http.health()).toEqual({ serving: true, collections: 0 });
    const created = await http.createCollection('web.pages-1', { dimension, metric: 'cosine', hnsw: { m: 8, efConstruction: 64 } });
    expect(created).toEqual(collectionInfo(h.db.collection('web.pages-1').describe()));
    await http.createCollection('scratch', { dimension: 2, metric: 'dot' });
    expect(await http.listCollections()).toEqual(await grpc.listCollections());
    expect(await http.describeCollection('scratch')).toEqual(await grpc.describeCollection('scratch'));
    await http.deleteCollection('scratch');
    expect(h.db.listCollections().map((c) => c.name)).toEqual(['web.pages-1']);
  });

  it('writes and reads points, ids with any characters kept as strings', async () => {
    const ids = ['plain', 'with/slash', 'with space & ?query#frag', 'ünïcödé', '%41', '007'];
    const points = Array.from({ length: 100 }, (_, i) => ({
      id: ids[i] ?? `p${i}`, vector: i % 2 ? vectorAt(i) : Array.from(vectorAt(i)),
      metadata: { group: i % 4, label: `l${i % 3}`, flag: i % 5 === 0, tags: ['x', `y${i % 2}`] },
    }));
    const { seq } = await http.upsert('web.pages-1', points);
    expect(seq).toBe(h.db.collection('web.pages-1').describe().lastSeq);
    for (const id of ids) {
      const library = await h.db.collection('web.pages-1').get(id);
      expect(await http.get('web.pages-1', id), id).toEqual(library);
      expect(await grpc.get('web.pages-1', id), id).toEqual(library);
    }
    expect(await http.get('web.pages-1', 'absent')).toBeNull();
  });

  it('searches, batches, counts and scrolls with the same results on both transports and the library', async () => {
    const library = h.db.collection('web.pages-1');
    const queries: SearchQuery[] = [
      { vector: vectorAt(110), k: 7 },
      { vector: vectorAt(111), k: 4, filter: { group: { $in: [1, 2] }, flag: false }, include: ['metadata', 'vector'] },
      { vector: Array.from(vectorAt(112)), k: 3, consistency: 'eventual', include: ['vector'] },
    ];
    for (const round of ['tail', 'segment']) {
      for (const query of queries) {
        const { vector, ...options } = query;
        const expected = await library.search(vector, { ...options, include: options.include && [...options.include] });
        expect(await http.search('web.pages-1', query), round).toEqual(expected);
        expect(await grpc.search('web.pages-1', query), round).toEqual(expected);
      }
      expect(await http.searchBatch('web.pages-1', queries)).toEqual(await grpc.searchBatch('web.pages-1', queries));
      const filter = { $not: { label: 'l0' } };
      expect(await http.count('web.pages-1', filter)).toBe(await library.count({ filter }));
      const page = await http.scroll('web.pages-1', { limit: 30, filter });
      expect(page).toEqual(await library.scroll({ limit: 30, filter }));
      expect(await http.scroll('web.pages-1', { cursor: page.nextCursor, limit: 30, filter })).toEqual(await grpc.scroll('web.pages-1', { cursor: page.nextCursor, limit: 30, filter }));
      if (round === 'tail') expect((await http.flush('web.pages-1')).segments).toBe(1);
    }
    const { seq } = await http.delete('web.pages-1', ['plain', 'with/slash']);
    expect(seq).toBe(library.describe().lastSeq);
    expect(await grpc.get('web.pages-1', 'with/slash')).toBeNull();
  });

  it('reports the same errors with the same kinds and messages on both transports', async () => {
    for (const client of [http, grpc]) {
      await expectClientError(() => client.upsert('web.pages-1', [{ id: 'a', vector: [1, 2] }]), 'invalid',
        'dimension mismatch: collection=web.pages-1 expected=8 got=2 (point 0, id "a")');
      await expectClientError(() => client.upsert('web.pages-1', [{ id: 'zero', vector: new Float32Array(dimension) }]), 'invalid',
        'zero vector not allowed for cosine (point 0, id "zero")');
      await expectClientError(() => client.count('missing'), 'not_found', 'collection not found: name=missing');
      await expectClientError(() => client.createCollection('web.pages-1', { dimension, metric: 'l2' }), 'conflict', 'collection already exists: name=web.pages-1');
      await expectClientError(() => client.scroll('web.pages-1', { limit: 20_000 }), 'invalid', 'limit must be an integer in 1..10000, got 20000');
    }
    await expectClientError(() => http.scroll('web.pages-1', { limit: 0.5 }), 'invalid', 'limit must be an integer in 1..10000, got 0.5');
    await expectClientError(() => grpc.scroll('web.pages-1', { limit: 0.5 }), 'invalid', 'limit must be an integer in 0..4294967295 on gRPC, got 0.5');
    expect(await http.get('web.pages-1', 'zero')).toBeNull();
  });

  it('answers a body over the limit with 413, kind too_large, not retried', async () => {
    const retrying = HyperspaceClient.http(h.base, { retry: { attemptsMax: 3, delayMsBase: 1 } });
    const points = Array.from({ length: 3000 }, (_, i) => ({ id: `big-${i}`, vector: Array.from(vectorAt(i % 100)) }));
    const error = await expectClientError(() => retrying.upsert('web.pages-1', points), 'too_large', /262144/);
    expect(error.status).toBe(413);
    expect(await http.get('web.pages-1', 'big-0')).toBeNull();
  });
});
