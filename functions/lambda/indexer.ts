// The WAL-stream indexer (DESIGN §4–§5): subscribed to the table's DynamoDB
// Stream, filtered to inserted WAL group items (docs/format/dynamodb.md:
// `pk` = `wal#<collection>#<incarnation>`). A record is only a wake-up: for
// each collection named in the batch, one indexing pass reads the WAL itself
// from the manifest's walSeq + 1 (functions/lambda/indexing.ts), so records
// delivered twice, late or out of order change nothing. On partial failure the
// records of the failed collections go back as `batchItemFailures` (the event
// source mapping has ReportBatchItemFailures on, infra/indexer.ts), and Lambda
// retries from the lowest of them.
import { errorFields, jsonLogger, type Logger } from './log.ts';
import { indexCollection, isLeaseBusy, ownerName, type Stores } from './indexing.ts';

/** The fields of a DynamoDB Streams event this handler reads. */
export interface StreamEvent {
  Records: StreamRecord[];
}

export interface StreamRecord {
  eventID?: string;
  eventName?: 'INSERT' | 'MODIFY' | 'REMOVE' | string;
  eventSourceARN?: string;
  dynamodb?: {
    Keys?: Record<string, { S?: string } | undefined>;
    SequenceNumber?: string;
  };
}

export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface IndexerHandlerOptions {
  /** The deployment's stores, made once per container. */
  stores: () => Promise<Stores>;
  log?: Logger;
  owner?: string;
}

/** The collection a WAL group insert belongs to; null for every other record (not a wake-up). */
export function collectionOfRecord(record: StreamRecord): string | null {
  if (record.eventName !== 'INSERT') return null;
  const pk = record.dynamodb?.Keys?.pk?.S;
  if (!pk?.startsWith('wal#')) return null;
  const end = pk.lastIndexOf('#');
  return end > 4 ? pk.slice(4, end) : null;
}

export function createIndexerHandler(options: IndexerHandlerOptions): (event: StreamEvent) => Promise<BatchResponse> {
  const log = options.log ?? jsonLogger;
  const owner = options.owner ?? ownerName('indexer');
  let stores: Promise<Stores> | undefined;
  return async (event) => {
    stores ??= options.stores().catch((e) => {
      stores = undefined;
      throw e;
    });
    const ready = await stores;
    const byCollection = new Map<string, string[]>();
    for (const record of event.Records ?? []) {
      const name = collectionOfRecord(record);
      if (name === null) continue;
      const sequenceNumbers = byCollection.get(name) ?? [];
      if (record.dynamodb?.SequenceNumber) sequenceNumbers.push(record.dynamodb.SequenceNumber);
      byCollection.set(name, sequenceNumbers);
    }
    const failures: string[] = [];
    for (const [name, sequenceNumbers] of byCollection) {
      const startedAt = Date.now();
      try {
        const result = await indexCollection(ready, name, { owner, compact: 'plan' });
        if (result.outcome === 'missing') {
          log('info', 'collection dropped: nothing to index', { collection: name, records: sequenceNumbers.length });
          continue;
        }
        log('info', 'indexed', {
          collection: name, records: sequenceNumbers.length, durationMs: Date.now() - startedAt,
          foldedSeqs: result.after.indexedSeq - result.before.indexedSeq, indexedSeq: result.after.indexedSeq,
          manifestVersion: result.after.manifestVersion, segments: result.after.segments,
        });
      } catch (error) {
        failures.push(...sequenceNumbers);
        log(isLeaseBusy(error) ? 'warn' : 'error', 'indexing failed: the records go back to the stream for a retry',
          { collection: name, records: sequenceNumbers.length, durationMs: Date.now() - startedAt, ...errorFields(error) });
      }
    }
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

let environmentHandler: ReturnType<typeof createIndexerHandler> | undefined;

/** The stream entry point (infra/indexer.ts: `functions/lambda/indexer.handler`). */
export const handler = async (event: StreamEvent): Promise<BatchResponse> => {
  const { environmentStores } = await import('./environment.ts');
  environmentHandler ??= createIndexerHandler({ stores: environmentStores() });
  return environmentHandler(event);
};
