// A user's story of one collection: what they write is what they read, at
// every moment, before and after indexing; bad input never gets in; scroll and
// compaction keep the logical state.
import { describe, expect, it } from 'vitest';
import { HyperspaceDB, type Collection, type ConsistencyPoint, type Metadata } from '../../engine/index.ts';
import { rng } from '../helpers/random.ts';
import { exactL2, expectError, temporaryDirectory, vectorOf } from './engine-helpers.ts';

const dimension = 8;

interface Model {
  live: Map<string, { vector: Float32Array; metadata: Metadata }>;
}

/** Everything the model says is there is there, and nothing else. */
async function expectMatchesModel(c: Collection, model: Model, probe: string[]): Promise<void> {
  expect(await c.count()).toBe(model.live.size);
  for (const id of probe) {
    const want = model.live.get(id);
    const got = await c.get(id);
    if (!want) {
      expect(got, `get(${id}) after delete`).toBeNull();
      continue;
    }
    expect(got, `get(${id})`).not.toBeNull();
    expect(got!.vector).toEqual(want.vector);
    expect(got!.metadata).toEqual(want.metadata);
    const { hits } = await c.search(want.vector, { k: 1, ef: 2000 });
    expect(hits[0]?.id, `search for ${id}`).toBe(id);
    expect(hits[0].distance).toBe(0);
  }
}

function expectMonotone(previous: ConsistencyPoint, next: ConsistencyPoint): void {
  expect(next.walSeq).toBeGreaterThanOrEqual(previous.walSeq);
  expect(next.manifestVersion).toBeGreaterThanOrEqual(previous.manifestVersion);
}

/** Random upserts (new ids and updates) and deletes; checks every acknowledged write at once. */
async function readYourWrites(c: Collection, rounds: number, afterRound: (round: number) => Promise<void>): Promise<Model> {
  const model: Model = { live: new Map() };
  const next = rng(7);
  let version = 0;
  let point: ConsistencyPoint = { manifestVersion: 0, walSeq: 0 };
  for (let round = 0; round < rounds; round++) {
    const touched: string[] = [];
    const batch = Array.from({ length: 12 }, () => {
      const id = `id-${Math.floor(next() * 150)}`;
      touched.push(id);
      return { id, vector: vectorOf(id, dimension, ++version), metadata: { round, parity: round % 2 === 0 ? 'even' : 'odd' } };
    });
    const { seq } = await c.upsert(batch);
    for (const p of batch) model.live.set(p.id, { vector: p.vector, metadata: p.metadata });
    const afterUpsert = (await c.search(batch[0].vector, { k: 1 })).consistency;
    expect(afterUpsert.walSeq).toBeGreaterThanOrEqual(seq);
    expectMonotone(point, afterUpsert);
    point = afterUpsert;
    await expectMatchesModel(c, model, touched);

    const doomed = [...model.live.keys()].filter(() => next() < 0.08);
    doomed.push('never-written');
    const deleted = await c.delete(doomed);
    expect(deleted.seq).toBe(seq + 1);
    for (const id of doomed) model.live.delete(id);
    await expectMatchesModel(c, model, doomed);
    for (const id of doomed.slice(0, 3)) {
      const probe = vectorOf(id, dimension, 0);
      const { hits, consistency } = await c.search(probe, { k: 200, ef: 2000 });
      expect(hits.map((h) => h.id)).not.toContain(id);
      expect(hits.map((h) => h.id).sort()).toEqual(exactL2([...model.live].map(([i, r]) => ({ id: i, vector: r.vector })), probe, 200).map((h) => h.id).sort());
      expectMonotone(point, consistency);
      point = consistency;
    }
    expect(await c.count({ filter: { parity: 'even' } })).toBe([...model.live.values()].filter((r) => r.metadata.parity === 'even').length);
    await afterRound(round);
  }
  return model;
}

