// The SDK over HTTPS JSON (docs/api.md), with the platform's fetch. Works
// wherever fetch does: Node 20+, browsers, edge runtimes.
import { HyperspaceClientError, kindOfHttpReply } from './errors.ts';
import type { CollectionInfo, Metadata, Operations, OperationName, Point, SearchQuery, SearchResult, SyncBytes, Transport, TransportCall, Vector } from './types.ts';

export interface HttpTransportOptions {
  apiKey?: string;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
}

type Json = Record<string, any>;

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: (request: any) => string;
  body?: (request: any) => unknown;
  decode: (body: Json, bytes: SyncBytes) => unknown;
  /** The reply is a binary sync frame (docs/format/merkle.md), decoded by `decodeFrame`. */
  decodeFrame?: (frame: Uint8Array, bytes: SyncBytes) => unknown;
}

const segment = encodeURIComponent;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const collectionPath = (name: string) => `/v1/collections/${segment(name)}`;
const vectorOut = (v: Vector): number[] => Array.from(v);
const vectorIn = (v: number[] | undefined): Float32Array => Float32Array.from(v ?? []);

function point(p: Json): Point {
  return { id: p.id, vector: vectorIn(p.vector), metadata: (p.metadata ?? {}) as Metadata };
}

function searchQuery(q: SearchQuery): Json {
  return { vector: vectorOut(q.vector), k: q.k, ef: q.ef, filter: q.filter ?? undefined, consistency: q.consistency, include: q.include };
}

function searchResult(r: Json): SearchResult {
  return {
    hits: (r.hits ?? []).map((h: Json) => (h.vector ? { ...h, vector: vectorIn(h.vector) } : h)),
    consistency: r.consistency,
  };
}

const info = (body: Json) => body.collection as CollectionInfo;

const routes: { [O in OperationName]: Route } = {
  createCollection: { method: 'POST', path: () => '/v1/collections', body: (r) => r, decode: info },
  deleteCollection: { method: 'DELETE', path: (r) => collectionPath(r.name), decode: () => ({}) },
  listCollections: { method: 'GET', path: () => '/v1/collections', decode: (b) => b.collections },
  describeCollection: { method: 'GET', path: (r) => collectionPath(r.name), decode: info },
  upsert: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/upsert`,
    body: (r: Operations['upsert'][0]) => ({ points: r.points.map((p) => ({ id: p.id, vector: vectorOut(p.vector), metadata: p.metadata ?? undefined })) }),
    decode: (b) => ({ seq: b.seq }),
  },
  delete: { method: 'POST', path: (r) => `${collectionPath(r.collection)}/delete`, body: (r) => ({ ids: r.ids }), decode: (b) => ({ seq: b.seq }) },
  get: { method: 'GET', path: (r) => `${collectionPath(r.collection)}/points/${segment(r.id)}`, decode: point },
  search: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/search`,
    body: ({ collection: _, ...query }: Operations['search'][0]) => searchQuery(query), decode: searchResult,
  },
  searchBatch: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/search-batch`,
    body: (r: Operations['searchBatch'][0]) => ({ searches: r.searches.map(searchQuery) }),
    decode: (b) => (b.results ?? []).map(searchResult),
  },
  count: { method: 'POST', path: (r) => `${collectionPath(r.collection)}/count`, body: (r) => ({ filter: r.filter ?? undefined }), decode: (b) => b.count },
  scroll: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/scroll`,
    body: (r: Operations['scroll'][0]) => ({ cursor: r.cursor ?? undefined, limit: r.limit, filter: r.filter ?? undefined }),
    decode: (b) => ({ points: (b.points ?? []).map(point), nextCursor: b.nextCursor ?? null }),
  },
  flush: { method: 'POST', path: (r) => `${collectionPath(r.collection)}/flush`, body: () => ({}), decode: info },
  health: { method: 'GET', path: () => '/v1/health', decode: (b) => ({ serving: b.status === 'serving', collections: b.collections }) },
  getDigest: {
    method: 'GET', path: (r) => `${collectionPath(r.collection)}/digest`,
    decode: (b, bytes) => ({ root: b.root, buckets: b.buckets, consistency: b.consistency, bytes }),
  },
  pullChanges: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/sync/changes`,
    body: (r: Operations['pullChanges'][0]) => ({ afterSeq: r.afterSeq, limit: r.limit }),
    decode: unexpectedJson, decodeFrame: (frame, bytes) => ({ frame, bytes }),
  },
  pullBuckets: {
    method: 'POST', path: (r) => `${collectionPath(r.collection)}/sync/pull`,
    body: ({ collection: _, ...request }: Operations['pullBuckets'][0]) => request,
    decode: unexpectedJson, decodeFrame: (frame, bytes) => ({ frames: [frame], bytes }),
  },
};

function unexpectedJson(): never {
  throw new HyperspaceClientError('internal', 'a sync reply must be a binary frame (application/octet-stream), got JSON');
}

export class HttpTransport implements Transport {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string> = { accept: 'application/json' };
  private readonly fetch: typeof fetch;

  constructor(baseUrl: string, options: HttpTransportOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    if (options.apiKey !== undefined) this.headers.authorization = `Bearer ${options.apiKey}`;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async call<O extends OperationName>(operation: O, request: Operations[O][0], call: TransportCall): Promise<Operations[O][1]> {
    const route = routes[operation];
    const headers: Record<string, string> = { ...this.headers };
    if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
    let body: string | undefined;
    if (route.body) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(route.body(request));
    }
    const remainingMs = call.deadlineAtMs !== undefined ? Math.max(0, call.deadlineAtMs - Date.now()) : undefined;
    // The HTTP form of a gRPC deadline: the server does not start work the caller has given up on.
    if (remainingMs !== undefined) headers['x-timeout-ms'] = String(remainingMs);
    const timeout = remainingMs !== undefined ? AbortSignal.timeout(remainingMs) : undefined;
    const signals = [call.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let response: Response;
    let raw: Uint8Array;
    try {
      response = await this.fetch(this.baseUrl + route.path(request), { method: route.method, headers, body, signal });
      raw = new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (timeout?.aborted) throw new HyperspaceClientError('deadline', `deadline exceeded: ${operation} got no reply in time`, { cause: e });
      throw new HyperspaceClientError('unavailable', `${operation}: no reply from ${this.baseUrl}: ${describe(e)}`, { cause: e });
    }
    const bytes: SyncBytes = { sent: body === undefined ? 0 : encoder.encode(body).length, received: raw.length };
    if (response.ok && route.decodeFrame && response.headers.get('content-type')?.startsWith('application/octet-stream')) return route.decodeFrame(raw, bytes) as Operations[O][1];
    const text = decoder.decode(raw);
    let parsed: Json | undefined;
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Json);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = parsed?.error as { kind?: unknown; message?: unknown } | undefined;
      const message = typeof error?.message === 'string' ? error.message : `HTTP ${response.status}: ${text.slice(0, 200)}`;
      throw new HyperspaceClientError(kindOfHttpReply(response.status, error?.kind), message, {
        status: response.status, retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      });
    }
    if (parsed === undefined) throw new HyperspaceClientError('internal', `${operation}: reply is not JSON: ${text.slice(0, 200)}`, { status: response.status });
    return route.decode(parsed, bytes) as Operations[O][1];
  }

  async close(): Promise<void> {}
}

function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}

/** `Retry-After` in seconds (HTTP-dates are not used by our servers). */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
