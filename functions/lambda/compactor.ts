// The scheduled compactor (DESIGN §5), run by a cron rule (infra/compactor.ts):
// for every collection, fold what the stream indexer has not folded yet, merge
// the segment tiers that are due (dropping dead records) and delete objects no
// retained manifest references once past the grace period. A collection whose
// lease another indexer holds is skipped until the next run.
import { errorFields, jsonLogger, type Logger } from './log.ts';
import { indexCollection, isLeaseBusy, ownerName, type Stores } from './indexing.ts';

export interface CompactorHandlerOptions {
  stores: () => Promise<Stores>;
  log?: Logger;
  owner?: string;
}

export interface CompactorResult {
  collections: number;
  compacted: string[];
  skipped: string[];
  failed: string[];
  deletedObjects: number;
}

export function createCompactorHandler(options: CompactorHandlerOptions): (event?: unknown) => Promise<CompactorResult> {
  const log = options.log ?? jsonLogger;
  const owner = options.owner ?? ownerName('compactor');
  return async () => {
    const stores = await options.stores();
    const names = await stores.log.listCollections();
    const result: CompactorResult = { collections: names.length, compacted: [], skipped: [], failed: [], deletedObjects: 0 };
    for (const name of names) {
      const startedAt = Date.now();
      try {
        const r = await indexCollection(stores, name, { owner, compact: 'plan', gc: true });
        if (r.outcome === 'missing') continue;
        result.compacted.push(name);
        result.deletedObjects += r.deleted;
        log('info', 'compacted', {
          collection: name, durationMs: Date.now() - startedAt, segmentsBefore: r.before.segments, segments: r.after.segments,
          manifestVersion: r.after.manifestVersion, deletedObjects: r.deleted,
        });
      } catch (error) {
        (isLeaseBusy(error) ? result.skipped : result.failed).push(name);
        log(isLeaseBusy(error) ? 'info' : 'error', isLeaseBusy(error) ? 'skipped: another indexer holds the lease' : 'compaction failed',
          { collection: name, durationMs: Date.now() - startedAt, ...errorFields(error) });
      }
    }
    if (result.failed.length) log('error', 'compaction run failed for some collections', { ...result });
    return result;
  };
}

let environmentHandler: ReturnType<typeof createCompactorHandler> | undefined;

/** The scheduled entry point (infra/compactor.ts: `functions/lambda/compactor.handler`). */
export const handler = async (event?: unknown): Promise<CompactorResult> => {
  const { environmentStores } = await import('./environment.ts');
  environmentHandler ??= createCompactorHandler({ stores: environmentStores() });
  return environmentHandler(event);
};
