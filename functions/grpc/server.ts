// The gRPC transport (DESIGN §8): every RPC of proto/hyperspace/v1 is decode →
// `operations.X(ctx, request)` → encode, over the same handler layer as the
// HTTP server. The .proto files are loaded at start (no codegen step). Errors
// go through the one table in functions/errors.ts, with the message in the
// status details and the kind in the `hs-error-kind` trailer.
import * as grpc from '@grpc/grpc-js';
import type { HyperspaceDB } from '../../engine/index.ts';
import { decodePull } from '../../engine/sync.ts';
import { serviceDefinition, type ServiceName } from '../../proto/index.ts';
import { RateLimitedError } from '../auth/authenticator.ts';
import { errorKindMetadataKey, errorTable, grpcStatus, toHyperspaceError } from '../errors.ts';
import { operations, type OperationName, type Principal, type RequestContext } from '../handlers.ts';
import type { Metrics } from '../metrics.ts';
import * as codec from './codec.ts';

/**
 * Resolves the caller from the request headers (gRPC metadata, lower-cased:
 * `authorization: Bearer ...` or `x-api-key`). Throws a HyperspaceError
 * (`unauthenticated`) to refuse; returns undefined when auth is off.
 */
export type Authenticate = (headers: Readonly<Record<string, string>>) => Principal | undefined | Promise<Principal | undefined>;

export interface GrpcServerOptions {
  db: HyperspaceDB;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port; the bound one is returned. */
  port?: number;
  authenticate?: Authenticate;
  /** Default: insecure (plaintext HTTP/2), for loopback and behind a TLS-terminating load balancer. */
  credentials?: grpc.ServerCredentials;
  /** Largest request or response message; bigger ones are refused with RESOURCE_EXHAUSTED. Default 16 MiB. */
  messageBytesMax?: number;
  /** HTTP/2 streams (calls) in flight per connection. Default 256. */
  concurrentStreamsMax?: number;
  /** How long close() waits for calls in flight before cancelling them. Default 10 s. */
  shutdownGraceMs?: number;
  /** Request counts and latencies per operation and outcome, shared with the HTTP server's /metrics. */
  metrics?: Metrics;
  /** Where unexpected (`internal`) errors are reported; their details never reach the caller. Default console.error. */
  logError?: (error: unknown, rpc: string) => void;
}

export interface GrpcServer {
  port: number;
  /** Stops accepting calls, lets the ones in flight finish (up to shutdownGraceMs), then closes. */
  close(): Promise<void>;
}

export const grpcServerDefaults = {
  host: '127.0.0.1',
  messageBytesMax: 16 * 1024 * 1024,
  concurrentStreamsMax: 256,
  shutdownGraceMs: 10_000,
} as const;

interface Route {
  operation: OperationName;
  decode: (message: any) => unknown;
  encode: (response: any) => unknown;
  /** A server-streaming RPC: the operation is called again with `next(request, response)` until it returns undefined. */
  next?: (request: any, response: any) => unknown;
}

