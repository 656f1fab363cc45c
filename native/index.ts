// The typed facade over the C++ core: the only module the rest of the code
// imports from native/. It validates everything a caller can get wrong and
// words the errors; the binding below it only keeps memory safe.
import { createRequire } from 'node:module';
import { HyperspaceError, invalid } from './errors.ts';

export { HyperspaceError, invalid, dataError } from './errors.ts';
export type { ErrorKind } from './errors.ts';

export type Metric = 'l2' | 'dot' | 'cosine' | 'poincare';
export type Quantization = 'none' | 'int8' | 'binary';
export const METRICS: readonly Metric[] = ['l2', 'dot', 'cosine', 'poincare'];
export const QUANTIZATIONS: readonly Quantization[] = ['none', 'int8', 'binary'];
const METRIC_CODE: Record<Metric, number> = { l2: 0, dot: 1, cosine: 2, poincare: 3 };

export const K_MAX = 10_000;
export const EF_MAX = 100_000;
export const DIMENSION_MAX = 65_536;
/** ‖v‖ must stay below this for `poincare` (DESIGN §2). */
export const POINCARE_NORM_MAX = 1 - 1e-6;

export interface SearchDefaults { ef: number; rerank: number }
/**
 * Search settings per metric and quantization, used when a search leaves
 * `ef` or `rerank` out: the fastest measured setting with recall@10 ≥ 0.95 at
 * M = 16, efConstruction = 200 (docs/benchmarks.md, "ANN search"). `l2` from
 * MNIST-784 (60k), `cosine` from GloVe 6B 100-d (340k); `dot` takes cosine's
 * (no benchmark set of its own); `poincare` from the hierarchies in
 * test/native/recall.test.ts. rerank 0 = re-score all ef beam results.
 */
export const SEARCH_DEFAULTS: Record<Metric, Record<Quantization, SearchDefaults>> = {
  l2: { none: { ef: 16, rerank: 0 }, int8: { ef: 16, rerank: 0 }, binary: { ef: 40, rerank: 0 } },
  dot: { none: { ef: 200, rerank: 0 }, int8: { ef: 200, rerank: 0 }, binary: { ef: 480, rerank: 1000 } },
  cosine: { none: { ef: 200, rerank: 0 }, int8: { ef: 200, rerank: 0 }, binary: { ef: 480, rerank: 1000 } },
  poincare: { none: { ef: 64, rerank: 0 }, int8: { ef: 64, rerank: 0 }, binary: { ef: 400, rerank: 0 } },
};

/**
 * Build defaults per metric, the quantization that searched fastest at
 * recall@10 ≥ 0.95 (int8 traversal + float32 rerank on both data sets), and
 * its search settings from SEARCH_DEFAULTS.
 */
export const DEFAULTS: Record<Metric, { m: number; efConstruction: number; ef: number; quantization: Quantization; rerank: number }> = {
  l2: { m: 16, efConstruction: 200, quantization: 'int8', ...SEARCH_DEFAULTS.l2.int8 },
  dot: { m: 16, efConstruction: 200, quantization: 'int8', ...SEARCH_DEFAULTS.dot.int8 },
  cosine: { m: 16, efConstruction: 200, quantization: 'int8', ...SEARCH_DEFAULTS.cosine.int8 },
  poincare: { m: 16, efConstruction: 200, quantization: 'int8', ...SEARCH_DEFAULTS.poincare.int8 },
};
/** With an allow-list keeping at most this many records, scan them exactly. */
export const FLAT_THRESHOLD_DEFAULT = 2048;

interface Binding {
  kernelName(): string;
  crc32c(bytes: Uint8Array, seed?: number): number;
  build(vectors: Float32Array, dimension: number, count: number, metric: number, quant: number,
    m: number, efConstruction: number, seed: number, threads: number): Promise<Uint8Array>;
  mmapFile(path: string): Uint8Array;
  flatSearch(vectors: Float32Array, count: number, dimension: number, metric: number, query: Float32Array,
    k: number, allow: Uint8Array | null, deleted: Uint8Array | null, outPositions: Uint32Array, outDistances: Float32Array): number;
  NativeIndex: new (bytes: Uint8Array, verify: boolean) => NativeIndexHandle;
}
interface NativeIndexHandle {
  search(query: Float32Array, k: number, ef: number, rerank: number, flatThreshold: number,
    allow: Uint8Array | null, deleted: Uint8Array | null, outPositions: Uint32Array, outDistances: Float32Array): number;
  searchBatch(queries: Float32Array, options: NativeSearchOptions, threads: number): Promise<BatchResult>;
  info(): { dimension: number; count: number; metric: number; quantization: number; m: number;
    efConstruction: number; maxLevel: number; bytes: number; vectorsOffset: number };
}
interface NativeSearchOptions {
  k: number; ef: number; rerank: number; flatThreshold: number;
  allow: Uint8Array | null; deleted: Uint8Array | null;
}

