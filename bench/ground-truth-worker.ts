// One share of the queries for groundTruth() in datasets.ts. Node starts
// workers with the parent's --import tsx, so this file runs as TypeScript.
import { parentPort, workerData } from 'node:worker_threads';
import { exactTopK, type Metric } from '../test/fixtures/exact-top-k.ts';

interface Job { base: Float32Array; queries: Float32Array; dimension: number; metric: Metric; k: number }

const { base, queries, dimension, metric, k } = workerData as Job;
const result = exactTopK(base, queries, dimension, metric, k);
const rowLength = result.k;
const ids = new Uint32Array(result.ids.length * rowLength);
const distances = new Float32Array(ids.length);
result.ids.forEach((row, q) => ids.set(row, q * rowLength));
result.distances.forEach((row, q) => distances.set(row, q * rowLength));
parentPort!.postMessage({ ids, distances }, [ids.buffer, distances.buffer]);
