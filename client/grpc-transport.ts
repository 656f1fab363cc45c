// The SDK over gRPC (@grpc/grpc-js, one HTTP/2 channel shared by the services),
// speaking proto/hyperspace/v1 loaded at run time.
import * as grpc from '@grpc/grpc-js';
import { bytesToHex, enumFromWire, enumToWire, errorKindTrailer, fromStruct, serviceDefinition, toStruct, type ServiceName, type WireStruct } from '../proto/index.ts';
import { HyperspaceClientError, kindOfGrpcStatus } from './errors.ts';
import type { CollectionInfo, Metadata, Operations, OperationName, Point, SearchQuery, SearchResult, SyncBytes, Transport, TransportCall, Vector } from './types.ts';

export interface GrpcTransportOptions {
  apiKey?: string;
  /** Default: insecure (plaintext), for loopback. Use grpc.credentials.createSsl() across a network. */
  credentials?: grpc.ChannelCredentials;
  /** Largest message sent or received. Default 16 MiB, the server's default limit. */
  messageBytesMax?: number;
}

type Wire = Record<string, any>;

interface Route {
  service: ServiceName;
  method: string;
  encode: (request: any) => Wire;
  /** `bytes`: the messages as serialized, both ways (sync calls report it). */
  decode?: (response: Wire, bytes: SyncBytes) => unknown;
  /** A server-streaming RPC (instead of `decode`): gets every message. */
  decodeStream?: (responses: Wire[], bytes: SyncBytes) => unknown;
}

// A fresh Float32Array: a native copy (Array.from walks the iterator), sent as one block by proto/vector-codec.ts.
const vectorOut = (v: Vector): Float32Array => new Float32Array(v);

/**
 * protobuf would silently truncate a fraction or wrap a negative number in a
 * uint32 field, which JSON does not: refuse such a value before sending, so
 * that it is an error on both transports.
 */
