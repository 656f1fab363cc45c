// A segment read before it is downloaded (docs/format/segment.md §8): the
// clusters section, ranged reads verified per cluster, exact answers from the
// clusters nearest the query, and a collection that answers while the whole
// file downloads, then switches to it.
import { describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { Bitset } from '../../engine/bitset.ts';
import { Segment, writeSegment, type SegmentRecord } from '../../engine/segment.ts';
import { MemoryLogStore, MemoryObjectStore } from '../../engine/stores/memory-stores.ts';
import type { ByteRange, ObjectStore } from '../../engine/stores/object-store.ts';
import { normalized } from '../../native/index.ts';
import { exactTopK, loadGloveFixture, loadMnistFixture, recallAtK } from '../fixtures/load.ts';
import { expectError } from './engine-helpers.ts';
import { parseFilter } from '../../engine/filter.ts';

const config = (dimension: number, metric: 'l2' | 'cosine' | 'poincare') => ({
  dimension, metric, quantization: 'int8' as const, hnsw: { M: 16, efConstruction: 100 },
});

function mnistRecords(count: number): SegmentRecord[] {
  const { train, dimension } = loadMnistFixture();
  return Array.from({ length: count }, (_, i) => ({
    id: `m${i}`, seq: i + 1, vector: train.slice(i * dimension, (i + 1) * dimension), metadata: { digit: i % 10 },
  }));
}

/** Reads of `bytes` by range, counted; `corrupt` flips a byte of the next n reads past the head. */
function rangeReader(bytes: Uint8Array) {
  const reader = {
    reads: 0, bytes: 0, corrupt: 0,
    read: async (offset: number, length: number) => {
      reader.reads++;
      reader.bytes += length;
      const out = bytes.slice(offset, offset + length);
      if (offset > 65536 && reader.corrupt > 0) { reader.corrupt--; out[length >> 1] ^= 0xff; }
      return out;
    },
  };
  return reader;
}

describe('segment clusters and partial open', { timeout: 60_000 }, () => {
  const records = mnistRecords(5000);
  const queries = loadMnistFixture().test.subarray(0, 50 * 784);
  let file: Uint8Array;

  it('a partial open reads a few MB and answers exactly from the nearest clusters', async () => {
    file = (await writeSegment(records, config(784, 'l2'))).bytes;
    const whole = Segment.open(file, 'whole.hyp');
    const reader = rangeReader(file);
    const partial = (await Segment.openPartial(reader.read, file.length, 'partial.hyp'))!;
    expect(partial.index).toBeNull();
    expect(partial.cold!.clusterCount).toBe(71); // round(√5000)
    expect(partial.root).toBe(whole.root);
    expect(partial.positionOf('m1234')).toBe(whole.positionOf('m1234'));
    const headBytes = reader.bytes;
    expect(headBytes).toBeLessThan(file.length / 20);

    const dead = new Bitset(partial.count);
    const got: string[][] = [];
    const share = 0.1; // 5,000 records in 71 clusters: the 3% default would scan two of them
    for (let q = 0; q < 50; q++) {
      const query = queries.subarray(q * 784, (q + 1) * 784);
      const probes = partial.cold!.probes(query, 10, null, share);
      await partial.cold!.load(probes);
      const r = partial.cold!.search(query, 10, probes, null, dead);
      got.push(Array.from(r.positions, (p) => partial.id(p)));
      // Exact distances, the same the whole segment's exact scan reports.
      const exact = whole.index!.search(query, { k: 1, flatThreshold: whole.count, allow: Bitset.fromPositions(whole.count, [r.positions[0]]).bytes });
      expect(r.distances[0]).toBe(exact.distances[0]);
      expect(Array.from(partial.vector(r.positions[0]))).toEqual(Array.from(whole.vector(r.positions[0])));
    }
    const truth = exactTopK(Float32Array.from(records.flatMap((r) => [...r.vector])), queries, 784, 'l2', 10);
    const recall = recallAtK(got.map((ids) => ids.map((id) => Number(id.slice(1)))), truth.ids, 10);
    expect(recall).toBeGreaterThan(0.85);
    // One query reads about its probe share of the vectors, not the file.
    expect(partial.cold!.stats.bytes / 50).toBeLessThan(file.length * share);
  });

  it('with the manifest\'s headBytes, a partial open is one GET', async () => {
    const written = await writeSegment(records.slice(0, 4500), config(784, 'l2'));
    expect(written.headBytes).toBeGreaterThan(0);
    expect(written.headBytes).toBeLessThan(written.bytes.length / 20);
    const reader = rangeReader(written.bytes);
    const partial = (await Segment.openPartial(reader.read, written.bytes.length, 'h.hyp', written.headBytes))!;
    expect(reader.reads).toBe(1);
    expect(reader.bytes).toBe(written.headBytes);
    expect(partial.positionOf('m4499')).toBe(Segment.open(written.bytes, 'h.hyp').positionOf('m4499'));
  });

  it('a filter probes until k allowed records are in reach', async () => {
    const partial = (await Segment.openPartial(rangeReader(file).read, file.length, 'partial.hyp'))!;
    const allow = partial.metadata.evaluate(parseFilter({ digit: 7 }));
    const query = queries.subarray(0, 784);
    const probes = partial.cold!.probes(query, 10, allow);
    await partial.cold!.load(probes);
    const r = partial.cold!.search(query, 10, probes, allow, new Bitset(partial.count));
    expect(r.positions.length).toBe(10);
    for (const p of r.positions) expect(partial.metadataAt(p)).toEqual({ digit: 7 });
  });

  it('a corrupt ranged read is fetched again; corrupt twice is a data error naming the file', async () => {
    const reader = rangeReader(file);
    const partial = (await Segment.openPartial(reader.read, file.length, 'p.hyp'))!;
    const query = queries.subarray(0, 784);
    reader.corrupt = 1;
    const probes = partial.cold!.probes(query, 10, null);
    await partial.cold!.load(probes.slice(0, 1));
    expect(partial.cold!.stats.gets).toBe(2);
    reader.corrupt = 2;
    await expectError(() => partial.cold!.load(probes.slice(1, 2)), 'data', /^segment cluster \d+ checksum mismatch in a ranged read: file=p\.hyp$/);
  });

  it('small segments have no clusters section: a partial open says so with null', async () => {
    const small = (await writeSegment(records.slice(0, 100), config(784, 'l2'))).bytes;
    expect(await Segment.openPartial(rangeReader(small).read, small.length, 's.hyp')).toBeNull();
    expect(Segment.open(small, 's.hyp').cold).toBeNull();
  });

  it('a damaged clusters section or header is a data error', async () => {
    const bad = file.slice();
    bad[3] ^= 1;
    await expectError(() => Segment.openPartial(rangeReader(bad).read, bad.length, 'b.hyp'), 'data', 'segment bad magic: file=b.hyp');
    const flipped = file.slice();
    // The clusters section is the last one written: flip a byte inside it.
    const v = new DataView(flipped.buffer);
    const count = v.getUint16(18, true);
    const t = 128 + 24 * Array.from({ length: count }, (_, i) => v.getUint32(128 + 24 * i, true)).indexOf(8);
    expect(v.getUint32(t, true)).toBe(8);
    flipped[Number(v.getBigUint64(t + 8, true)) + 9] ^= 1;
    await expectError(() => Segment.openPartial(rangeReader(flipped).read, flipped.length, 'c.hyp'), 'data', 'segment section clusters checksum mismatch: file=c.hyp');
  });

  it('clusters work for cosine and poincaré', async () => {
    const { vectors, dimension } = loadGloveFixture();
    const unit = Array.from({ length: 4096 }, (_, i) => normalized(vectors.subarray(i * dimension, (i + 1) * dimension)));
    const ball = unit.map((v, i) => v.map((x) => x * 0.9 * ((i % 7) + 1) / 8));
    for (const [metric, vs] of [['cosine', unit], ['poincare', ball]] as const) {
      const recs = vs.map((vector, i) => ({ id: `g${i}`, seq: 1, vector, metadata: {} }));
      const bytes = (await writeSegment(recs, config(dimension, metric))).bytes;
      const partial = (await Segment.openPartial(rangeReader(bytes).read, bytes.length, metric))!;
      const whole = Segment.open(bytes, metric);
      const query = vs[17];
      const probes = partial.cold!.probes(query, 5, null);
      await partial.cold!.load(probes);
      const r = partial.cold!.search(query, 5, probes, null, new Bitset(partial.count));
      expect(partial.id(r.positions[0]), metric).toBe('g17');
      const exact = whole.index!.search(query, { k: 5, flatThreshold: whole.count, allow: Bitset.full(whole.count).bytes });
      expect(r.distances[0]).toBeCloseTo(exact.distances[0], 6);
    }
  });
});

/** A memory store that asks for partial opens and holds whole-file downloads until released. */
class SlowRemoteStore extends MemoryObjectStore implements ObjectStore {
  readonly partialOpenBytesMin = 0;
  ranged = 0;
  whole = 0;
  private gate: Promise<void> = new Promise(() => undefined);
  private open!: () => void;
  constructor() {
    super();
    this.hold();
  }
  hold(): void { this.gate = new Promise((resolve) => { this.open = resolve; }); }
  release(): void { this.open(); }
  override async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const bytes = await super.get(key, range);
    if (key.endsWith('.hyp')) {
      if (range) this.ranged++;
      else if (bytes.length > 1024 * 1024) { this.whole++; await this.gate; }
    }
    return bytes;
  }
}

