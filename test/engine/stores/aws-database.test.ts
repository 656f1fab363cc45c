// The whole engine on the AWS stores (DynamoDB Local + s3rver): create, upsert
// (a 1,000 × 128-d batch spilled to S3 and small ones inline), search with
// read-your-writes, flush a segment into S3, and a fresh database instance —
// another process, as a new Lambda would be — sees everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../../engine/index.ts';
import { DynamoLogStore } from '../../../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../../../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../../harness/emulators.ts';
import { vectorOf } from '../engine-data.ts';

let emulators: Emulators;
beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(async () => {
  await emulators?.stop();
});

const dimension = 128;
const point = (id: string) => ({ id, vector: vectorOf(id, dimension), metadata: { group: (Number(id.slice(1)) || 0) % 3 } });

describe('HyperspaceDB on S3 and DynamoDB', () => {
  it('serves writes before and after a flush, and a fresh instance on the same stores sees everything', async () => {
    const table = await emulators.newTable();
    const bucket = await emulators.newBucket();
    // Each instance gets its own clients, as separate processes would.
    const openStores = () => {
      const objects = new S3ObjectStore({ bucket, client: emulators.s3Client() });
      return { objects, log: new DynamoLogStore({ table, objects, client: emulators.dynamoClient() }) };
    };
    const first = openStores();
    const db = await HyperspaceDB.open(first, { indexer: false, owner: 'lambda-1' });
    const docs = await db.createCollection('docs', { dimension, metric: 'l2' });

    const bulk = Array.from({ length: 1000 }, (_, i) => point(`p${i}`));
    expect(await docs.upsert(bulk)).toEqual({ seq: 1 });
    expect(await first.objects.list('collections/docs/wal/')).toHaveLength(1); // 512 KB went to S3
    for (let i = 0; i < 5; i++) await docs.upsert([point(`q${i}`)]);
    const nearest = async (c: typeof docs, id: string) => (await c.search(vectorOf(id, dimension), { k: 1 })).hits[0]?.id;
    expect(await nearest(docs, 'p17')).toBe('p17'); // read-your-writes from the tail
    expect(await nearest(docs, 'q3')).toBe('q3');

    await docs.flush();
    const segments = await first.objects.list('collections/docs/segments/');
    expect(segments).toHaveLength(1);
    expect(await first.log.getPointer('docs')).toMatchObject({ version: 1 });
    expect(await nearest(docs, 'p17')).toBe('p17'); // now from the segment

    await docs.upsert([point('after-flush')]);
    await docs.delete(['p5', 'q0']);
    expect(await docs.count()).toBe(1000 + 5 + 1 - 2);
    await db.close();

    const fresh = await HyperspaceDB.open(openStores(), { indexer: false, owner: 'lambda-2' });
    const again = fresh.collection('docs');
    expect(again.describe()).toMatchObject({ name: 'docs', dimension, metric: 'l2', segments: 1, manifestVersion: 1 });
    expect(await again.count()).toBe(1004);
    expect(await nearest(again, 'p999')).toBe('p999');
    expect(await nearest(again, 'after-flush')).toBe('after-flush');
    expect(await again.get('p5')).toBeNull();
    expect(await again.get('q0')).toBeNull();
    const p42 = await again.get('p42');
    expect(p42?.metadata).toEqual({ group: 0 });
    expect(Array.from(p42!.vector)).toEqual(Array.from(vectorOf('p42', dimension)));
    const live = [...bulk, ...[0, 1, 2, 3, 4].map((i) => point(`q${i}`)), point('after-flush')].filter((p) => p.id !== 'p5' && p.id !== 'q0');
    expect(await again.count({ filter: { group: 1 } })).toBe(live.filter((p) => p.metadata.group === 1).length);

    // The fresh instance indexes the rest: a second segment in S3, pointer v2.
    await again.flush();
    expect(await first.objects.list('collections/docs/segments/')).toHaveLength(2);
    expect(await first.log.getPointer('docs')).toMatchObject({ version: 2 });
    await fresh.close();
  });
});
