// The transport-free handler layer (DESIGN §8): every operation of the API as
// `(ctx, request) => Promise<response>` over plain objects, shared 1:1 by the
// HTTP server (functions/http/) and the gRPC server (functions/grpc/). A
// handler decodes (shape and unknown fields), checks the deadline and the
// caller's scope, makes one engine call and encodes the result (Float32Array
// out as number[]). Values are validated by the engine, with its messages.
// Field names are those of the JSON API (docs/api.md, docs/openapi.yaml).
import { HyperspaceError, limits, type CollectionDescription, type HyperspaceDB, type Metadata } from '../engine/index.ts';
import { changesSince, pull } from '../engine/sync.ts';
import { leaderOf } from './follow-state.ts';

// ----------------------------------------------------------------- context

export type Access = 'read' | 'read-write';

/** Who is calling: an API key (functions/auth/) or another authenticator. */
export interface Principal {
  /** Public identifier of the key (never the secret). */
  keyId: string;
  name?: string;
  /** Collections this principal may touch: every one, or a list of names. */
  collections: '*' | readonly string[];
  access: Access;
}

export interface RequestContext {
  db: HyperspaceDB;
  /** Absent when the server runs without keys (loopback development). */
  principal?: Principal;
  /** `Idempotency-Key` header / gRPC metadata; used by upsert and delete. */
  idempotencyKey?: string;
  /** Absolute deadline (Date.now() scale); past it the operation is not started. */
  deadlineAtMs?: number;
  signal?: AbortSignal;
  /** Replaces the default scope check (e.g. IAM on Lambda). */
  authorize?: Authorizer;
}

export type Authorizer = (ctx: RequestContext, operation: OperationName, collection: string | undefined) => void;

/**
 * What an operation needs. `none`: anyone (health). `read` / `write` on the
 * named collection; without a collection (list, stats) the answer is filtered
 * to the collections the principal may read.
 */
export const operationAccess = {
  health: 'none',
  listCollections: 'read',
  createCollection: 'write',
  deleteCollection: 'write',
  describeCollection: 'read',
  upsert: 'write',
  delete: 'write',
  get: 'read',
  search: 'read',
  searchBatch: 'read',
  count: 'read',
  scroll: 'read',
  flush: 'write',
  compact: 'write',
  stats: 'read',
  getDigest: 'read',
  syncChanges: 'read',
  syncPull: 'read',
} as const satisfies Record<string, 'none' | 'read' | 'write'>;

export type OperationName = keyof typeof operationAccess;

/** The default scope check: throws `forbidden`; no principal means auth is off. */
export function authorize(ctx: RequestContext, operation: OperationName, collection: string | undefined): void {
  if (ctx.authorize) return ctx.authorize(ctx, operation, collection);
  const principal = ctx.principal;
  const needs = operationAccess[operation];
  if (!principal || needs === 'none') return;
  if (needs === 'write' && principal.access !== 'read-write') {
    throw new HyperspaceError('forbidden', `key ${principal.keyId} is read-only: ${operation} needs read-write access`);
  }
  if (collection !== undefined && !canSee(principal, collection)) {
    throw new HyperspaceError('forbidden', `key ${principal.keyId} has no access to collection=${collection}`);
  }
}

export function canSee(principal: Principal | undefined, collection: string): boolean {
  return !principal || principal.collections === '*' || principal.collections.includes(collection);
}

/** Transport bounds of the API (the engine's are in engine/limits.ts). */
export const apiLimits = {
  searchBatchMax: 1024,
} as const;

// ----------------------------------------------------------------- types

/** Vectors come in as JSON arrays or Float32Array (gRPC packed floats), go out as number[]. */
export type VectorInput = readonly number[] | Float32Array;
export type Metric = 'l2' | 'cosine' | 'dot' | 'poincare';
export type Quantization = 'none' | 'int8' | 'binary';
export type Consistency = 'strong' | 'eventual';
export type Include = 'metadata' | 'vector';

export interface HnswParameters {
  m: number;
  efConstruction: number;
}

