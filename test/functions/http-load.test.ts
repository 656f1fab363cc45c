// 32 clients writing and searching over HTTP for a few seconds, with the
// background indexer folding and merging underneath: no 5xx, every
// acknowledged write readable right after its acknowledgement and at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startHarness, type Harness } from './http-harness.ts';

const dimension = 24;
const clients = 32;
const durationMs = 4000;

function vectorFor(client: number, i: number): number[] {
  const v = new Array<number>(dimension);
  for (let d = 0; d < dimension; d++) v[d] = Math.sin(client * 7.31 + i * 1.7 + d * 0.37) + (d === client % dimension ? 2 : 0);
  return v;
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ open: { indexer: { tailRecordsFlush: 500, tailAgeMsFlush: 200, segmentsMax: 3 } } });
  expect((await call(h.base, 'POST', '/v1/collections', { name: 'load', dimension, metric: 'l2' })).status).toBe(200);
});

afterAll(async () => {
  await h.close();
});

describe('32 concurrent clients', () => {
  it('lose no acknowledged write and see no 5xx', async () => {
    const acknowledged = new Map<string, number[]>();
    const deleted = new Set<string>();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const note = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const stopAt = Date.now() + durationMs;

    async function client(c: number): Promise<void> {
      for (let i = 0; Date.now() < stopAt; i++) {
        const batch = Array.from({ length: 8 }, (_, j) => ({ id: `c${c}-${i}-${j}`, vector: vectorFor(c, i * 8 + j), metadata: { client: c, round: i } }));
        const written = await call(h.base, 'POST', '/v1/collections/load/upsert', { points: batch }, { 'idempotency-key': `c${c}-${i}` });
        note(written.status);
        if (written.status !== 200) {
          failures.push(`upsert ${written.status} ${written.text}`);
          continue;
        }
        for (const p of batch) acknowledged.set(p.id, p.vector);
        // Read your write: the batch's last point is there right after the acknowledgement.
        const last = batch[batch.length - 1];
        const found = await call(h.base, 'POST', '/v1/collections/load/search', { vector: last.vector, k: 3, filter: { client: c, round: i } });
        note(found.status);
        if (found.status !== 200 || found.json.hits[0]?.id !== last.id || found.json.hits[0]?.distance !== 0) {
          failures.push(`search after write ${found.status} ${found.text.slice(0, 200)}`);
        }
        if (i % 5 === 4) {
          const id = `c${c}-${i - 1}-0`;
          const removed = await call(h.base, 'POST', '/v1/collections/load/delete', { ids: [id] });
          note(removed.status);
          if (removed.status === 200) deleted.add(id);
          else failures.push(`delete ${removed.status} ${removed.text}`);
          const gone = await call(h.base, 'GET', `/v1/collections/load/points/${id}`);
          note(gone.status);
          if (gone.status !== 404) failures.push(`get after delete ${gone.status}`);
        }
      }
    }

    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    expect(failures).toEqual([]);
    expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
    const live = [...acknowledged.keys()].filter((id) => !deleted.has(id));
    expect(live.length).toBeGreaterThan(clients * 8);
    expect((await call(h.base, 'POST', '/v1/collections/load/count')).json.count).toBe(live.length);
    const collection = h.db.collection('load');
    for (const id of live) {
      const record = await collection.get(id);
      expect(record, id).not.toBeNull();
      expect(Array.from(record!.vector)).toEqual(Array.from(new Float32Array(acknowledged.get(id)!)));
    }
    for (const id of deleted) expect(await collection.get(id)).toBeNull();
    // The indexer really runs underneath; on a loaded machine its first fold may land after the clients stop.
    const until = Date.now() + 60_000;
    while (collection.describe().manifestVersion === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(collection.describe().manifestVersion).toBeGreaterThan(0);
  });
});
