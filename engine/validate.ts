// Validation at the edge of the write path (DESIGN §2, §4): a bad point rejects
// the whole batch with a message naming the point index and id, before anything
// is stored. Messages are part of the contract and tested to the letter.
import { HyperspaceError } from '../native/errors.ts';
import { canonicalJson, isWellFormedUnicode } from './canonical-json.ts';
import { limits } from './limits.ts';

export const metrics = ['l2', 'cosine', 'dot', 'poincare'] as const;
export type Metric = (typeof metrics)[number];
export const quantizations = ['none', 'int8', 'binary'] as const;
export type Quantization = (typeof quantizations)[number];

export interface HnswConfig {
  M: number;
  efConstruction: number;
}

export interface CollectionConfig {
  dimension: number;
  metric: Metric;
  quantization: Quantization;
  hnsw: HnswConfig;
}

export interface CollectionConfigInput {
  dimension: number;
  metric: Metric;
  quantization?: Quantization;
  hnsw?: Partial<HnswConfig>;
}

export type MetadataValue = string | number | boolean | string[];
export type Metadata = Record<string, MetadataValue>;

export interface PointInput {
  id: string;
  vector: Float32Array | readonly number[];
  metadata?: Metadata | null;
}

/** A validated record: own vector copy (unit length for cosine), normalized metadata. */
export interface ValidRecord {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
}

export const hnswDefaults: HnswConfig = { M: 16, efConstruction: 200 };

// Strictly inside the Poincaré ball, with a margin so distances stay finite.
const poincareNormBound = 1 - 1e-6;

const collectionNamePattern = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

export function validateCollectionName(name: unknown): string {
  if (typeof name !== 'string' || !collectionNamePattern.test(name) || name === '.' || name === '..') {
    const shown = typeof name === 'string' ? JSON.stringify(name) : typeof name;
    throw new HyperspaceError(
      'invalid',
      `collection name must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127} and not be . or .., got ${shown}`,
    );
  }
  return name;
}

/** Checks a collection config and fills in defaults. Fields it does not know are ignored. */
export function validateConfig(input: unknown): CollectionConfig {
  if (!isPlainObject(input)) throw new HyperspaceError('invalid', 'config must be an object');
  const { dimension, metric, quantization = 'none', hnsw = {} } = input as Record<string, unknown>;
  if (!isIntegerIn(dimension, 1, limits.dimensionMax)) {
    throw new HyperspaceError('invalid', `dimension must be an integer in [1, ${limits.dimensionMax}], got ${show(dimension)}`);
  }
  if (!(metrics as readonly unknown[]).includes(metric)) {
    throw new HyperspaceError('invalid', `metric must be one of ${metrics.join(', ')}, got ${show(metric)}`);
  }
  if (!(quantizations as readonly unknown[]).includes(quantization)) {
    throw new HyperspaceError('invalid', `quantization must be one of ${quantizations.join(', ')}, got ${show(quantization)}`);
  }
  if (!isPlainObject(hnsw)) throw new HyperspaceError('invalid', 'hnsw must be an object');
  const { M = hnswDefaults.M, efConstruction = hnswDefaults.efConstruction } = hnsw as Record<string, unknown>;
  if (!isIntegerIn(M, limits.hnswMMin, limits.hnswMMax)) {
    throw new HyperspaceError('invalid', `hnsw.M must be an integer in [${limits.hnswMMin}, ${limits.hnswMMax}], got ${show(M)}`);
  }
  if (!isIntegerIn(efConstruction, M as number, limits.efConstructionMax)) {
    throw new HyperspaceError(
      'invalid',
      `hnsw.efConstruction must be an integer in [${M}, ${limits.efConstructionMax}], got ${show(efConstruction)}`,
    );
  }
  return {
    dimension: dimension as number,
    metric: metric as Metric,
    quantization: quantization as Quantization,
    hnsw: { M: M as number, efConstruction: efConstruction as number },
  };
}

/**
 * Validates an upsert batch for `collection` and returns its records with
 * duplicates resolved: when an id occurs more than once the last occurrence
 * wins, and the result lists each id once, in the order of its last
 * occurrence. Every point is checked, including the ones a later duplicate
 * replaces. An empty batch returns [] (the caller decides whether that is a
 * no-op). Batch bytes are counted as id UTF-8 bytes + 4 × dimension + canonical
 * metadata JSON bytes per point.
 */
