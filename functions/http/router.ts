// The HTTP API as one transport-neutral router: a request (method, path,
// headers, whole body) in, a response (status, headers, body) out. The node:http
// server (server.ts) and the Lambda function-URL handler (lambda.ts) are thin
// adapters around it. Routes: docs/openapi.yaml; errors: functions/errors.ts.
import { HyperspaceError, type HyperspaceDB } from '../../engine/index.ts';
import { Authenticator, RateLimitedError } from '../auth/authenticator.ts';
import { errorTable, toHyperspaceError, type ErrorBody } from '../errors.ts';
import { operations, type OperationName, type Principal, type RequestContext } from '../handlers.ts';
import { Metrics } from '../metrics.ts';
import { parseJsonBody } from './json-body.ts';

export interface HttpRequest {
  method: string;
  /** The raw (still percent-encoded) path, without the query string. */
  path: string;
  /** Lower-case names. */
  headers: Readonly<Record<string, string | undefined>>;
  body?: Uint8Array | string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON text, or the binary frame of a sync answer (docs/format/merkle.md). */
  body: string | Uint8Array;
  /** The error kind of an error response (for metrics and logs; not sent). */
  errorKind?: string;
}

export const bodyBytesMaxDefault = 16 * 1024 * 1024;

export interface RouterOptions {
  /** The database, or a getter that returns undefined while it is still recovering. */
  db: HyperspaceDB | (() => HyperspaceDB | undefined);
  /** Without one, every request is served without a key. (Anything that resolves credentials: the Lambda worker passes the principal it checked before opening the database.) */
  authenticator?: Pick<Authenticator, 'authenticate'>;
  /** Origins allowed by CORS (`*` for any); none by default. */
  corsOrigins?: readonly string[];
  metrics?: Metrics;
  bodyBytesMax?: number;
  /** Where unexpected (internal) errors are reported. */
  log?: (message: string, error: unknown) => void;
}

type Handled = OperationName | 'metrics';

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** `{name}` and `{id}` stand for one path segment each. */
  path: string;
  operation: Handled;
  /** The handler request from the path parameters and the decoded JSON body. */
  request?: (params: Record<string, string>, body: Record<string, unknown>) => unknown;
}

const withCollection = (params: Record<string, string>, body: Record<string, unknown>) => {
  if (Object.hasOwn(body, 'collection')) {
    throw new HyperspaceError('invalid', 'unknown field "collection" in the request body (the collection is named in the path)');
  }
  return { ...body, collection: params.name };
};

const pointRoute = (segment: string, operation: OperationName): Route =>
  ({ method: 'POST', path: `/v1/collections/{name}/${segment}`, operation, request: withCollection });

export const routes: readonly Route[] = [
  { method: 'GET', path: '/v1/health', operation: 'health', request: () => ({}) },
  { method: 'GET', path: '/v1/collections', operation: 'listCollections', request: () => ({}) },
  { method: 'POST', path: '/v1/collections', operation: 'createCollection', request: (_, body) => body },
  { method: 'GET', path: '/v1/collections/{name}', operation: 'describeCollection', request: (p) => ({ name: p.name }) },
  { method: 'DELETE', path: '/v1/collections/{name}', operation: 'deleteCollection', request: (p) => ({ name: p.name }) },
  pointRoute('upsert', 'upsert'),
  pointRoute('delete', 'delete'),
  pointRoute('search', 'search'),
  pointRoute('search-batch', 'searchBatch'),
  pointRoute('count', 'count'),
  pointRoute('scroll', 'scroll'),
  pointRoute('flush', 'flush'),
  pointRoute('compact', 'compact'),
  { method: 'GET', path: '/v1/collections/{name}/digest', operation: 'getDigest', request: (p) => ({ collection: p.name }) },
  pointRoute('sync/changes', 'syncChanges'),
  pointRoute('sync/pull', 'syncPull'),
  { method: 'GET', path: '/v1/collections/{name}/points/{id}', operation: 'get', request: (p) => ({ collection: p.name, id: p.id }) },
  { method: 'GET', path: '/metrics', operation: 'metrics' },
];

const bodyRoutes = new Set<Route>(routes.filter((r) => r.method === 'POST'));