describe('a collection over a partially open segment', { timeout: 60_000 }, () => {
  it('answers searches while the file downloads, waits for it where vectors are needed, then searches the whole file', async () => {
    const objects = new SlowRemoteStore();
    const log = new MemoryLogStore();
    objects.release();
    const writer = await HyperspaceDB.open({ objects, log }, { indexer: false });
    const c = await writer.createCollection('digits', { dimension: 784, metric: 'l2' });
    const records = mnistRecords(4200);
    for (let i = 0; i < records.length; i += 1000) await c.upsert(records.slice(i, i + 1000).map(({ id, vector, metadata }) => ({ id, vector, metadata })));
    await c.flush();
    await c.delete(['m3']); // in the manifest after the next flush: a deletion entry over the segment
    await c.upsert([{ id: 'm5', vector: records[6].vector, metadata: { digit: 6 } }]); // shadows m5 from the tail
    await c.flush();
    await c.delete(['m7']); // in the tail only
    await writer.close();

    objects.hold();
    const reader = await HyperspaceDB.open({ objects, log }, { indexer: false, leases: false, collections: [] });
    await reader.refresh('digits');
    const r = reader.collection('digits');
    const ranged = objects.ranged;
    // The manifest names the head's length: one GET opens the big segment; the small one has no clusters, no head.
    expect(ranged).toBe(1);
    const top = async (i: number, k = 3) => (await r.search(records[i].vector, { k, include: ['metadata', 'vector'] })).hits;
    expect((await top(8))[0]).toMatchObject({ id: 'm8', distance: 0, metadata: { digit: 8 } });
    expect((await top(8))[0].vector).toEqual(records[8].vector);
    for (const deleted of [3, 7]) expect((await top(deleted)).map((h) => h.id)).not.toContain(`m${deleted}`);
    // m5 now holds m6's vector: the old m5 is shadowed, the new one found next to m6.
    expect((await top(5)).map((h) => h.id)).not.toContain('m5');
    expect((await top(6, 2)).map((h) => h.id).sort()).toEqual(['m5', 'm6']);
    expect(await r.count()).toBe(4200 - 2);
    expect(objects.ranged).toBeGreaterThan(ranged);
    expect(r.describe().segments).toBe(2);

    const gotten = r.get('m9');
    let settled = false;
    void gotten.then(() => { settled = true; });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false); // get needs the whole file
    objects.release();
    expect((await gotten)!.metadata).toEqual({ digit: 9 });
    await r.whole();
    const before = objects.ranged;
    const again = await r.search(records[8].vector, { k: 1 });
    expect(again.hits[0]).toMatchObject({ id: 'm8', distance: 0 });
    expect(objects.ranged).toBe(before); // no more ranged reads once whole
    expect((await r.digest()).root).toBe((await (await HyperspaceDB.open({ objects, log }, { indexer: false, leases: false })).collection('digits').digest()).root);
    await reader.close();
  });
});
