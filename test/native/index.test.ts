import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIndex, distance, flatSearch, Index, kernelName, mmapFile, crc32c, type Metric, type Quantization } from '../../native/index.ts';
import { clusteredVectors, poincarePoints, randomVectors } from '../helpers/random.ts';

function recall(index: Index, base: Float32Array, queries: Float32Array, metric: Metric, k = 10, ef?: number): number {
  const dim = index.dimension;
  let hits = 0, total = 0;
  for (let q = 0; q < queries.length / dim; q++) {
    const query = queries.subarray(q * dim, (q + 1) * dim);
    const truth = new Set(flatSearch(index.metric === 'cosine' ? index.vectors() : base, query, { dimension: dim, metric, k }).positions);
    for (const p of index.search(query, { k, ef }).positions) if (truth.has(p)) hits++;
    total += k;
  }
  return hits / total;
}

describe('native core', () => {
  it('picks the AVX2 kernels on this CPU', () => {
    expect(['avx2', 'neon', 'scalar']).toContain(kernelName);
    if (process.arch === 'x64') expect(kernelName).toBe('avx2');
  });

  it('computes CRC-32C', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('returns true distances for every metric', () => {
    const a = new Float32Array([0.1, 0.2, 0.3]), b = new Float32Array([-0.2, 0.1, 0.05]);
    expect(distance('l2', a, b)).toBeCloseTo(0.09 + 0.01 + 0.0625, 6);
    expect(distance('dot', a, b)).toBeCloseTo(-(-0.02 + 0.02 + 0.015), 6);
    const cos = (0.1 * -0.2 + 0.2 * 0.1 + 0.3 * 0.05) / (Math.hypot(0.1, 0.2, 0.3) * Math.hypot(-0.2, 0.1, 0.05));
    expect(distance('cosine', a, b)).toBeCloseTo(1 - cos, 6);
    const l2 = 0.09 + 0.01 + 0.0625, na = 0.14, nb = 0.0525;
    expect(distance('poincare', a, b)).toBeCloseTo(Math.acosh(1 + (2 * l2) / ((1 - na) * (1 - nb))), 5);
  });

  it('keeps Poincaré distances accurate next to the boundary', () => {
    // Two points at norm 1 - 1e-5 an angle apart: float32 1-‖v‖² alone would lose most digits.
    const r = 1 - 1e-5, t = 1e-3;
    const a = new Float32Array([r, 0]), b = new Float32Array([r * Math.cos(t), r * Math.sin(t)]);
    const [ax, ay, bx, by] = [a[0], a[1], b[0], b[1]]; // float32-rounded inputs, exact in f64
    const l2 = (ax - bx) ** 2 + (ay - by) ** 2;
    const expected = Math.acosh(1 + (2 * l2) / ((1 - ax * ax - ay * ay) * (1 - bx * bx - by * by)));
    expect(distance('poincare', a, b) / expected).toBeCloseTo(1, 3);
  });

  for (const metric of ['l2', 'dot', 'cosine', 'poincare'] as Metric[]) {
    for (const quantization of ['none', 'int8', 'binary'] as Quantization[]) {
      it(`${metric}/${quantization}: in-place search finds the exact neighbours`, async () => {
        const dim = quantization === 'binary' ? 96 : 24, n = 3000; // 24 bits cannot rank 3,000 points
        const all = metric === 'poincare' ? poincarePoints(n + 50, dim, 7) : clusteredVectors(n + 50, dim, 7);
        const base = all.subarray(0, n * dim), queries = all.subarray(n * dim);
        const bytes = await buildIndex(base, { dimension: dim, metric, quantization, m: 16, efConstruction: 100 });
        const index = Index.open(bytes);
        expect(index.count).toBe(n);
        const r = recall(index, base, queries, metric, 10, quantization === 'binary' ? 200 : 64);
        expect(r).toBeGreaterThanOrEqual(0.95);
        // Distances are true distances, ascending, equal to the exact ones.
        const q = queries.subarray(0, dim);
        const got = index.search(q, { k: 5, ef: 100 });
        for (let i = 1; i < got.distances.length; i++) expect(got.distances[i]).toBeGreaterThanOrEqual(got.distances[i - 1]);
        const stored = index.vector(got.positions[0]);
        expect(got.distances[0]).toBeCloseTo(distance(metric, stored, q), 4);
      });
    }
  }

  it('stores a vector the engine already normalized bit for bit (its Merkle leaf hashes those bits)', async () => {
    const dim = 100, n = 400;
    const raw = randomVectors(n, dim, 31);
    // As engine/validate.ts does it: divide each value by the float64 norm.
    const unit = new Float32Array(raw.length);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += raw[i * dim + d] * raw[i * dim + d];
      const norm = Math.sqrt(sum);
      for (let d = 0; d < dim; d++) unit[i * dim + d] = raw[i * dim + d] / norm;
    }
    const index = Index.open(await buildIndex(unit, { dimension: dim, metric: 'cosine', quantization: 'int8' }));
    const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
    for (let i = 0; i < n; i++) expect(bits(index.vector(i))).toEqual(bits(unit.subarray(i * dim, (i + 1) * dim)));
    // A vector that is not unit length is still normalized.
    const scaled = Index.open(await buildIndex(raw, { dimension: dim, metric: 'cosine' }));
    for (let i = 0; i < n; i += 37) {
      const v = scaled.vector(i);
      expect(v.reduce((s, x) => s + x * x, 0)).toBeCloseTo(1, 6);
      for (let d = 0; d < dim; d++) expect(v[d]).toBeCloseTo(unit[i * dim + d], 6);
    }
  });

  it('builds the same bytes twice with one thread and a fixed seed', async () => {
    const base = randomVectors(2000, 16, 3);
    const a = await buildIndex(base, { dimension: 16, metric: 'l2', threads: 1, seed: 42, quantization: 'int8' });
    const b = await buildIndex(base, { dimension: 16, metric: 'l2', threads: 1, seed: 42, quantization: 'int8' });
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('searches a memory-mapped file exactly like the in-memory blob', async () => {
    const base = randomVectors(3000, 32, 5);
    const bytes = await buildIndex(base, { dimension: 32, metric: 'cosine', quantization: 'int8' });
    const path = join(mkdtempSync(join(tmpdir(), 'hs-')), 'index.hsix');
    writeFileSync(path, bytes);
    const mapped = Index.open(mmapFile(path));
    const memory = Index.open(bytes);
    const queries = randomVectors(20, 32, 6);
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * 32, q * 32 + 32);
      const a = memory.search(query, { k: 10 }), b = mapped.search(query, { k: 10 });
      expect(Array.from(b.positions)).toEqual(Array.from(a.positions));
      expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
    }
  });

  it('skips deleted records and honours an allow-list, exactly when it is selective', async () => {
    const n = 5000, dim = 16;
    const base = randomVectors(n, dim, 11);
    const index = Index.open(await buildIndex(base, { dimension: dim, metric: 'l2' }));
    const query = randomVectors(1, dim, 12);
    // A wide beam, so both searches are exact and the shift by five is well defined.
    const first = index.search(query, { k: 10, ef: 400 });
    const deleted = new Uint8Array(Math.ceil(n / 8));
    for (const p of first.positions.subarray(0, 5)) deleted[p >> 3] |= 1 << (p & 7);
    const after = index.search(query, { k: 10, ef: 400, deleted });
    for (const p of first.positions.subarray(0, 5)) expect(Array.from(after.positions)).not.toContain(p);
    expect(Array.from(after.positions.subarray(0, 5))).toEqual(Array.from(first.positions.subarray(5, 10)));
    for (const keep of [0.5, 0.1, 0.01, 0.001]) {
      const allow = new Uint8Array(Math.ceil(n / 8));
      const every = Math.round(1 / keep);
      for (let p = 0; p < n; p += every) allow[p >> 3] |= 1 << (p & 7);
      const got = index.search(query, { k: 10, allow, ef: 64 });
      const exact = flatSearch(base, query, { dimension: dim, metric: 'l2', k: 10, allow });
      for (const p of got.positions) expect(p % every).toBe(0);
      const truth = new Set(exact.positions);
      const hits = Array.from(got.positions).filter((p) => truth.has(p)).length;
      expect(hits / exact.positions.length).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('batch search on both cores equals one-by-one search', async () => {
    const base = randomVectors(4000, 20, 21);
    const index = Index.open(await buildIndex(base, { dimension: 20, metric: 'dot', quantization: 'binary' }));
    const queries = randomVectors(64, 20, 22);
    const batch = await index.searchBatch(queries, { k: 10, ef: 80, threads: 2 });
    for (let q = 0; q < 64; q++) {
      const one = index.search(queries.subarray(q * 20, q * 20 + 20), { k: 10, ef: 80 });
      expect(Array.from(batch.positions.subarray(q * 10, q * 10 + 10))).toEqual(Array.from(one.positions));
    }
  });

  it('rejects corrupted bytes with a data error', async () => {
    const bytes = Uint8Array.from(await buildIndex(randomVectors(500, 8, 1), { dimension: 8, metric: 'l2' }));
    bytes[bytes.length - 100] ^= 0x40;
    expect(() => Index.open(bytes, { name: 'chunk_x.hyp' })).toThrow(/index blob: section vectors checksum mismatch: file=chunk_x.hyp/);
    try { Index.open(bytes); } catch (e) { expect((e as { kind: string }).kind).toBe('data'); }
    expect(() => Index.open(new Uint8Array(64))).toThrow('index blob: too short for a header: 64 bytes');
    const bad = new Uint8Array(256);
    expect(() => Index.open(bad)).toThrow('index blob: bad magic (not an HSIX index)');
  });

  it('handles empty and tiny indexes', async () => {
    const empty = Index.open(await buildIndex(new Float32Array(0), { dimension: 4, metric: 'l2' }));
    expect(empty.search(new Float32Array(4), { k: 3 }).positions.length).toBe(0);
    const one = Index.open(await buildIndex(new Float32Array([1, 2, 3, 4]), { dimension: 4, metric: 'l2' }));
    expect(Array.from(one.search(new Float32Array(4), { k: 3 }).positions)).toEqual([0]);
  });
});

describe('native facade input checks', () => {
  const dim = 4;
  let index: Index;
  it('builds a small index', async () => {
    index = Index.open(await buildIndex(randomVectors(100, dim, 2), { dimension: dim, metric: 'l2' }));
  });
  const cases: [string, () => unknown, string][] = [
    ['wrong dimension', () => index.search(new Float32Array(3), { k: 1 }), 'dimension mismatch: query expected=4 got=3'],
    ['NaN', () => index.search(new Float32Array([0, NaN, 0, 0]), { k: 1 }), 'non-finite value NaN at index 1 of query'],
    ['Infinity', () => index.search(new Float32Array([0, 0, Infinity, 0]), { k: 1 }), 'non-finite value Infinity at index 2 of query'],
    ['plain array', () => index.search([1, 2, 3, 4] as unknown as Float32Array, { k: 1 }), 'query must be a Float32Array, got Array'],
    ['k = 0', () => index.search(new Float32Array(4), { k: 0 }), 'k must be an integer in 1..10000, got 0'],
    ['k too large', () => index.search(new Float32Array(4), { k: 10001 }), 'k must be an integer in 1..10000, got 10001'],
    ['k fractional', () => index.search(new Float32Array(4), { k: 1.5 }), 'k must be an integer in 1..10000, got 1.5'],
    ['ef = 0', () => index.search(new Float32Array(4), { k: 1, ef: 0 }), 'ef must be an integer in 1..100000, got 0'],
    ['ef too large', () => index.search(new Float32Array(4), { k: 1, ef: 100001 }), 'ef must be an integer in 1..100000, got 100001'],
    ['short bitset', () => index.search(new Float32Array(4), { k: 1, allow: new Uint8Array(2) }), 'allow bitset has 2 bytes, needs 13 for 100 records'],
    ['out of ball', () => flatSearch(new Float32Array(4), new Float32Array([0.6, 0.8, 0, 0]), { dimension: 4, metric: 'poincare', k: 1 }), 'query outside the Poincaré ball: norm=1.0000000 must be < 1 - 1e-6'],
    ['at the ball limit', () => flatSearch(new Float32Array(1), new Float32Array([1 - 5e-7]), { dimension: 1, metric: 'poincare', k: 1 }), 'query outside the Poincaré ball: norm=0.9999995 must be < 1 - 1e-6'],
    ['zero cosine', () => flatSearch(new Float32Array(4), new Float32Array(4), { dimension: 4, metric: 'cosine', k: 1 }), 'zero vector in query is not allowed for cosine'],
    ['unknown metric', () => flatSearch(new Float32Array(4), new Float32Array(4), { dimension: 4, metric: 'hamming' as Metric, k: 1 }), 'unknown metric: "hamming" (expected one of l2, dot, cosine, poincare)'],
  ];
  for (const [name, call, message] of cases) {
    it(`rejects ${name}`, () => {
      expect(call).toThrow(message);
      try { call(); } catch (e) { expect((e as { kind: string }).kind).toBe('invalid'); }
    });
  }
  it('rejects bad build input', async () => {
    await expect(buildIndex(new Float32Array([1, 2, 3]), { dimension: 2, metric: 'l2' })).rejects.toThrow('dimension mismatch: vectors length 3 is not a multiple of dimension 2');
    await expect(buildIndex(new Float32Array([0.5, 0.9]), { dimension: 2, metric: 'poincare' })).rejects.toThrow('vector 0 outside the Poincaré ball: norm=1.0295630 must be < 1 - 1e-6');
    await expect(buildIndex(new Float32Array([1, 2]), { dimension: 2, metric: 'l2', quantization: 'pq' as Quantization })).rejects.toThrow('unknown quantization: "pq" (expected one of none, int8, binary)');
    await expect(buildIndex(new Float32Array([1, 2]), { dimension: 2, metric: 'l2', m: 1 })).rejects.toThrow('m must be an integer in 2..128, got 1');
  });
});