const binding: Binding = createRequire(import.meta.url)('../build/Release/hyperspace_native.node');

// Native calls write results here and the facade copies out what it returns:
// typed arrays created by the addon cost microseconds each, slices made here
// cost tens of nanoseconds. JS is single-threaded, so one pair serves every call.
const scratchPositions = new Uint32Array(K_MAX);
const scratchDistances = new Float32Array(K_MAX);
function results(count: number): SearchResult {
  return { positions: scratchPositions.slice(0, count), distances: scratchDistances.slice(0, count) };
}

export interface SearchResult {
  /** Record positions (build input order), ascending by distance. */
  positions: Uint32Array;
  /** True distances (DESIGN §6), ascending. */
  distances: Float32Array;
}
export interface BatchResult {
  /** queries × k positions; unused slots are 0xFFFFFFFF. */
  positions: Uint32Array;
  /** queries × k distances; unused slots are Infinity. */
  distances: Float32Array;
  /** How many results each query got (< k when fewer records qualify). */
  counts: Uint32Array;
}

/** Which kernel table the CPU got: "avx2", "neon" or "scalar". */
export const kernelName: string = binding.kernelName();

export function crc32c(bytes: Uint8Array, seed = 0): number {
  if (!(bytes instanceof Uint8Array)) throw invalid(`crc32c needs a Uint8Array, got ${typeName(bytes)}`);
  return binding.crc32c(bytes, seed >>> 0);
}

