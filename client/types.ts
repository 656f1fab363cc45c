// The SDK's public shapes: those of the JSON API (docs/api.md), except that
// vectors come back as Float32Array, as they do from the embedded library.

export type Metric = 'l2' | 'cosine' | 'dot' | 'poincare';
export type Quantization = 'none' | 'int8' | 'binary';
export type Consistency = 'strong' | 'eventual';
export type Include = 'metadata' | 'vector';

/** Float32Array (views included) or number[]; copied into the request. */
export type Vector = Float32Array | readonly number[];

export type MetadataValue = string | number | boolean | string[];
export type Metadata = Record<string, MetadataValue>;

/** A metadata filter (docs/filters.md), e.g. `{ genre: { $in: ['jazz', 'blues'] }, year: { $gte: 1960 } }`. */
export type Filter = Record<string, unknown>;

export interface HnswParameters {
  m: number;
  efConstruction: number;
}

export interface CollectionConfig {
  dimension: number;
  metric: Metric;
  quantization?: Quantization;
  hnsw?: Partial<HnswParameters>;
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
  segmentBytes: number;
  /** The last WAL sequence number applied. */
  lastSeq: number;
  /** WAL entries not yet folded into a segment. */
  tailLength: number;
  manifestVersion: number;
  /** The WAL sequence number the current manifest folds in. */
  indexedSeq: number;
}

export interface PointInput {
  id: string;
  vector: Vector;
  metadata?: Metadata | null;
}

export interface Point {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
}

export interface SearchQuery {
  vector: Vector;
  /** 1..10,000; default 10. */
  k?: number;
  /** HNSW beam width; default chosen by the server. */
  ef?: number;
  filter?: Filter | null;
  /** Default strong (read-your-writes). */
  consistency?: Consistency;
  include?: readonly Include[];
}

export interface Hit {
  id: string;
  /** Ascending: smaller is closer for every metric (DESIGN §6). */
  distance: number;
  metadata?: Metadata;
  vector?: Float32Array;
}

export interface ConsistencyPoint {
  manifestVersion: number;
  walSeq: number;
}

export interface SearchResult {
  hits: Hit[];
  consistency: ConsistencyPoint;
}

export interface ScrollOptions {
  /** From the previous page's nextCursor; omit for the first page. */
  cursor?: string | null;
  /** 1..10,000; default 100. */
  limit?: number;
  filter?: Filter | null;
}

export interface ScrollPage {
  points: Point[];
  /** null after the last page. */
  nextCursor: string | null;
}

export interface WriteResult {
  /** WAL sequence number of the batch: acknowledged means durable. */
  seq: number;
}

export interface HealthStatus {
  serving: boolean;
  collections: number;
}

/** Bytes of request and response bodies a sync call moved (HTTP bodies; gRPC messages as serialized). */
export interface SyncBytes {
  sent: number;
  received: number;
}

/** A collection's Merkle digest (docs/format/merkle.md): hex SHA-256 root and 256 bucket hashes at one consistency point. */
export interface DigestResult {
  root: string;
  buckets: string[];
  /** On a follower, `walSeq` is the leader seq it reflects. */
  consistency: ConsistencyPoint;
  bytes: SyncBytes;
}

export interface PullChangesRequest {
  /** Changes with seq > afterSeq; 0 for an empty replica. */
  afterSeq: number;
  /** 1..10,000 changes per page (a batch is never split); default 10,000. */
  limit?: number;
}

/** Catch-up: one changes frame (docs/format/merkle.md "Wire frames", type 1). */
export interface ChangesFrame {
  frame: Uint8Array;
  bytes: SyncBytes;
}

/** Repair: nodes to expand, nodes and ids whose records to send (docs/format/merkle.md "Repair"). */
export interface PullBucketsRequest {
  expand?: readonly string[];
  nodes?: readonly string[];
  ids?: readonly string[];
  /** Bytes of each node hash and leaf prefix: 8 (default) or 32. */
  hashBytes?: number;
}

/** Repair: pull frames (type 2) — one over HTTP, the stream's over gRPC (later ones carry the ids that did not fit). */
export interface PullFrames {
  frames: Uint8Array[];
  bytes: SyncBytes;
}

/** Per-call options; the client's defaults apply where one is left out. */
export interface CallOptions {
  /** Budget for the whole call, retries included. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WriteOptions extends CallOptions {
  /** Default: a fresh random key per call, reused by its retries. */
  idempotencyKey?: string;
}

/** One request as a transport sends it: the operation's JSON-shaped body plus its call context. */
export interface TransportCall {
  /** Absolute deadline (Date.now() scale) of this attempt. */
  deadlineAtMs: number | undefined;
  signal: AbortSignal | undefined;
  idempotencyKey: string | undefined;
}

/** What each operation takes and returns on the wire, in the JSON API's shapes. */
export interface Operations {
  createCollection: [{ name: string } & CollectionConfig, CollectionInfo];
  deleteCollection: [{ name: string }, Record<string, never>];
  listCollections: [Record<string, never>, CollectionInfo[]];
  describeCollection: [{ name: string }, CollectionInfo];
  upsert: [{ collection: string; points: readonly PointInput[] }, WriteResult];
  delete: [{ collection: string; ids: readonly string[] }, WriteResult];
  get: [{ collection: string; id: string }, Point];
  search: [{ collection: string } & SearchQuery, SearchResult];
  searchBatch: [{ collection: string; searches: readonly SearchQuery[] }, SearchResult[]];
  count: [{ collection: string; filter?: Filter | null }, number];
  scroll: [{ collection: string } & ScrollOptions, ScrollPage];
  flush: [{ collection: string }, CollectionInfo];
  health: [Record<string, never>, HealthStatus];
  getDigest: [{ collection: string }, DigestResult];
  pullChanges: [{ collection: string } & PullChangesRequest, ChangesFrame];
  pullBuckets: [{ collection: string } & PullBucketsRequest, PullFrames];
}

export type OperationName = keyof Operations;

/** A wire protocol: sends one attempt of one operation; the client adds retries and keys. */
export interface Transport {
  call<O extends OperationName>(operation: O, request: Operations[O][0], call: TransportCall): Promise<Operations[O][1]>;
  close(): Promise<void>;
}