describe('read-your-writes', () => {
  it('shows every acknowledged upsert and delete to the next search, get and count, before and after flush and compaction', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('docs', { dimension, metric: 'l2' });
    const model = await readYourWrites(c, 24, async (round) => {
      if (round % 3 === 2) await c.flush();
      if (round % 8 === 5) await c.compact();
    });
    expect(c.describe().segments).toBeGreaterThan(1);
    await expectMatchesModel(c, model, [...model.live.keys()]);
    await db.close();
  });

  it('holds while the background indexer flushes and compacts underneath', async () => {
    const dir = await temporaryDirectory();
    const db = await HyperspaceDB.open(dir, { indexer: { tailRecordsFlush: 10, tailAgeMsFlush: 1, segmentsMax: 2 } });
    const c = await db.createCollection('docs', { dimension, metric: 'l2' });
    const model = await readYourWrites(c, 30, () => new Promise((resolve) => setTimeout(resolve, 20)));
    expect(c.describe().manifestVersion).toBeGreaterThan(5);
    expect(db.lastIndexerError).toBeUndefined();
    await db.close();
    const reopened = await HyperspaceDB.open(dir, { indexer: false });
    await expectMatchesModel(reopened.collection('docs'), model, [...model.live.keys()]);
    await reopened.close();
  });

  it('holds for concurrent writers sharing group commits, each reading its own writes at once', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: { tailRecordsFlush: 50, tailAgeMsFlush: 5, segmentsMax: 2 } });
    const c = await db.createCollection('docs', { dimension, metric: 'l2' });
    const seqs: number[] = [];
    await Promise.all(Array.from({ length: 4 }, async (_, writer) => {
      for (let round = 0; round < 15; round++) {
        const ids = Array.from({ length: 5 }, (_, i) => `w${writer}-r${round}-${i}`);
        const { seq } = await c.upsert(ids.map((id) => ({ id, vector: vectorOf(id, dimension) })));
        seqs.push(seq);
        for (const id of ids) expect((await c.get(id))?.vector, id).toEqual(vectorOf(id, dimension));
        // A filter keeping every record: allow-lists this small are scanned exactly, so this checks visibility, not recall.
        const { hits, consistency } = await c.search(vectorOf(ids[0], dimension), { k: 1, filter: { $not: { x: 1 } } });
        expect(hits[0]).toEqual({ id: ids[0], distance: 0 });
        expect(consistency.walSeq).toBeGreaterThanOrEqual(seq);
        if (round % 3 === 0) {
          await c.delete([ids[1]]);
          expect(await c.get(ids[1])).toBeNull();
        }
      }
    }));
    expect(new Set(seqs).size).toBe(60);
    expect(await c.count()).toBe(4 * 15 * 5 - 4 * 5);
    expect(db.lastIndexerError).toBeUndefined();
    await db.close();
  });

  it('stores a retried upsert with the same idempotency key once, and refuses the key for another batch', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('docs', { dimension, metric: 'l2' });
    const batch = [{ id: 'a', vector: vectorOf('a', dimension) }];
    const first = await c.upsert(batch, { idempotencyKey: 'request-1' });
    await c.upsert([{ id: 'b', vector: vectorOf('b', dimension) }]);
    expect(await c.upsert(batch, { idempotencyKey: 'request-1' })).toEqual(first);
    expect(c.describe()).toMatchObject({ lastSeq: 2, count: 2 });
    await expectError(() => c.upsert([{ id: 'c', vector: vectorOf('c', dimension) }], { idempotencyKey: 'request-1' }), 'conflict',
      `idempotency key reused with a different payload: collection=docs key=request-1 seq=${first.seq}`);
    expect(await c.get('c')).toBeNull();
    await db.close();
  });

  it('forgets everything of a dropped collection when one of the same name is created again', async () => {
    const dir = await temporaryDirectory();
    const db = await HyperspaceDB.open(dir, { indexer: false });
    const old = await db.createCollection('docs', { dimension, metric: 'l2' });
    await old.upsert([{ id: 'a', vector: vectorOf('a', dimension) }]);
    await old.flush();
    await old.upsert([{ id: 'b', vector: vectorOf('b', dimension) }]);
    await db.dropCollection('docs');
    await expectError(() => old.get('a'), 'unavailable', 'collection is closed: name=docs');
    const fresh = await db.createCollection('docs', { dimension: 4, metric: 'cosine' });
    expect(fresh.describe()).toMatchObject({ count: 0, segments: 0, lastSeq: 0, manifestVersion: 0, dimension: 4 });
    await fresh.upsert([{ id: 'c', vector: [1, 0, 0, 0] }]);
    await db.close();
    const reopened = await HyperspaceDB.open(dir, { indexer: false });
    const again = reopened.collection('docs');
    expect(await again.get('a')).toBeNull();
    expect(await again.count()).toBe(1);
    await reopened.close();
  });

  it('skips the unindexed tail only for eventual reads, at the manifest\'s consistency point', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('docs', { dimension, metric: 'l2' });
    const a0 = vectorOf('a', dimension, 0), a1 = vectorOf('a', dimension, 1);
    await c.upsert([{ id: 'a', vector: a0 }, { id: 'b', vector: vectorOf('b', dimension) }]);
    expect(await c.search(a0, { k: 1, consistency: 'eventual' })).toEqual({ hits: [], consistency: { manifestVersion: 0, walSeq: 0 } });
    expect(await c.search(a0, { k: 1 })).toEqual({ hits: [{ id: 'a', distance: 0 }], consistency: { manifestVersion: 0, walSeq: 1 } });
    await c.flush();
    await c.upsert([{ id: 'a', vector: a1 }]);
    await c.delete(['b']);
    // Eventual: the manifest's state (old 'a', 'b' alive); strong: the latest.
    const eventual = await c.search(a0, { k: 2, consistency: 'eventual', include: ['vector'] });
    expect(eventual.consistency).toEqual({ manifestVersion: 1, walSeq: 1 });
    expect(eventual.hits.map((h) => [h.id, h.distance])).toEqual([['a', 0], ['b', exactL2([{ id: 'b', vector: vectorOf('b', dimension) }], a0, 1)[0].distance]].map(([id, d]) => [id, expect.closeTo(d as number, 3)]));
    expect(eventual.hits[0].vector).toEqual(a0);
    const strong = await c.search(a1, { k: 2, consistency: 'strong', include: ['vector', 'metadata'] });
    expect(strong.consistency).toEqual({ manifestVersion: 1, walSeq: 3 });
    expect(strong.hits).toEqual([{ id: 'a', distance: 0, vector: a1, metadata: {} }]);
    await expectError(() => c.search(a0, { consistency: 'sometimes' as 'strong' }), 'invalid', 'consistency must be "strong" or "eventual", got "sometimes"');
    await db.close();
  });
});

