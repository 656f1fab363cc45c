// Sync of a browser copy with a HyperspaceDB server (DESIGN §7, docs/web.md):
// the local collection is a read replica of the server's. Catch-up by
// sequence when the copy is known, repair by digest difference otherwise —
// the engine's replica side (engine/sync.ts) over the HTTP sync endpoints.
// Writes go to the server (HttpServer.upsert/delete) and come back by sync.
import { HyperspaceError, type HyperspaceDB } from '../engine/index.ts';
import { syncReplica, type SyncReport, type SyncSource } from '../engine/sync.ts';
import type { HttpServer } from './http-server.ts';
import type { Outbox, PushReport } from './outbox.ts';

export interface SyncProgress {
  phase: 'describe' | 'digest' | 'changes' | 'pull';
  /** Requests answered so far. */
  requests: number;
  /** Bytes moved so far (both directions). */
  bytes: number;
}

export interface BrowserSyncReport extends SyncReport {
  /** Bytes moved (both directions) and wall time of this sync. */
  bytes: number;
  ms: number;
  /** Whether the local copy was created by this sync. */
  created: boolean;
  /** Queued writes pushed first (when the database has an outbox). */
  outbox?: PushReport;
}

/**
 * Brings the local collection `name` to the server's state, creating the
 * local copy (same config) on first use. Resolves once the local digest
 * root equals the server's at the same leader seq; a server that cannot be
 * reached is an `unavailable` error and leaves the local copy as it was.
 */
export async function syncFromServer(db: HyperspaceDB & { outbox?: Outbox }, server: HttpServer, name: string,
  options: { onProgress?: (p: SyncProgress) => void } = {}): Promise<BrowserSyncReport> {
  const started = performance.now();
  const bytesBefore = server.bytes;
  let requests = 0;
  const progress = (phase: SyncProgress['phase']) => options.onProgress?.({ phase, requests: ++requests, bytes: server.bytes - bytesBefore });
  // Queued writes first, so the pull brings them back in the server's order.
  const outbox = db.outbox ? await db.outbox.push(server, name) : undefined;
  if (outbox && outbox.remaining > 0) throw new HyperspaceError('unavailable', `server unreachable: ${outbox.remaining} queued writes for collection=${name} wait; retry when online`);
  let created = false;
  if (!db.listCollections().some((c) => c.name === name)) {
    const remote = await server.describe(name);
    progress('describe');
    await db.createCollection(name, { dimension: remote.dimension, metric: remote.metric, quantization: remote.quantization,
      hnsw: { M: remote.hnsw.m, efConstruction: remote.hnsw.efConstruction } });
    created = true;
  }
  const remote = server.source(name);
  const source: SyncSource = {
    digest: async () => { const d = await remote.digest(); progress('digest'); return d; },
    changes: async (afterSeq, limit) => { const b = await remote.changes(afterSeq, limit); progress('changes'); return b; },
    pull: async (request) => { const b = await remote.pull(request); progress('pull'); return b; },
  };
  const report = await syncReplica(db.collection(name), source);
  return { ...report, bytes: server.bytes - bytesBefore, ms: performance.now() - started, created, ...(outbox ? { outbox } : {}) };
}