export function validatePoints(collection: string, config: CollectionConfig, points: unknown): ValidRecord[] {
  if (!Array.isArray(points)) throw new HyperspaceError('invalid', 'points must be an array');
  if (points.length > limits.batchPointsMax) {
    throw new HyperspaceError('too_large', `batch too large: ${points.length} points > ${limits.batchPointsMax}`);
  }
  const records: ValidRecord[] = [];
  let batchBytes = 0;
  for (let index = 0; index < points.length; index++) {
    const { record, bytes } = validatePoint(collection, config, points[index], index);
    batchBytes += bytes;
    if (batchBytes > limits.batchBytesMax) {
      throw new HyperspaceError(
        'too_large',
        `batch too large: more than ${limits.batchBytesMax} bytes at point ${index} (split the batch)`,
      );
    }
    records.push(record);
  }
  return lastOccurrenceWins(records);
}

/** Validates the ids of a delete batch; returns them without duplicates, in first-occurrence order. */
export function validateIds(ids: unknown): string[] {
  if (!Array.isArray(ids)) throw new HyperspaceError('invalid', 'ids must be an array');
  if (ids.length > limits.deleteIdsMax) {
    throw new HyperspaceError('too_large', `batch too large: ${ids.length} ids > ${limits.deleteIdsMax}`);
  }
  ids.forEach((id, index) => checkId(id, `(id ${index})`));
  return [...new Set(ids as string[])];
}

function validatePoint(
  collection: string,
  config: CollectionConfig,
  point: unknown,
  index: number,
): { record: ValidRecord; bytes: number } {
  if (typeof point !== 'object' || point === null || Array.isArray(point)) {
    throw new HyperspaceError('invalid', `point must be an object (point ${index})`);
  }
  const { id, vector, metadata } = point as Record<string, unknown>;
  const idBytes = checkId(id, `(point ${index})`);
  const where = `(point ${index}, id ${JSON.stringify(id)})`;
  const copy = copyVector(vector, where);
  if (copy.length !== config.dimension) {
    throw new HyperspaceError(
      'invalid',
      `dimension mismatch: collection=${collection} expected=${config.dimension} got=${copy.length} ${where}`,
    );
  }
  for (let i = 0; i < copy.length; i++) {
    if (!Number.isFinite(copy[i])) throw new HyperspaceError('invalid', `non-finite value at index ${i} ${where}`);
  }
  if (config.metric === 'cosine') normalizeForCosine(copy, where);
  if (config.metric === 'poincare') checkInsideBall(copy, where);
  const { metadata: normalized, bytes: metadataBytes } = validateMetadata(metadata, where);
  return {
    record: { id: id as string, vector: copy, metadata: normalized },
    bytes: idBytes + 4 * copy.length + metadataBytes,
  };
}

/** Returns the id's UTF-8 byte length. */
function checkId(id: unknown, where: string): number {
  const bytes = typeof id === 'string' ? utf8ByteLength(id) : 0;
  if (typeof id !== 'string' || bytes === 0 || bytes > limits.idBytesMax) {
    throw new HyperspaceError('invalid', `id must be a non-empty string of at most ${limits.idBytesMax} bytes UTF-8 ${where}`);
  }
  if (!isWellFormedUnicode(id)) throw new HyperspaceError('invalid', `id must be well-formed Unicode (no lone surrogates) ${where}`);
  return bytes;
}

function copyVector(vector: unknown, where: string): Float32Array {
  if (vector instanceof Float32Array) return vector.slice();
  if (Array.isArray(vector)) {
    const copy = new Float32Array(vector.length);
    for (let i = 0; i < vector.length; i++) {
      const value: unknown = vector[i];
      if (typeof value !== 'number') throw new HyperspaceError('invalid', `vector value at index ${i} is not a number ${where}`);
      copy[i] = value;
    }
    return copy;
  }
  throw new HyperspaceError('invalid', `vector must be a Float32Array or an array of numbers ${where}`);
}

function normalizeForCosine(vector: Float32Array, where: string): void {
  const norm = euclideanNorm(vector);
  if (norm === 0) throw new HyperspaceError('invalid', `zero vector not allowed for cosine ${where}`);
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm;
}

