// An embedded replica kept converged with a server through the SDK
// (docs/sdk.md "Replicas"): `import { syncInto } from 'hyperspacedb/client/replica'`.
// The SDK moves the frames and counts their bytes; the engine's replication
// (engine/sync.ts, the same code `hyperspace serve --follow` runs) decides
// what to ask for, verifies and applies. This is the one file of client/ that
// imports the engine: an embedded replica is the engine. `hyperspacedb/client`
// itself imports only proto/ (DESIGN §1), so a remote-only user loads no
// engine and no native addon.
import type { HyperspaceDB } from '../engine/index.ts';
import { replicaCollection, syncReplica, type SyncReport, type SyncSource } from '../engine/sync.ts';
import type { HyperspaceClient } from './index.ts';
import type { CallOptions, SyncBytes } from './types.ts';

export type { RepairReport, SyncReport } from '../engine/sync.ts';

export interface ReplicateReport extends SyncReport {
  /** Request and response bytes of every call this sync made. */
  bytes: SyncBytes;
}

/** The server's collection as a replica's sync source; each call's bytes are added to `bytes`. */
export function clientSource(client: HyperspaceClient, collection: string, bytes: SyncBytes = { sent: 0, received: 0 }, options: CallOptions = {}): SyncSource {
  const count = <T extends { bytes: SyncBytes }>(result: T): T => {
    bytes.sent += result.bytes.sent;
    bytes.received += result.bytes.received;
    return result;
  };
  return {
    digest: async () => count(await client.digest(collection, options)),
    changes: async (afterSeq, limit) => count(await client.pullChanges(collection, limit === undefined ? { afterSeq } : { afterSeq, limit }, options)).frame,
    pull: async (request) => count(await client.pullBuckets(collection, request, options)).frames,
  };
}

/**
 * Makes `db`'s collection a replica of the server's and converges it: created
 * with the server's config when missing, then caught up by sequence, or
 * repaired when it diverged. Resolves once its root equals the server's at the
 * same leader seq (`sourceSeq`, `root`), with the bytes moved. The local
 * collection is read-only (writes go to the server) and never moves to an
 * older state; the server may be a leader or a follower.
 */
export async function syncInto(client: HyperspaceClient, db: HyperspaceDB, collection: string, options: CallOptions = {}): Promise<ReplicateReport> {
  const bytes: SyncBytes = { sent: 0, received: 0 };
  const info = await client.describeCollection(collection, options);
  const replica = await replicaCollection(db, info);
  const report = await syncReplica(replica, clientSource(client, collection, bytes, options));
  return { ...report, bytes };
}
