// The HyperspaceDB SDK: one interface over gRPC and HTTPS JSON (docs/sdk.md).
//
//   const db = HyperspaceClient.grpc('127.0.0.1:50051', { apiKey });
//   await db.upsert('docs', [{ id: 'a', vector: new Float32Array(768), metadata: { lang: 'en' } }]);
//   const { hits } = await db.search('docs', { vector: query, k: 10, filter: { lang: 'en' } });
//
// Every call has a time budget (retries included). Calls that fail with
// `unavailable` or `overloaded` are retried with jittered exponential backoff;
// nothing else is. Each write carries an idempotency key, generated per call
// and reused by its retries, so a retry after a lost reply returns the
// original sequence number instead of writing twice.
import { HyperspaceClientError } from './errors.ts';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.ts';
import { HttpTransport, type HttpTransportOptions } from './http-transport.ts';
import { backoffMs, retryDefaults, shouldRetry, sleep, type RetryPolicy } from './retry.ts';
import type {
  CallOptions, ChangesFrame, CollectionConfig, CollectionInfo, DigestResult, Filter, HealthStatus, Operations, OperationName, Point, PointInput,
  PullBucketsRequest, PullChangesRequest, PullFrames, ScrollOptions, ScrollPage, SearchQuery, SearchResult, Transport, WriteOptions, WriteResult,
} from './types.ts';

export { HyperspaceClientError, type ErrorKind } from './errors.ts';
export { retryDefaults, type RetryPolicy } from './retry.ts';
export type * from './types.ts';

export interface ClientOptions {
  /** Sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Retry policy; `{ attemptsMax: 1 }` disables retries. */
  retry?: Partial<RetryPolicy>;
}

export interface GrpcClientOptions extends ClientOptions, Omit<GrpcTransportOptions, 'apiKey'> {
  /** Default budget of each call, retries included, sent as the gRPC deadline. Default 30 s; 0 = none. */
  deadlineMs?: number;
}

export interface HttpClientOptions extends ClientOptions, Omit<HttpTransportOptions, 'apiKey'> {
  /** Default budget of each call, retries included. Default 30 s; 0 = none. */
  timeoutMs?: number;
}

const timeoutMsDefault = 30_000;

export class HyperspaceClient {
  private readonly retry: RetryPolicy;

  private constructor(private readonly transport: Transport, private readonly timeoutMs: number, retry: Partial<RetryPolicy> = {}) {
    this.retry = { ...retryDefaults, ...retry };
  }

  /** A client over gRPC; `address` is `host:port`. */
  static grpc(address: string, options: GrpcClientOptions = {}): HyperspaceClient {
    const { deadlineMs = timeoutMsDefault, retry, ...transport } = options;
    return new HyperspaceClient(new GrpcTransport(address, transport), deadlineMs, retry);
  }

  /** A client over HTTPS JSON; `baseUrl` is e.g. `https://xyz.lambda-url.us-east-1.on.aws`. */
  static http(baseUrl: string, options: HttpClientOptions = {}): HyperspaceClient {
    const { timeoutMs = timeoutMsDefault, retry, ...transport } = options;
    return new HyperspaceClient(new HttpTransport(baseUrl, transport), timeoutMs, retry);
  }

  /** A client over any transport (tests, custom protocols). */
  static over(transport: Transport, options: { timeoutMs?: number; retry?: Partial<RetryPolicy> } = {}): HyperspaceClient {
    return new HyperspaceClient(transport, options.timeoutMs ?? timeoutMsDefault, options.retry);
  }

  // ---------------------------------------------------------------- collections

  /**
   * Creates a collection. If an earlier attempt of this call may have applied
   * (its reply was lost) and the retry finds the name taken, the existing
   * collection is read back and returned when its configuration is the one
   * asked for: ambiguity is reconciled by reading, never by guessing.
   */
  async createCollection(name: string, config: CollectionConfig, options: CallOptions = {}): Promise<CollectionInfo> {
    return this.run('createCollection', { name, ...config }, options, undefined, async (error, attempt) => {
      if (attempt === 1 || error.kind !== 'conflict') return undefined;
      const existing = await this.describeCollection(name, options);
      const same = existing.dimension === config.dimension && existing.metric === config.metric
        && (config.quantization ?? 'none') === existing.quantization;
      return same ? existing : undefined;
    });
  }

  /** Drops a collection; a retry that finds it already gone counts as done. */
  async deleteCollection(name: string, options: CallOptions = {}): Promise<void> {
    await this.run('deleteCollection', { name }, options, undefined, async (error, attempt) =>
      (attempt > 1 && error.kind === 'not_found' ? {} : undefined));
  }

  listCollections(options: CallOptions = {}): Promise<CollectionInfo[]> {
    return this.run('listCollections', {}, options);
  }

  describeCollection(name: string, options: CallOptions = {}): Promise<CollectionInfo> {
    return this.run('describeCollection', { name }, options);
  }