describe('bad input is rejected whole, with nothing stored', () => {
  async function setup() {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const l2 = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    const cosine = await db.createCollection('angles', { dimension: 4, metric: 'cosine' });
    const poincare = await db.createCollection('tree', { dimension: 4, metric: 'poincare' });
    for (const c of [l2, cosine, poincare]) await c.upsert([{ id: 'kept', vector: [0.1, 0.2, 0.3, 0.4] }]);
    return { db, l2, cosine, poincare };
  }

  /** A good point first, the bad one second: neither may be stored. */
  async function rejects(c: Collection, bad: Record<string, unknown>, kind: 'invalid' | 'too_large', message: string) {
    const before = c.describe();
    await expectError(() => c.upsert([{ id: 'good', vector: [0.1, 0.1, 0.1, 0.1] }, { id: 'bad', vector: [0.1, 0.1, 0.1, 0.1], ...bad } as never]), kind, message);
    expect(c.describe()).toEqual(before);
    expect(await c.get('good')).toBeNull();
    expect(await c.count()).toBe(1);
  }

  it('rejects points with the wrong dimension, non-finite values, out of the ball, zero for cosine', async () => {
    const { db, l2, cosine, poincare } = await setup();
    await rejects(l2, { vector: [1, 2, 3] }, 'invalid', 'dimension mismatch: collection=docs expected=4 got=3 (point 1, id "bad")');
    await rejects(l2, { vector: new Float32Array(5) }, 'invalid', 'dimension mismatch: collection=docs expected=4 got=5 (point 1, id "bad")');
    await rejects(l2, { vector: [1, 2, NaN, 4] }, 'invalid', 'non-finite value at index 2 (point 1, id "bad")');
    await rejects(l2, { vector: [1, 2, 3, -Infinity] }, 'invalid', 'non-finite value at index 3 (point 1, id "bad")');
    await rejects(l2, { vector: [1e39, 0, 0, 0] }, 'invalid', 'non-finite value at index 0 (point 1, id "bad")');
    await rejects(l2, { vector: [1, '2', 3, 4] }, 'invalid', 'vector value at index 1 is not a number (point 1, id "bad")');
    await rejects(poincare, { vector: [0.9, 0.9, 0, 0] }, 'invalid', 'vector outside the Poincaré ball: norm=1.2728 must be < 1 - 1e-6 after float32 rounding (point 1, id "bad")');
    await rejects(poincare, { vector: [1, 0, 0, 0] }, 'invalid', 'vector outside the Poincaré ball: norm=1.00000000 must be < 1 - 1e-6 after float32 rounding (point 1, id "bad")');
    await rejects(cosine, { vector: [0, 0, 0, 0] }, 'invalid', 'zero vector not allowed for cosine (point 1, id "bad")');
    await db.close();
  });

  it('rejects empty and oversized ids, oversized metadata and oversized batches', async () => {
    const { db, l2 } = await setup();
    await rejects(l2, { id: '' }, 'invalid', 'id must be a non-empty string of at most 256 bytes UTF-8 (point 1)');
    await rejects(l2, { id: 'é'.repeat(129) }, 'invalid', 'id must be a non-empty string of at most 256 bytes UTF-8 (point 1)');
    await rejects(l2, { id: 7 }, 'invalid', 'id must be a non-empty string of at most 256 bytes UTF-8 (point 1)');
    await rejects(l2, { metadata: { note: 'x'.repeat(4097) } }, 'invalid', 'metadata string at key "note" too long: 4097 bytes > 4096 (point 1, id "bad")');
    const wide = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(4000)]));
    await rejects(l2, { metadata: wide }, 'invalid', 'metadata too large: 20041 bytes > 16384 as canonical JSON (point 1, id "bad")');
    await rejects(l2, { metadata: { nested: { a: 1 } } }, 'invalid', 'metadata value at key "nested" must be a string, a finite number, a boolean or an array of strings (point 1, id "bad")');

    const before = l2.describe();
    const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ id: `p${i}`, vector: [1, 2, 3, 4] }));
    await expectError(() => l2.upsert(tooMany), 'too_large', 'batch too large: 10001 points > 10000');
    await expectError(() => l2.delete(tooMany.map((p) => p.id)), 'too_large', 'batch too large: 10001 ids > 10000');
    await expectError(() => l2.delete(['kept', '']), 'invalid', 'id must be a non-empty string of at most 256 bytes UTF-8 (id 1)');
    expect(l2.describe()).toEqual(before);
    expect(await l2.get('kept')).not.toBeNull();

    // 64 MiB per batch: 16,384-d vectors are 64 KiB each, so the 1,024th point crosses it.
    const big = await db.createCollection('big', { dimension: 16_384, metric: 'l2' });
    const vector = new Float32Array(16_384).fill(0.5);
    const heavy = Array.from({ length: 1100 }, (_, i) => ({ id: `p${String(i).padStart(4, '0')}`, vector }));
    await expectError(() => big.upsert(heavy), 'too_large', 'batch too large: more than 67108864 bytes at point 1023 (split the batch)');
    expect(big.describe().lastSeq).toBe(0);
    expect(await big.count()).toBe(0);
    await db.close();
  });

  it('rejects bad searches: query shape, k outside 1..10,000, invalid filters; and unknown collections', async () => {
    const { db, l2, cosine, poincare } = await setup();
    const q = [0.1, 0.2, 0.3, 0.4];
    for (const k of [0, -1, 10_001, 2.5]) await expectError(() => l2.search(q, { k }), 'invalid', `k must be an integer in 1..10000, got ${k}`);
    expect((await l2.search(q, { k: 10_000 })).hits).toHaveLength(1);
    await expectError(() => l2.search([1, 2, 3]), 'invalid', 'dimension mismatch: query expected=4 got=3');
    await expectError(() => l2.search([1, 2, NaN, 3]), 'invalid', 'non-finite value NaN at index 2 of query');
    await expectError(() => cosine.search([0, 0, 0, 0]), 'invalid', 'zero vector in query is not allowed for cosine');
    await expectError(() => poincare.search([1, 0, 0, 0]), 'invalid', 'query outside the Poincaré ball: norm=1.0000000 must be < 1 - 1e-6');
    await expectError(() => l2.search(q, { filter: { year: { $near: 3 } } }), 'invalid', 'filter: unknown operator $near at path year');
    await expectError(() => l2.search(q, { filter: 'year > 3' }), 'invalid', 'filter must be a JSON object');
    await expectError(() => l2.count({ filter: { $or: [] } }), 'invalid', 'filter: $or at path (root) takes a non-empty array of filters');
    await expectError(() => l2.scroll({ filter: { a: { $in: 'x' } } }), 'invalid', 'filter: $in at path a takes an array of strings, finite numbers or booleans, got "x"');
    await expectError(() => l2.search(q, { include: ['vectors' as 'vector'] }), 'invalid', 'include may hold "metadata" and "vector", got "vectors"');
    expect(() => db.collection('nope')).toThrow('collection not found: name=nope');
    await expectError(() => db.collection('nope'), 'not_found', 'collection not found: name=nope');
    await expectError(() => db.dropCollection('nope'), 'not_found', 'collection not found: name=nope');
    await db.close();
  });

  it('rejects creating an existing collection and invalid names or configs', async () => {
    const { db } = await setup();
    await expectError(() => db.createCollection('docs', { dimension: 4, metric: 'l2' }), 'conflict', 'collection already exists: name=docs');
    for (const name of ['', '.', '..', 'a/b', '.hidden', 'x'.repeat(129), 'spa ce'])
      await expectError(() => db.createCollection(name, { dimension: 4, metric: 'l2' }), 'invalid', `collection name must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127} and not be . or .., got ${JSON.stringify(name)}`);
    await expectError(() => db.createCollection('c', { dimension: 0, metric: 'l2' }), 'invalid', 'dimension must be an integer in [1, 65536], got 0');
    await expectError(() => db.createCollection('c', { dimension: 4, metric: 'hamming' as 'l2' }), 'invalid', 'metric must be one of l2, cosine, dot, poincare, got "hamming"');
    await expectError(() => db.createCollection('c', { dimension: 4, metric: 'l2', quantization: 'pq' as 'none' }), 'invalid', 'quantization must be one of none, int8, binary, got "pq"');
    await expectError(() => db.createCollection('c', { dimension: 4, metric: 'l2', hnsw: { M: 1 } }), 'invalid', 'hnsw.M must be an integer in [2, 128], got 1');
    expect(db.listCollections().map((c) => c.name)).toEqual(['angles', 'docs', 'tree']);
    await db.close();
    await expectError(() => db.collection('docs'), 'unavailable', 'database is closed');
  });
});

