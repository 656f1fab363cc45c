// The transport-free handlers as both servers call them: the same answers as
// the library, exact error messages, scopes and deadlines.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { errorTable, grpcStatus, kindFromGrpcStatus, kindFromHttpStatus, toHyperspaceError } from '../../functions/errors.ts';
import { operations, type Principal, type RequestContext } from '../../functions/handlers.ts';
import { expectError, temporaryDirectory } from '../engine/engine-helpers.ts';
import { randomVectors } from '../helpers/random.ts';

let db: HyperspaceDB;
let ctx: RequestContext;
const dimension = 8;
const vectors = randomVectors(50, dimension, 7);
const row = (i: number) => Array.from(vectors.subarray(i * dimension, (i + 1) * dimension));

beforeEach(async () => {
  db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
  ctx = { db };
  await operations.createCollection(ctx, { name: 'docs', dimension, metric: 'l2' });
  await operations.upsert(ctx, {
    collection: 'docs',
    points: Array.from({ length: 40 }, (_, i) => ({ id: `p${i}`, vector: row(i), metadata: { group: i % 3 === 0 ? 'a' : 'b', i } })),
  });
});

afterEach(async () => {
  await db.close();
});

describe('errors table', () => {
  it('maps every kind once and reads it back', () => {
    expect(errorTable.conflict).toEqual({ grpc: grpcStatus.ALREADY_EXISTS, http: 409, retryable: false });
    expect(errorTable.overloaded.http).toBe(429);
    expect(errorTable.too_large.http).toBe(413);
    expect(kindFromHttpStatus(413)).toBe('too_large');
    expect(kindFromHttpStatus(500, 'data')).toBe('data');
    expect(kindFromGrpcStatus(grpcStatus.RESOURCE_EXHAUSTED, 'too_large')).toBe('too_large');
    expect(kindFromGrpcStatus(grpcStatus.RESOURCE_EXHAUSTED)).toBe('overloaded');
    expect(kindFromGrpcStatus(grpcStatus.PERMISSION_DENIED)).toBe('forbidden');
    const { error, unexpected } = toHyperspaceError(new TypeError('boom'));
    expect(unexpected).toBe(true);
    expect(error.kind).toBe('internal');
    expect(error.message).not.toContain('boom');
  });
});

describe('handlers give the library results', () => {
  it('describes, lists and searches like the engine', async () => {
    const { collection } = await operations.describeCollection(ctx, { name: 'docs' });
    expect(collection).toMatchObject({ name: 'docs', dimension, metric: 'l2', quantization: 'none', hnsw: { m: 16, efConstruction: 200 }, count: 40 });
    expect((await operations.listCollections(ctx, {})).collections.map((c) => c.name)).toEqual(['docs']);
    const query = row(45);
    const direct = await db.collection('docs').search(query, { k: 5, include: ['metadata', 'vector'] });
    const handled = await operations.search(ctx, { collection: 'docs', vector: query, k: 5, include: ['metadata', 'vector'] });
    expect(handled.hits).toEqual(direct.hits.map((h) => ({ ...h, vector: Array.from(h.vector!) })));
    expect(handled.consistency).toEqual(direct.consistency);
    expect(Array.isArray(handled.hits[0].vector)).toBe(true);
  });

  it('answers a search batch at one consistency point, in order', async () => {
    const { results } = await operations.searchBatch(ctx, {
      collection: 'docs',
      searches: [{ vector: row(1), k: 1 }, { vector: new Float32Array(row(2)), k: 2, filter: { group: 'b' } }],
    });
    expect(results.map((r) => r.hits[0].id)).toEqual(['p1', 'p2']);
    expect(results[1].hits).toHaveLength(2);
    expect(results[0].consistency).toEqual(results[1].consistency);
  });

  it('gets, counts, scrolls, deletes, flushes, compacts and digests', async () => {
    expect(await operations.get(ctx, { collection: 'docs', id: 'p3' })).toEqual({ id: 'p3', vector: Array.from(new Float32Array(row(3))), metadata: { group: 'a', i: 3 } });
    expect(await operations.count(ctx, { collection: 'docs', filter: { group: 'a' } })).toEqual({ count: 14 });
    const page = await operations.scroll(ctx, { collection: 'docs', limit: 10 });
    expect(page.points).toHaveLength(10);
    expect(page.nextCursor).toBeTypeOf('string');
    const { seq } = await operations.delete(ctx, { collection: 'docs', ids: ['p3'] });
    expect(seq).toBe(2);
    await expectError(() => operations.get(ctx, { collection: 'docs', id: 'p3' }), 'not_found', 'point not found: collection=docs id="p3"');
    const flushed = await operations.flush(ctx, { collection: 'docs' });
    expect(flushed.collection).toMatchObject({ segments: 1, tailLength: 0, count: 39, indexedSeq: 2 });
    expect((await operations.compact(ctx, { collection: 'docs' })).collection.count).toBe(39);
    const digest = await operations.getDigest(ctx, { collection: 'docs' });
    expect(digest.root).toBe((await db.collection('docs').digest()).root);
    expect(await operations.health(ctx, {})).toEqual({ status: 'serving', collections: 1 });
    expect((await operations.stats(ctx, {})).collections[0].count).toBe(39);
    expect(await operations.deleteCollection(ctx, { name: 'docs' })).toEqual({});
    expect((await operations.listCollections(ctx, {})).collections).toEqual([]);
  });

  it('returns the original seq for a retried idempotency key', async () => {
    const keyed = { ...ctx, idempotencyKey: 'retry-1' };
    const first = await operations.upsert(keyed, { collection: 'docs', points: [{ id: 'x', vector: row(0) }] });
    const again = await operations.upsert(keyed, { collection: 'docs', points: [{ id: 'x', vector: row(0) }] });
    expect(again.seq).toBe(first.seq);
  });
});

