// One indexing pass over one collection, as the Lambda functions run it
// (DESIGN §5): open the collection alone with a fresh lease epoch, fold the
// WAL tail the manifest has not folded yet (the collection reads the WAL
// itself from the manifest's walSeq + 1), merge segments by plan, optionally
// collect garbage, then close — which gives the lease up for the next
// invocation, wherever it runs. Everything is idempotent: a pass with nothing
// to fold commits nothing, so duplicate and reordered wake-ups change nothing.
import { randomUUID } from 'node:crypto';
import { HyperspaceDB, HyperspaceError, indexerDefaults, type CollectionDescription, type LogStore, type ObjectStore } from '../../engine/index.ts';

/** The two stores of a deployment (DESIGN §3). */
export interface Stores {
  objects: ObjectStore;
  log: LogStore;
}

export interface IndexingOptions {
  /** Lease owner; one per container (`ownerName()`). */
  owner: string;
  /** `plan`: merge the tiers that are due (as the embedded indexer does); `full`: everything into one segment. */
  compact?: false | 'plan' | 'full';
  /** Delete unreferenced objects past the grace period. */
  gc?: boolean;
}

export type IndexingResult =
  | { collection: string; outcome: 'indexed'; before: CollectionDescription; after: CollectionDescription; deleted: number }
  | { collection: string; outcome: 'missing' };

/** A lease owner name unique to this container (the log stream names it on Lambda). */
export function ownerName(role: string): string {
  return `${process.env.AWS_LAMBDA_FUNCTION_NAME ?? role}:${process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? randomUUID()}`;
}

/**
 * Indexes `name`. A dropped collection is `missing` (nothing to do); a lease
 * another indexer holds is a `conflict` error (retry later).
 */
export async function indexCollection(stores: Stores, name: string, options: IndexingOptions): Promise<IndexingResult> {
  const db = await HyperspaceDB.open(stores, { indexer: false, owner: options.owner, collections: [name] });
  try {
    if (!db.listCollections().some((c) => c.name === name)) return { collection: name, outcome: 'missing' };
    const c = db.collection(name);
    const before = c.describe();
    await c.flush();
    if (options.compact === 'full') await c.compact();
    else if (options.compact === 'plan') await c.compactInBackground(indexerDefaults);
    const deleted = options.gc ? (await c.gc()).deleted.length : 0;
    return { collection: name, outcome: 'indexed', before, after: c.describe(), deleted };
  } finally {
    await db.close();
  }
}

/** Whether `error` is another indexer holding the lease (retry later, not a fault). */
export function isLeaseBusy(error: unknown): boolean {
  return error instanceof HyperspaceError && error.kind === 'conflict' && error.message.startsWith('lease is held:');
}