describe('scroll', () => {
  it('pages through every live record exactly once in id order across segments and the tail, with filters', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    const next = rng(11);
    const live = new Map<string, { version: number; group: string }>();
    for (let round = 0; round < 8; round++) {
      const ids = Array.from({ length: 40 }, () => `id-${Math.floor(next() * 200).toString().padStart(3, '0')}`);
      const points = ids.map((id) => ({ id, vector: vectorOf(id, 4, round), metadata: { group: next() < 0.3 ? 'a' : 'b', round } }));
      await c.upsert(points);
      for (const p of points) live.set(p.id, { version: round, group: p.metadata.group });
      const doomed = [...live.keys()].filter(() => next() < 0.1);
      await c.delete(doomed);
      for (const id of doomed) live.delete(id);
      if (round % 3 === 1) await c.flush();
    }
    // Non-ASCII ids sort by UTF-8 bytes: "z" < "é" < "😀".
    await c.upsert(['😀', 'é', 'z'].map((id) => ({ id, vector: vectorOf(id, 4), metadata: { group: 'a' } })));
    for (const id of ['😀', 'é', 'z']) live.set(id, { version: 0, group: 'a' });
    expect(c.describe().segments).toBeGreaterThanOrEqual(2);
    expect(c.describe().tailLength).toBeGreaterThan(0);

    const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    for (const [filter, limit] of [[undefined, 7], [{ group: 'a' }, 5], [{ group: { $ne: 'a' } }, 1000], [{ round: { $gte: 6 } }, 3]] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<Collection['scroll']>> = await c.scroll({ cursor, limit, filter });
        expect(page.points.length).toBeLessThanOrEqual(limit);
        for (const p of page.points) {
          const want = live.get(p.id)!;
          expect(p.vector).toEqual(vectorOf(p.id, 4, want.version));
          seen.push(p.id);
        }
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 1000);
      const expected = [...live.entries()].filter(([, r]) => {
        if (!filter) return true;
        if ('group' in filter) return typeof filter.group === 'string' ? r.group === filter.group : r.group !== 'a';
        return r.version >= 6;
      }).map(([id]) => id).sort(byUtf8);
      expect(seen).toEqual(expected);
      expect(await c.count({ filter })).toBe(expected.length);
    }
    await expectError(() => c.scroll({ cursor: '!!' }), 'invalid', 'invalid scroll cursor: "!!"');
    await expectError(() => c.scroll({ limit: 0 }), 'invalid', 'limit must be an integer in 1..10000, got 0');
    await db.close();
  });
});

