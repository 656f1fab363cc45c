// The WASM build of the core against the Node addon: same blobs, same
// results (docs/web.md). Runs the bundle a browser gets, in Node.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as native from '../../native/index.ts';
import { loadWasmBinding, type WasmBinding } from '../../native/wasm/binding.ts';
// @ts-expect-error plain ESM helper of the build script, no types
import { hashInputs } from '../../native/wasm/inputs.mjs';
import { poincarePoints, randomVectors, rng } from '../helpers/random.ts';
import { browserBundle } from './bundle.ts';

type Core = typeof native;
const wasmFile = new URL('../../native/wasm/dist/hyperspace-wasm.wasm', import.meta.url);

let wasm: Core;
let binding: WasmBinding;
beforeAll(async () => {
  wasm = (await browserBundle()).core;
  binding = await loadWasmBinding(readFileSync(wasmFile));
});

function dataFor(metric: native.Metric, n: number, dim: number, seed: number): Float32Array {
  if (metric !== 'poincare') return randomVectors(n, dim, seed);
  return poincarePoints(n, dim, seed);
}

/** Same ids in the same order, except where two neighbours are a float-tolerance tie. */
function expectSameResults(a: native.SearchResult, b: native.SearchResult, label: string): void {
  expect(b.positions.length, label).toBe(a.positions.length);
  for (let i = 0; i < a.positions.length; i++) {
    const tolerance = 1e-4 * Math.max(1, Math.abs(a.distances[i]));
    expect(Math.abs(a.distances[i] - b.distances[i]), `${label} rank ${i} distance`).toBeLessThanOrEqual(tolerance);
    if (a.positions[i] !== b.positions[i]) {
      // Allowed only for a tie: the other side's id sits at (nearly) the same distance in a.
      const j = Array.from(a.positions).indexOf(b.positions[i]);
      expect(j, `${label} rank ${i}: id ${b.positions[i]} not in the native top-k`).toBeGreaterThanOrEqual(0);
      expect(Math.abs(a.distances[j] - a.distances[i]), `${label} rank ${i} swap`).toBeLessThanOrEqual(tolerance);
    }
  }
}