  // ---------------------------------------------------------------- points

  /** Replaces whole records by id; resolves once the batch is durable. */
  upsert(collection: string, points: readonly PointInput[], options: WriteOptions = {}): Promise<WriteResult> {
    return this.run('upsert', { collection, points }, options, options.idempotencyKey ?? randomKey());
  }

  /** Deletes records by id (missing ids are no-ops); resolves once durable. */
  delete(collection: string, ids: readonly string[], options: WriteOptions = {}): Promise<WriteResult> {
    return this.run('delete', { collection, ids }, options, options.idempotencyKey ?? randomKey());
  }

  /** One record, or null when no live record has the id. */
  async get(collection: string, id: string, options: CallOptions = {}): Promise<Point | null> {
    try {
      return await this.run('get', { collection, id }, options);
    } catch (e) {
      if (e instanceof HyperspaceClientError && e.kind === 'not_found' && e.message.startsWith('point not found')) return null;
      throw e;
    }
  }

  /** The k nearest records, ascending by distance, and the consistency point they were read at. */
  search(collection: string, query: SearchQuery, options: CallOptions = {}): Promise<SearchResult> {
    return this.run('search', { collection, ...query }, options);
  }

  /** Several searches in one round trip, evaluated at one consistency point; results in query order. */
  searchBatch(collection: string, queries: readonly SearchQuery[], options: CallOptions = {}): Promise<SearchResult[]> {
    return this.run('searchBatch', { collection, searches: queries }, options);
  }

  count(collection: string, filter?: Filter | null, options: CallOptions = {}): Promise<number> {
    return this.run('count', { collection, filter }, options);
  }

  /** One page of records in id order; pass `nextCursor` back for the next page. */
  scroll(collection: string, scroll: ScrollOptions = {}, options: CallOptions = {}): Promise<ScrollPage> {
    return this.run('scroll', { collection, ...scroll }, options);
  }

  /** Every page of records, in id order. */
  async *scrollAll(collection: string, scroll: Omit<ScrollOptions, 'cursor'> = {}, options: CallOptions = {}): AsyncGenerator<Point> {
    let cursor: string | null = null;
    do {
      const page: ScrollPage = await this.scroll(collection, { ...scroll, cursor }, options);
      yield* page.points;
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  /** Folds the unindexed WAL tail into an index segment; resolves once indexed. */
  flush(collection: string, options: CallOptions = {}): Promise<CollectionInfo> {
    return this.run('flush', { collection }, options);
  }

  health(options: CallOptions = {}): Promise<HealthStatus> {
    return this.run('health', {}, options);
  }

  // ---------------------------------------------------------------- sync
  // Replication (docs/format/merkle.md): what a replica asks its leader (or a
  // follower) for. Each result reports the bytes it moved. Frames are binary
  // and verified (CRC-32C) by whoever decodes them: `syncInto` in
  // `hyperspacedb/client/replica` keeps an embedded replica converged with them.

  /** The Merkle root and 256 bucket hashes of a collection at one consistency point. */
  digest(collection: string, options: CallOptions = {}): Promise<DigestResult> {
    return this.run('getDigest', { collection }, options);
  }

  /** One page of changes after `afterSeq` (catch-up), as a changes frame. */
  pullChanges(collection: string, request: PullChangesRequest, options: CallOptions = {}): Promise<ChangesFrame> {
    return this.run('pullChanges', { collection, ...request }, options);
  }

  /** Repair: expanded nodes and records, as pull frames (streamed over gRPC). */
  pullBuckets(collection: string, request: PullBucketsRequest, options: CallOptions = {}): Promise<PullFrames> {
    return this.run('pullBuckets', { collection, ...request }, options);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  // ---------------------------------------------------------------- attempts

  /**
   * Runs one call: attempts until success, a non-retryable error, the attempt
   * limit or the deadline. `reconcile` may turn the error of a retry into a
   * result by reading back what an earlier, ambiguous attempt did.
   */
  private async run<O extends OperationName>(
    operation: O, request: Operations[O][0], options: CallOptions, idempotencyKey?: string,
    reconcile?: (error: HyperspaceClientError, attempt: number) => Promise<Operations[O][1] | undefined>,
  ): Promise<Operations[O][1]> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadlineAtMs = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transport.call(operation, request, { deadlineAtMs, signal: options.signal, idempotencyKey });
      } catch (error) {
        if (error instanceof HyperspaceClientError && reconcile) {
          const reconciled = await reconcile(error, attempt);
          if (reconciled !== undefined) return reconciled;
        }
        if (!shouldRetry(error, attempt, this.retry)) throw error;
        const delayMs = backoffMs(this.retry, attempt, error.retryAfterMs);
        if (deadlineAtMs !== undefined && Date.now() + delayMs >= deadlineAtMs) throw error;
        await sleep(delayMs, options.signal);
      }
    }
  }
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}
