import { describe, expect, it } from 'vitest';
import { limits } from '../../engine/limits.ts';
import {
  type CollectionConfig,
  utf8ByteLength,
  validateCollectionName,
  validateConfig,
  validateIds,
  validatePoints,
} from '../../engine/validate.ts';
import { HyperspaceError } from '../../native/errors.ts';

function rejection(run: () => unknown): HyperspaceError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(HyperspaceError);
    return error as HyperspaceError;
  }
  throw new Error('expected a HyperspaceError');
}

function expectInvalid(run: () => unknown, message: string): void {
  const error = rejection(run);
  expect(error.message).toBe(message);
  expect(error.kind).toBe('invalid');
}

const l2: CollectionConfig = validateConfig({ dimension: 3, metric: 'l2' });
const cosine: CollectionConfig = validateConfig({ dimension: 3, metric: 'cosine' });
const poincare: CollectionConfig = validateConfig({ dimension: 2, metric: 'poincare' });

describe('collection names', () => {
  it('accepts names a path segment and a DynamoDB key can hold', () => {
    for (const name of ['docs', 'a', '_x', '-y', 'my.collection-2', 'a..b', 'x'.repeat(128)]) {
      expect(validateCollectionName(name)).toBe(name);
    }
  });

  it('rejects dots-only, leading dots, other characters and long names', () => {
    for (const name of ['.', '..', '.hidden', '', 'a/b', 'a b', 'é', 'x'.repeat(129)]) {
      expectInvalid(
        () => validateCollectionName(name),
        `collection name must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127} and not be . or .., got ${JSON.stringify(name)}`,
      );
    }
    expectInvalid(
      () => validateCollectionName(7),
      'collection name must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127} and not be . or .., got number',
    );
  });
});

describe('collection config', () => {
  it('fills in defaults', () => {
    expect(validateConfig({ dimension: 768, metric: 'cosine' })).toEqual({
      dimension: 768,
      metric: 'cosine',
      quantization: 'none',
      hnsw: { M: 16, efConstruction: 200 },
    });
    expect(validateConfig({ dimension: 2, metric: 'poincare', quantization: 'int8', hnsw: { M: 32 } }).hnsw).toEqual({
      M: 32,
      efConstruction: 200,
    });
  });

  it('names the bad field and the accepted range', () => {
    expectInvalid(() => validateConfig(null), 'config must be an object');
    expectInvalid(() => validateConfig({ dimension: 0, metric: 'l2' }), 'dimension must be an integer in [1, 65536], got 0');
    expectInvalid(() => validateConfig({ dimension: 1.5, metric: 'l2' }), 'dimension must be an integer in [1, 65536], got 1.5');
    expectInvalid(() => validateConfig({ dimension: '8', metric: 'l2' }), 'dimension must be an integer in [1, 65536], got "8"');
    expectInvalid(() => validateConfig({ dimension: 8, metric: 'lorentz' }), 'metric must be one of l2, cosine, dot, poincare, got "lorentz"');
    expectInvalid(
      () => validateConfig({ dimension: 8, metric: 'l2', quantization: 'pq' }),
      'quantization must be one of none, int8, binary, got "pq"',
    );
    expectInvalid(() => validateConfig({ dimension: 8, metric: 'l2', hnsw: 5 }), 'hnsw must be an object');
    expectInvalid(() => validateConfig({ dimension: 8, metric: 'l2', hnsw: { M: 1 } }), 'hnsw.M must be an integer in [2, 128], got 1');
    expectInvalid(
      () => validateConfig({ dimension: 8, metric: 'l2', hnsw: { M: 32, efConstruction: 16 } }),
      'hnsw.efConstruction must be an integer in [32, 4096], got 16',
    );
  });
});

