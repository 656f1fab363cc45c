// The browser's client of a HyperspaceDB server over the HTTP API
// (docs/openapi.yaml): what sync reads (digest, changes, pull) and the normal
// write path local writes are pushed through. Errors arrive as the server's
// { error: { kind, message } } and are thrown as the same HyperspaceError; a
// server that cannot be reached is `unavailable` (retry). Counts the bytes
// it moves, for the sync report.
import { HyperspaceError } from '../native/errors.ts';
import type { CollectionConfigInput, Metadata } from '../engine/index.ts';
import type { DigestAnswer, PullRequest, SyncSource } from '../engine/sync.ts';

export interface HttpServerOptions {
  /** The server's origin, e.g. http://127.0.0.1:8080 (the page's own by default). */
  url?: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

export interface RemoteCollection {
  name: string;
  dimension: number;
  metric: CollectionConfigInput['metric'];
  quantization: CollectionConfigInput['quantization'];
  /** The API's spelling (m); the engine's config says M. */
  hnsw: { m: number; efConstruction: number };
  count: number;
  lastSeq: number;
}

export interface PointOut {
  id: string;
  vector: Float32Array | readonly number[];
  metadata?: Metadata | null;
}

const utf8 = new TextEncoder();

export class HttpServer {
  readonly url: string;
  /** Request and response bytes (bodies plus the request line) moved so far. */
  bytes = 0;
  private readonly apiKey: string | undefined;
  private readonly fetcher: typeof fetch;

  constructor(options: HttpServerOptions = {}) {
    this.url = (options.url ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, idempotencyKey?: string): Promise<Response> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    let response: Response;
    try {
      response = await this.fetcher(`${this.url}${path}`, { method, headers, body: text });
    } catch (e) {
      throw new HyperspaceError('unavailable', `server unreachable: ${this.url}: ${(e as Error).message}; retry when online`);
    }
    this.bytes += method.length + path.length + (text === undefined ? 0 : utf8.encode(text).length);
    if (!response.ok) {
      const answer = await response.text();
      this.bytes += answer.length;
      let error: { kind?: string; message?: string } | undefined;
      try { error = (JSON.parse(answer) as { error?: { kind?: string; message?: string } }).error; } catch { /* not JSON */ }
      throw new HyperspaceError((error?.kind ?? (response.status >= 500 ? 'unavailable' : 'internal')) as HyperspaceError['kind'],
        error?.message ?? `HTTP ${response.status} from ${this.url}${path}`);
    }
    return response;
  }

  private async json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const text = await (await this.request(method, path, body, idempotencyKey)).text();
    this.bytes += utf8.encode(text).length;
    return JSON.parse(text) as T;
  }

  private async binary(path: string, body: unknown): Promise<Uint8Array> {
    const bytes = new Uint8Array(await (await this.request('POST', path, body)).arrayBuffer());
    this.bytes += bytes.length;
    return bytes;
  }

  private path(name: string, rest = ''): string {
    return `/v1/collections/${encodeURIComponent(name)}${rest}`;
  }

  async describe(name: string): Promise<RemoteCollection> {
    return (await this.json<{ collection: RemoteCollection }>('GET', this.path(name))).collection;
  }

  /** Creates the server's collection from an engine config (hnsw.M becomes the API's hnsw.m). */
  async createCollection(name: string, config: CollectionConfigInput): Promise<RemoteCollection> {
    const { hnsw, ...rest } = config;
    const body = { name, ...rest, ...(hnsw ? { hnsw: { m: hnsw.M, efConstruction: hnsw.efConstruction } } : {}) };
    return (await this.json<{ collection: RemoteCollection }>('POST', '/v1/collections', body)).collection;
  }

  /** The server's collection, created with `config` when it has none. */
  async ensureCollection(name: string, config: CollectionConfigInput): Promise<RemoteCollection> {
    // Listed rather than probed, so a page makes no failed (404) request.
    const { collections } = await this.json<{ collections: RemoteCollection[] }>('GET', '/v1/collections');
    return collections.find((c) => c.name === name) ?? this.createCollection(name, config);
  }

  /** A retry with the same `idempotencyKey` returns the original seq instead of writing again. */
  async upsert(name: string, points: readonly PointOut[], options: { idempotencyKey?: string } = {}): Promise<{ seq: number }> {
    const wire = points.map((p) => ({ id: p.id, vector: Array.from(p.vector), ...(p.metadata ? { metadata: p.metadata } : {}) }));
    return this.json('POST', this.path(name, '/upsert'), { points: wire }, options.idempotencyKey);
  }

  async delete(name: string, ids: readonly string[], options: { idempotencyKey?: string } = {}): Promise<{ seq: number }> {
    return this.json('POST', this.path(name, '/delete'), { ids }, options.idempotencyKey);
  }

  async digest(name: string): Promise<DigestAnswer> {
    return this.json('GET', this.path(name, '/digest'));
  }

  /** The sync endpoints of one collection as the engine's SyncSource. */
  source(name: string): SyncSource {
    return {
      digest: () => this.digest(name),
      changes: (afterSeq: number, limit?: number) => this.binary(this.path(name, '/sync/changes'), limit === undefined ? { afterSeq } : { afterSeq, limit }),
      pull: (request: PullRequest) => this.binary(this.path(name, '/sync/pull'), request),
    };
  }
}
