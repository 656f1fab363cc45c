// The HyperspaceDB side of bench/serverless-child.ts, in its own module so the
// bundle splits here: the LanceDB child never loads the engine or the AWS SDK.
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HyperspaceDB } from '../engine/index.ts';
import { S3ObjectStore, s3ClientConfig } from '../engine/stores/s3-object-store.ts';
import { DynamoLogStore } from '../engine/stores/dynamo-log-store.ts';
import { SegmentCache } from '../functions/lambda/segment-cache.ts';
import type { ChildConfig, Engine } from './serverless-child.ts';

// s3rver's built-in account (not imported from the entry: a cycle with its top-level await would deadlock).
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// Evaluated once this module is imported: the engine, the addon and the SDK are loaded.
export async function openHyperspace(config: ChildConfig, phasesMs: Record<string, number>): Promise<Engine> {
  phasesMs.loaded = performance.now();
  const s3 = new S3ObjectStore({ bucket: config.bucket, client: traced(new S3Client(s3ClientConfig({ endpoint: config.s3, credentials }))) });
  const objects = new SegmentCache(s3, { directory: config.cacheDirectory, bytesMax: 2 * 1024 ** 3 });
  const log = new DynamoLogStore({
    table: config.table, objects: s3,
    client: traced(new DynamoDBClient({ region: 'us-east-1', endpoint: config.dynamo, credentials, maxAttempts: 3 })),
  });
  // As the function-URL worker does: open with nothing loaded, then refresh the named collection.
  const db = await HyperspaceDB.open({ objects, log }, { indexer: false, leases: false, collections: [] });
  await db.refresh(config.collection);
  phasesMs.opened = performance.now();
  const collection = db.collection(config.collection);
  return {
    async search(vector, mode) {
      if (mode === 'strong') await db.refresh(config.collection);
      const { hits } = await collection.search(vector, { k: config.k, consistency: mode });
      return hits.map((h) => Number(h.id));
    },
    detail: () => ({ cache: objects.describe(), collection: collection.describe() }),
  };
}

/** With SERVERLESS_BENCH_TRACE set, every AWS call of the cold path is printed with its start and duration. */
function traced<T extends { send: (...args: any[]) => Promise<unknown> }>(client: T): T {
  if (!process.env.SERVERLESS_BENCH_TRACE) return client;
  const send = client.send.bind(client);
  client.send = (async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    const t0 = performance.now();
    try { return await send(command, ...rest); } finally {
      console.log(`trace ${command.constructor.name} at ${t0.toFixed(0)} ms took ${(performance.now() - t0).toFixed(1)} ms`);
    }
  }) as T['send'];
  return client;
}

