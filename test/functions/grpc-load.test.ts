// 32 SDK clients writing and searching over gRPC for a few seconds with the
// background indexer folding and merging underneath, then the server shut
// down with writes in flight: no error other than the shutdown's own
// `unavailable`, and every acknowledged write is in the database.
import { describe, expect, it } from 'vitest';
import { HyperspaceClientError } from '../../client/index.ts';
import { startGrpcHarness } from './grpc-harness.ts';

const dimension = 24;
const clients = 32;
const durationMs = 3000;

function vectorFor(client: number, i: number): Float32Array {
  const v = new Float32Array(dimension);
  for (let d = 0; d < dimension; d++) v[d] = Math.sin(client * 7.31 + i * 1.7 + d * 0.37) + (d === client % dimension ? 2 : 0);
  return v;
}

describe('32 concurrent gRPC clients', () => {
  it('lose no acknowledged write, before or across a shutdown with writes in flight', async () => {
    const h = await startGrpcHarness({}, { indexer: { tailRecordsFlush: 500, tailAgeMsFlush: 200, segmentsMax: 3 } });
    await h.db.createCollection('load', { dimension, metric: 'l2' });
    const acknowledged = new Map<string, Float32Array>();
    const failures: string[] = [];
    let shuttingDown = false;
    const stopAt = Date.now() + durationMs;

    async function client(c: number): Promise<void> {
      const sdk = h.client({ retry: { attemptsMax: 1 } });
      for (let i = 0; Date.now() < stopAt || !shuttingDown; i++) {
        const batch = Array.from({ length: 8 }, (_, j) => ({ id: `c${c}-${i}-${j}`, vector: vectorFor(c, i * 8 + j), metadata: { client: c, round: i } }));
        try {
          await sdk.upsert('load', batch);
          for (const p of batch) acknowledged.set(p.id, p.vector);
          if (shuttingDown) continue;
          const last = batch[batch.length - 1]!;
          const { hits } = await sdk.search('load', { vector: last.vector, k: 3, filter: { client: c, round: i } });
          if (hits[0]?.id !== last.id || hits[0]?.distance !== 0) failures.push(`read-your-write c${c} round ${i}: ${JSON.stringify(hits[0])}`);
        } catch (e) {
          // Once close() has begun, new calls are refused: that is the one expected failure, and it ends this client.
          if (shuttingDown && e instanceof HyperspaceClientError && e.kind === 'unavailable') return;
          failures.push(`c${c} round ${i}: ${(e as Error).message}`);
          return;
        }
      }
    }

    const running = Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    shuttingDown = true;
    await h.server.close();
    await running;
    expect(failures).toEqual([]);
    expect(acknowledged.size).toBeGreaterThan(clients * 8);
    const collection = h.db.collection('load');
    expect(await collection.count()).toBe(acknowledged.size);
    for (const [id, vector] of acknowledged) expect((await collection.get(id))?.vector, id).toEqual(vector);
    await h.close();
  });
});
