import { describe, expect, it } from 'vitest';
import { flatSearch } from '../../native/index.ts';
import { parseFilter } from '../../engine/filter.ts';
import { Tail, TAIL_CHUNK_SLOTS } from '../../engine/tail.ts';
import { clusteredVectors } from '../helpers/random.ts';

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a large unindexed tail', () => {
  it('is searched through in-memory chunk indexes plus an exact scan of the rest, honouring deletes and filters', async () => {
    const dim = 16, n = TAIL_CHUNK_SLOTS + 1500;
    const data = clusteredVectors(n + 40, dim, 3);
    const tail = new Tail(dim, 'l2');
    for (let i = 0; i < n; i++) tail.upsert(`p${i}`, 1 + (i >> 10), data.subarray(i * dim, (i + 1) * dim), { even: i % 2 === 0 });
    await until(() => (tail as unknown as { chunks: { index: unknown }[] }).chunks[0]?.index != null);
    // Replace some records that live in the chunk: the old versions must vanish.
    for (let i = 0; i < 50; i++) tail.upsert(`p${i}`, 100, data.subarray((n + (i % 40)) * dim, (n + (i % 40) + 1) * dim), { even: true });
    for (let i = 50; i < 60; i++) tail.delete(`p${i}`, 101);
    const live = new Float32Array(n * dim);
    const ids: string[] = [];
    for (const e of tail.entries.values()) if (!e.deleted) { live.set(e.vector!, ids.length * dim); ids.push(e.id); }
    const even = parseFilter({ even: true });
    let hits = 0, total = 0;
    for (let q = 0; q < 40; q++) {
      const query = data.subarray((n + q) * dim, (n + q + 1) * dim);
      const exact = flatSearch(live.subarray(0, ids.length * dim), query, { dimension: dim, metric: 'l2', k: 10 });
      const truth = new Set(Array.from(exact.positions, (p) => ids[p]));
      const got = tail.search(query, 10, null, 64);
      expect(got.length).toBe(10);
      for (const h of got) {
        expect(h.entry.deleted).toBe(false);
        expect(tail.entries.get(h.entry.id)).toBe(h.entry);
        if (truth.has(h.entry.id)) hits++;
      }
      total += 10;
      for (const h of tail.search(query, 10, even, 64)) expect(h.entry.metadata!.even).toBe(true);
    }
    expect(hits / total).toBeGreaterThanOrEqual(0.95);
    for (let i = 50; i < 60; i++) expect(tail.entries.get(`p${i}`)!.deleted).toBe(true);
  });
});

describe('the tail bound under concurrent writers', () => {
  it('is never overshot: batches between their check and their apply hold their room', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { HyperspaceDB } = await import('../../engine/index.ts');
    const db = await HyperspaceDB.open(mkdtempSync(join(tmpdir(), 'hs-bound-')), { indexer: false, tailRecordsMax: 50 });
    const c = await db.createCollection('b', { dimension: 2, metric: 'l2' });
    const batch = (w: number) => Array.from({ length: 10 }, (_, i) => ({ id: `w${w}-${i}`, vector: [w, i] }));
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, w) => c.upsert(batch(w))));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.length - refused.length).toBe(5);
    for (const r of refused) expect(String((r as PromiseRejectedResult).reason.message)).toMatch(/^write backpressure: collection=b unindexed tail holds 50 records, 10 more would pass the limit of 50 records/);
    expect(c.describe().tailLength).toBe(50);
    expect(await c.count()).toBe(50);
    await db.close();
  });
});
