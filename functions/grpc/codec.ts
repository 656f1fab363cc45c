// proto messages (as @grpc/proto-loader decodes them) ↔ the handler layer's
// JSON-shaped requests and responses (functions/handlers.ts). Only shape
// changes live here: enum names, Struct ↔ object, proto3 zero values ↔
// "absent", include flags ↔ the include list. Values are validated by the
// handlers and the engine, so a bad value gets the same message on both
// transports.
import { enumFromWire, enumToWire, fromStruct, hexToBytes, toStruct, type WireStruct } from '../../proto/index.ts';
import type * as api from '../handlers.ts';

type Wire = Record<string, any>;

/** proto3 cannot tell 0 from unset: 0 means "server default" wherever 0 is not a valid value. */
function positive(value: unknown): number | undefined {
  return typeof value === 'number' && value !== 0 ? value : undefined;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function struct(value: WireStruct | undefined | null): Record<string, unknown> | undefined {
  return value ? fromStruct(value) : undefined;
}

// ------------------------------------------------------------------ requests

export function createCollectionRequest(m: Wire): api.CreateCollectionRequest {
  const request: Wire = {
    name: m.name ?? '', dimension: m.dimension, metric: enumFromWire('METRIC', m.metric),
    quantization: enumFromWire('QUANTIZATION', m.quantization),
  };
  if (m.hnsw) request.hnsw = { m: positive(m.hnsw.m), efConstruction: positive(m.hnsw.efConstruction) };
  return request as api.CreateCollectionRequest;
}

export function nameRequest(m: Wire): api.CollectionNameRequest {
  return { name: m.name ?? '' };
}

export function collectionRequest(m: Wire): api.CollectionRequest {
  return { collection: m.collection ?? '' };
}

export function emptyRequest(): Record<string, never> {
  return {};
}

export function upsertRequest(m: Wire): api.UpsertRequest {
  const points: api.PointIn[] = (m.points ?? []).map((p: Wire) => ({
    id: p.id ?? '', vector: p.vector ?? [], metadata: struct(p.metadata) as api.PointIn['metadata'],
  }));
  return { collection: m.collection ?? '', points };
}

export function deleteRequest(m: Wire): api.DeleteRequest {
  return { collection: m.collection ?? '', ids: m.ids ?? [] };
}

export function getRequest(m: Wire): api.GetRequest {
  return { collection: m.collection ?? '', id: m.id ?? '' };
}

export function searchQuery(q: Wire | undefined): api.SearchQuery {
  const query = q ?? {};
  const include: api.Include[] = [];
  if (query.includeMetadata) include.push('metadata');
  if (query.includeVector) include.push('vector');
  return {
    vector: query.vector ?? [], k: positive(query.k), ef: positive(query.ef), filter: struct(query.filter),
    consistency: enumFromWire('CONSISTENCY', query.consistency) as api.Consistency | undefined, include,
  };
}

export function searchRequest(m: Wire): api.SearchRequest {
  return { collection: m.collection ?? '', ...searchQuery(m.query) };
}

export function searchBatchRequest(m: Wire): api.SearchBatchRequest {
  return { collection: m.collection ?? '', searches: (m.searches ?? []).map(searchQuery) };
}

export function countRequest(m: Wire): api.CountRequest {
  return { collection: m.collection ?? '', filter: struct(m.filter) };
}

export function scrollRequest(m: Wire): api.ScrollRequest {
  return { collection: m.collection ?? '', cursor: nonEmpty(m.cursor), limit: positive(m.limit), filter: struct(m.filter) };
}

// ------------------------------------------------------------------ responses

export function collectionInfo(c: api.CollectionInfo): Wire {
  return {
    ...c, metric: enumToWire('METRIC', c.metric), quantization: enumToWire('QUANTIZATION', c.quantization),
  };
}

export function collectionResponse(r: api.CollectionResponse): Wire {
  return { collection: collectionInfo(r.collection) };
}

export function collectionsResponse(r: { collections: api.CollectionInfo[] }): Wire {
  return { collections: r.collections.map(collectionInfo) };
}

export function identity<T>(r: T): T {
  return r;
}

export function point(p: api.Point): Wire {
  return { id: p.id, vector: p.vector, metadata: toStruct(p.metadata) };
}

export function getResponse(r: api.GetResponse): Wire {
  return { point: point(r) };
}

function hit(h: api.Hit): Wire {
  return { id: h.id, distance: h.distance, metadata: h.metadata ? toStruct(h.metadata) : undefined, vector: h.vector };
}

export function searchResponse(r: api.SearchResponse): Wire {
  return { hits: r.hits.map(hit), consistency: r.consistency };
}

export function searchBatchResponse(r: api.SearchBatchResponse): Wire {
  return { results: r.results.map(searchResponse) };
}

export function scrollResponse(r: api.ScrollResponse): Wire {
  return { points: r.points.map(point), nextCursor: r.nextCursor ?? '' };
}

export function healthResponse(r: api.HealthResponse): Wire {
  return { serving: r.status === 'serving', collections: r.collections };
}

export function statsResponse(r: api.StatsResponse): Wire {
  return { collections: r.collections.map(collectionInfo), indexerError: r.indexerError ?? '' };
}

export function syncChangesRequest(m: Wire): api.SyncChangesRequest {
  return { collection: m.collection ?? '', afterSeq: m.afterSeq ?? 0, limit: positive(m.limit) };
}

export function syncPullRequest(m: Wire): api.SyncPullRequest {
  return { collection: m.collection ?? '', expand: m.expand ?? [], nodes: m.nodes ?? [], ids: m.ids ?? [], hashBytes: positive(m.hashBytes) };
}

/** A sync answer is one binary frame (docs/format/merkle.md), the same bytes as over HTTP. */
export function frameResponse(frame: Uint8Array): Wire {
  return { frame };
}

export function digestResponse(r: api.GetDigestResponse): Wire {
  return { root: hexToBytes(r.root), buckets: r.buckets.map(hexToBytes), consistency: r.consistency };
}
