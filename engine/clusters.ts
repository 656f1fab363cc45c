// Record clusters of a segment (docs/format/segment.md, section 8): k-means
// over a sample, every record assigned to its nearest centroid, clusters
// chained so that neighbours sit next to each other in the file. A worker that
// has not downloaded a segment yet answers from the clusters nearest the query
// with a few ranged GETs (engine/cold-segment.ts).
import { flatSearch, normalized, type Metric } from '../native/index.ts';

export const CLUSTERS_RECORDS_MIN = 4096;
const CLUSTERS_MAX = 4096;
const SAMPLE_PER_CLUSTER = 40;
const ROUNDS = 8;

export interface Clustering {
  /** New position → index of the record in the input. */
  order: Uint32Array;
  /** C × dimension, in file order. */
  centroids: Float32Array;
  /** C + 1 entries: cluster c holds new positions start[c]..start[c+1]−1. */
  starts: Uint32Array;
}

/** The metric clusters are formed and probed by: `dot` has no centroid geometry, use `l2`. */
export function clusterMetric(metric: Metric): Metric {
  return metric === 'dot' ? 'l2' : metric;
}

export function clusterCount(n: number): number {
  return Math.max(1, Math.min(CLUSTERS_MAX, Math.round(Math.sqrt(n))));
}

/** Cluster n row-major vectors (cosine: unit length, as the engine stores them). Deterministic. */
export function clusterVectors(vectors: Float32Array, n: number, dimension: number, metric: Metric): Clustering {
  const m = clusterMetric(metric);
  const c = clusterCount(n);
  const random = seededRandom(0x5eed);
  const sample = sampleIndices(n, Math.min(n, SAMPLE_PER_CLUSTER * c), random);
  const row = (i: number) => vectors.subarray(i * dimension, (i + 1) * dimension);
  let centroids: Float32Array = new Float32Array(c * dimension);
  for (let j = 0; j < c; j++) centroids.set(row(sample[j]), j * dimension);
  for (let round = 0; round < ROUNDS; round++) {
    const assigned = sample.map((i) => nearest(centroids, row(i), dimension, m));
    centroids = means(vectors, sample, assigned, c, dimension, metric, centroids, random);
  }
  const cluster = new Uint32Array(n);
  for (let i = 0; i < n; i++) cluster[i] = nearest(centroids, row(i), dimension, m);
  const chain = chainOrder(centroids, c, dimension, m);
  const rank = new Uint32Array(c);
  chain.forEach((j, r) => { rank[j] = r; });
  const starts = new Uint32Array(c + 1);
  for (let i = 0; i < n; i++) starts[rank[cluster[i]] + 1]++;
  for (let r = 0; r < c; r++) starts[r + 1] += starts[r];
  const fill = starts.slice(0, c);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[fill[rank[cluster[i]]]++] = i;
  const chained = new Float32Array(c * dimension);
  chain.forEach((j, r) => chained.set(centroids.subarray(j * dimension, (j + 1) * dimension), r * dimension));
  return { order, centroids: chained, starts };
}

function nearest(centroids: Float32Array, v: Float32Array, dimension: number, metric: Metric): number {
  return flatSearch(centroids, v, { dimension, metric, k: 1 }).positions[0];
}

/** New centroids: the mean of each cluster's sample; an empty cluster takes a random sample point. */
function means(vectors: Float32Array, sample: Uint32Array, assigned: Uint32Array, c: number, dimension: number,
  metric: Metric, previous: Float32Array, random: () => number): Float32Array {
  const sums = new Float64Array(c * dimension);
  const counts = new Uint32Array(c);
  sample.forEach((i, s) => {
    const j = assigned[s];
    counts[j]++;
    for (let d = 0; d < dimension; d++) sums[j * dimension + d] += vectors[i * dimension + d];
  });
  const out = new Float32Array(c * dimension);
  for (let j = 0; j < c; j++) {
    let mean: Float32Array;
    if (counts[j] === 0) {
      const i = sample[Math.floor(random() * sample.length)];
      mean = vectors.slice(i * dimension, (i + 1) * dimension);
    } else {
      mean = new Float32Array(dimension);
      for (let d = 0; d < dimension; d++) mean[d] = sums[j * dimension + d] / counts[j];
    }
    // Spherical k-means for cosine; a cluster whose mean vanished keeps its old centroid.
    if (metric === 'cosine') mean = mean.some((x) => x !== 0) ? normalized(mean) : previous.slice(j * dimension, (j + 1) * dimension);
    out.set(mean, j * dimension);
  }
  return out;
}

/** Greedy nearest-neighbour chain over the centroids, from centroid 0. */
function chainOrder(centroids: Float32Array, c: number, dimension: number, metric: Metric): Uint32Array {
  const chain = new Uint32Array(c);
  const visited = new Uint8Array(Math.ceil(c / 8));
  const mark = (j: number) => { visited[j >> 3] |= 1 << (j & 7); };
  mark(0);
  for (let r = 1; r < c; r++) {
    const from = chain[r - 1];
    const next = flatSearch(centroids, centroids.subarray(from * dimension, (from + 1) * dimension), { dimension, metric, k: 1, deleted: visited });
    chain[r] = next.positions[0];
    mark(chain[r]);
  }
  return chain;
}

/** `count` distinct indices of 0..n−1, ascending (a partial Fisher–Yates shuffle). */
function sampleIndices(n: number, count: number, random: () => number): Uint32Array {
  const pool = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (n - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count).sort();
}

/** Mulberry32: a small seeded generator, so a segment's bytes depend only on its input. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