export interface CollectionInfo {
  name: string;
  dimension: number;
  metric: Metric;
  quantization: Quantization;
  hnsw: HnswParameters;
  /** Live records. */
  count: number;
  segments: number;
  /** Bytes of the collection's segments held (memory-mapped) on this server. */
  segmentBytes: number;
  /** The last WAL sequence number applied. */
  lastSeq: number;
  /** WAL entries not yet folded into a segment. */
  tailLength: number;
  manifestVersion: number;
  /** The WAL sequence number the current manifest folds in. */
  indexedSeq: number;
  /** On a follower: the leader seq this replica reflects and its lag (docs/format/merkle.md). */
  replica?: ReplicaInfo;
}

export interface ReplicaInfo {
  sourceSeq: number;
  leader?: string;
  leaderSeq?: number;
  lagSeqs?: number;
  lagSeconds?: number;
  lastError?: string | null;
  /** Bytes this follower's syncs moved (request and response bodies). */
  bytesMoved?: number;
}

export interface ConsistencyPoint {
  manifestVersion: number;
  walSeq: number;
}

export interface PointIn {
  id: string;
  vector: VectorInput;
  metadata?: Metadata | null;
}

export interface Point {
  id: string;
  vector: number[];
  metadata: Metadata;
}

export interface Hit {
  id: string;
  distance: number;
  metadata?: Metadata;
  vector?: number[];
}

export interface CreateCollectionRequest {
  name: string;
  dimension: number;
  metric: Metric;
  quantization?: Quantization;
  hnsw?: Partial<HnswParameters>;
}
export interface CollectionResponse {
  collection: CollectionInfo;
}
export type CreateCollectionResponse = CollectionResponse;
export interface CollectionNameRequest {
  name: string;
}
export type DeleteCollectionRequest = CollectionNameRequest;
export type DeleteCollectionResponse = Record<string, never>;
export type DescribeCollectionRequest = CollectionNameRequest;
export type DescribeCollectionResponse = CollectionResponse;
export type ListCollectionsRequest = Record<string, never>;
export interface ListCollectionsResponse {
  collections: CollectionInfo[];
}

export interface UpsertRequest {
  collection: string;
  points: readonly PointIn[];
}
export interface DeleteRequest {
  collection: string;
  ids: readonly string[];
}
export interface WriteResponse {
  /** The WAL sequence number of the batch: acknowledged means durable. */
  seq: number;
}
export type UpsertResponse = WriteResponse;
export type DeleteResponse = WriteResponse;

export interface GetRequest {
  collection: string;
  id: string;
}
export type GetResponse = Point;

/** One query; the collection comes from the enclosing request. */
export interface SearchQuery {
  vector: VectorInput;
  k?: number;
  ef?: number;
  filter?: unknown;
  consistency?: Consistency;
  include?: readonly Include[];
}
export interface SearchRequest extends SearchQuery {
  collection: string;
}
export interface SearchResponse {
  /** Ascending by distance (DESIGN §6). */
  hits: Hit[];
  consistency: ConsistencyPoint;
}
export interface SearchBatchRequest {
  collection: string;
  searches: readonly SearchQuery[];
}
export interface SearchBatchResponse {
  /** One per search, in order, all evaluated at one consistency point. */
  results: SearchResponse[];
}

export interface CountRequest {
  collection: string;
  filter?: unknown;
}
export interface CountResponse {
  count: number;
}

export interface ScrollRequest {
  collection: string;
  cursor?: string | null;
  limit?: number;
  filter?: unknown;
}
export interface ScrollResponse {
  points: Point[];
  /** Pass back as `cursor` for the next page; null after the last page. */
  nextCursor: string | null;
}

export interface CollectionRequest {
  collection: string;
}
export type FlushRequest = CollectionRequest;
export type FlushResponse = CollectionResponse;
export type CompactRequest = CollectionRequest;
export type CompactResponse = CollectionResponse;

export type HealthRequest = Record<string, never>;
export interface HealthResponse {
  status: 'serving';
  collections: number;
}