describe('WASM build of the native core', () => {
  it('is built from the sources in the tree (run npm run build:wasm after changing native/core)', () => {
    const recorded = JSON.parse(readFileSync(new URL('../../native/wasm/dist/sources.json', import.meta.url), 'utf8')) as { sources: Record<string, string> };
    expect(recorded.sources).toEqual(hashInputs());
    expect(readFileSync(wasmFile).length).toBe((recorded as unknown as { wasmBytes: number }).wasmBytes);
  });

  it('uses the SIMD128 kernels, which agree with the scalar reference for every length', () => {
    expect(wasm.kernelName).toBe('wasm-simd128');
    const next = rng(7);
    for (const n of [0, 1, 3, 4, 15, 16, 17, 31, 64, 100, 784, 1000]) {
      const a = Float32Array.from({ length: n }, () => next() * 2 - 1), b = Float32Array.from({ length: n }, () => next() * 2 - 1);
      for (const op of [0, 1]) {
        const reference = binding.kernel(op, a, b, n, true);
        expect(Math.abs(binding.kernel(op, a, b, n, false) - reference), `op ${op} n ${n}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(reference)));
      }
      const ia = Int8Array.from({ length: n }, () => Math.floor(next() * 256) - 128), ib = Int8Array.from({ length: n }, () => Math.floor(next() * 256) - 128);
      for (const op of [2, 3, 4]) expect(binding.kernel(op, ia, ib, n, false), `op ${op} n ${n}`).toBe(binding.kernel(op, ia, ib, n, true));
    }
    const extremes = new Int8Array(65536).fill(-128), highs = new Int8Array(65536).fill(127);
    for (const op of [2, 3, 4]) expect(binding.kernel(op, extremes, highs, 65536, false)).toBe(binding.kernel(op, extremes, highs, 65536, true));
  });

  it('computes the same CRC-32C as the addon, across its 1 MiB chunks', () => {
    const bytes = Uint8Array.from({ length: 3 * (1 << 20) + 17 }, (_, i) => (i * 2654435761) >>> 24);
    expect(wasm.crc32c(bytes)).toBe(native.crc32c(bytes));
    expect(wasm.crc32c(bytes.subarray(5), 12345)).toBe(native.crc32c(bytes.subarray(5), 12345));
    expect(wasm.crc32c(new Uint8Array(0), 7)).toBe(7);
  });

  for (const metric of native.METRICS) {
    for (const quantization of native.QUANTIZATIONS) {
      it(`searches the addon's ${metric}/${quantization} blob exactly as the addon does, and the addon searches its blob alike`, async () => {
        const dim = 48, n = 2000, nq = 30;
        const base = dataFor(metric, n, dim, 11), queries = dataFor(metric, nq, dim, 12);
        const options = { dimension: dim, metric, quantization, m: 12, efConstruction: 100, seed: 5, threads: 1 };
        const nativeBlob = await native.buildIndex(base, options);
        const wasmBlob = await wasm.buildIndex(base, options);
        const deleted = new Uint8Array(Math.ceil(n / 8)).map((_, i) => (i % 7 === 0 ? 0b00100100 : 0));
        const allow = new Uint8Array(Math.ceil(n / 8)).map((_, i) => (i % 3 === 0 ? 0xff : 0b00010001));
        for (const [label, blob] of [['addon-built', nativeBlob], ['wasm-built', wasmBlob]] as const) {
          const a = native.Index.open(blob), b = wasm.Index.open(blob);
          expect({ count: b.count, dimension: b.dimension, metric: b.metric, quantization: b.quantization, m: b.m })
            .toEqual({ count: a.count, dimension: a.dimension, metric: a.metric, quantization: a.quantization, m: a.m });
          expect(b.vectors()).toEqual(a.vectors());
          for (let q = 0; q < nq; q++) {
            const query = queries.subarray(q * dim, (q + 1) * dim);
            expectSameResults(a.search(query, { k: 10 }), b.search(query, { k: 10 }), `${label} query ${q}`);
            expectSameResults(a.search(query, { k: 10, deleted }), b.search(query, { k: 10, deleted }), `${label} deleted query ${q}`);
            expectSameResults(a.search(query, { k: 5, allow, flatThreshold: 0 }), b.search(query, { k: 5, allow, flatThreshold: 0 }), `${label} allow query ${q}`);
          }
          const batchA = await a.searchBatch(queries, { k: 10 }), batchB = await b.searchBatch(queries, { k: 10 });
          expect(Array.from(batchB.counts)).toEqual(Array.from(batchA.counts));
        }
        const query = queries.subarray(0, dim);
        const stored = native.Index.open(nativeBlob).vectors();
        expectSameResults(native.flatSearch(stored, query, { dimension: dim, metric, k: 20 }), wasm.flatSearch(stored, query, { dimension: dim, metric, k: 20 }), 'flat');
      });
    }
  }

  it('reports a corrupt blob as a data error, like the addon', async () => {
    const blob = await native.buildIndex(randomVectors(300, 8, 1), { dimension: 8, metric: 'l2', threads: 1 });
    const corrupt = blob.slice();
    corrupt[corrupt.length - 9] ^= 0xff;
    const expected = await caught(() => native.Index.open(corrupt, { name: 'x.hyp' }));
    const got = await caught(() => wasm.Index.open(corrupt, { name: 'x.hyp' }));
    expect(got.kind).toBe('data');
    expect(got.message).toBe(expected.message);
  });

  it("refuses bad input with the addon facade's exact messages", async () => {
    const blob = await native.buildIndex(poincarePoints(100, 4, 2), { dimension: 4, metric: 'poincare', threads: 1 });
    const cases: Record<string, (core: Core, index: native.Index) => unknown> = {
      'query dimension': (_, index) => index.search(new Float32Array(3), { k: 1 }),
      'outside the ball': (_, index) => index.search(new Float32Array([1, 0, 0, 0]), { k: 1 }),
      'k out of range': (_, index) => index.search(new Float32Array(4), { k: 0 }),
      'not finite': (_, index) => index.search(new Float32Array([NaN, 0, 0, 0]), { k: 1 }),
      'number[] query': (_, index) => index.search([0, 0, 0, 0] as unknown as Float32Array, { k: 1 }),
      'short bitset': (_, index) => index.search(new Float32Array(4), { k: 1, allow: new Uint8Array(2) }),
      'unknown metric': (core) => core.buildIndex(new Float32Array(4), { dimension: 4, metric: 'hamming' as native.Metric }),
      'cosine zero vector': (core) => core.buildIndex(new Float32Array(4), { dimension: 4, metric: 'cosine' }),
    };
    for (const [label, call] of Object.entries(cases)) {
      const expected = await caught(() => call(native, native.Index.open(blob)));
      const got = await caught(() => call(wasm, wasm.Index.open(blob)));
      expect(got.message, label).toBe(expected.message);
      expect(got.kind, label).toBe('invalid');
    }
  });
});

async function caught(action: () => unknown): Promise<Error & { kind?: string }> {
  try {
    await action();
  } catch (e) {
    return e as Error & { kind?: string };
  }
  throw new Error('expected an error');
}