function splitPath(path: string): string[] {
  return path.split('/').slice(1);
}

const compiled = routes.map((route) => ({ route, segments: splitPath(route.path) }));

function match(method: string, path: string): { route: Route; params: Record<string, string> } {
  const segments = splitPath(path);
  const allowed: string[] = [];
  for (const { route, segments: pattern } of compiled) {
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      if (pattern[i].startsWith('{')) {
        if (segments[i] === '') ok = false;
        else params[pattern[i].slice(1, -1)] = decodeSegment(segments[i]);
      } else ok = pattern[i] === segments[i];
    }
    if (!ok) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  const shown = `${method} ${path.length > 200 ? path.slice(0, 200) + '…' : path}`;
  if (allowed.length) throw new HyperspaceError('not_found', `no route for ${shown} (allowed: ${allowed.join(', ')})`);
  throw new HyperspaceError('not_found', `no route for ${shown}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HyperspaceError('invalid', `malformed percent-encoding in path segment ${JSON.stringify(segment.slice(0, 200))}`);
  }
}

const jsonHeaders = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
const binaryHeaders = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };

export class Router {
  readonly bodyBytesMax: number;
  readonly metrics: Metrics;
  private readonly corsOrigins: ReadonlySet<string>;

  constructor(private readonly options: RouterOptions) {
    this.bodyBytesMax = options.bodyBytesMax ?? bodyBytesMaxDefault;
    this.metrics = options.metrics ?? new Metrics();
    this.corsOrigins = new Set(options.corsOrigins ?? []);
  }

  private database(): HyperspaceDB {
    const db = typeof this.options.db === 'function' ? this.options.db() : this.options.db;
    if (!db) throw new HyperspaceError('unavailable', 'starting: the data directory is being recovered; retry shortly');
    return db;
  }

  /** The error answer of a kind, e.g. for a body the adapter refused before routing. */
  errorResponse(error: unknown, request?: Pick<HttpRequest, 'headers'>): HttpResponse {
    const { error: e, unexpected } = toHyperspaceError(error);
    if (unexpected) (this.options.log ?? defaultLog)('unexpected error while serving an HTTP request', error);
    const body: ErrorBody = { error: { kind: e.kind, message: e.message } };
    const headers: Record<string, string> = { ...jsonHeaders, ...this.corsHeaders(request?.headers.origin) };
    if (e instanceof RateLimitedError) headers['retry-after'] = String(e.retryAfterSeconds);
    else if (e.kind === 'overloaded' || e.kind === 'unavailable') headers['retry-after'] = '1';
    return { status: errorTable[e.kind].http, headers, body: JSON.stringify(body), errorKind: e.kind };
  }

  bodyTooLarge(bytes: number | undefined, request?: Pick<HttpRequest, 'headers'>): HttpResponse {
    const size = bytes === undefined ? `more than ${this.bodyBytesMax}` : String(bytes);
    return this.errorResponse(new HyperspaceError('too_large',
      `request body too large: ${size} bytes > ${this.bodyBytesMax} (split the batch)`), request);
  }

  /** For adapters that refuse a body before it is read: the 413, counted under its route. */
  refuseBody(bytes: number | undefined, request: Pick<HttpRequest, 'method' | 'path' | 'headers'>): HttpResponse {
    let operation = 'unrouted';
    try {
      operation = match(request.method, request.path).route.operation;
    } catch {
      // an unknown route is still refused for its size
    }
    this.metrics.observe('http', operation, 'too_large', 0);
    return this.bodyTooLarge(bytes, request);
  }

  async handle(request: HttpRequest): Promise<HttpResponse> {
    const startedAt = process.hrtime.bigint();
    let operation = 'unrouted';
    let response: HttpResponse;
    try {
      const origin = request.headers.origin;
      if (origin !== undefined && !this.originAllowed(origin) && !sameLiteralOrigin(origin, request.headers.host)) {
        throw new HyperspaceError('forbidden', `origin not allowed: ${origin.slice(0, 200)} (allow it with --cors-origin)`);
      }
      if (request.method === 'OPTIONS') return this.preflight(request);
      const { route, params } = match(request.method, request.path);
      operation = route.operation;
      response = await this.dispatch(route, params, request);
    } catch (e) {
      response = this.errorResponse(e, request);
    }
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    this.metrics.observe('http', operation, response.errorKind ?? 'ok', seconds);
    return response;
  }

  private async dispatch(route: Route, params: Record<string, string>, request: HttpRequest): Promise<HttpResponse> {
    const cors = this.corsHeaders(request.headers.origin);
    const db = this.database();
    const principal = route.operation === 'health' ? undefined : await this.authenticate(request);
    if (route.operation === 'metrics') {
      if (principal && principal.collections !== '*') throw new HyperspaceError('forbidden', `key ${principal.keyId} has no access to metrics (needs collections "*")`);
      return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', ...cors }, body: this.metrics.render(db) };
    }
    const bodySize = request.body === undefined ? 0 : typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.byteLength;
    if (bodySize > this.bodyBytesMax) return this.bodyTooLarge(bodySize, request);
    let body: Record<string, unknown> = {};
    if (bodyRoutes.has(route)) {
      const parsed = parseJsonBody(request.body);
      if (parsed !== undefined) {
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new HyperspaceError('invalid', `request body must be a JSON object, got ${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed}`);
        }
        body = parsed as Record<string, unknown>;
      }
    }
    const ctx: RequestContext = { db, ...contextHeaders(request.headers) };
    if (principal) ctx.principal = principal;
    const handler = operations[route.operation] as (ctx: RequestContext, request: unknown) => Promise<unknown>;
    const result = await handler(ctx, route.request!(params, body));
    if (result instanceof Uint8Array) return { status: 200, headers: { ...binaryHeaders, ...cors }, body: result };
    return { status: 200, headers: { ...jsonHeaders, ...cors }, body: JSON.stringify(result) };
  }

  private authenticate(request: HttpRequest): Promise<Principal | undefined> {
    if (!this.options.authenticator) return Promise.resolve(undefined);
    return this.options.authenticator.authenticate({ authorization: request.headers.authorization, apiKey: request.headers['x-api-key'] });
  }

  private originAllowed(origin: string): boolean {
    return this.corsOrigins.has('*') || this.corsOrigins.has(origin);
  }

  private corsHeaders(origin: string | undefined): Record<string, string> {
    if (origin === undefined || !this.originAllowed(origin)) return {};
    return { 'access-control-allow-origin': this.corsOrigins.has('*') ? '*' : origin, vary: 'Origin', 'access-control-expose-headers': 'Retry-After' };
  }

  private preflight(request: HttpRequest): HttpResponse {
    return {
      status: 204,
      headers: {
        ...this.corsHeaders(request.headers.origin),
        'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
        'access-control-allow-headers': 'Authorization, Content-Type, Idempotency-Key, X-Api-Key, X-Timeout-Ms',
        'access-control-max-age': '600',
      },
      body: '',
    };
  }
}

/** Idempotency-Key and X-Timeout-Ms (the HTTP form of a gRPC deadline). */
function contextHeaders(headers: HttpRequest['headers']): Pick<RequestContext, 'idempotencyKey' | 'deadlineAtMs'> {
  const out: Pick<RequestContext, 'idempotencyKey' | 'deadlineAtMs'> = {};
  const key = headers['idempotency-key'];
  if (key !== undefined) out.idempotencyKey = key;
  const timeout = headers['x-timeout-ms'];
  if (timeout !== undefined) {
    if (!/^\d{1,9}$/.test(timeout)) throw new HyperspaceError('invalid', `x-timeout-ms must be a whole number of milliseconds, got ${JSON.stringify(timeout.slice(0, 50))}`);
    out.deadlineAtMs = Date.now() + Number(timeout);
  }
  return out;
}

/**
 * A page this server served itself (the /demo page) sends Origin on its POSTs.
 * Same-origin is allowed only for an IP-literal or localhost Host: a domain
 * name could be DNS-rebound to a keyless loopback server, so a page on a
 * domain needs --cors-origin like any other.
 */
function sameLiteralOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || (origin !== `http://${host}` && origin !== `https://${host}`)) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

function defaultLog(message: string, error: unknown): void {
  console.error(`${message}:`, error);
}