export type StatsRequest = Record<string, never>;
export interface StatsResponse {
  collections: CollectionInfo[];
  /** The last background indexing failure, if any. */
  indexerError: string | null;
}

export type GetDigestRequest = CollectionRequest;
export interface GetDigestResponse {
  /** Hex SHA-256 Merkle root of the live records (DESIGN §7). */
  root: string;
  /** 256 hex bucket hashes, index = bucket. */
  buckets: string[];
  consistency: ConsistencyPoint;
}

/** Catch-up: changes after `afterSeq`; the answer is a binary frame (docs/format/merkle.md). */
export interface SyncChangesRequest {
  collection: string;
  afterSeq?: number;
  limit?: number;
}

/** Repair: expand nodes, fetch nodes' and ids' records; the answer is a binary frame. */
export interface SyncPullRequest {
  collection: string;
  expand?: readonly string[];
  nodes?: readonly string[];
  ids?: readonly string[];
  hashBytes?: number;
}

// ----------------------------------------------------------------- decoding

type Fields = Record<string, unknown>;

function fields(request: unknown, what: string, allowed: readonly string[]): Fields {
  if (typeof request !== 'object' || request === null || Array.isArray(request) || request instanceof Uint8Array) {
    throw new HyperspaceError('invalid', `${what} must be a JSON object`);
  }
  for (const key of Object.keys(request)) {
    if (!allowed.includes(key) && (request as Fields)[key] !== undefined) {
      throw new HyperspaceError('invalid', `unknown field ${JSON.stringify(key)} in ${what} (expected: ${allowed.join(', ')})`);
    }
  }
  return request as Fields;
}

/** Absent (undefined or null) → undefined. */
function optional(value: unknown): unknown {
  return value === null ? undefined : value;
}