/** Map a file read-only; the bytes are unmapped when the array is collected. Do not write to it. */
export function mmapFile(path: string): Uint8Array {
  try {
    return binding.mmapFile(path);
  } catch (e) {
    throw new HyperspaceError('not_found', (e as Error).message);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

export function checkMetric(metric: unknown): Metric {
  if (typeof metric !== 'string' || !METRICS.includes(metric as Metric))
    throw invalid(`unknown metric: ${JSON.stringify(metric)} (expected one of ${METRICS.join(', ')})`);
  return metric as Metric;
}

export function checkQuantization(q: unknown): Quantization {
  if (typeof q !== 'string' || !QUANTIZATIONS.includes(q as Quantization))
    throw invalid(`unknown quantization: ${JSON.stringify(q)} (expected one of ${QUANTIZATIONS.join(', ')})`);
  return q as Quantization;
}

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalid(`${name} must be an integer in ${min}..${max}, got ${typeof v === 'number' ? v : typeName(v)}`);
  return v;
}

/**
 * Check one vector of a metric: type, dimension, finite values, the Poincaré
 * ball, non-zero for cosine. `label` names it in messages ("query", "vector 3").
 */
export function checkVector(v: unknown, dimension: number, metric: Metric, label = 'vector'): Float32Array {
  if (!(v instanceof Float32Array)) throw invalid(`${label} must be a Float32Array, got ${typeName(v)}`);
  if (v.length !== dimension) throw invalid(`dimension mismatch: ${label} expected=${dimension} got=${v.length}`);
  checkValues(v, 0, dimension, metric, label);
  return v;
}

function checkValues(v: Float32Array, start: number, dimension: number, metric: Metric, label: string): void {
  let norm2 = 0;
  for (let i = 0; i < dimension; i++) {
    const x = v[start + i];
    if (!Number.isFinite(x)) throw invalid(`non-finite value ${x} at index ${i} of ${label}`);
    norm2 += x * x;
  }
  if (metric === 'poincare' && !(norm2 < POINCARE_NORM_MAX * POINCARE_NORM_MAX))
    throw invalid(`${label} outside the Poincaré ball: norm=${Math.sqrt(norm2).toFixed(7)} must be < 1 - 1e-6`);
  if (metric === 'cosine' && norm2 === 0) throw invalid(`zero vector in ${label} is not allowed for cosine`);
}

/** Check n row-major vectors in one Float32Array. */
export function checkVectors(vectors: unknown, dimension: number, metric: Metric, label = 'vectors'): number {
  if (!(vectors instanceof Float32Array)) throw invalid(`${label} must be a Float32Array, got ${typeName(vectors)}`);
  checkInt('dimension', dimension, 1, DIMENSION_MAX);
  if (vectors.length % dimension !== 0)
    throw invalid(`dimension mismatch: ${label} length ${vectors.length} is not a multiple of dimension ${dimension}`);
  const n = vectors.length / dimension;
  for (let i = 0; i < n; i++) checkValues(vectors, i * dimension, dimension, metric, `vector ${i}`);
  return n;
}

function checkBits(name: string, bits: unknown, count: number): Uint8Array | null {
  if (bits === undefined || bits === null) return null;
  if (!(bits instanceof Uint8Array)) throw invalid(`${name} must be a Uint8Array bitset, got ${typeName(bits)}`);
  if (bits.length < Math.ceil(count / 8))
    throw invalid(`${name} bitset has ${bits.length} bytes, needs ${Math.ceil(count / 8)} for ${count} records`);
  return bits;
}

export interface BuildOptions {
  dimension: number;
  metric: Metric;
  m?: number;
  efConstruction?: number;
  quantization?: Quantization;
  /** Level assignment seed; with threads: 1 the blob is identical for identical input. */
  seed?: number;
  /** Build threads (default: 2, the cores of our reference machine). */
  threads?: number;
}

/**
 * Build an HNSW index off the JS thread. Resolves to the serialized blob
 * (docs/format/index.md), ready for Index.open or for writing to a file.
 * Do not modify `vectors` until the promise settles.
 */
export async function buildIndex(vectors: Float32Array, options: BuildOptions): Promise<Uint8Array> {
  const metric = checkMetric(options?.metric);
  const dimension = checkInt('dimension', options.dimension, 1, DIMENSION_MAX);
  const n = checkVectors(vectors, dimension, metric);
  const d = DEFAULTS[metric];
  const m = checkInt('m', options.m ?? d.m, 2, 128);
  const efConstruction = checkInt('efConstruction', options.efConstruction ?? d.efConstruction, 1, 4096);
  const quantization = checkQuantization(options.quantization ?? d.quantization);
  const seed = checkInt('seed', options.seed ?? 1, 0, Number.MAX_SAFE_INTEGER);
  const threads = checkInt('threads', options.threads ?? 2, 1, 64);
  if (n > 0xfffffffe) throw invalid(`too many vectors: ${n}`);
  return binding.build(vectors, dimension, n, METRIC_CODE[metric], QUANTIZATIONS.indexOf(quantization),
    m, efConstruction, seed, threads);
}

export interface SearchOptions {
  k: number;
  ef?: number;
  /**
   * Quantized indexes: how many candidates get an exact float32 re-score. 0 =
   * all ef beam results; more than ef = the best estimates among every record
   * the beam visited (a deeper rerank without a wider beam).
   */
  rerank?: number;
  /** Bitset over positions (LSB-first): only these may be returned. */
  allow?: Uint8Array | null;
  /** Bitset over positions: never returned (still traversed). */
  deleted?: Uint8Array | null;
  /** Allow-lists keeping at most this many records are scanned exactly. */
  flatThreshold?: number;
}

/** An index searched in place over its serialized bytes (a mapped file or a build result). */
export class Index {
  readonly dimension: number;
  readonly count: number;
  readonly metric: Metric;
  readonly quantization: Quantization;
  readonly m: number;
  readonly bytes: Uint8Array;
  private readonly handle: NativeIndexHandle;
  private readonly vectorsOffset: number;

  private constructor(bytes: Uint8Array, handle: NativeIndexHandle) {
    const info = handle.info();
    this.bytes = bytes;
    this.handle = handle;
    this.dimension = info.dimension;
    this.count = info.count;
    this.metric = METRICS[info.metric];
    this.quantization = QUANTIZATIONS[info.quantization];
    this.m = info.m;
    this.vectorsOffset = info.vectorsOffset;
  }

  /**
   * Open a blob without copying it. `verify` (default true) checks every
   * section's CRC-32C first; a mismatch is a `data` error.
   */
  static open(bytes: Uint8Array, options: { verify?: boolean; name?: string } = {}): Index {
    if (!(bytes instanceof Uint8Array)) throw invalid(`index bytes must be a Uint8Array, got ${typeName(bytes)}`);
    try {
      return new Index(bytes, new binding.NativeIndex(bytes, options.verify ?? true));
    } catch (e) {
      const err = e as Error & { kind?: string };
      if (err.kind === 'data') throw new HyperspaceError('data', `${err.message}${options.name ? `: file=${options.name}` : ''}`);
      throw e;
    }
  }

  /** The stored vectors (cosine: unit length), viewed in place. */
  vectors(): Float32Array {
    return new Float32Array(this.bytes.buffer, this.bytes.byteOffset + this.vectorsOffset, this.count * this.dimension);
  }

  vector(position: number): Float32Array {
    checkInt('position', position, 0, this.count - 1);
    return new Float32Array(this.bytes.buffer, this.bytes.byteOffset + this.vectorsOffset + position * this.dimension * 4, this.dimension);
  }

  private options(o: SearchOptions): NativeSearchOptions {
    if (o === null || typeof o !== 'object') throw invalid('search options must be an object with k');
    const d = SEARCH_DEFAULTS[this.metric][this.quantization];
    return {
      k: checkInt('k', o.k, 1, K_MAX),
      ef: checkInt('ef', o.ef ?? d.ef, 1, EF_MAX),
      rerank: checkInt('rerank', o.rerank ?? d.rerank, 0, EF_MAX),
      flatThreshold: checkInt('flatThreshold', o.flatThreshold ?? FLAT_THRESHOLD_DEFAULT, 0, 0xffffffff),
      allow: checkBits('allow', o.allow, this.count),
      deleted: checkBits('deleted', o.deleted, this.count),
    };
  }

  search(query: Float32Array, options: SearchOptions): SearchResult {
    const o = this.options(options);
    checkVector(query, this.dimension, this.metric, 'query');
    return results(this.handle.search(query, o.k, o.ef, o.rerank, o.flatThreshold, o.allow, o.deleted,
      scratchPositions, scratchDistances));
  }

  /** Many queries (row-major) on a worker pool off the JS thread. */
  searchBatch(queries: Float32Array, options: SearchOptions & { threads?: number }): Promise<BatchResult> {
    const o = this.options(options);
    checkVectors(queries, this.dimension, this.metric, 'queries');
    const threads = checkInt('threads', options.threads ?? 2, 1, 64);
    return this.handle.searchBatch(queries, o, threads);
  }
}

/**
 * Exact top-k over n row-major vectors (the unindexed WAL tail; ground
 * truth). Cosine vectors must be unit length (the engine stores them so).
 */
export function flatSearch(vectors: Float32Array, query: Float32Array,
  options: { dimension: number; metric: Metric; k: number; allow?: Uint8Array | null; deleted?: Uint8Array | null }): SearchResult {
  const metric = checkMetric(options?.metric);
  const dimension = checkInt('dimension', options.dimension, 1, DIMENSION_MAX);
  if (!(vectors instanceof Float32Array)) throw invalid(`vectors must be a Float32Array, got ${typeName(vectors)}`);
  if (vectors.length % dimension !== 0)
    throw invalid(`dimension mismatch: vectors length ${vectors.length} is not a multiple of dimension ${dimension}`);
  const count = vectors.length / dimension;
  const k = checkInt('k', options.k, 1, K_MAX);
  checkVector(query, dimension, metric, 'query');
  return results(binding.flatSearch(vectors, count, dimension, METRIC_CODE[metric], query, k,
    checkBits('allow', options.allow, count), checkBits('deleted', options.deleted, count),
    scratchPositions, scratchDistances));
}

/** The distance between two vectors as search reports it (DESIGN §6). */
export function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  checkMetric(metric);
  const base = metric === 'cosine' ? normalized(checkVector(a, a?.length, metric, 'a')) : checkVector(a, a?.length, metric, 'a');
  return flatSearch(base, b, { dimension: base.length, metric, k: 1 }).distances[0];
}

/** A unit-length copy (cosine storage form). */
export function normalized(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}