function uint32(value: number | undefined, field: string): number | undefined {
  if (value === undefined || (Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) return value;
  throw new HyperspaceClientError('invalid', `${field} must be an integer in 0..4294967295 on gRPC, got ${String(value)}`);
}
const vectorIn = (v: number[] | undefined): Float32Array => Float32Array.from(v ?? []);
const struct = (value: Record<string, unknown> | null | undefined): WireStruct | undefined => (value ? toStruct(value) : undefined);

function collectionInfo(c: Wire = {}): CollectionInfo {
  return {
    name: c.name ?? '', dimension: c.dimension ?? 0,
    metric: enumFromWire('METRIC', c.metric) as CollectionInfo['metric'],
    quantization: (enumFromWire('QUANTIZATION', c.quantization) ?? 'none') as CollectionInfo['quantization'],
    hnsw: { m: c.hnsw?.m ?? 0, efConstruction: c.hnsw?.efConstruction ?? 0 },
    count: c.count ?? 0, segments: c.segments ?? 0, segmentBytes: c.segmentBytes ?? 0, lastSeq: c.lastSeq ?? 0,
    tailLength: c.tailLength ?? 0, manifestVersion: c.manifestVersion ?? 0, indexedSeq: c.indexedSeq ?? 0,
  };
}

function point(p: Wire): Point {
  return { id: p.id ?? '', vector: vectorIn(p.vector), metadata: (p.metadata ? fromStruct(p.metadata) : {}) as Metadata };
}

function searchQuery(q: SearchQuery): Wire {
  return {
    vector: vectorOut(q.vector), k: uint32(q.k, 'k'), ef: uint32(q.ef, 'ef'), filter: struct(q.filter),
    consistency: enumToWire('CONSISTENCY', q.consistency),
    includeMetadata: q.include?.includes('metadata') ?? false, includeVector: q.include?.includes('vector') ?? false,
  };
}

function searchResult(r: Wire): SearchResult {
  return {
    hits: (r.hits ?? []).map((h: Wire) => {
      const hit: SearchResult['hits'][number] = { id: h.id ?? '', distance: h.distance ?? 0 };
      if (h.metadata) hit.metadata = fromStruct(h.metadata) as Metadata;
      if (h.vector?.length) hit.vector = vectorIn(h.vector);
      return hit;
    }),
    consistency: { manifestVersion: r.consistency?.manifestVersion ?? 0, walSeq: r.consistency?.walSeq ?? 0 },
  };
}

const routes: { [O in OperationName]: Route } = {
  createCollection: {
    service: 'CollectionsService', method: 'CreateCollection',
    encode: (r: Operations['createCollection'][0]) => ({
      name: r.name, dimension: uint32(r.dimension, 'dimension'), metric: enumToWire('METRIC', r.metric),
      quantization: enumToWire('QUANTIZATION', r.quantization),
      hnsw: r.hnsw && { m: uint32(r.hnsw.m, 'hnsw.m'), efConstruction: uint32(r.hnsw.efConstruction, 'hnsw.efConstruction') },
    }),
    decode: (r) => collectionInfo(r.collection),
  },
  deleteCollection: { service: 'CollectionsService', method: 'DeleteCollection', encode: (r) => r, decode: () => ({}) },
  listCollections: {
    service: 'CollectionsService', method: 'ListCollections', encode: () => ({}),
    decode: (r) => (r.collections ?? []).map(collectionInfo),
  },
  describeCollection: { service: 'CollectionsService', method: 'DescribeCollection', encode: (r) => r, decode: (r) => collectionInfo(r.collection) },
  upsert: {
    service: 'PointsService', method: 'Upsert',
    encode: (r: Operations['upsert'][0]) => ({
      collection: r.collection,
      points: r.points.map((p) => ({ id: p.id, vector: vectorOut(p.vector), metadata: struct(p.metadata) })),
    }),
    decode: (r) => ({ seq: r.seq ?? 0 }),
  },
  delete: { service: 'PointsService', method: 'Delete', encode: (r) => ({ collection: r.collection, ids: [...r.ids] }), decode: (r) => ({ seq: r.seq ?? 0 }) },
  get: { service: 'PointsService', method: 'Get', encode: (r) => r, decode: (r) => point(r.point ?? {}) },
  search: {
    service: 'PointsService', method: 'Search',
    encode: ({ collection, ...query }: Operations['search'][0]) => ({ collection, query: searchQuery(query) }),
    decode: searchResult,
  },
  searchBatch: {
    service: 'PointsService', method: 'SearchBatch',
    encode: (r: Operations['searchBatch'][0]) => ({ collection: r.collection, searches: r.searches.map(searchQuery) }),
    decode: (r) => (r.results ?? []).map(searchResult),
  },
  count: { service: 'PointsService', method: 'Count', encode: (r) => ({ collection: r.collection, filter: struct(r.filter) }), decode: (r) => r.count ?? 0 },
  scroll: {
    service: 'PointsService', method: 'Scroll',
    encode: (r: Operations['scroll'][0]) => ({ collection: r.collection, cursor: r.cursor ?? undefined, limit: uint32(r.limit, 'limit'), filter: struct(r.filter) }),
    decode: (r) => ({ points: (r.points ?? []).map(point), nextCursor: r.nextCursor || null }),
  },
  flush: { service: 'AdminService', method: 'Flush', encode: (r) => r, decode: (r) => collectionInfo(r.collection) },
  health: { service: 'AdminService', method: 'Health', encode: () => ({}), decode: (r) => ({ serving: r.serving ?? false, collections: r.collections ?? 0 }) },
  getDigest: {
    service: 'SyncService', method: 'GetDigest', encode: (r) => r,
    decode: (r, bytes) => ({
      root: bytesToHex(r.root ?? new Uint8Array()), buckets: (r.buckets ?? []).map(bytesToHex),
      consistency: { manifestVersion: r.consistency?.manifestVersion ?? 0, walSeq: r.consistency?.walSeq ?? 0 }, bytes,
    }),
  },
  pullChanges: {
    service: 'SyncService', method: 'PullChanges',
    encode: (r: Operations['pullChanges'][0]) => ({ collection: r.collection, afterSeq: r.afterSeq, limit: uint32(r.limit, 'limit') }),
    decode: (r, bytes) => ({ frame: frameOf(r), bytes }),
  },
  pullBuckets: {
    service: 'SyncService', method: 'PullBuckets',
    encode: (r: Operations['pullBuckets'][0]) => ({
      collection: r.collection, expand: r.expand && [...r.expand], nodes: r.nodes && [...r.nodes], ids: r.ids && [...r.ids], hashBytes: uint32(r.hashBytes, 'hashBytes'),
    }),
    decodeStream: (responses, bytes) => ({ frames: responses.map(frameOf), bytes }),
  },
};

function frameOf(r: Wire): Uint8Array {
  const frame: Uint8Array = r.frame ?? new Uint8Array();
  return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
}


type UnaryMethod = (request: Wire, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Wire) => void) => grpc.ClientUnaryCall;
type StreamMethod = (request: Wire, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<Wire>;

export class GrpcTransport implements Transport {
  private readonly clients = new Map<ServiceName, grpc.Client>();
  private readonly definitions = new Map<ServiceName, ReturnType<typeof serviceDefinition>>();
  private readonly metadata = new grpc.Metadata();

  constructor(address: string, options: GrpcTransportOptions = {}) {
    const messageBytesMax = options.messageBytesMax ?? 16 * 1024 * 1024;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': messageBytesMax,
      'grpc.max_send_message_length': messageBytesMax,
    };
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    let channel: grpc.Channel | undefined;
    for (const service of ['CollectionsService', 'PointsService', 'AdminService', 'SyncService'] as const) {
      this.definitions.set(service, serviceDefinition(service));
      const Client = grpc.makeClientConstructor(serviceDefinition(service), service);
      const client = new Client(address, credentials, channel ? { ...channelOptions, channelOverride: channel } : channelOptions);
      channel ??= client.getChannel() as grpc.Channel;
      this.clients.set(service, client);
    }
    if (options.apiKey !== undefined) this.metadata.set('authorization', `Bearer ${options.apiKey}`);
  }

  call<O extends OperationName>(operation: O, request: Operations[O][0], call: TransportCall): Promise<Operations[O][1]> {
    const route = routes[operation];
    const client = this.clients.get(route.service)!;
    const message = route.encode(request);
    if (call.idempotencyKey !== undefined) message.idempotencyKey = call.idempotencyKey;
    const options: grpc.CallOptions = call.deadlineAtMs !== undefined ? { deadline: call.deadlineAtMs } : {};
    const definition = this.definitions.get(route.service)![route.method]!;
    // Bytes as they cross: proto3 serializes deterministically, so the decoded reply re-serializes to its size.
    const bytes: SyncBytes = { sent: definition.requestSerialize(message).length, received: 0 };
    const received = (response: Wire) => { bytes.received += definition.responseSerialize(response).length; };
    if (route.decodeStream) {
      const method = (client as unknown as Record<string, StreamMethod>)[route.method]!.bind(client);
      return new Promise((resolve, reject) => {
        if (call.signal?.aborted) return reject(call.signal.reason);
        const responses: Wire[] = [];
        const stream = method(message, this.metadata, options);
        const onAbort = () => stream.cancel();
        call.signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (response: Wire) => { received(response); responses.push(response); });
        stream.on('error', (error: grpc.ServiceError) => {
          call.signal?.removeEventListener('abort', onAbort);
          reject(call.signal?.aborted ? call.signal.reason : clientError(error));
        });
        stream.on('end', () => {
          call.signal?.removeEventListener('abort', onAbort);
          resolve(route.decodeStream!(responses, bytes) as Operations[O][1]);
        });
      });
    }
    const method = (client as unknown as Record<string, UnaryMethod>)[route.method]!.bind(client);
    return new Promise((resolve, reject) => {
      if (call.signal?.aborted) return reject(call.signal.reason);
      const onAbort = () => pending.cancel();
      const pending = method(message, this.metadata, options, (error, response) => {
        call.signal?.removeEventListener('abort', onAbort);
        if (call.signal?.aborted) return reject(call.signal.reason);
        if (error) return reject(clientError(error));
        received(response ?? {});
        resolve(route.decode!(response ?? {}, bytes) as Operations[O][1]);
      });
      call.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) client.close();
  }
}

function clientError(error: grpc.ServiceError): HyperspaceClientError {
  const trailer = error.metadata?.get(errorKindTrailer)[0];
  const details = error.details ?? error.message;
  const retryAfterSeconds = Number(error.metadata?.get('retry-after')[0] ?? Number.NaN);
  return new HyperspaceClientError(kindOfGrpcStatus(error.code, trailer, details), details, {
    status: error.code, cause: error, retryAfterMs: Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? retryAfterSeconds * 1000 : undefined,
  });
}