describe('bad input', () => {
  it('names the problem', async () => {
    await expectError(() => operations.createCollection(ctx, { name: 'docs', dimension, metric: 'l2' }), 'conflict', 'collection already exists: name=docs');
    await expectError(() => operations.createCollection(ctx, { name: 'x', dimension, metric: 'l2', hnsw: { m: 1 } }), 'invalid', 'hnsw.m must be an integer in [2, 128], got 1');
    await expectError(() => operations.search(ctx, { collection: 'docs', vector: row(0), topK: 3 } as never), 'invalid',
      'unknown field "topK" in search request (expected: collection, vector, k, ef, filter, consistency, include)');
    await expectError(() => operations.search(ctx, { collection: 'nope', vector: row(0) }), 'not_found', 'collection not found: name=nope');
    await expectError(() => operations.search(ctx, { collection: 'docs', vector: row(0), include: 'vector' } as never), 'invalid',
      'include must be an array of "metadata" and "vector", got string');
    await expectError(() => operations.search(ctx, { collection: 'docs', vector: row(0), ef: 0 }), 'invalid', 'ef must be an integer in 1..100000, got 0');
    await expectError(() => operations.searchBatch(ctx, { collection: 'docs', searches: [{ vector: row(0) }, { vector: [1, 2] }] }), 'invalid',
      'search 1: dimension mismatch: query expected=8 got=2');
    await expectError(() => operations.upsert(ctx, { collection: 'docs', points: [{ id: 'good', vector: row(0) }, { id: 'bad', vector: [...row(0).slice(1), Infinity] }] }),
      'invalid', 'non-finite value at index 7 (point 1, id "bad")');
    expect((await operations.count(ctx, { collection: 'docs' })).count).toBe(40);
    await expectError(() => operations.upsert(ctx, 'points' as never), 'invalid', 'upsert request must be a JSON object');
  });
});

describe('scopes and deadlines', () => {
  const reader: Principal = { keyId: 'hs_k1', collections: ['docs'], access: 'read' };
  const writer: Principal = { keyId: 'hs_k2', collections: ['other'], access: 'read-write' };

  it('lets a read key read and refuses its writes', async () => {
    const as = { ...ctx, principal: reader };
    expect((await operations.count(as, { collection: 'docs' })).count).toBe(40);
    await expectError(() => operations.upsert(as, { collection: 'docs', points: [] }), 'forbidden', 'key hs_k1 is read-only: upsert needs read-write access');
  });

  it('hides collections outside the key scope', async () => {
    const as = { ...ctx, principal: writer };
    await expectError(() => operations.search(as, { collection: 'docs', vector: row(0) }), 'forbidden', 'key hs_k2 has no access to collection=docs');
    expect((await operations.listCollections(as, {})).collections).toEqual([]);
    await operations.createCollection(as, { name: 'other', dimension: 2, metric: 'dot' });
    expect((await operations.listCollections(as, {})).collections.map((c) => c.name)).toEqual(['other']);
  });

  it('does not start an operation past its deadline', async () => {
    await expectError(() => operations.upsert({ ...ctx, deadlineAtMs: Date.now() - 1 }, { collection: 'docs', points: [{ id: 'late', vector: row(0) }] }),
      'deadline', 'deadline exceeded before upsert started');
    expect(await db.collection('docs').get('late')).toBeNull();
  });
});
