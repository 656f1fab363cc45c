// Several processes over one pair of stores (the serverless deployment): workers
// open without the indexer lease, write the WAL and read; one indexer at a time
// folds the tail; refresh() brings a warm worker up to what the others did.
import { describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { MemoryLogStore, MemoryObjectStore } from '../../engine/stores/memory-stores.ts';
import { expectError, vectorOf } from './engine-helpers.ts';

const points = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vectorOf(`p${from + i}`, 8) }));

describe('workers and an indexer sharing the stores', () => {
  it('a warm worker sees the indexer\'s manifest and other workers\' writes after refresh, and its tail shrinks', async () => {
    const stores = { log: new MemoryLogStore(), objects: new MemoryObjectStore() };
    const setup = await HyperspaceDB.open(stores, { indexer: false, leases: false });
    await setup.createCollection('docs', { dimension: 8, metric: 'l2' });
    const workerA = await HyperspaceDB.open(stores, { indexer: false, leases: false });
    const workerB = await HyperspaceDB.open(stores, { indexer: false, leases: false });
    await workerA.collection('docs').upsert(points(0, 20));
    expect(await workerB.collection('docs').count()).toBe(0);
    await workerB.refresh('docs');
    expect(await workerB.collection('docs').count()).toBe(20);

    // A worker holds no lease, so it cannot index and does not block the indexer.
    await expectError(() => workerA.collection('docs').flush(), 'conflict',
      'collection=docs is open without the indexer lease (a worker sharing the stores): the indexer builds its segments');
    const indexer = await HyperspaceDB.open(stores, { indexer: false, owner: 'indexer-1', collections: ['docs'] });
    await indexer.collection('docs').flush();
    await indexer.close();
    // The WAL below the manifest may be gone now; a stale worker writing must not trip over it.
    await workerB.collection('docs').upsert(points(20, 5));
    await workerA.refresh('docs');
    expect(workerA.collection('docs').describe()).toMatchObject({ count: 25, segments: 1, manifestVersion: 1, tailLength: 5, lastSeq: 2 });
    const hit = await workerA.collection('docs').search(vectorOf('p3', 8), { k: 1 });
    expect(hit.hits[0].id).toBe('p3');

    // The lease was released at close: the next indexer (another process) takes it at once.
    const next = await HyperspaceDB.open(stores, { indexer: false, owner: 'indexer-2', collections: ['docs'] });
    await next.collection('docs').flush();
    await next.close();
    await workerB.refresh('docs');
    expect(workerB.collection('docs').describe()).toMatchObject({ count: 25, segments: 2, manifestVersion: 2, tailLength: 0 });

    // Created and dropped elsewhere.
    await setup.createCollection('more', { dimension: 4, metric: 'cosine' });
    await workerA.refresh();
    expect(workerA.listCollections().map((c) => c.name)).toEqual(['docs', 'more']);
    await setup.dropCollection('more');
    await expectError(() => workerA.refresh('more'), 'not_found', 'collection not found: name=more');
    expect(workerA.listCollections().map((c) => c.name)).toEqual(['docs']);
    for (const db of [setup, workerA, workerB]) await db.close();
  });
});