describe('compaction', () => {
  it('keeps search results and the digest root, and never resurrects a delete', async () => {
    const dir = await temporaryDirectory();
    const db = await HyperspaceDB.open(dir, { indexer: false });
    const c = await db.createCollection('docs', { dimension: 16, metric: 'l2' });
    const live = new Map<string, Float32Array>();
    const next = rng(3);
    const roots: string[] = [];
    for (let s = 0; s < 4; s++) {
      const points = Array.from({ length: 80 }, (_, i) => {
        const id = `p${s * 60 + i}`; // overlapping ranges: later segments update earlier ones
        return { id, vector: vectorOf(id, 16, s) };
      });
      await c.upsert(points);
      for (const p of points) live.set(p.id, p.vector);
      const doomed = [...live.keys()].filter(() => next() < 0.1);
      await c.delete(doomed);
      for (const id of doomed) live.delete(id);
      const before = (await c.digest()).root;
      await c.flush();
      expect((await c.digest()).root).toBe(before);
      roots.push(before);
    }
    // Some changes stay in the tail: an update and a delete of indexed records.
    const updated = [...live.keys()].slice(0, 5);
    await c.upsert(updated.map((id) => ({ id, vector: vectorOf(id, 16, 99) })));
    for (const id of updated) live.set(id, vectorOf(id, 16, 99));
    const deleted = [...live.keys()].slice(5, 10);
    await c.delete(deleted);
    for (const id of deleted) live.delete(id);
    expect(c.describe().segments).toBe(4);

    const queries = Array.from({ length: 20 }, (_, i) => vectorOf(`query-${i}`, 16));
    const exact = queries.map((q) => exactL2([...live].map(([id, vector]) => ({ id, vector })), q, 10));
    const search = () => Promise.all(queries.map(async (q) => (await c.search(q, { k: 10, ef: 1000 })).hits));
    const beforeHits = await search();
    const rootBefore = (await c.digest()).root;
    const idsOf = (hits: { id: string }[][]) => hits.map((h) => h.map((x) => x.id));
    expect(idsOf(beforeHits)).toEqual(idsOf(exact));

    await c.compact();
    expect(c.describe()).toMatchObject({ segments: 1, count: live.size, tailLength: 10 });
    expect(await search()).toEqual(beforeHits);
    expect((await c.digest()).root).toBe(rootBefore);
    await c.flush();
    await c.compact();
    expect(c.describe()).toMatchObject({ segments: 1, count: live.size, tailLength: 0 });
    expect(await search()).toEqual(beforeHits);
    expect((await c.digest()).root).toBe(rootBefore);

    const everDeleted = [...Array(300).keys()].map((i) => `p${i}`).filter((id) => !live.has(id));
    expect(everDeleted.length).toBeGreaterThan(10);
    for (const id of everDeleted) expect(await c.get(id)).toBeNull();
    await db.close();

    // After reopening: the same state, digest included.
    const reopened = await HyperspaceDB.open(dir, { indexer: false });
    const again = reopened.collection('docs');
    expect(await again.count()).toBe(live.size);
    expect((await again.digest()).root).toBe(rootBefore);
    for (const id of everDeleted) expect(await again.get(id)).toBeNull();
    expect(await Promise.all(queries.map(async (q) => (await again.search(q, { k: 10, ef: 1000 })).hits))).toEqual(beforeHits);
    await reopened.close();
  });
});

