// Sustained acknowledged ingest into the embedded engine (issue #3): W
// concurrent writers of B-vector batches for S seconds, WAL fsync on (the
// local WAL always syncs before it acknowledges; group commit shares one sync
// among the batches waiting), background indexer on at its defaults. Reports
// the acknowledged rate while the unindexed tail still has room, the rate once
// backpressure (`overloaded`) binds, the indexer's rate (records folded into
// segments per second) and the tail length sampled every second.
//
//   npm run bench:ingest -- [--seconds 60] [--dimensions 128,784] [--writers 4] [--batch 1000]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HyperspaceDB, HyperspaceError, LocalLogStore, LocalObjectStore, limits } from '../engine/index.ts';
import { gaussianClusters, Latencies, loadAverage, positiveNumber, scratchDirectory, sleep, writeResults, type LatencySummary } from './measure.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    dimensions: { type: 'string', default: '128,784' },
    writers: { type: 'string', default: '4' },
    batch: { type: 'string', default: '1000' },
  },
  strict: true,
});
const seconds = positiveNumber('seconds', flags.seconds);
const dimensions = flags.dimensions!.split(',').map((text) => positiveNumber('dimensions', text));
const writerCount = positiveNumber('writers', flags.writers);
const batchSize = positiveNumber('batch', flags.batch);
/** Distinct base vectors; batches cycle through them with a per-cycle nudge so no two vectors are equal. */
const poolVectors = 32_000;
const backoffMsMin = 5;
const backoffMsMax = 200;

interface Sample {
  second: number;
  acknowledged: number;
  indexed: number;
  tailLength: number;
  segments: number;
}

interface IngestReport {
  dimension: number;
  seconds: number;
  acknowledged: number;
  /** Vectors acknowledged per second over the whole run. */
  acknowledgedPerSecond: number;
  /** Until the first `overloaded` (the whole run when there was none). */
  whileTailHasRoom: { seconds: number; acknowledgedPerSecond: number };
  /** From the first `overloaded` to the end. */
  underBackpressure: { seconds: number; acknowledgedPerSecond: number } | null;
  /** Records folded into segments per second over the run (count − tail). */
  indexerPerSecond: number;
  overloadedErrors: number;
  batchLatency: LatencySummary;
  tailLengthMax: number;
  tailLengthFinal: number;
  tailRecordsMax: number;
  wal: { appends: number; groupCommits: number; fsyncs: number; bytesWritten: number };
  /** Process CPU (user + system, all threads: JS, WAL I/O, native builds) per acknowledged vector, and CPU ÷ wall time. */
  cpu: { microsecondsPerVector: number; utilization: number };
  closeMs: number;
  samples: Sample[];
  loadAverage: { before: number[]; after: number[] };
}

