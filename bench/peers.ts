// Adapters giving every engine under test one shape. Peers come from
// bench/package.json; they are imported by a non-literal specifier so the root
// typecheck passes on a machine where bench/node_modules is not installed yet.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metric } from './datasets.ts';

export interface BuildOptions {
  m: number;
  efConstruction: number;
  /** Threads for the build where the engine can use them; search is always single-threaded. */
  threads: number;
}

export interface Engine<Query = Float32Array> {
  name: string;
  /** Builds the index over train (n × dim). Resolves to the build time in milliseconds. */
  build(train: Float32Array, dimension: number, metric: Metric, options: BuildOptions): Promise<number>;
  /** Beam width of the search (hnswlib's ef, usearch's expansion_search). */
  setEf(ef: number): void;
  /**
   * Optional conversion of a query into the form `search` takes fastest. The
   * harness runs it outside the timed loop and reports its cost on its own.
   */
  prepareQuery?(query: Float32Array): Query;
  search(query: Query, k: number): Uint32Array | number[];
  /** Index size over vector count, where the engine can tell. */
  bytesPerVector?(): number | undefined;
  /** Notes for the report (threads used for the build, conversions). */
  notes: string[];
  dispose?(): void;
}

/** Imports a package installed under bench/node_modules, untyped on purpose (see top). */
async function importBenchDependency<T>(name: string): Promise<T> {
  const specifier: string = name;
  const loaded = await import(specifier);
  // A CommonJS package whose exports Node cannot detect statically (hnswlib-node)
  // arrives as `default` only.
  return (loaded.default && typeof loaded.default === 'object' ? { ...loaded.default, ...loaded } : loaded) as T;
}

// ---------------------------------------------------------------- hnswlib-node

interface HnswlibModule {
  HierarchicalNSW: new (space: 'l2' | 'ip' | 'cosine', dimension: number) => {
    initIndex(maxElements: number, m: number, efConstruction: number, randomSeed: number): void;
    addPoint(point: number[], label: number): void;
    setEf(ef: number): void;
    searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
  };
}

/**
 * hnswlib-node 3.0.0 accepts only plain `number[]` for points and queries: its
 * binding checks `IsArray()` and reads element by element through N-API, so a
 * Float32Array must first be copied into an Array. Build time includes that copy;
 * for search it is done in `prepareQuery`, outside the timed loop. Its build is
 * single-threaded (the binding has no parallel add).
 */
export async function hnswlib(): Promise<Engine<number[]>> {
  const { HierarchicalNSW } = await importBenchDependency<HnswlibModule>('hnswlib-node');
  let index: InstanceType<HnswlibModule['HierarchicalNSW']> | undefined;
  let count = 0;
  const notes: string[] = ['build single-threaded (no parallel add in hnswlib-node)'];
  return {
    name: 'hnswlib-node',
    notes,
    async build(train, dimension, metric, { m, efConstruction }) {
      if (metric !== 'l2' && metric !== 'cosine') throw new Error(`hnswlib-node adapter: unsupported metric ${metric}`);
      count = train.length / dimension;
      const started = performance.now();
      index = new HierarchicalNSW(metric, dimension);
      index.initIndex(count, m, efConstruction, 100);
      let conversionMs = 0;
      for (let i = 0; i < count; i++) {
        const conversionStarted = performance.now();
        const point = toNumberArray(train.subarray(i * dimension, (i + 1) * dimension));
        conversionMs += performance.now() - conversionStarted;
        index.addPoint(point, i);
      }
      const buildMs = performance.now() - started;
      notes.push(`build includes ${conversionMs.toFixed(0)} ms of Float32Array → number[] copies`);
      return buildMs;
    },
    setEf(ef) { index!.setEf(ef); },
    prepareQuery: toNumberArray,
    search(query, k) { return index!.searchKnn(query, k).neighbors; },
  };
}

/** A preallocated Array filled by index: ~10× faster than Array.from(typedArray) in V8. */
function toNumberArray(vector: Float32Array): number[] {
  const out = new Array<number>(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i];
  return out;
}

// ---------------------------------------------------------------- usearch

interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads: number): void;
  search(query: Float32Array, k: number, threads: number): { keys: BigUint64Array; distances: Float32Array };
  save(path: string): void;
  load(path: string): void;
  size(): number;
}
interface UsearchModule {
  Index: new (config: {
    dimensions: number; metric: 'l2sq' | 'cos' | 'ip'; quantization: 'f32';
    connectivity: number; expansion_add: number; expansion_search: number; multi: boolean;
  }) => UsearchIndex;
}

/**
 * usearch's JS binding fixes expansion_search at construction and has no
 * setter, so setEf saves the built graph once and loads it into a new Index
 * configured with the new expansion (the file format does not store it).
 *
 * For cosine, `cosineAs: 'cos'` is usearch's own metric, which takes both norms
 * inside every distance; `'ip'` normalizes in the adapter (train in the build,
 * each query in the timed search) and uses inner product, as hnswlib and ours
 * do internally. Both are reported: the second is usearch at its best.
 */