describe('backpressure', () => {
  it('answers overloaded once the unindexed tail is full, storing nothing of the refused batch', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false, tailRecordsMax: 50 });
    const c = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vectorOf(`p${from + i}`, 4) }));
    await c.upsert(points(0, 40));
    const message = 'write backpressure: collection=docs unindexed tail holds 40 records, 20 more would pass the limit of 50 records; retry after the indexer catches up';
    await expectError(() => c.upsert(points(40, 20)), 'overloaded', message);
    await expectError(() => c.delete(points(40, 20).map((p) => p.id)), 'overloaded', message);
    expect(c.describe()).toMatchObject({ lastSeq: 1, tailLength: 40, count: 40 });
    expect(await c.get('p40')).toBeNull();
    await c.upsert(points(40, 10)); // exactly at the limit is fine
    await c.flush();
    await c.upsert(points(50, 20));
    expect(await c.count()).toBe(70);
    await db.close();
  });

  it('bounds the tail by bytes too, and writers that back off get through once the indexer catches up', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: { tailRecordsFlush: 1_000_000, tailAgeMsFlush: 200, segmentsMax: 4 }, tailBytesMax: 64 * 4 * 4 });
    const c = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vectorOf(`p${from + i}`, 4) }));
    await c.upsert(points(0, 60));
    await expectError(() => c.upsert(points(60, 10)), 'overloaded', 'write backpressure: collection=docs unindexed tail holds 960 bytes of vectors, 160 more would pass the limit of 1024 bytes; retry after the indexer catches up');
    let refused = 0;
    for (;;) {
      try {
        await c.upsert(points(60, 10));
        break;
      } catch (error) {
        expect((error as { kind: string }).kind).toBe('overloaded');
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(await c.count()).toBe(70);
    await db.close();
  });
});