function collectionName(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new HyperspaceError('invalid', `${field} must be a string, got ${typeName(value)}`);
  return value;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function checkDeadline(ctx: RequestContext, operation: OperationName): void {
  if (ctx.deadlineAtMs !== undefined && Date.now() >= ctx.deadlineAtMs) {
    throw new HyperspaceError('deadline', `deadline exceeded before ${operation} started`);
  }
  if (ctx.signal?.aborted) throw new HyperspaceError('unavailable', `request cancelled before ${operation} started`);
}

/** Deadline, then scope: the checks every operation runs before touching the engine. */
function begin(ctx: RequestContext, operation: OperationName, collection?: string): void {
  checkDeadline(ctx, operation);
  authorize(ctx, operation, collection);
  const leader = leaderOf(ctx.db);
  if (leader !== undefined && followerRefuses.has(operation)) {
    throw new HyperspaceError('conflict', `read-only follower of ${leader}: send ${operation} to the leader${collection === undefined ? '' : ` (collection=${collection})`}`);
  }
}

/** What a follower answers with `conflict`: the leader's data is the only data. */
const followerRefuses = new Set<OperationName>(['createCollection', 'deleteCollection', 'upsert', 'delete']);

// ----------------------------------------------------------------- encoding

export function collectionInfo(d: CollectionDescription): CollectionInfo {
  return {
    name: d.name, dimension: d.dimension, metric: d.metric, quantization: d.quantization as Quantization,
    hnsw: { m: d.hnsw.M, efConstruction: d.hnsw.efConstruction }, count: d.count, segments: d.segments,
    segmentBytes: d.segmentBytes, lastSeq: d.lastSeq, tailLength: d.tailLength, manifestVersion: d.manifestVersion,
    indexedSeq: d.indexedSeq,
    ...(d.replica ? { replica: { ...d.replica } } : {}),
  };
}

function toNumbers(vector: Float32Array): number[] {
  return Array.from(vector);
}

// ----------------------------------------------------------------- operations

async function createCollection(ctx: RequestContext, request: CreateCollectionRequest): Promise<CreateCollectionResponse> {
  const r = fields(request, 'createCollection request', ['name', 'dimension', 'metric', 'quantization', 'hnsw']);
  const name = collectionName(r.name, 'name');
  begin(ctx, 'createCollection', name);
  let hnsw: { M?: number; efConstruction?: number } | undefined;
  const hnswIn = optional(r.hnsw);
  if (hnswIn !== undefined) {
    const h = fields(hnswIn, 'hnsw', ['m', 'efConstruction']);
    hnsw = {};
    if (optional(h.m) !== undefined) hnsw.M = h.m as number;
    if (optional(h.efConstruction) !== undefined) hnsw.efConstruction = h.efConstruction as number;
  }
  try {
    const c = await ctx.db.createCollection(name, {
      dimension: r.dimension as number, metric: r.metric as Metric,
      ...(optional(r.quantization) !== undefined ? { quantization: r.quantization as Quantization } : {}),
      ...(hnsw ? { hnsw } : {}),
    });
    return { collection: collectionInfo(c.describe()) };
  } catch (e) {
    // The engine names its own field (hnsw.M); the API spells it hnsw.m.
    if (e instanceof HyperspaceError && e.message.startsWith('hnsw.M ')) throw new HyperspaceError(e.kind, `hnsw.m ${e.message.slice(7)}`);
    throw e;
  }
}

async function deleteCollection(ctx: RequestContext, request: DeleteCollectionRequest): Promise<DeleteCollectionResponse> {
  const r = fields(request, 'deleteCollection request', ['name']);
  const name = collectionName(r.name, 'name');
  begin(ctx, 'deleteCollection', name);
  await ctx.db.dropCollection(name);
  return {};
}

async function listCollections(ctx: RequestContext, request: ListCollectionsRequest): Promise<ListCollectionsResponse> {
  fields(request ?? {}, 'listCollections request', []);
  begin(ctx, 'listCollections', undefined);
  return { collections: ctx.db.listCollections().filter((d) => canSee(ctx.principal, d.name)).map(collectionInfo) };
}

async function describeCollection(ctx: RequestContext, request: DescribeCollectionRequest): Promise<DescribeCollectionResponse> {
  const r = fields(request, 'describeCollection request', ['name']);
  const name = collectionName(r.name, 'name');
  begin(ctx, 'describeCollection', name);
  return { collection: collectionInfo(ctx.db.collection(name).describe()) };
}

async function upsert(ctx: RequestContext, request: UpsertRequest): Promise<UpsertResponse> {
  const r = fields(request, 'upsert request', ['collection', 'points']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'upsert', name);
  const options = ctx.idempotencyKey !== undefined ? { idempotencyKey: ctx.idempotencyKey } : {};
  return ctx.db.collection(name).upsert(r.points as PointIn[], options);
}

async function deletePoints(ctx: RequestContext, request: DeleteRequest): Promise<DeleteResponse> {
  const r = fields(request, 'delete request', ['collection', 'ids']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'delete', name);
  const options = ctx.idempotencyKey !== undefined ? { idempotencyKey: ctx.idempotencyKey } : {};
  return ctx.db.collection(name).delete(r.ids as string[], options);
}

async function get(ctx: RequestContext, request: GetRequest): Promise<GetResponse> {
  const r = fields(request, 'get request', ['collection', 'id']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'get', name);
  const record = await ctx.db.collection(name).get(r.id as string);
  if (!record) throw new HyperspaceError('not_found', `point not found: collection=${name} id=${JSON.stringify(r.id)}`);
  return { id: record.id, vector: toNumbers(record.vector), metadata: record.metadata };
}

const searchFields = ['vector', 'k', 'ef', 'filter', 'consistency', 'include'] as const;

/** Starts one search synchronously (the engine evaluates it before its first await). */
function startSearch(ctx: RequestContext, name: string, query: Fields): Promise<SearchResponse> {
  const include = optional(query.include);
  if (include !== undefined && !Array.isArray(include)) {
    throw new HyperspaceError('invalid', `include must be an array of "metadata" and "vector", got ${typeName(include)}`);
  }
  const ef = optional(query.ef);
  if (ef !== undefined && (typeof ef !== 'number' || !Number.isInteger(ef) || ef < 1 || ef > limits.efMax)) {
    throw new HyperspaceError('invalid', `ef must be an integer in 1..${limits.efMax}, got ${String(ef)}`);
  }
  const options = {
    k: optional(query.k) as number | undefined, ef: ef as number | undefined, filter: optional(query.filter),
    consistency: optional(query.consistency) as Consistency | undefined, include: include as Include[] | undefined,
  };
  if (query.vector === undefined || query.vector === null) throw new HyperspaceError('invalid', 'vector is required');
  return ctx.db.collection(name).search(query.vector as VectorInput, options).then((result) => ({
    hits: result.hits.map((h) => {
      const hit: Hit = { id: h.id, distance: h.distance };
      if (h.metadata) hit.metadata = h.metadata;
      if (h.vector) hit.vector = toNumbers(h.vector);
      return hit;
    }),
    consistency: result.consistency,
  }));
}

async function search(ctx: RequestContext, request: SearchRequest): Promise<SearchResponse> {
  const r = fields(request, 'search request', ['collection', ...searchFields]);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'search', name);
  ctx.db.collection(name); // not_found before any message about the query
  return startSearch(ctx, name, r);
}