export async function usearch(cosineAs: 'cos' | 'ip' = 'cos'): Promise<Engine> {
  const { Index } = await importBenchDependency<UsearchModule>('usearch');
  let config: ConstructorParameters<UsearchModule['Index']>[0] | undefined;
  let index: UsearchIndex | undefined;
  let savedDirectory: string | undefined;
  const notes: string[] = [];
  let normalizeQueries = false;
  return {
    name: cosineAs === 'cos' ? 'usearch' : 'usearch-ip',
    notes,
    async build(train, dimension, metric, { m, efConstruction, threads }) {
      if (metric !== 'l2' && metric !== 'cosine') throw new Error(`usearch adapter: unsupported metric ${metric}`);
      if (cosineAs === 'ip' && metric !== 'cosine') throw new Error('usearch-ip is only for cosine data sets');
      normalizeQueries = metric === 'cosine' && cosineAs === 'ip';
      const count = train.length / dimension;
      config = {
        dimensions: dimension, metric: metric === 'l2' ? 'l2sq' : cosineAs, quantization: 'f32',
        connectivity: m, expansion_add: efConstruction, expansion_search: 64, multi: false,
      };
      const keys = new BigUint64Array(count);
      for (let i = 0; i < count; i++) keys[i] = BigInt(i);
      const started = performance.now();
      index = new Index(config);
      index.add(keys, normalizeQueries ? normalizedRows(train, dimension) : train, threads);
      const buildMs = performance.now() - started;
      savedDirectory = mkdtempSync(join(tmpdir(), 'hyperspace-bench-usearch-'));
      index.save(join(savedDirectory, 'index.usearch'));
      notes.push(`build with ${threads} threads`);
      return buildMs;
    },
    setEf(ef) {
      index = new Index({ ...config!, expansion_search: ef });
      index.load(join(savedDirectory!, 'index.usearch'));
    },
    search(query, k) {
      const keys = index!.search(normalizeQueries ? normalizedRows(query, query.length) : query, k, 1).keys;
      const ids = new Uint32Array(keys.length);
      for (let i = 0; i < keys.length; i++) ids[i] = Number(keys[i]);
      return ids;
    },
    dispose() {
      if (savedDirectory) rmSync(savedDirectory, { recursive: true, force: true });
    },
  };
}

function normalizedRows(vectors: Float32Array, dimension: number): Float32Array {
  const out = new Float32Array(vectors.length);
  for (let offset = 0; offset < vectors.length; offset += dimension) {
    let sum = 0;
    for (let j = 0; j < dimension; j++) sum += vectors[offset + j] * vectors[offset + j];
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < dimension; j++) out[offset + j] = vectors[offset + j] * scale;
  }
  return out;
}

// ---------------------------------------------------------------- ours

export type Quantization = 'none' | 'int8' | 'binary';

/** The facade API that native/index.ts exposes (see native/index.ts). */
interface NativeModule {
  buildIndex(train: Float32Array, options: {
    dimension: number; metric: Metric; m: number; efConstruction: number;
    quantization: Quantization; seed: number; threads: number;
  }): Promise<Uint8Array>;
  Index: {
    open(bytes: Uint8Array): {
      search(query: Float32Array, options: { k: number; ef: number; rerank?: number }): { positions: Uint32Array | number[]; distances: Float32Array | number[] };
    };
  };
}

/**
 * HyperspaceDB's native core, one engine per quantization. Returns why it was
 * skipped instead when native/index.ts (or its compiled addon) is not there yet.
 * `rerankFor(ef)` is how many candidates a quantized search re-scores in float32.
 */
export async function hyperspace(
  quantizations: Quantization[], rerankFor: (ef: number, k: number) => number,
): Promise<{ engines: Engine[] } | { skipped: string }> {
  let native: NativeModule;
  try {
    native = await importBenchDependency<NativeModule>(new URL('../native/index.ts', import.meta.url).href);
  } catch (error) {
    return { skipped: `native/index.ts could not be loaded: ${(error as Error).message.split('\n')[0]}` };
  }
  const engines = quantizations.map((quantization): Engine => {
    let index: ReturnType<NativeModule['Index']['open']> | undefined;
    let bytesPerVector: number | undefined;
    let ef = 10;
    const notes: string[] = [];
    return {
      name: `hyperspace-${quantization}`,
      notes,
      async build(train, dimension, metric, { m, efConstruction, threads }) {
        const started = performance.now();
        const bytes = await native.buildIndex(train, { dimension, metric, m, efConstruction, quantization, seed: 1, threads });
        const buildMs = performance.now() - started;
        index = native.Index.open(bytes);
        bytesPerVector = bytes.length / (train.length / dimension);
        notes.push(`build with ${threads} threads`);
        return buildMs;
      },
      setEf(value) { ef = value; },
      search(query, k) {
        const options = quantization === 'none' ? { k, ef } : { k, ef, rerank: rerankFor(ef, k) };
        return index!.search(query, options).positions;
      },
      bytesPerVector: () => bytesPerVector,
    };
  });
  return { engines };
}
