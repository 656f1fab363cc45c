// The HTTPS worker of a region replica (infra/replica.ts, docs/aws.md "Region
// replicas"): the worker of functions/lambda/http.ts over the replica's
// stores, read-only. Writes — creating or dropping a collection, upsert,
// delete, flush, compact — are answered, once the API key has been checked,
// with 409 `conflict` naming the home region (no redirect, as a follower
// does); the stores themselves refuse any write the same way, a second line
// of defence behind the function's read-only IAM policy.
import { HyperspaceError } from '../../engine/index.ts';
import type { FunctionUrlEvent, FunctionUrlResult } from '../http/lambda.ts';
import { Router } from '../http/router.ts';
import { createHttpHandler, type HttpWorkerOptions, type LambdaContext } from './http.ts';
import type { Stores } from './indexing.ts';
import { KeysObject } from './keys-object.ts';
import { jsonLogger } from './log.ts';

export interface ReplicaHttpOptions extends HttpWorkerOptions {
  /** Where writes go, named in every refusal. */
  homeRegion: string;
}

/** [method, path, operation]: what a replica refuses; group 1 is the collection. */
const refused: [string, RegExp, string][] = [
  ['POST', /^\/v1\/collections\/?$/, 'createCollection'],
  ['DELETE', /^\/v1\/collections\/([^/]+)$/, 'deleteCollection'],
  ['POST', /^\/v1\/collections\/([^/]+)\/(upsert|delete|flush|compact)$/, ''],
];

export function replicaWriteRefusal(homeRegion: string, operation: string, collection?: string): HyperspaceError {
  return new HyperspaceError('conflict', `read-only replica of home region ${homeRegion}: send ${operation} to the home region${collection === undefined ? '' : ` (collection=${collection})`}`);
}

export function createReplicaHttpHandler(options: ReplicaHttpOptions): (event: FunctionUrlEvent, context?: LambdaContext) => Promise<FunctionUrlResult> {
  const log = options.log ?? jsonLogger;
  let stores: Promise<Stores> | undefined;
  const readOnly = (): Promise<Stores> => {
    stores ??= options.stores().then((s) => readOnlyStores(s, options.homeRegion), (e) => {
      stores = undefined;
      throw e;
    });
    return stores;
  };
  let keys: KeysObject | undefined;
  const worker = createHttpHandler({ ...options, stores: readOnly });
  const bare = new Router({ db: () => undefined, corsOrigins: options.corsOrigins });

  return async (event, context) => {
    const method = event.requestContext.http.method.toUpperCase();
    const write = refused.map(([m, pattern, operation]) => (m === method ? { match: pattern.exec(event.rawPath), operation } : null)).find((r) => r?.match);
    if (!write) return worker(event, context);
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
    let error: unknown;
    try {
      if (options.auth === 'keys') {
        keys ??= new KeysObject(await readOnly(), { reloadMs: options.keysReloadMs, log });
        await (await keys.authenticator()).authenticate({ authorization: headers.authorization, apiKey: headers['x-api-key'] });
      }
      const collection = write.match![1] === undefined ? undefined : safeDecode(write.match![1]);
      error = replicaWriteRefusal(options.homeRegion, write.operation || write.match![2], collection);
    } catch (e) {
      error = e;
    }
    const response = bare.errorResponse(error, { headers });
    log('info', 'request', { requestId: context?.awsRequestId, method, path: event.rawPath.slice(0, 300), status: response.status, errorKind: response.errorKind });
    return { statusCode: response.status, headers: response.headers, body: response.body as string, isBase64Encoded: false };
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The stores with every write refused as `conflict` naming the home region. */
export function readOnlyStores(stores: Stores, homeRegion: string): Stores {
  return { objects: refusingWrites(stores.objects, objectWrites, homeRegion), log: refusingWrites(stores.log, logWrites, homeRegion) };
}

const objectWrites = new Set(['put', 'delete']);
const logWrites = new Set(['append', 'truncateBefore', 'casPointer', 'acquireLease', 'releaseLease', 'putCollectionConfig', 'dropCollection']);

function refusingWrites<T extends object>(target: T, writes: ReadonlySet<string>, homeRegion: string): T {
  return new Proxy(target, {
    get(t, property) {
      if (typeof property === 'string' && writes.has(property)) return async () => { throw replicaWriteRefusal(homeRegion, property); };
      const value = Reflect.get(t, property, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

let environmentHandler: ReturnType<typeof createReplicaHttpHandler> | undefined;

/** The replica's function-URL entry point (infra/replica.ts: `functions/lambda/replica-http.handler`). */
export const handler = async (event: FunctionUrlEvent, context?: LambdaContext): Promise<FunctionUrlResult> => {
  const { environmentAuth, environmentCorsOrigins, environmentHomeRegion, environmentStores } = await import('./environment.ts');
  environmentHandler ??= createReplicaHttpHandler({
    stores: environmentStores(), auth: environmentAuth(), corsOrigins: environmentCorsOrigins(), homeRegion: environmentHomeRegion(),
  });
  return environmentHandler(event, context);
};