const routes: Record<ServiceName, Record<string, Route | 'unimplemented'>> = {
  CollectionsService: {
    CreateCollection: { operation: 'createCollection', decode: codec.createCollectionRequest, encode: codec.collectionResponse },
    DeleteCollection: { operation: 'deleteCollection', decode: codec.nameRequest, encode: codec.identity },
    ListCollections: { operation: 'listCollections', decode: codec.emptyRequest, encode: codec.collectionsResponse },
    DescribeCollection: { operation: 'describeCollection', decode: codec.nameRequest, encode: codec.collectionResponse },
  },
  PointsService: {
    Upsert: { operation: 'upsert', decode: codec.upsertRequest, encode: codec.identity },
    Delete: { operation: 'delete', decode: codec.deleteRequest, encode: codec.identity },
    Get: { operation: 'get', decode: codec.getRequest, encode: codec.getResponse },
    Search: { operation: 'search', decode: codec.searchRequest, encode: codec.searchResponse },
    SearchBatch: { operation: 'searchBatch', decode: codec.searchBatchRequest, encode: codec.searchBatchResponse },
    Count: { operation: 'count', decode: codec.countRequest, encode: codec.identity },
    Scroll: { operation: 'scroll', decode: codec.scrollRequest, encode: codec.scrollResponse },
  },
  AdminService: {
    Health: { operation: 'health', decode: codec.emptyRequest, encode: codec.healthResponse },
    Flush: { operation: 'flush', decode: codec.collectionRequest, encode: codec.collectionResponse },
    Compact: { operation: 'compact', decode: codec.collectionRequest, encode: codec.collectionResponse },
    Stats: { operation: 'stats', decode: codec.emptyRequest, encode: codec.statsResponse },
  },
  SyncService: {
    GetDigest: { operation: 'getDigest', decode: codec.collectionRequest, encode: codec.digestResponse },
    PullChanges: { operation: 'syncChanges', decode: codec.syncChangesRequest, encode: codec.frameResponse },
    // Ids that did not fit one frame are asked for again, each answer one message of the stream.
    PullBuckets: {
      operation: 'syncPull', decode: codec.syncPullRequest, encode: codec.frameResponse,
      next: (request: { collection: string; hashBytes?: number }, frame: Uint8Array) => {
        const deferred = decodePull(frame).deferredIds;
        return deferred.length === 0 ? undefined : { collection: request.collection, ids: deferred, hashBytes: request.hashBytes };
      },
    },
  },
};

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const messageBytesMax = options.messageBytesMax ?? grpcServerDefaults.messageBytesMax;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
    'grpc.max_concurrent_streams': options.concurrentStreamsMax ?? grpcServerDefaults.concurrentStreamsMax,
  });
  const logError = options.logError ?? ((error: unknown, rpc: string) => console.error(`grpc ${rpc}:`, error));
  for (const [service, methods] of Object.entries(routes) as [ServiceName, Record<string, Route | 'unimplemented'>][]) {
    const definition = serviceDefinition(service);
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [method, route] of Object.entries(methods)) {
      const rpc = `${service}.${method}`;
      if (route === 'unimplemented') {
        implementation[method] = unimplemented(rpc, definition[method]!.responseStream);
      } else if (route.next) {
        implementation[method] = (call: grpc.ServerWritableStream<any, any>) => {
          const startedAt = process.hrtime.bigint();
          const observe = (outcome: string) =>
            options.metrics?.observe('grpc', route.operation, outcome, Number(process.hrtime.bigint() - startedAt) / 1e9);
          serveStream(options, route, call).then(
            () => {
              observe('ok');
              call.end();
            },
            (thrown) => {
              const status = serviceError(thrown, rpc, logError);
              observe(status.kind);
              call.emit('error', status);
            },
          );
        };
      } else {
        implementation[method] = (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
          const startedAt = process.hrtime.bigint();
          const observe = (outcome: string) =>
            options.metrics?.observe('grpc', route.operation, outcome, Number(process.hrtime.bigint() - startedAt) / 1e9);
          serve(options, route, call).then(
            (response) => {
              observe('ok');
              callback(null, response);
            },
            (thrown) => {
              const status = serviceError(thrown, rpc, logError);
              observe(status.kind);
              callback(status);
            },
          );
        };
      }
    }
    server.addService(definition, implementation);
  }
  const host = options.host ?? grpcServerDefaults.host;
  const address = `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, options.credentials ?? grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const shutdownGraceMs = options.shutdownGraceMs ?? grpcServerDefaults.shutdownGraceMs;
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => (closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), shutdownGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    })),
  };
}

/** The request context of a call: caller, cancellation, deadline. */
async function callContext(options: GrpcServerOptions, call: grpc.ServerUnaryCall<any, any> | grpc.ServerWritableStream<any, any>): Promise<{ ctx: RequestContext; headers: Record<string, string> }> {
  const headers = metadataHeaders(call.metadata);
  const principal = options.authenticate ? await options.authenticate(headers) : undefined;
  const cancelled = new AbortController();
  call.once('cancelled', () => cancelled.abort());
  const ctx: RequestContext = { db: options.db, signal: cancelled.signal };
  if (principal) ctx.principal = principal;
  const deadline = call.getDeadline();
  const deadlineAtMs = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(deadlineAtMs)) ctx.deadlineAtMs = deadlineAtMs;
  return { ctx, headers };
}

async function serve(options: GrpcServerOptions, route: Route, call: grpc.ServerUnaryCall<any, any>): Promise<unknown> {
  const { ctx, headers } = await callContext(options, call);
  const idempotencyKey = call.request.idempotencyKey || headers['idempotency-key'];
  if (idempotencyKey) ctx.idempotencyKey = idempotencyKey;
  const response = await (operations[route.operation] as (ctx: RequestContext, request: unknown) => Promise<unknown>)(ctx, route.decode(call.request));
  return route.encode(response);
}

/** A server-streaming call: each answer is written before the next request is made (backpressure by the stream). */
async function serveStream(options: GrpcServerOptions, route: Route, call: grpc.ServerWritableStream<any, any>): Promise<void> {
  const { ctx } = await callContext(options, call);
  const handler = operations[route.operation] as (ctx: RequestContext, request: unknown) => Promise<unknown>;
  let request: unknown = route.decode(call.request);
  while (request !== undefined && !ctx.signal!.aborted) {
    const response = await handler(ctx, request);
    if (!call.write(route.encode(response))) await new Promise((resolve) => call.once('drain', resolve));
    request = route.next!(request, response);
  }
}

/** Request metadata as lower-cased string headers (binary `-bin` entries are skipped). */
function metadataHeaders(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) if (typeof value === 'string') headers[key] = value;
  return headers;
}

function serviceError(thrown: unknown, rpc: string, logError: (error: unknown, rpc: string) => void): Partial<grpc.StatusObject> & { kind: string } {
  const { error, unexpected } = toHyperspaceError(thrown);
  if (unexpected) logError(thrown, rpc);
  const metadata = new grpc.Metadata();
  metadata.set(errorKindMetadataKey, error.kind);
  // The HTTP header's twin: how long a rate-limited caller should wait.
  if (error instanceof RateLimitedError) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: errorTable[error.kind].grpc, details: error.message, metadata, kind: error.kind };
}

function unimplemented(rpc: string, responseStream: boolean): grpc.UntypedHandleCall {
  const status = { code: grpcStatus.UNIMPLEMENTED, details: `${rpc} is not implemented yet (replication issue)` };
  if (responseStream) return (call: grpc.ServerWritableStream<any, any>) => call.emit('error', status);
  return (_call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => callback(status);
}
