// The scheduled region replicator (DESIGN §7 "Regions"), run by a cron rule in
// the replica region (infra/replica.ts): for every collection of either
// region, engine/region-replicator.ts copies what the replica lacks from the
// home region and commits the replica's manifest. One JSON log line per
// collection and one for the run (docs/aws.md "Region replicas"). A
// collection another replicator holds is skipped until the next run.
import { randomUUID } from 'node:crypto';
import { replicateAll, type ReplicationResult } from '../../engine/region-replicator.ts';
import type { Stores } from './indexing.ts';
import { ownerName } from './indexing.ts';
import { errorFields, jsonLogger, type Logger } from './log.ts';

export interface ReplicatorHandlerOptions {
  /** The home region's stores (only read). */
  home: () => Promise<Stores>;
  /** This (the replica) region's stores. */
  replica: () => Promise<Stores>;
  /** Named in the logs. */
  homeRegion: string;
  log?: Logger;
  /** Lease owner prefix; each invocation adds its own suffix. */
  owner?: string;
  gcGraceMs?: number;
}

export interface ReplicatorResult {
  collections: number;
  committed: string[];
  upToDate: string[];
  busy: string[];
  lost: string[];
  dropped: string[];
  failed: string[];
  segmentsCopied: number;
  bytesCopied: number;
  bytesFetched: number;
}

export function createReplicatorHandler(options: ReplicatorHandlerOptions): (event?: unknown) => Promise<ReplicatorResult> {
  const log = options.log ?? jsonLogger;
  const owner = options.owner ?? ownerName('replicator');
  return async () => {
    const startedAt = Date.now();
    const [home, replica] = await Promise.all([options.home(), options.replica()]);
    // Per invocation: two overlapping runs must not share a lease (a holder renewing keeps its epoch).
    const results = await replicateAll({ home, replica, owner: `${owner}#${randomUUID().slice(0, 8)}`, gcGraceMs: options.gcGraceMs });
    const result: ReplicatorResult = {
      collections: results.length, committed: [], upToDate: [], busy: [], lost: [], dropped: [], failed: [], segmentsCopied: 0, bytesCopied: 0, bytesFetched: 0,
    };
    const lists: Record<ReplicationResult['outcome'], string[]> = {
      committed: result.committed, 'up-to-date': result.upToDate, busy: result.busy, lost: result.lost, dropped: result.dropped, failed: result.failed,
    };
    for (const r of results) {
      lists[r.outcome].push(r.collection);
      if (r.outcome === 'failed') {
        log('error', 'replication failed', { collection: r.collection, homeRegion: options.homeRegion, ...errorFields(r.error) });
        continue;
      }
      result.segmentsCopied += r.segmentsCopied;
      result.bytesCopied += r.bytesCopied;
      result.bytesFetched += r.bytesFetched;
      log('info', r.outcome === 'busy' ? 'skipped: another replicator holds the lease' : `replicated: ${r.outcome}`, { homeRegion: options.homeRegion, ...r });
    }
    log(result.failed.length ? 'error' : 'info', 'replication run', { homeRegion: options.homeRegion, durationMs: Date.now() - startedAt, ...result });
    return result;
  };
}

let environmentHandler: ReturnType<typeof createReplicatorHandler> | undefined;

/** The scheduled entry point (infra/replica.ts: `functions/lambda/replicator.handler`). */
export const handler = async (event?: unknown): Promise<ReplicatorResult> => {
  const { environmentHomeRegion, environmentReplicatorStores } = await import('./environment.ts');
  environmentHandler ??= createReplicatorHandler({ ...environmentReplicatorStores(), homeRegion: environmentHomeRegion() });
  return environmentHandler(event);
};