async function searchBatch(ctx: RequestContext, request: SearchBatchRequest): Promise<SearchBatchResponse> {
  const r = fields(request, 'searchBatch request', ['collection', 'searches']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'searchBatch', name);
  ctx.db.collection(name); // not_found before any message about the searches
  const searches = r.searches;
  if (!Array.isArray(searches)) throw new HyperspaceError('invalid', `searches must be an array, got ${typeName(searches)}`);
  if (searches.length > apiLimits.searchBatchMax) {
    throw new HyperspaceError('too_large', `search batch too large: ${searches.length} searches > ${apiLimits.searchBatchMax}`);
  }
  // Every search starts in this one synchronous loop, so all see one consistency point.
  const started: Promise<SearchResponse>[] = [];
  try {
    searches.forEach((query, index) => {
      try {
        started.push(startSearch(ctx, name, fields(query, `search ${index}`, searchFields)));
      } catch (e) {
        throw prefixed(e, `search ${index}: `);
      }
    });
  } finally {
    // A later search failed synchronously: the earlier ones' outcome is not wanted.
    for (const p of started) p.catch(() => undefined);
  }
  const results: SearchResponse[] = [];
  for (let index = 0; index < started.length; index++) {
    try {
      results.push(await started[index]);
    } catch (e) {
      throw prefixed(e, `search ${index}: `);
    }
  }
  return { results };
}

function prefixed(e: unknown, prefix: string): unknown {
  if (!(e instanceof HyperspaceError) || e.message.startsWith(prefix)) return e;
  return new HyperspaceError(e.kind, prefix + e.message);
}

async function count(ctx: RequestContext, request: CountRequest): Promise<CountResponse> {
  const r = fields(request, 'count request', ['collection', 'filter']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'count', name);
  return { count: await ctx.db.collection(name).count({ filter: optional(r.filter) }) };
}

async function scroll(ctx: RequestContext, request: ScrollRequest): Promise<ScrollResponse> {
  const r = fields(request, 'scroll request', ['collection', 'cursor', 'limit', 'filter']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'scroll', name);
  const cursor = optional(r.cursor);
  if (cursor !== undefined && typeof cursor !== 'string') throw new HyperspaceError('invalid', `cursor must be a string, got ${typeName(cursor)}`);
  const page = await ctx.db.collection(name).scroll({
    cursor: cursor as string | undefined, limit: optional(r.limit) as number | undefined, filter: optional(r.filter),
  });
  return { points: page.points.map((p) => ({ id: p.id, vector: toNumbers(p.vector), metadata: p.metadata })), nextCursor: page.nextCursor };
}

