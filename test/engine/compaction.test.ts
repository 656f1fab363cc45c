import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HyperspaceDB, indexerDefaults } from '../../engine/index.ts';
import { clusteredVectors } from '../helpers/random.ts';

describe('size-tiered compaction', () => {
  it('merges a tier of small segments in the background without losing deletes, updates or the digest', async () => {
    const db = await HyperspaceDB.open(mkdtempSync(join(tmpdir(), 'hs-compact-')), { indexer: false });
    const dim = 8;
    const c = await db.createCollection('c', { dimension: dim, metric: 'l2' });
    const data = clusteredVectors(8000, dim, 9);
    const point = (i: number, v = i) => ({ id: `p${i}`, vector: data.subarray(v * dim, (v + 1) * dim), metadata: { i } });
    for (let s = 0; s < 6; s++) {
      await c.upsert(Array.from({ length: 1200 }, (_, j) => point(s * 1200 + j)));
      if (s > 0) await c.delete([`p${(s - 1) * 1200 + 7}`]); // kills a record of an older segment
      if (s > 1) await c.upsert([point((s - 2) * 1200 + 3, 7500 + s)]); // moves an older record
      await c.flush();
    }
    expect(c.describe().segments).toBe(6);
    const plan = c.compactionPlan(indexerDefaults)!;
    expect(plan.length).toBe(6); // all in tier 0
    const queries = clusteredVectors(20, dim, 10);
    const before = await Promise.all(Array.from({ length: 20 }, (_, q) => c.search(queries.subarray(q * dim, (q + 1) * dim), { k: 20, exact: true })));
    const digest = (await c.digest()).root;
    const count = await c.count();
    await c.compactInBackground(indexerDefaults);
    expect(c.describe().segments).toBe(1);
    expect(c.compactionPlan(indexerDefaults)).toBeNull();
    expect(await c.count()).toBe(count);
    expect((await c.digest()).root).toBe(digest);
    for (let q = 0; q < 20; q++) {
      const after = await c.search(queries.subarray(q * dim, (q + 1) * dim), { k: 20, exact: true });
      expect(after.hits.map((h) => `${h.id}@${h.distance}`)).toEqual(before[q].hits.map((h) => `${h.id}@${h.distance}`));
    }
    for (let s = 0; s < 5; s++) expect(await c.get(`p${s * 1200 + 7}`)).toBeNull();
    expect(Array.from((await c.get('p3'))!.vector)).toEqual(Array.from(data.subarray(7502 * dim, 7503 * dim)));
    await db.close();
  });
});
