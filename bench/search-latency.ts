// Search latency of the embedded engine on MNIST-784 (issue #3): k = 10,
// one query per call through `collection.search` (validation, every segment,
// the tail, the merge), p50/p99 from an HDR histogram, recall@10 against the
// exact top-10 of all 60,000 base vectors.
//
//   (a) indexed    all 60,000 in one segment (flush + compact)
//   (b) tail 10%   54,000 in one segment, the last 6,000 upserted after it with
//                  the indexer off: they stay in the unindexed tail, which
//                  indexes 4,096-slot chunks in memory and scans the rest
//   (c) eventual   (b) searched with consistency "eventual": the tail is skipped,
//                  so recall is against data the search cannot see by design
//
// Scenarios run in rounds, in rotating order, so drift on the shared machine
// hits them alike. Latency percentiles are over all rounds; recall is from the
// first, and the percentiles of each query's fastest round stand next to them
// (FastestPerRequest in bench/measure.ts: on a loaded machine the plain p99
// measures the scheduler).
//
//   npm run bench:latency -- [--queries 1000] [--rounds 3] [--efs default,32,128] [--warmup 100]

import { parseArgs } from 'node:util';
import { HyperspaceDB, type Collection, type SearchOptions } from '../engine/index.ts';
import { groundTruth, mnist, recallAt10, type Dataset } from './datasets.ts';
import { FastestPerRequest, Latencies, loadAverage, positiveNumber, scratchDirectory, tailChunksBuilt, upsertRows, writeResults, type LatencySummary } from './measure.ts';

const { values: flags } = parseArgs({
  options: {
    queries: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    efs: { type: 'string', default: 'default,32,128' },
    warmup: { type: 'string', default: '100' },
  },
  strict: true,
});
const queryCount = positiveNumber('queries', flags.queries);
const rounds = positiveNumber('rounds', flags.rounds);
const warmup = Number(flags.warmup);
const efs = flags.efs!.split(',').map((text) => (text === 'default' ? undefined : positiveNumber('efs', text)));
const k = 10;
const tailFraction = 0.1;

async function load(data: Dataset, label: string, indexedCount: number): Promise<{ db: HyperspaceDB; collection: Collection; buildMs: number }> {
  const db = await HyperspaceDB.open(scratchDirectory(label), { indexer: false });
  const collection = await db.createCollection('mnist', { dimension: data.dimension, metric: 'l2' });
  await upsertRows(collection, data.train, data.dimension, 0, indexedCount);
  const started = performance.now();
  await collection.flush();
  await collection.compact();
  const buildMs = performance.now() - started;
  await upsertRows(collection, data.train, data.dimension, indexedCount, data.trainCount);
  return { db, collection, buildMs };
}

interface Scenario {
  name: string;
  collection: Collection;
  options: SearchOptions;
}
interface Measurement {
  scenario: string;
  ef: number | 'default';
  recallAt10: number;
  latency: LatencySummary;
  /** Percentiles of each query's fastest round. */
  bestOfRounds: LatencySummary;
}

const data = mnist();
const queries = data.test.subarray(0, queryCount * data.dimension);
console.log(`search-latency: ${data.name}, ${data.trainCount} base, ${queryCount} queries, k=${k} (load ${loadAverage().join(' ')})`);
const truth = await groundTruth(data.train, queries, data.dimension, data.metric, k);
const loadBefore = loadAverage();
const indexed = await load(data, 'latency-indexed', data.trainCount);
const tailCount = Math.round(data.trainCount * tailFraction);
const withTail = await load(data, 'latency-tail', data.trainCount - tailCount);
const tailChunkWaitMs = await tailChunksBuilt(withTail.collection);
const describedTail = withTail.collection.describe();
console.log(`  built: indexed ${(indexed.buildMs / 1000).toFixed(1)} s, tail scenario ${(withTail.buildMs / 1000).toFixed(1)} s; tail ${describedTail.tailLength} records, chunks ready after ${tailChunkWaitMs.toFixed(0)} ms`);

const scenarios: Scenario[] = [
  { name: 'indexed', collection: indexed.collection, options: {} },
  { name: 'tail 10% (strong)', collection: withTail.collection, options: { consistency: 'strong' } },
  { name: 'tail 10% (eventual)', collection: withTail.collection, options: { consistency: 'eventual' } },
];

const measurements: Measurement[] = [];
for (const ef of efs) {
  const histograms = scenarios.map(() => new Latencies());
  const fastest = scenarios.map(() => new FastestPerRequest(queryCount));
  const recalls: number[] = [];
  for (const [s, scenario] of scenarios.entries()) {
    const options = { ...scenario.options, k, ef };
    for (let q = 0; q < Math.min(warmup, queryCount); q++) await scenario.collection.search(queries.subarray(q * data.dimension, (q + 1) * data.dimension), options);
    const found: number[][] = [];
    for (let q = 0; q < queryCount; q++) {
      const { hits } = await scenario.collection.search(queries.subarray(q * data.dimension, (q + 1) * data.dimension), options);
      found.push(hits.map((h) => Number(h.id)));
    }
    recalls[s] = recallAt10(found, truth.ids);
  }
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < scenarios.length; i++) {
      const s = (round + i) % scenarios.length;
      const { collection, options } = scenarios[s];
      const searchOptions = { ...options, k, ef };
      for (let q = 0; q < queryCount; q++) {
        const query = queries.subarray(q * data.dimension, (q + 1) * data.dimension);
        const started = process.hrtime.bigint();
        await collection.search(query, searchOptions);
        fastest[s].record(q, histograms[s].recordSince(started));
      }
    }
  }
  for (const [s, scenario] of scenarios.entries()) {
    const m: Measurement = { scenario: scenario.name, ef: ef ?? 'default', recallAt10: recalls[s], latency: histograms[s].summary(), bestOfRounds: fastest[s].summary() };
    measurements.push(m);
    console.log(`  ${m.scenario.padEnd(20)} ef=${String(m.ef).padEnd(7)} recall@10 ${m.recallAt10.toFixed(4)}  p50 ${m.latency.p50Us} µs  p99 ${m.latency.p99Us} µs  max ${m.latency.maxUs} µs | best of ${rounds}: p50 ${m.bestOfRounds.p50Us} µs  p99 ${m.bestOfRounds.p99Us} µs`);
  }
}
const loadAfter = loadAverage();
console.log(`  load before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);
await indexed.db.close();
await withTail.db.close();
console.log(`results: ${writeResults('search-latency', {
  dataset: data.name, baseCount: data.trainCount, queryCount, k, rounds, tailCount,
  buildMs: { indexed: Math.round(indexed.buildMs), tailScenario: Math.round(withTail.buildMs) }, tailChunkWaitMs: Math.round(tailChunkWaitMs),
  measurements, loadAverage: { before: loadBefore, after: loadAfter },
})}`);