/** flush folds the WAL tail into a segment; compact merges segments. Both answer with the new description. */
async function runIndexing(ctx: RequestContext, request: CollectionRequest, operation: 'flush' | 'compact'): Promise<CollectionResponse> {
  const r = fields(request, `${operation} request`, ['collection']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, operation, name);
  const c = ctx.db.collection(name);
  await (operation === 'flush' ? c.flush() : c.compact());
  return { collection: collectionInfo(c.describe()) };
}

const flush = (ctx: RequestContext, request: FlushRequest): Promise<FlushResponse> => runIndexing(ctx, request, 'flush');
const compact = (ctx: RequestContext, request: CompactRequest): Promise<CompactResponse> => runIndexing(ctx, request, 'compact');

async function health(ctx: RequestContext, request: HealthRequest): Promise<HealthResponse> {
  fields(request ?? {}, 'health request', []);
  begin(ctx, 'health', undefined);
  return { status: 'serving', collections: ctx.db.listCollections().length };
}

async function stats(ctx: RequestContext, request: StatsRequest): Promise<StatsResponse> {
  fields(request ?? {}, 'stats request', []);
  begin(ctx, 'stats', undefined);
  return {
    collections: ctx.db.listCollections().filter((d) => canSee(ctx.principal, d.name)).map(collectionInfo),
    indexerError: ctx.db.lastIndexerError ? ctx.db.lastIndexerError.message : null,
  };
}

async function getDigest(ctx: RequestContext, request: GetDigestRequest): Promise<GetDigestResponse> {
  const r = fields(request, 'getDigest request', ['collection']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'getDigest', name);
  const d = await ctx.db.collection(name).digest();
  return { root: d.root, buckets: d.buckets, consistency: d.consistency };
}

function optionalInteger(value: unknown, field: string): number | undefined {
  const v = optional(value);
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v))) throw new HyperspaceError('invalid', `${field} must be an integer, got ${typeName(v)}`);
  return v as number | undefined;
}

function optionalStrings(value: unknown, field: string): string[] | undefined {
  const v = optional(value);
  if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) throw new HyperspaceError('invalid', `${field} must be an array of strings`);
  return v as string[] | undefined;
}

async function syncChanges(ctx: RequestContext, request: SyncChangesRequest): Promise<Uint8Array> {
  const r = fields(request, 'syncChanges request', ['collection', 'afterSeq', 'limit']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'syncChanges', name);
  const limit = optionalInteger(r.limit, 'limit');
  const collection = ctx.db.collection(name);
  await collection.whole(); // a cold worker answers from whole segments (records and leaves), not ranged reads
  return changesSince(collection, optionalInteger(r.afterSeq, 'afterSeq') ?? 0, limit === undefined ? {} : { limit });
}

async function syncPull(ctx: RequestContext, request: SyncPullRequest): Promise<Uint8Array> {
  const r = fields(request, 'syncPull request', ['collection', 'expand', 'nodes', 'ids', 'hashBytes']);
  const name = collectionName(r.collection, 'collection');
  begin(ctx, 'syncPull', name);
  const collection = ctx.db.collection(name);
  await collection.whole();
  const hashBytes = optionalInteger(r.hashBytes, 'hashBytes');
  return pull(collection, {
    expand: optionalStrings(r.expand, 'expand'), nodes: optionalStrings(r.nodes, 'nodes'), ids: optionalStrings(r.ids, 'ids'),
    ...(hashBytes === undefined ? {} : { hashBytes }),
  });
}

/** Every operation of the API; transports route to these and nothing else. */
export const operations = {
  createCollection, deleteCollection, listCollections, describeCollection,
  upsert, delete: deletePoints, get, search, searchBatch, count, scroll,
  health, flush, compact, stats, getDigest, syncChanges, syncPull,
} satisfies Record<OperationName, (ctx: RequestContext, request: never) => Promise<unknown>>;

export type Operations = typeof operations;
export type RequestOf<O extends OperationName> = Parameters<Operations[O]>[1];
export type ResponseOf<O extends OperationName> = Awaited<ReturnType<Operations[O]>>;
