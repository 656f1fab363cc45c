// Index build throughput (issue #3): 100,000 128-d vectors folded into one
// segment by `collection.flush()`, next to hnswlib-node building the same
// vectors with the same M = 16, efConstruction = 200 in the same run, and to
// our native `buildIndex` alone on one and on two threads (the graph build
// without the engine's segment work: ids, leaf hashes, file write, manifest).
//
// Data: seeded gaussian clusters (bench/measure.ts), because the spec
// is 128-d and none of our real data sets is 128-d. Each built index is then
// searched with 1,000 held-out queries from the same distribution at ef = 64,
// so the build rate stands next to the recall@10 of what was built.
//
//   npm run bench:build -- [--count 100000] [--dimension 128] [--rounds 1]

import { parseArgs } from 'node:util';
import { HyperspaceDB } from '../engine/index.ts';
import { buildIndex, Index } from '../native/index.ts';
import { groundTruth, recallAt10 } from './datasets.ts';
import { gaussianClusters, installedVersion, loadAverage, positiveNumber, scratchDirectory, tailChunksBuilt, upsertRows, writeResults } from './measure.ts';
import { hnswlib } from './peers.ts';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    dimension: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '1' },
  },
  strict: true,
});
const count = positiveNumber('count', flags.count);
const dimension = positiveNumber('dimension', flags.dimension);
const rounds = positiveNumber('rounds', flags.rounds);
const m = 16;
const efConstruction = 200;
const searchEf = 64;
const k = 10;
const queryCount = 1000;
const seed = 0xb0117d;

interface BuildRun {
  engine: string;
  round: number;
  buildMs: number;
  vectorsPerSecond: number;
  /** Process CPU (all threads) during the build, in cores: how much of the machine it got. */
  cores: number;
  /** Vectors per second of process CPU: the rate with the machine to itself, per core it uses. */
  vectorsPerCpuSecond: number;
  recallAt10: number;
  loadAverage: number[];
}

// Base and queries come from one draw, so they share the cluster centres.
const all = gaussianClusters(count + queryCount, dimension, seed);
const train = all.subarray(0, count * dimension);
const queries = all.subarray(count * dimension);
console.log(`build: ${count} × ${dimension}-d gaussian clusters (seed ${seed}), M=${m}, efConstruction=${efConstruction} (load ${loadAverage().join(' ')})`);
const truth = await groundTruth(train, queries, dimension, 'l2', k);
const query = (q: number) => queries.subarray(q * dimension, (q + 1) * dimension);

type Searcher = (q: Float32Array) => ArrayLike<number> | Promise<ArrayLike<number>>;

async function timed(run: () => Promise<Searcher>, engine: string, round: number): Promise<BuildRun> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const search = await run();
  const buildMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const found: number[][] = [];
  for (let q = 0; q < queryCount; q++) found.push(Array.from(await search(query(q)), Number));
  const result: BuildRun = {
    engine, round, buildMs: Math.round(buildMs), vectorsPerSecond: Math.round(count / (buildMs / 1000)),
    cores: Math.round(((cpu.user + cpu.system) / 1000 / buildMs) * 100) / 100,
    vectorsPerCpuSecond: Math.round(count / ((cpu.user + cpu.system) / 1e6)),
    recallAt10: recallAt10(found, truth.ids), loadAverage: loadAverage(),
  };
  console.log(`  ${engine.padEnd(30)} ${(buildMs / 1000).toFixed(1).padStart(6)} s  ${result.vectorsPerSecond.toString().padStart(6)} vectors/s  ${result.cores} cores  ${result.vectorsPerCpuSecond} vectors/CPU-s  recall@10 ${result.recallAt10.toFixed(4)} (ef ${searchEf})  load ${result.loadAverage.join(' ')}`);
  return result;
}

/** The timed part is `flush()` alone: the upserts (WAL, tail) come before, and the tail's own chunk builds are waited out. */
async function engineFlush(round: number): Promise<BuildRun> {
  const db = await HyperspaceDB.open(scratchDirectory('build'), { indexer: false });
  const collection = await db.createCollection('build', { dimension, metric: 'l2', hnsw: { M: m, efConstruction } });
  await upsertRows(collection, train, dimension, 0, count);
  await tailChunksBuilt(collection);
  const run = await timed(async () => {
    await collection.flush();
    return async (q) => (await collection.search(q, { k, ef: searchEf })).hits.map((h) => Number(h.id));
  }, 'hyperspace collection.flush()', round);
  await db.close();
  return run;
}

async function nativeBuild(threads: number, round: number): Promise<BuildRun> {
  return timed(async () => {
    const index = Index.open(await buildIndex(train, { dimension, metric: 'l2', m, efConstruction, seed: 1, threads }));
    return (q) => index.search(q, { k, ef: searchEf }).positions;
  }, `hyperspace buildIndex ${threads} thread${threads > 1 ? 's' : ''}`, round);
}

async function hnswlibBuild(round: number): Promise<BuildRun> {
  const engine = await hnswlib();
  return timed(async () => {
    await engine.build(train, dimension, 'l2', { m, efConstruction, threads: 1 });
    engine.setEf(searchEf);
    return (q) => engine.search(engine.prepareQuery!(q), k);
  }, 'hnswlib-node addPoint (1 thread)', round);
}

const runs: BuildRun[] = [];
const loadBefore = loadAverage();
for (let round = 0; round < rounds; round++) {
  const order = [() => engineFlush(round), () => hnswlibBuild(round), () => nativeBuild(2, round), () => nativeBuild(1, round)];
  for (let i = 0; i < order.length; i++) runs.push(await order[(i + round) % order.length]());
}
console.log(`results: ${writeResults('build', {
  count, dimension, m, efConstruction, searchEf, queryCount, seed, hnswlibNode: installedVersion('hnswlib-node'),
  runs, loadAverage: { before: loadBefore, after: loadAverage() },
})}`);
