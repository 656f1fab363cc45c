// Recall@10 at the default search settings (native/index.ts SEARCH_DEFAULTS),
// measured against an exact float64 scan (test/fixtures/exact-top-k.ts) that
// shares no code with the native core, on real data: MNIST-784 (l2) and GloVe
// 6B 100-d (cosine) subsets from test/fixtures/, and hierarchies in the
// Poincaré ball. The defaults come from the benchmark on the full data sets
// (docs/benchmarks.md); these subsets check that they hold.
import { describe, expect, it } from 'vitest';
import { buildIndex, DEFAULTS, Index, SEARCH_DEFAULTS, type Metric, type Quantization } from '../../native/index.ts';
import { exactTopK, loadGloveFixture, loadMnistFixture, recallAtK } from '../fixtures/load.ts';
import { gaussian, poincarePoints, rng } from '../helpers/random.ts';

interface Case { name: string; metric: Metric; dimension: number; base: Float32Array; queries: Float32Array }

/**
 * A WordNet-like hierarchy in the Poincaré ball: a random tree (2–8 children
 * per node, depth ≤ 8) where a child points roughly where its parent points and
 * sits further out, at radius tanh(0.75·depth) — the shape a hyperbolic
 * embedding of a taxonomy has, with the leaves crowding the boundary.
 */
function hierarchy(n: number, dimension: number, seed: number): Float32Array {
  const next = rng(seed);
  const directions: Float64Array[] = [new Float64Array(dimension)];
  const depths = [0];
  const out = new Float32Array(n * dimension);
  for (let parent = 0, node = 1; node < n; parent++) {
    const children = 2 + Math.floor(next() * 7);
    for (let c = 0; c < children && node < n; c++, node++) {
      const depth = Math.min(depths[parent] + 1, 8);
      const spread = 1 / depth;
      const direction = new Float64Array(dimension);
      for (let i = 0; i < dimension; i++) direction[i] = directions[parent][i] + spread * gaussian(next);
      directions.push(direction);
      depths.push(depth);
      let norm = 0;
      for (let i = 0; i < dimension; i++) norm += direction[i] * direction[i];
      const radius = Math.min(Math.tanh(0.75 * depth), 0.99999) / Math.sqrt(norm);
      for (let i = 0; i < dimension; i++) out[node * dimension + i] = direction[i] * radius;
    }
  }
  return out;
}

/** Hold out `queryCount` rows spread over the data (every n/queryCount-th) as queries. */
function holdOut(all: Float32Array, dimension: number, queryCount: number): { base: Float32Array; queries: Float32Array } {
  const n = all.length / dimension, every = Math.floor(n / queryCount);
  const base = new Float32Array((n - queryCount) * dimension), queries = new Float32Array(queryCount * dimension);
  let b = 0, q = 0;
  for (let i = 0; i < n; i++) {
    const row = all.subarray(i * dimension, (i + 1) * dimension);
    if (i % every === every - 1 && q < queryCount) queries.set(row, q++ * dimension);
    else base.set(row, b++ * dimension);
  }
  return { base: base.subarray(0, b * dimension), queries };
}

function cases(): Case[] {
  const mnist = loadMnistFixture(), glove = loadGloveFixture();
  return [
    { name: 'MNIST-784 5k (l2)', metric: 'l2', dimension: 784, base: mnist.train, queries: mnist.test },
    { name: 'GloVe-100 5k (cosine)', metric: 'cosine', dimension: 100, ...holdOut(glove.vectors, 100, 200) },
    { name: 'Poincaré hierarchy-16', metric: 'poincare', dimension: 16, ...holdOut(hierarchy(5200, 16, 3), 16, 200) },
    { name: 'Poincaré clusters-16', metric: 'poincare', dimension: 16, ...holdOut(poincarePoints(5200, 16, 4), 16, 200) },
  ];
}

describe('recall@10 at default settings', () => {
  for (const data of cases()) {
    const truth = exactTopK(data.base, data.queries, data.dimension, data.metric, 10).ids;
    for (const quantization of ['none', 'int8', 'binary'] as Quantization[]) {
      it(`${data.name}, ${quantization}`, async () => {
        const { m, efConstruction } = DEFAULTS[data.metric];
        const index = Index.open(await buildIndex(data.base, { dimension: data.dimension, metric: data.metric, quantization, m, efConstruction }));
        const found = await index.searchBatch(data.queries, { k: 10 });
        const rows = Array.from({ length: truth.length }, (_, q) => found.positions.subarray(q * 10, q * 10 + 10));
        const recall = recallAtK(rows, truth, 10);
        const { ef, rerank } = SEARCH_DEFAULTS[data.metric][quantization];
        expect(recall, `ef=${ef} rerank=${rerank}`).toBeGreaterThanOrEqual(0.95);
      });
    }
  }
});
