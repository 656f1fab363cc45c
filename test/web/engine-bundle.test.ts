// The engine as the browser runs it (the bundle: WASM core, pure-TS SHA-256)
// over the same stores the Node engine wrote: same hits, same digest.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { MemoryLogStore, MemoryObjectStore } from '../../engine/stores/memory-stores.ts';
import { METRICS, QUANTIZATIONS } from '../../native/index.ts';
import { sha256, sha256Hasher } from '../../web/sha256.ts';
import { poincarePoints, randomVectors, rng } from '../helpers/random.ts';
import { browserBundle } from './bundle.ts';

let web: Awaited<ReturnType<typeof browserBundle>>['web'];
beforeAll(async () => { web = (await browserBundle()).web; });

describe('the browser build of the engine', () => {
  it('hashes with a SHA-256 identical to node:crypto, whole and piecewise', () => {
    const next = rng(3);
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_000]) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
      const expected = createHash('sha256').update(bytes).digest('hex');
      expect(Buffer.from(sha256(bytes)).toString('hex'), `n=${n}`).toBe(expected);
      const hasher = sha256Hasher();
      for (let at = 0; at < n; at += 1 + (at % 70)) hasher.update(bytes.subarray(at, Math.min(n, at + 1 + (at % 70))));
      expect(Buffer.from(hasher.digest()).toString('hex'), `n=${n} piecewise`).toBe(expected);
    }
    expect(Buffer.from(sha256(new TextEncoder().encode('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('computes the Merkle test vectors of docs/format/merkle.md (leaves, root) with its own SHA-256', () => {
    // id, seq, vector, metadata → leaf (the spec's table; "k103" shares a bucket with "a").
    const spec: [string, number, number[], Record<string, unknown> | undefined, string][] = [
      ['a', 1, [1, 2, 3], undefined, '482e605f4b9f98c9be0364c8bd77c1d723a743d9efad9620fb373e79988603c9'],
      ['k103', 2, [0.5, -1, 1e-3], { n: 1 }, '45debb17a92912de926d1ef194e161dccc22cd2e0a644a1e95c7871cd953e6f1'],
      ['doc-42', 7, [0.6, 0.8], { year: 2020, genre: 'drama', tags: ['x', 'y'], color: true, score: 0.1 }, 'a13b3105edc0bae7c094b566a502abdec786b75e109f21cf1e1477e62315fa1a'],
      ['é😀', 2 ** 40 + 5, [-0.5, 0.25, 0], { b: 1, a: 'ü' }, 'ee7101484d67add9f87b5388a0f326a3565ed8c03a87df3b9b776c8691323fe7'],
    ];
    const digest = new web.Digest();
    for (const [id, seq, vector, metadata, leaf] of spec) {
      const got = web.leafHash(id, seq, new Float32Array(vector), metadata);
      expect(web.toHex(got), id).toBe(leaf);
      digest.set(id, got);
    }
    expect(digest.root().root).toBe('4b1e33a463e768d242e69a56291fe9fa401829296e33023281ad94360c6308f4');
    expect(new web.Digest().root().root).toBe('0e89e7ed74c9a5944c886585d634e3c68f4dccd0a31968fe52d6df0873ccdec6');
  });

  for (const metric of METRICS) {
    for (const quantization of QUANTIZATIONS) {
      it(`opens the segments and WAL the Node engine wrote (${metric}/${quantization}): same hits, same digest`, async () => {
        const dim = 16, n = 400;
        const vectors = metric === 'poincare' ? poincarePoints(n, dim, 5) : randomVectors(n, dim, 5);
        const points = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, vector: vectors.subarray(i * dim, (i + 1) * dim), metadata: { i, odd: i % 2 === 1 } }));
        const stores = { objects: new MemoryObjectStore(), log: new MemoryLogStore() };
        const nodeDb = await HyperspaceDB.open(stores, { indexer: false });
        const written = await nodeDb.createCollection('c', { dimension: dim, metric, quantization });
        await written.upsert(points.slice(0, 300));
        await written.flush();
        await written.upsert(points.slice(300));
        await written.delete(['r1', 'r350']);
        const queries = [3, 77, 310, 399].map((i) => points[i].vector);
        const expected: { id: string; distance: number }[][] = [];
        for (const q of queries) expected.push((await written.search(q, { k: 10 })).hits, (await written.search(q, { k: 5, filter: { odd: true } })).hits);
        const digest = (await written.digest()).root;
        await nodeDb.close();

        const browserDb = await web.HyperspaceDB.open(stores, { indexer: false, owner: 'browser' });
        const read = browserDb.collection('c');
        const got: { id: string; distance: number }[][] = [];
        for (const q of queries) got.push((await read.search(q, { k: 10 })).hits, (await read.search(q, { k: 5, filter: { odd: true } })).hits);
        expect(got.map((hits) => hits.map((h) => h.id))).toEqual(expected.map((hits) => hits.map((h) => h.id)));
        got.flat().forEach((h, i) => expect(h.distance).toBeCloseTo(expected.flat()[i].distance, 4));
        expect((await read.digest()).root).toBe(digest);
        expect(await read.get('r1')).toBeNull();
        expect((await read.get('r2'))?.metadata).toEqual({ i: 2, odd: false });
        const scrolled: string[] = []; // cursors cross the bundle's Buffer shim (base64url)
        for (let cursor: string | null = null; ;) {
          const page: { points: { id: string }[]; nextCursor: string | null } = await read.scroll({ cursor, limit: 150 });
          scrolled.push(...page.points.map((p) => p.id));
          if (!(cursor = page.nextCursor)) break;
        }
        expect(scrolled.length).toBe(n - 2);
        expect(new Set(scrolled).size).toBe(n - 2);
        await browserDb.close();
      });
    }
  }
});