describe('points', () => {
  it('copies vectors, accepting number[] and Float32Array views', () => {
    const backing = new Float32Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    const records = validatePoints('docs', l2, [
      { id: 'a', vector: [1, 2, 3] },
      { id: 'b', vector: view, metadata: { year: 2020 } },
    ]);
    expect(records).toEqual([
      { id: 'a', vector: new Float32Array([1, 2, 3]), metadata: {} },
      { id: 'b', vector: new Float32Array([1, 2, 3]), metadata: { year: 2020 } },
    ]);
    backing[1] = 100;
    expect(records[1]!.vector[0]).toBe(1);
    expect(records[1]!.vector.buffer).not.toBe(backing.buffer);
  });

  it('normalizes cosine vectors to unit length', () => {
    const [record] = validatePoints('docs', cosine, [{ id: 'a', vector: [3, 0, 4] }]);
    expect(Array.from(record!.vector)).toEqual([Math.fround(0.6), 0, Math.fround(0.8)]);
  });

  it('lets the last occurrence of an id win, in the order of last occurrences', () => {
    const records = validatePoints('docs', l2, [
      { id: 'a', vector: [1, 1, 1] },
      { id: 'b', vector: [2, 2, 2] },
      { id: 'a', vector: [3, 3, 3], metadata: { v: 2 } },
      { id: 'c', vector: [4, 4, 4] },
    ]);
    expect(records.map((record) => [record.id, record.vector[0]])).toEqual([
      ['b', 2],
      ['a', 3],
      ['c', 4],
    ]);
  });

  it('returns nothing for an empty batch', () => {
    expect(validatePoints('docs', l2, [])).toEqual([]);
  });

  it('rejects the whole batch with the point index and id in the message', () => {
    const good = { id: 'ok', vector: [1, 2, 3] };
    expectInvalid(() => validatePoints('docs', l2, 'x'), 'points must be an array');
    expectInvalid(() => validatePoints('docs', l2, [good, null]), 'point must be an object (point 1)');
    expectInvalid(
      () => validatePoints('docs', validateConfig({ dimension: 768, metric: 'l2' }), [1, 2, 3].map(() => ({ id: 'z', vector: new Float32Array(768) })).concat([{ id: 'a', vector: new Float32Array(512) }])),
      'dimension mismatch: collection=docs expected=768 got=512 (point 3, id "a")',
    );
    const nan = new Float32Array(8);
    nan[7] = Number.NaN;
    expectInvalid(
      () => validatePoints('docs', validateConfig({ dimension: 8, metric: 'l2' }), [{ id: 'x', vector: nan }]),
      'non-finite value at index 7 (point 0, id "x")',
    );
    expectInvalid(() => validatePoints('docs', l2, [{ id: 'x', vector: [1, Infinity, 3] }]), 'non-finite value at index 1 (point 0, id "x")');
    expectInvalid(() => validatePoints('docs', l2, [{ id: 'x', vector: [1, 2, 1e39] }]), 'non-finite value at index 2 (point 0, id "x")');
    expectInvalid(() => validatePoints('docs', l2, [{ id: 'x', vector: [1, '2', 3] }]), 'vector value at index 1 is not a number (point 0, id "x")');
    expectInvalid(
      () => validatePoints('docs', l2, [{ id: 'x', vector: new Float64Array(3) }]),
      'vector must be a Float32Array or an array of numbers (point 0, id "x")',
    );
    expectInvalid(
      () => validatePoints('docs', cosine, [good, { id: 'z', vector: [0, 0, 0] }]),
      'zero vector not allowed for cosine (point 1, id "z")',
    );
  });

  it('keeps poincaré vectors strictly inside the ball after float32 rounding', () => {
    expect(validatePoints('h', poincare, [{ id: 'p', vector: [0.6, 0.79] }])).toHaveLength(1);
    expectInvalid(
      () => validatePoints('h', poincare, [{ id: 'a', vector: [0, 0] }, { id: 'b', vector: [0.1, 0] }, { id: 'p', vector: [0.6, 0.8] }]),
      'vector outside the Poincaré ball: norm=1.00000002 must be < 1 - 1e-6 after float32 rounding (point 2, id "p")',
    );
    expectInvalid(
      () => validatePoints('h', poincare, [{ id: 'p', vector: [3, 4] }]),
      'vector outside the Poincaré ball: norm=5.0000 must be < 1 - 1e-6 after float32 rounding (point 0, id "p")',
    );
    // 1 - 5e-7 is inside 1 - 1e-6 in float64 but not once rounded to float32.
    expectInvalid(
      () => validatePoints('h', poincare, [{ id: 'p', vector: [1 - 5e-7, 0] }]),
      `vector outside the Poincaré ball: norm=${Math.fround(1 - 5e-7).toFixed(8)} must be < 1 - 1e-6 after float32 rounding (point 0, id "p")`,
    );
  });

  it('bounds ids', () => {
    const message = (where: string) => `id must be a non-empty string of at most 256 bytes UTF-8 ${where}`;
    expectInvalid(() => validatePoints('docs', l2, [{ id: '', vector: [1, 2, 3] }]), message('(point 0)'));
    expectInvalid(() => validatePoints('docs', l2, [{ id: 5, vector: [1, 2, 3] }]), message('(point 0)'));
    expectInvalid(() => validatePoints('docs', l2, [{ vector: [1, 2, 3] }]), message('(point 0)'));
    expectInvalid(() => validatePoints('docs', l2, [{ id: 'é'.repeat(129), vector: [1, 2, 3] }]), message('(point 0)'));
    expect(validatePoints('docs', l2, [{ id: 'é'.repeat(128), vector: [1, 2, 3] }])).toHaveLength(1);
    expectInvalid(
      () => validatePoints('docs', l2, [{ id: 'a\ud800', vector: [1, 2, 3] }]),
      'id must be well-formed Unicode (no lone surrogates) (point 0)',
    );
  });

  it('bounds metadata shape, keys and sizes', () => {
    const at = (metadata: unknown) => () => validatePoints('docs', l2, [{ id: 'm', vector: [1, 2, 3], metadata }]);
    const where = '(point 0, id "m")';
    expectInvalid(at([1]), `metadata must be a JSON object ${where}`);
    expectInvalid(at('x'), `metadata must be a JSON object ${where}`);
    expectInvalid(at(new Map()), `metadata must be a JSON object ${where}`);
    expectInvalid(at({ year: null }), `metadata value at key "year" must be a string, a finite number, a boolean or an array of strings ${where}`);
    expectInvalid(at({ nested: { a: 1 } }), `metadata value at key "nested" must be a string, a finite number, a boolean or an array of strings ${where}`);
    expectInvalid(at({ score: Number.NaN }), `metadata number at key "score" is not finite ${where}`);
    expectInvalid(at({ tags: ['a', 1] }), `metadata array at key "tags" must hold only strings ${where}`);
    expectInvalid(at({ tags: Array(257).fill('t') }), `metadata array at key "tags" too long: 257 items > 256 ${where}`);
    expectInvalid(at({ text: 'x'.repeat(4097) }), `metadata string at key "text" too long: 4097 bytes > 4096 ${where}`);
    expectInvalid(at({ tags: ['x'.repeat(4097)] }), `metadata string at key "tags" too long: 4097 bytes > 4096 ${where}`);
    expectInvalid(at({ text: '\udc00' }), `metadata string at key "text" contains a lone surrogate ${where}`);
    const keyRule = 'must be 1 to 256 bytes of well-formed UTF-8 and not start with $';
    expectInvalid(at({ $where: 1 }), `metadata key "$where" ${keyRule} ${where}`);
    expectInvalid(at({ '': 1 }), `metadata key "" ${keyRule} ${where}`);
    expectInvalid(at({ ['k'.repeat(257)]: 1 }), `metadata key "${'k'.repeat(257)}" ${keyRule} ${where}`);
    const manyKeys = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, i]));
    expectInvalid(at(manyKeys), `metadata has too many keys: 129 > 128 ${where}`);
    const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`text${i}`, 'x'.repeat(4000)]));
    const bytes = JSON.stringify(big).length;
    expect(bytes).toBe(20056);
    expectInvalid(at(big), `metadata too large: 20056 bytes > 16384 as canonical JSON ${where}`);
  });

  it('normalizes metadata: keys in canonical order, -0 as 0, arrays copied, __proto__ a plain key', () => {
    const tags = ['b', 'a'];
    const input = JSON.parse('{"z": -0, "a": true, "__proto__": "x"}');
    input.tags = tags;
    const [record] = validatePoints('docs', l2, [{ id: 'm', vector: [1, 2, 3], metadata: input }]);
    expect(Object.keys(record!.metadata)).toEqual(['__proto__', 'a', 'tags', 'z']);
    expect(Object.is(record!.metadata.z, 0)).toBe(true);
    expect(record!.metadata.tags).toEqual(['b', 'a']);
    expect(record!.metadata.tags).not.toBe(tags);
    expect(Object.getPrototypeOf(record!.metadata)).toBe(Object.prototype);
    expect(validatePoints('docs', l2, [{ id: 'n', vector: [1, 2, 3], metadata: null }])[0]!.metadata).toEqual({});
  });

  it('bounds batches by count and bytes with too_large', () => {
    const one = { id: 'a', vector: [1, 2, 3] };
    const tooMany = rejection(() => validatePoints('docs', l2, Array(limits.batchPointsMax + 1).fill(one)));
    expect(tooMany.kind).toBe('too_large');
    expect(tooMany.message).toBe('batch too large: 10001 points > 10000');
    const wide = validateConfig({ dimension: 65_536, metric: 'l2' });
    const vector = new Float32Array(65_536);
    const points = Array.from({ length: 257 }, (_, i) => ({ id: `p${i}`, vector }));
    const tooBig = rejection(() => validatePoints('docs', wide, points));
    expect(tooBig.kind).toBe('too_large');
    // 255 points of 2 + 262144 + 2 bytes (id p0..p9 are 2 bytes, p10.. 3 bytes) fit in 64 MiB; point 255 does not.
    expect(tooBig.message).toBe('batch too large: more than 67108864 bytes at point 255 (split the batch)');
  });
});

describe('delete ids', () => {
  it('dedupes and bounds ids', () => {
    expect(validateIds(['a', 'b', 'a'])).toEqual(['a', 'b']);
    expectInvalid(() => validateIds('a'), 'ids must be an array');
    expectInvalid(() => validateIds(['a', '']), 'id must be a non-empty string of at most 256 bytes UTF-8 (id 1)');
    const error = rejection(() => validateIds(Array(10_001).fill('a')));
    expect(error.kind).toBe('too_large');
    expect(error.message).toBe('batch too large: 10001 ids > 10000');
  });
});

describe('utf8ByteLength', () => {
  it('matches TextEncoder', () => {
    for (const text of ['', 'abc', 'é', '€', '😀', 'a😀é€', '\ud800', '\udc00x']) {
      expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
    }
  });
});
