// The HTTPS worker on a Lambda function URL (DESIGN §8): the same router as
// `hyperspace serve` (functions/http/), in front of a database opened once per
// container over the deployment's stores, without the indexer (writes go to
// the WAL; the stream indexer, functions/lambda/indexer.ts, builds segments)
// and without its lease. Order of work for each request:
//   1. a body over Lambda's 6 MB limit → 413 with what to do instead;
//   2. the API key (keys mode) — nothing else happens without a valid one: no
//      store is opened, no engine call is made; IAM mode: AWS checked SigV4
//      before invoking, so the function trusts the invocation;
//   3. the database, opened on first use (no collection loaded yet), and the
//      named collection refreshed to the current manifest and WAL (other
//      workers write, the indexer folds), loaded on first use with its
//      segments from the local segment cache;
//   4. the router; a response over 6 MB → 413 (Lambda would turn it into 502).
// Flush and compact run an indexing pass here (the worker holds no lease).
import { HyperspaceDB, HyperspaceError } from '../../engine/index.ts';
import { authorize, collectionInfo, type Principal, type RequestContext } from '../handlers.ts';
import type { FunctionUrlEvent, FunctionUrlResult } from '../http/lambda.ts';
import { Router, type HttpResponse } from '../http/router.ts';
import { Metrics } from '../metrics.ts';
import { indexCollection, ownerName, type Stores } from './indexing.ts';
import { KeysObject } from './keys-object.ts';
import { errorFields, jsonLogger, type Logger } from './log.ts';

/** Lambda's cap on a function-URL request and response payload (synchronous invocation). */
export const lambdaPayloadBytesMax = 6 * 1024 * 1024;
/** Headroom for the response envelope (status, headers, JSON framing) inside the payload cap. */
const responseEnvelopeBytes = 16 * 1024;

export const requestTooLargeMessage =
  'request body over the Lambda function URL limit of 6 MB: split the batch into several requests or import from S3 (docs/aws.md)';
export const responseTooLargeMessage =
  'response over the Lambda function URL limit of 6 MB: ask for fewer results (k, limit, several smaller requests) or leave out vectors (include)';

export type AuthMode = 'keys' | 'iam';

export interface HttpWorkerOptions {
  /** The deployment's stores (the object store already wrapped in the segment cache), made once per container. */
  stores: () => Promise<Stores>;
  auth: AuthMode;
  /** How often the keys object is read again (revocations take effect within this). Default 30 s. */
  keysReloadMs?: number;
  corsOrigins?: readonly string[];
  log?: Logger;
}

export interface LambdaContext {
  awsRequestId?: string;
}

interface Container {
  stores: Stores;
  db?: Promise<HyperspaceDB>;
  keys: KeysObject;
}

