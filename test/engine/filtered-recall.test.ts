import { SEARCH_DEFAULTS } from '../../native/index.ts';
// Filtered search keeps recall@10 ≥ 0.95 whatever the filter keeps (issue 3):
// MNIST-784 with numeric and string metadata, ground truth by exact search
// over the allowed records only.
import { describe, expect, it } from 'vitest';
import { filteredEf } from '../../engine/collection.ts';
import { HyperspaceDB, type Collection } from '../../engine/index.ts';
import { buildIndex, Index } from '../../native/index.ts';
import { exactTopK, loadMnistFixture, MNIST_FIXTURE } from '../fixtures/load.ts';
import { temporaryDirectory } from './engine-helpers.ts';

const { train, test, dimension } = loadMnistFixture();
const n = MNIST_FIXTURE.trainCount;
const queries = 100;
const idOf = (i: number) => `m${i}`;
// Spread the field over the data with a multiplicative hash, so that the
// allowed records of every selectivity are scattered across the whole set.
const bucketOf = (i: number) => (i * 7919) % 1000;
const metadataOf = (i: number) => ({ bucket: bucketOf(i), shard: `s${bucketOf(i) % 100}` });

const selectivities: { name: string; filter: object; keep: (i: number) => boolean }[] = [
  { name: '50% (numeric range)', filter: { bucket: { $lt: 500 } }, keep: (i) => bucketOf(i) < 500 },
  { name: '10% (string $in)', filter: { shard: { $in: Array.from({ length: 10 }, (_, s) => `s${s}`) } }, keep: (i) => bucketOf(i) % 100 < 10 },
  { name: '1% (numeric range and string)', filter: { $and: [{ bucket: { $gte: 100, $lt: 200 } }, { shard: { $in: ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9'] } }] }, keep: (i) => bucketOf(i) >= 100 && bucketOf(i) < 200 && bucketOf(i) % 100 < 10 },
  { name: '0.1% (numeric equality)', filter: { bucket: { $in: [3, 4] } }, keep: (i) => bucketOf(i) === 3 || bucketOf(i) === 4 },
];

/** Exact top-10 among the allowed records, as positions into the training set. */
function groundTruth(keep: (i: number) => boolean): { allowed: number[]; truth: number[][] } {
  const allowed = [...Array(n).keys()].filter(keep);
  const base = new Float32Array(allowed.length * dimension);
  allowed.forEach((i, j) => base.set(train.subarray(i * dimension, (i + 1) * dimension), j * dimension));
  const { ids } = exactTopK(base, test.subarray(0, queries * dimension), dimension, 'l2', 10);
  return { allowed, truth: ids.map((row) => [...row].map((j) => allowed[j])) };
}

async function recallAt10(c: Collection, filter: object, keep: (i: number) => boolean): Promise<{ recall: number; allowed: number }> {
  const { allowed, truth } = groundTruth(keep);
  let found = 0, wanted = 0;
  for (let q = 0; q < queries; q++) {
    const { hits } = await c.search(test.subarray(q * dimension, (q + 1) * dimension), { k: 10, filter });
    const expected = new Set(truth[q].map(idOf));
    for (const h of hits) expect(keep(Number(h.id.slice(1))), `${h.id} passes the filter`).toBe(true);
    found += hits.filter((h) => expected.has(h.id)).length;
    wanted += expected.size;
  }
  return { recall: found / wanted, allowed: allowed.length };
}

async function expectRecall(c: Collection, where: string): Promise<void> {
  const report: string[] = [];
  for (const s of selectivities) {
    expect(await c.count({ filter: s.filter })).toBe([...Array(n).keys()].filter(s.keep).length);
    const { recall, allowed } = await recallAt10(c, s.filter, s.keep);
    report.push(`${where} ${s.name}: ${allowed} allowed, recall@10 ${recall.toFixed(3)}`);
    expect(recall, `${where} ${s.name}`).toBeGreaterThanOrEqual(0.95);
  }
  console.log(report.join('\n'));
}

async function ingest(c: Collection, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1000) {
    const end = Math.min(to, start + 1000);
    await c.upsert(Array.from({ length: end - start }, (_, k) => {
      const i = start + k;
      return { id: idOf(i), vector: train.subarray(i * dimension, (i + 1) * dimension), metadata: metadataOf(i) };
    }));
  }
}

describe('filtered search recall on MNIST-784', () => {
  it('keeps recall@10 ≥ 0.95 at 50%, 10%, 1% and 0.1% with everything in one segment', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('mnist', { dimension, metric: 'l2' });
    await ingest(c, 0, n);
    await c.flush();
    expect(c.describe()).toMatchObject({ segments: 1, tailLength: 0, count: n });
    await expectRecall(c, 'one segment');
    await db.close();
  });

  it('keeps recall@10 ≥ 0.95 across several segments with 10% of the data still in the tail', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    const c = await db.createCollection('mnist', { dimension, metric: 'l2' });
    await ingest(c, 0, 3000);
    await c.flush();
    await ingest(c, 3000, 4500);
    await c.flush();
    await ingest(c, 4500, n);
    expect(c.describe()).toMatchObject({ segments: 2, tailLength: 500, count: n });
    await expectRecall(c, 'two segments + tail');
    await db.close();
  });

  it('keeps recall@10 ≥ 0.95 on the graph path alone (no exact scan of small allow-lists), as in segments too big to scan', async () => {
    const index = Index.open(await buildIndex(train, { dimension, metric: 'l2' }));
    const report: string[] = [];
    for (const s of selectivities) {
      const { allowed, truth } = groundTruth(s.keep);
      const allow = new Uint8Array(Math.ceil(n / 8));
      for (const i of allowed) allow[i >> 3] |= 1 << (i & 7);
      const ef = filteredEf(undefined, allowed.length / n, { metric: 'l2', quantization: 'none' });
      let found = 0, wanted = 0;
      for (let q = 0; q < queries; q++) {
        const r = index.search(test.subarray(q * dimension, (q + 1) * dimension), { k: 10, ef, allow, flatThreshold: 0 });
        found += [...r.positions].filter((p) => truth[q].includes(p)).length;
        wanted += truth[q].length;
      }
      report.push(`graph only ${s.name}: ef ${ef}, recall@10 ${(found / wanted).toFixed(3)}`);
      expect(found / wanted, s.name).toBeGreaterThanOrEqual(0.95);
    }
    console.log(report.join('\n'));
  });

  it('never narrows the beam below the default of the quantization', () => {
    expect(filteredEf(undefined, 1, { metric: 'l2', quantization: 'binary' })).toBe(SEARCH_DEFAULTS.l2.binary.ef);
    expect(filteredEf(undefined, 0.5, { metric: 'poincare', quantization: 'binary' })).toBe(566);
    expect(filteredEf(100, 0.01, { metric: 'l2', quantization: 'none' })).toBe(800);
    expect(filteredEf(90_000, 0.0001, { metric: 'l2', quantization: 'none' })).toBe(100_000);
  });
});