async function ingest(dimension: number): Promise<IngestReport> {
  const directory = scratchDirectory(`ingest-${dimension}`);
  const log = await LocalLogStore.open(join(directory, 'log'));
  const objects = await LocalObjectStore.open(join(directory, 'objects'));
  const stores = { objects, log, close: () => log.close() };
  const db = await HyperspaceDB.open(stores);
  const collection = await db.createCollection('ingest', { dimension, metric: 'l2' });
  const pool = gaussianClusters(poolVectors, dimension, 0x1a6e57 + dimension);
  const poolBatches = Math.floor(poolVectors / batchSize);
  const loadBefore = loadAverage();

  let acknowledged = 0;
  let overloadedErrors = 0;
  let nextBatch = 0;
  let firstOverloadMs: number | undefined;
  let acknowledgedAtFirstOverload = 0;
  const latency = new Latencies();
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  const endMs = startedMs + seconds * 1000;

  const makeBatch = (batchNumber: number) => {
    const vectors = new Float32Array(batchSize * dimension);
    const first = (batchNumber % poolBatches) * batchSize;
    vectors.set(pool.subarray(first * dimension, (first + batchSize) * dimension));
    const cycle = Math.floor(batchNumber / poolBatches);
    for (let row = 0; row < batchSize; row++) vectors[row * dimension + (cycle % dimension)] += 0.01 * cycle;
    return Array.from({ length: batchSize }, (_, row) => ({ id: `b${batchNumber}-${row}`, vector: vectors.subarray(row * dimension, (row + 1) * dimension) }));
  };

  const writer = async () => {
    let backoffMs = backoffMsMin;
    while (performance.now() < endMs) {
      const points = makeBatch(nextBatch++);
      while (performance.now() < endMs) {
        const started = process.hrtime.bigint();
        try {
          await collection.upsert(points);
        } catch (error) {
          if (!(error instanceof HyperspaceError) || error.kind !== 'overloaded') throw error;
          overloadedErrors++;
          if (firstOverloadMs === undefined) {
            firstOverloadMs = performance.now();
            acknowledgedAtFirstOverload = acknowledged;
          }
          await sleep(backoffMs * (0.5 + Math.random()));
          backoffMs = Math.min(backoffMsMax, backoffMs * 2);
          continue;
        }
        latency.recordSince(started);
        acknowledged += batchSize;
        backoffMs = backoffMsMin;
        break;
      }
    }
  };

  const samples: Sample[] = [];
  const sample = () => {
    const d = collection.describe();
    samples.push({ second: Math.round((performance.now() - startedMs) / 100) / 10, acknowledged, indexed: d.count - d.tailLength, tailLength: d.tailLength, segments: d.segments });
  };
  sample();
  const sampler = setInterval(sample, 1000);
  await Promise.all(Array.from({ length: writerCount }, writer));
  clearInterval(sampler);
  sample();
  const elapsedS = (performance.now() - startedMs) / 1000;
  const cpuUsed = process.cpuUsage(cpuBefore);
  const cpuUs = cpuUsed.user + cpuUsed.system;
  const loadAfter = loadAverage();
  const walStats = { appends: log.stats.appends, groupCommits: log.stats.groupCommits, fsyncs: log.stats.fsyncs, bytesWritten: log.stats.bytesWritten };

  const closeStarted = performance.now();
  await db.close();
  const closeMs = performance.now() - closeStarted;

  const last = samples[samples.length - 1];
  const roomS = ((firstOverloadMs ?? performance.now()) - startedMs) / 1000;
  const perSecond = (count: number, s: number) => Math.round(count / s);
  return {
    dimension, seconds: Math.round(elapsedS * 10) / 10, acknowledged,
    acknowledgedPerSecond: perSecond(acknowledged, elapsedS),
    whileTailHasRoom: firstOverloadMs === undefined
      ? { seconds: Math.round(elapsedS * 10) / 10, acknowledgedPerSecond: perSecond(acknowledged, elapsedS) }
      : { seconds: Math.round(roomS * 10) / 10, acknowledgedPerSecond: perSecond(acknowledgedAtFirstOverload, roomS) },
    underBackpressure: firstOverloadMs === undefined ? null : {
      seconds: Math.round((elapsedS - roomS) * 10) / 10,
      acknowledgedPerSecond: perSecond(acknowledged - acknowledgedAtFirstOverload, elapsedS - roomS),
    },
    indexerPerSecond: perSecond(last.indexed, elapsedS),
    overloadedErrors, batchLatency: latency.summary(),
    tailLengthMax: Math.max(...samples.map((s) => s.tailLength)), tailLengthFinal: last.tailLength,
    tailRecordsMax: limits.tailRecordsMax, wal: walStats,
    cpu: { microsecondsPerVector: Math.round(cpuUs / Math.max(1, acknowledged)), utilization: Math.round(cpuUs / 1e4 / elapsedS) / 100 },
    closeMs: Math.round(closeMs), samples,
    loadAverage: { before: loadBefore, after: loadAfter },
  };
}

const reports: IngestReport[] = [];
for (const dimension of dimensions) {
  console.log(`ingest: ${dimension}-d, ${writerCount} writers × ${batchSize}-vector batches for ${seconds} s (load ${loadAverage().join(' ')})`);
  const report = await ingest(dimension);
  reports.push(report);
  const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
  console.log(`  acknowledged ${k(report.acknowledgedPerSecond)}/s overall; ${k(report.whileTailHasRoom.acknowledgedPerSecond)}/s for the first ${report.whileTailHasRoom.seconds} s (tail has room)` +
    (report.underBackpressure ? `; ${k(report.underBackpressure.acknowledgedPerSecond)}/s for the ${report.underBackpressure.seconds} s under backpressure` : ''));
  console.log(`  indexer ${k(report.indexerPerSecond)}/s; tail max ${report.tailLengthMax}, final ${report.tailLengthFinal} (limit ${report.tailRecordsMax}); overloaded ×${report.overloadedErrors}`);
  console.log(`  batch ack latency p50 ${(report.batchLatency.p50Us / 1000).toFixed(1)} ms, p99 ${(report.batchLatency.p99Us / 1000).toFixed(1)} ms; WAL ${report.wal.appends} appends, ${report.wal.fsyncs} fsyncs; CPU ${report.cpu.microsecondsPerVector} µs/vector at ${report.cpu.utilization} cores; close ${report.closeMs} ms; load ${report.loadAverage.after.join(' ')}`);
  console.log(`  tail by second: ${report.samples.map((s) => s.tailLength).join(' ')}`);
}
console.log(`results: ${writeResults('ingest', { writers: writerCount, batch: batchSize, reports })}`);