export function createHttpHandler(options: HttpWorkerOptions): (event: FunctionUrlEvent, context?: LambdaContext) => Promise<FunctionUrlResult> {
  const log = options.log ?? jsonLogger;
  const metrics = new Metrics();
  const owner = ownerName('http');
  let container: Promise<Container> | undefined;
  let coldStart = true;

  const ready = (): Promise<Container> => {
    container ??= options.stores().then((stores) => ({ stores, keys: new KeysObject(stores, { reloadMs: options.keysReloadMs, log }) }), (e) => {
      container = undefined;
      throw e;
    });
    return container;
  };

  const database = (c: Container): Promise<HyperspaceDB> => {
    // No collection is loaded up front: each is loaded (manifest, then its segments) when first named.
    c.db ??= HyperspaceDB.open(c.stores, { indexer: false, leases: false, collections: [] }).catch((e) => {
      c.db = undefined;
      throw e;
    });
    return c.db;
  };

  return async (event, context) => {
    const startedAt = Date.now();
    const method = event.requestContext.http.method.toUpperCase();
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
    const request = { method, path: event.rawPath, headers };
    const fields = { requestId: context?.awsRequestId, method, path: event.rawPath.slice(0, 300), coldStart };
    coldStart = false;
    const bare = new Router({ db: () => undefined, corsOrigins: options.corsOrigins, metrics });
    let response: HttpResponse;
    let principal: Principal | undefined;
    try {
      const body = event.body === undefined || event.body === '' ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64') : event.body;
      const bodyBytes = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      if (bodyBytes > lambdaPayloadBytesMax) throw new HyperspaceError('too_large', requestTooLargeMessage);
      const c = await ready();
      const isHealth = method === 'GET' && event.rawPath === '/v1/health';
      if (options.auth === 'keys' && !isHealth && method !== 'OPTIONS') {
        principal = await (await c.keys.authenticator(startedAt)).authenticate({ authorization: headers.authorization, apiKey: headers['x-api-key'] });
      }
      const db = method === 'OPTIONS' || isHealth ? await c.db : await database(c);
      const indexing = method === 'POST' ? /^\/v1\/collections\/([^/]+)\/(flush|compact)$/.exec(event.rawPath) : null;
      if (method === 'OPTIONS') {
        response = await bare.handle({ ...request, body });
      } else if (!db) {
        // Health before the first authenticated request: nothing is open, and nothing is opened for it.
        response = ok({ status: 'serving', collections: 0 });
      } else if (indexing) {
        response = await runIndexing(c.stores, db, indexing[1], indexing[2] as 'flush' | 'compact', principal, owner, bare);
      } else {
        await refreshFor(db, method, event.rawPath);
        const router = new Router({
          db: () => db, corsOrigins: options.corsOrigins, metrics, bodyBytesMax: lambdaPayloadBytesMax,
          authenticator: { authenticate: async () => principal },
          log: (message, error) => log('error', message, { ...fields, ...errorFields(error) }),
        });
        response = await router.handle({ ...request, body });
      }
      if (Buffer.byteLength(response.body) > lambdaPayloadBytesMax - responseEnvelopeBytes) {
        response = bare.errorResponse(new HyperspaceError('too_large', responseTooLargeMessage), request);
      }
    } catch (error) {
      response = bare.errorResponse(error, request);
    }
    log(response.status >= 500 ? 'error' : 'info', 'request', {
      ...fields, status: response.status, durationMs: Date.now() - startedAt,
      ...(principal ? { keyId: principal.keyId } : {}), ...(response.errorKind ? { errorKind: response.errorKind } : {}),
    });
    const body: string | Uint8Array = response.body;
    return typeof body === 'string'
      ? { statusCode: response.status, headers: response.headers, body, isBase64Encoded: false }
      : { statusCode: response.status, headers: response.headers, body: Buffer.from(body).toString('base64'), isBase64Encoded: true };
  };
}

/** Brings what the request reads or writes up to date with the stores. */
async function refreshFor(db: HyperspaceDB, method: string, path: string): Promise<void> {
  const named = /^\/v1\/collections\/([^/]+)(\/|$)/.exec(path);
  if (named) {
    let name: string;
    try {
      name = decodeURIComponent(named[1]);
    } catch {
      return; // the router answers the malformed path
    }
    try {
      await db.refresh(name);
    } catch (error) {
      // A name that is not a collection (or not valid) is answered by the router with its own message.
      if (!(error instanceof HyperspaceError && (error.kind === 'not_found' || error.kind === 'invalid'))) throw error;
    }
  } else if (path === '/v1/collections' || path === '/metrics') {
    if (method === 'GET') await db.refresh();
  }
}

/** Flush and compact on a worker: an indexing pass under a fresh lease, then the collection as the worker sees it. */
async function runIndexing(stores: Stores, db: HyperspaceDB, encodedName: string, operation: 'flush' | 'compact',
  principal: Principal | undefined, owner: string, router: Router): Promise<HttpResponse> {
  try {
    let name: string;
    try {
      name = decodeURIComponent(encodedName);
    } catch {
      throw new HyperspaceError('invalid', `malformed percent-encoding in path segment ${JSON.stringify(encodedName.slice(0, 200))}`);
    }
    const ctx: RequestContext = { db };
    if (principal) ctx.principal = principal;
    authorize(ctx, operation, name);
    await refreshFor(db, 'POST', `/v1/collections/${encodedName}`);
    db.collection(name);
    await indexCollection(stores, name, { owner, compact: operation === 'compact' ? 'full' : false });
    await db.refresh(name);
    return ok({ collection: collectionInfo(db.collection(name).describe()) });
  } catch (error) {
    return router.errorResponse(error);
  }
}

function ok(body: unknown): HttpResponse {
  return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
}

let environmentHandler: ReturnType<typeof createHttpHandler> | undefined;

/** The function-URL entry point (infra/api.ts: `functions/lambda/http.handler`). */
export const handler = async (event: FunctionUrlEvent, context?: LambdaContext): Promise<FunctionUrlResult> => {
  const { environmentAuth, environmentCorsOrigins, environmentStores } = await import('./environment.ts');
  environmentHandler ??= createHttpHandler({ stores: environmentStores(), auth: environmentAuth(), corsOrigins: environmentCorsOrigins() });
  return environmentHandler(event, context);
};
