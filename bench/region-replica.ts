// Region replication (engine/region-replicator.ts, docs/aws.md "Region
// replicas") between two "regions" — two DynamoDB Local + s3rver pairs on
// loopback: a first copy, a run after 1 % changed (upserts and deletes folded
// into a segment, more upserts still in the WAL tail) and an idle run. Bytes
// read from the home, bytes written to the replica, wall time; the replica's
// Merkle root is compared with the home's after each commit.
//
//   bash bench/run.sh region-replica [--records 20000] [--segments 4]
import { parseArgs } from 'node:util';
import { HyperspaceDB } from '../engine/index.ts';
import { replicateCollection, type StorePair } from '../engine/region-replicator.ts';
import { DynamoLogStore } from '../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../test/harness/emulators.ts';

const { values: flags } = parseArgs({ options: { records: { type: 'string', default: '20000' }, segments: { type: 'string', default: '4' } } });
const records = Number(flags.records), segments = Number(flags.segments), dimension = 64;
const vector = (i: number, version = 0) => Array.from({ length: dimension }, (_, d) => Math.sin(i * 7.3 + d * 0.11 + version));

async function stores(emulators: Emulators): Promise<StorePair> {
  const objects = new S3ObjectStore({ bucket: await emulators.newBucket(), client: emulators.s3Client() });
  return { objects, log: new DynamoLogStore({ table: await emulators.newTable(), objects, client: emulators.dynamoClient() }) };
}

const regions = await Promise.all([startEmulators(), startEmulators()]);
try {
  const [home, replica] = await Promise.all(regions.map(stores));
  const db = await HyperspaceDB.open(home, { indexer: false, owner: 'bench-home' });
  const c = await db.createCollection('r', { dimension, metric: 'l2' });
  const per = Math.ceil(records / segments);
  for (let start = 0; start < records; start += per) {
    for (let i = start; i < Math.min(records, start + per); i += 1000) {
      const end = Math.min(records, start + per, i + 1000);
      await c.upsert(Array.from({ length: end - i }, (_, j) => ({ id: `p${i + j}`, vector: vector(i + j), metadata: { i: i + j } })));
    }
    await c.flush();
  }

  const run = async (label: string) => {
    const t0 = performance.now();
    const r = await replicateCollection({ home, replica, owner: `bench-${label}` }, 'r');
    const ms = performance.now() - t0;
    const reader = await HyperspaceDB.open(replica, { indexer: false, leases: false });
    const [a, b] = [await c.digest(), await reader.collection('r').digest()];
    await reader.close();
    console.log(`${label}: ${r.outcome} in ${ms.toFixed(0)} ms — segments copied ${r.segmentsCopied}, bytes copied ${r.bytesCopied}, ` +
      `read from home ${r.bytesFetched}, tail records ${r.tailRecords} (tail segment ${r.tailSegmentBytes} B); ` +
      `roots ${a.root === b.root ? 'equal' : 'DIFFER'} at home seq ${a.consistency.walSeq} / replica ${b.consistency.walSeq}`);
  };
  await run('first copy');
  // 1 %: half of it upserts (new versions), a quarter deletes, folded; another quarter upserts left in the tail.
  const changed = Math.max(4, Math.round(records / 100));
  await c.upsert(Array.from({ length: changed / 2 }, (_, j) => ({ id: `p${j * 7}`, vector: vector(j * 7, 1), metadata: { i: j * 7, v: 1 } })));
  await c.delete(Array.from({ length: changed / 4 }, (_, j) => `p${j * 11 + 3}`));
  await c.flush();
  await c.upsert(Array.from({ length: changed / 4 }, (_, j) => ({ id: `q${j}`, vector: vector(records + j), metadata: {} })));
  await run('after 1 % changed');
  await run('nothing changed');
  await db.close();
} finally {
  await Promise.all(regions.map((r) => r.stop()));
}
