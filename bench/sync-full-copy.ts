// Full-copy benchmark of replication (issue 6): the path an empty replica or
// a large divergence takes. A leader with N records of D-d in one segment;
//   (1) full copy: an empty replica catches up from seq 0 (pages of 10,000),
//   (2) large repair: a replica holding the other half of the id space
//       (N/2 records the leader lacks, N/2 missing) repairs from the digest.
// In process (engine/sync.ts localSource: the same frames a transport moves,
// counted), so the time is the sync code's, not the network's. Run at two
// sizes to see how it grows: linear work doubles, quadratic quadruples.
//   bash bench/run.sh sync-full-copy [--records 100000] [--dimension 64]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HyperspaceDB } from '../engine/index.ts';
import { localSource, syncReplica } from '../engine/sync.ts';

const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, dimension: { type: 'string', default: '64' }, skip: { type: 'string', default: '' } } });
const N = Number(values.records), dimension = Number(values.dimension);
const skip = new Set(values.skip.split(',').filter(Boolean));
const batch = 10_000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const dirs: string[] = [];
const scratch = async () => { const d = await mkdtemp(join(tmpdir(), 'hs-bench-full-')); dirs.push(d); return d; };
const options = { indexer: false as const, tailRecordsMax: 2 * N + batch, tailBytesMax: 8 * N * dimension + (1 << 30) };
const config = { dimension, metric: 'l2' as const, hnsw: { M: 4, efConstruction: 16 } };
const seconds = (t0: number) => (performance.now() - t0) / 1000;
// CPU seconds (this process, all threads): wall time on a shared machine measures the neighbours too.
const cpuSeconds = (c0: NodeJS.CpuUsage) => { const c = process.cpuUsage(c0); return +((c.user + c.system) / 1e6).toFixed(2); };

function vector(i: number): Float32Array {
  const v = new Float32Array(dimension);
  let s = (i * 2654435761) >>> 0 || 1;
  for (let j = 0; j < dimension; j++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; v[j] = s / 4294967296 - 0.5; }
  return v;
}

async function fill(collection: { upsert: (p: { id: string; vector: Float32Array; metadata: { i: number } }[]) => Promise<unknown> }, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += batch) {
    await collection.upsert(Array.from({ length: Math.min(batch, to - at) }, (_, j) => ({ id: `rec-${at + j}`, vector: vector(at + j), metadata: { i: at + j } })));
  }
}

try {
  const leaderDb = await HyperspaceDB.open(await scratch(), options);
  const leader = await leaderDb.createCollection('bench', config);
  let t0 = performance.now();
  await fill(leader, 0, N);
  await leader.flush();
  log(`leader: ${N} records written and flushed in ${seconds(t0).toFixed(1)} s`);
  const result: Record<string, unknown> = { records: N, dimension };

  if (!skip.has('full')) {
    const replicaDb = await HyperspaceDB.open(await scratch(), options);
    const replica = await replicaDb.createCollection('bench', config);
    const source = localSource(leader);
    t0 = performance.now();
    const c0 = process.cpuUsage();
    const report = await syncReplica(replica, source);
    result.fullCopy = { seconds: +seconds(t0).toFixed(2), cpuSeconds: cpuSeconds(c0), bytes: source.counter.bytes, pages: report.pages, converged: report.root === (await leader.digest()).root };
    log(`full copy: ${JSON.stringify(result.fullCopy)}`);
    await replicaDb.close();
  }

  if (!skip.has('repair')) {
    // A replica that diverged by half: it holds rec-N/2..rec-3N/2, with a leader seq of its own.
    const otherDb = await HyperspaceDB.open(await scratch(), options);
    const other = await otherDb.createCollection('bench', config);
    await fill(other, N / 2, N + N / 2);
    const replicaDb = await HyperspaceDB.open(await scratch(), options);
    const replica = await replicaDb.createCollection('bench', config);
    await syncReplica(replica, localSource(other));
    await replica.flush();
    await replica.digest();
    const source = localSource(leader);
    t0 = performance.now();
    const c0 = process.cpuUsage();
    const report = await syncReplica(replica, source);
    result.largeRepair = { seconds: +seconds(t0).toFixed(2), cpuSeconds: cpuSeconds(c0), bytes: source.counter.bytes, mode: report.mode, ...report.repair, converged: report.root === (await leader.digest()).root };
    log(`large repair: ${JSON.stringify(result.largeRepair)}`);
    await Promise.all([replicaDb.close(), otherDb.close()]);
  }
  console.log(JSON.stringify(result));
  await leaderDb.close();
} finally {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