function checkInsideBall(vector: Float32Array, where: string): void {
  // The norm of the float32 values as stored, computed in float64.
  const norm = euclideanNorm(vector);
  if (!(norm < poincareNormBound)) {
    // Four decimals read well, but near the boundary they would print 1.0000
    // for a norm just inside 1: show enough digits to see the difference.
    const shown = Math.abs(norm - 1) < 1e-4 ? norm.toFixed(8) : norm.toFixed(4);
    throw new HyperspaceError(
      'invalid',
      `vector outside the Poincaré ball: norm=${shown} must be < 1 - 1e-6 after float32 rounding ${where}`,
    );
  }
}

function euclideanNorm(vector: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  return Math.sqrt(sum);
}

/**
 * Metadata: absent (undefined or null) becomes {}. Otherwise a plain object of
 * at most metadataKeysMax keys (non-empty, not starting with $, at most
 * metadataKeyBytesMax bytes) whose values are strings, finite numbers, booleans
 * or arrays of strings; the whole canonical JSON at most metadataBytesMax bytes.
 * Returns a fresh object with keys in canonical order and -0 as 0.
 */
function validateMetadata(metadata: unknown, where: string): { metadata: Metadata; bytes: number } {
  if (metadata === undefined || metadata === null) return { metadata: {}, bytes: 2 };
  if (!isPlainObject(metadata)) throw new HyperspaceError('invalid', `metadata must be a JSON object ${where}`);
  const source = metadata as Record<string, unknown>;
  const keys = Object.keys(source).sort();
  if (keys.length > limits.metadataKeysMax) {
    throw new HyperspaceError('invalid', `metadata has too many keys: ${keys.length} > ${limits.metadataKeysMax} ${where}`);
  }
  const normalized: Metadata = {};
  for (const key of keys) {
    const keyBytes = utf8ByteLength(key);
    if (keyBytes === 0 || keyBytes > limits.metadataKeyBytesMax || key.startsWith('$') || !isWellFormedUnicode(key)) {
      throw new HyperspaceError(
        'invalid',
        `metadata key ${JSON.stringify(key)} must be 1 to ${limits.metadataKeyBytesMax} bytes of well-formed UTF-8 and not start with $ ${where}`,
      );
    }
    // defineProperty, so that a key such as "__proto__" stays a plain own key.
    Object.defineProperty(normalized, key, {
      value: metadataValue(source[key], key, where),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const bytes = utf8ByteLength(canonicalJson(normalized));
  if (bytes > limits.metadataBytesMax) {
    throw new HyperspaceError('invalid', `metadata too large: ${bytes} bytes > ${limits.metadataBytesMax} as canonical JSON ${where}`);
  }
  return { metadata: normalized, bytes };
}

function metadataValue(value: unknown, key: string, where: string): MetadataValue {
  const at = `at key ${JSON.stringify(key)}`;
  switch (typeof value) {
    case 'string':
      checkMetadataString(value, `metadata string ${at}`, where);
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new HyperspaceError('invalid', `metadata number ${at} is not finite ${where}`);
      return value === 0 ? 0 : value; // -0 and 0 are one value in JSON
    case 'boolean':
      return value;
  }
  if (Array.isArray(value)) {
    if (value.length > limits.metadataArrayItemsMax) {
      throw new HyperspaceError(
        'invalid',
        `metadata array ${at} too long: ${value.length} items > ${limits.metadataArrayItemsMax} ${where}`,
      );
    }
    const copy: string[] = [];
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'string') throw new HyperspaceError('invalid', `metadata array ${at} must hold only strings ${where}`);
      checkMetadataString(item, `metadata string ${at}`, where);
      copy.push(item);
    }
    return copy;
  }
  throw new HyperspaceError(
    'invalid',
    `metadata value ${at} must be a string, a finite number, a boolean or an array of strings ${where}`,
  );
}

function checkMetadataString(value: string, what: string, where: string): void {
  const bytes = utf8ByteLength(value);
  if (bytes > limits.metadataStringBytesMax) {
    throw new HyperspaceError('invalid', `${what} too long: ${bytes} bytes > ${limits.metadataStringBytesMax} ${where}`);
  }
  if (!isWellFormedUnicode(value)) throw new HyperspaceError('invalid', `${what} contains a lone surrogate ${where}`);
}

function lastOccurrenceWins(records: ValidRecord[]): ValidRecord[] {
  const lastIndex = new Map<string, number>();
  records.forEach((record, index) => lastIndex.set(record.id, index));
  if (lastIndex.size === records.length) return records;
  return records.filter((record, index) => lastIndex.get(record.id) === index);
}

/** UTF-8 byte length of a string (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
