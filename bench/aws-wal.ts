// Acknowledged writes through the DynamoDB WAL (docs/format/dynamodb.md), on
// DynamoDB Local and s3rver started on loopback by the test harness:
//
// 1. latency of single acknowledged writes, one at a time: engine upserts of
//    B × D batches (1,000 × 128-d by default: 512 KB, spilled to S3 then one
//    transaction) and of one vector (inline: one transaction);
// 2. throughput of W concurrent writers for S seconds, both as W store
//    instances on one table (W Lambdas racing on the head) and as W writers
//    sharing one instance (grouped into one transaction per round trip).
//
// Loopback hides AWS's network (a DynamoDB transaction is ~10–20 ms there, an
// S3 PUT 20–50 ms): these figures are the store's own cost, not AWS's.
//
//   bash bench/run.sh aws-wal [--batches 100] [--seconds 10] [--writers 4] [--batch 1000] [--dimension 128]

import { parseArgs } from 'node:util';
import { HyperspaceDB } from '../engine/index.ts';
import { DynamoLogStore } from '../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../test/harness/emulators.ts';
import { gaussianClusters, Latencies, positiveNumber, writeResults, type LatencySummary } from './measure.ts';

const { values: flags } = parseArgs({
  options: {
    batches: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    batch: { type: 'string', default: '1000' },
    dimension: { type: 'string', default: '128' },
  },
  strict: true,
});
const batches = positiveNumber('batches', flags.batches);
const seconds = positiveNumber('seconds', flags.seconds);
const writerCount = positiveNumber('writers', flags.writers);
const batchSize = positiveNumber('batch', flags.batch);
const dimension = positiveNumber('dimension', flags.dimension);
const pool = gaussianClusters(20_000, dimension, 7);

let sequence = 0;
function points(count: number) {
  return Array.from({ length: count }, () => {
    const i = sequence++;
    const from = (i % 20_000) * dimension;
    return { id: `p${i}`, vector: pool.subarray(from, from + dimension), metadata: { n: i } };
  });
}

async function openDatabase(emulators: Emulators, table: string, bucket: string, owner: string) {
  const objects = new S3ObjectStore({ bucket, client: emulators.s3Client() });
  const log = new DynamoLogStore({ table, objects, client: emulators.dynamoClient() });
  const db = await HyperspaceDB.open({ objects, log }, { indexer: false, owner, leases: false } as never);
  return { db, log };
}

const ms = (summary: LatencySummary) => `p50 ${(summary.p50Us / 1000).toFixed(1)} ms, p99 ${(summary.p99Us / 1000).toFixed(1)} ms`;

async function sequentialLatency(emulators: Emulators, label: string, size: number): Promise<LatencySummary> {
  const table = await emulators.newTable();
  const bucket = await emulators.newBucket();
  const { db, log } = await openDatabase(emulators, table, bucket, 'bench');
  const collection = await db.createCollection('docs', { dimension, metric: 'l2' });
  for (let i = 0; i < 5; i++) await collection.upsert(points(size)); // warm-up: JIT, connections
  const latencies = new Latencies();
  for (let i = 0; i < batches; i++) {
    const batch = points(size);
    const started = process.hrtime.bigint();
    await collection.upsert(batch);
    latencies.recordSince(started);
  }
  const summary = latencies.summary();
  console.log(`${label}: ${ms(summary)} over ${summary.count} (spilled groups ${log.stats.spilledGroups} of ${log.stats.groups})`);
  await db.close();
  return summary;
}

async function concurrentWriters(emulators: Emulators, label: string, size: number, separateInstances: boolean) {
  const table = await emulators.newTable();
  const bucket = await emulators.newBucket();
  const setup = await openDatabase(emulators, table, bucket, 'setup');
  await setup.db.createCollection('docs', { dimension, metric: 'l2' });
  const instances = separateInstances
    ? await Promise.all(Array.from({ length: writerCount }, (_, i) => openDatabase(emulators, table, bucket, `writer-${i}`)))
    : [setup];
  const latencies = new Latencies();
  let acknowledged = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: writerCount }, async (_, w) => {
    const collection = instances[w % instances.length].db.collection('docs');
    while (Date.now() < deadline) {
      const batch = points(size);
      const started = process.hrtime.bigint();
      await collection.upsert(batch);
      latencies.recordSince(started);
      acknowledged++;
    }
  }));
  const summary = latencies.summary();
  const stats = instances.map((i) => i.log.stats);
  const sum = (key: keyof (typeof stats)[number]) => stats.reduce((total, s) => total + s[key], 0);
  const perSecond = acknowledged / seconds;
  console.log(
    `${label}: ${perSecond.toFixed(0)} appends/s (${(perSecond * size).toFixed(0)} vectors/s), ${ms(summary)}; ` +
      `${sum('groups')} transactions, ${sum('lostRaces')} lost races, ${sum('readBacks')} read-backs`,
  );
  for (const instance of new Set([setup, ...instances])) await instance.db.close();
  return { appendsPerSecond: perSecond, vectorsPerSecond: perSecond * size, latency: summary, transactions: sum('groups'), lostRaces: sum('lostRaces') };
}

const emulators = await startEmulators({ quickStart: false });
try {
  const report = {
    batch: { size: batchSize, dimension },
    latency: {
      bulk: await sequentialLatency(emulators, `1 writer, ${batchSize}×${dimension}-d upserts`, batchSize),
      single: await sequentialLatency(emulators, `1 writer, 1×${dimension}-d upserts`, 1),
    },
    throughput: {
      separateInstancesSingle: await concurrentWriters(emulators, `${writerCount} instances, 1-vector upserts`, 1, true),
      sharedInstanceSingle: await concurrentWriters(emulators, `${writerCount} writers in 1 instance, 1-vector upserts`, 1, false),
      separateInstancesBulk: await concurrentWriters(emulators, `${writerCount} instances, ${batchSize}×${dimension}-d upserts`, batchSize, true),
    },
  };
  console.log(`results: ${writeResults('aws-wal', report)}`);
} finally {
  await emulators.stop();
}
