// One collection: the manifest's segments plus the WAL tail, evaluated at
// one consistency point (DESIGN §4–§6).
import { checkVector, HyperspaceError, invalid, mmapFile, SEARCH_DEFAULTS, type Metric } from '../native/index.ts';
import { Bitset } from './bitset.ts';
import { coldLimits } from './cold-segment.ts';
import { compareUtf8 } from './canonical-json.ts';
import { matches, parseFilter, type FilterExpr } from './filter.ts';
import { limits } from './limits.ts';
import { collectionPrefix, decodeManifest, emptyManifest, encodeManifest, manifestKey, segmentKey, ulid, ulidTime, type Manifest, type SegmentEntry } from './manifest.ts';
import { Digest, leafHash, type DigestSummary } from './merkle.ts';
import { Segment, writeSegment, type SegmentRecord } from './segment.ts';
import type { LogStore } from './stores/log-store.ts';
import type { ObjectStore } from './stores/object-store.ts';
import { Tail, type TailEntry } from './tail.ts';
import { retainTombstones, tombstoneHorizonOf } from './sync-tombstones.ts';
import { batchSourceSeq, decodeBatch, encodeDeletes, encodeReplicated, encodeUpserts, type WalOp } from './wal-batch.ts';
import { validateIds, validatePoints, type CollectionConfig, type Metadata, type PointInput } from './validate.ts';

export type Consistency = 'strong' | 'eventual';

export interface SearchOptions {
  k?: number;
  ef?: number;
  filter?: unknown;
  consistency?: Consistency;
  include?: ('metadata' | 'vector')[];
  /** Exact scan instead of HNSW (ground truth, audits); slower. */
  exact?: boolean;
}

export interface Hit {
  id: string;
  distance: number;
  metadata?: Metadata;
  vector?: Float32Array;
}

export interface ConsistencyPoint {
  manifestVersion: number;
  walSeq: number;
}

export interface PointRecord {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
}

export interface CollectionDescription {
  name: string;
  dimension: number;
  metric: Metric;
  quantization: string;
  hnsw: { M: number; efConstruction: number };
  count: number;
  segments: number;
  segmentBytes: number;
  lastSeq: number;
  tailLength: number;
  manifestVersion: number;
  indexedSeq: number;
  /** Present on a replica (engine/sync.ts): the leader seq it reflects, and its lag once a follower reports it. */
  replica?: ReplicaDescription;
}

export interface ReplicaLag {
  /** Where the leader is (its URL). */
  leader: string;
  /** The leader's last seq, as last seen. */
  leaderSeq: number;
  /** Seconds since the replica last matched the leader's then-current state. */
  lagSeconds: number;
  /** The last sync failure, if the last attempt failed. */
  lastError: string | null;
  /** Bytes moved by this replica's syncs (request and response bodies), since the process started. */
  bytesMoved: number;
}

export interface ReplicaDescription extends Partial<ReplicaLag> {
  sourceSeq: number;
  lagSeqs?: number;
}

/** A replicated record: the leader's content and seq (docs/format/merkle.md). */
export interface ReplicatedRecord {
  id: string;
  seq: number;
  vector: Float32Array;
  metadata: Metadata;
}

/** What engine/sync.ts reads of a collection, at one instant (no await between reads). */
export interface SyncView {
  manifest: Manifest;
  segments: readonly { entry: SegmentEntry; segment: Segment; dead: Bitset }[];
  tail: ReadonlyMap<string, TailEntry>;
  appliedSeq: number;
  digest: Digest;
  sourceSeq: number | null;
}

/** A query's reads in one partially open segment: planned and fetched before the search, used by it. */
interface ColdPlan {
  probes: number[];
  allow: Bitset | null;
}

interface OpenSegment {
  entry: SegmentEntry;
  segment: Segment;
  /** Dead by the manifest's deletion list (fixed per manifest version). */
  deadBase: Bitset;
  /** deadBase plus records the tail shadows. */
  dead: Bitset;
}

export interface CollectionStores {
  objects: ObjectStore;
  log: LogStore;
}

/** Tunables of the embedded indexer; limits.ts holds the hard bounds. */
export interface IndexerOptions {
  /** Build a segment once the tail holds this many entries. */
  tailRecordsFlush: number;
  /** ...or once its oldest entry is this old. */
  tailAgeMsFlush: number;
  /** Merge segments once there are more than this many. */
  segmentsMax: number;
}

export const indexerDefaults: IndexerOptions = { tailRecordsFlush: 5000, tailAgeMsFlush: 1000, segmentsMax: 4 };

/** Bounds of the unindexed tail (defaults from limits.ts; tests pass smaller ones). */
export interface TailLimits {
  tailRecordsMax: number;
  tailBytesMax: number;
}

interface Reservation {
  records: number;
  bytes: number;
}

export class Collection {
  readonly name: string;
  readonly config: CollectionConfig;
  private manifest: Manifest;
  private segments: OpenSegment[] = [];
  private tail: Tail;
  private appliedSeq: number;
  private digestState: Digest | undefined;
  /** On a replica, the leader seq its state reflects; null on a leader. */
  private sourceSeq: number | null;
  /** Set by a follower (functions/follow.ts) to report its lag in describe(). */
  replicaLag: (() => ReplicaLag) | undefined;
  private pending = new Map<number, { ops: WalOp[]; sourceSeq?: number }>();
  private catchingUp: Promise<void> = Promise.resolve();
  private indexing: Promise<unknown> = Promise.resolve();
  private tailSinceMs = 0;
  private closed = false;
  /** Partially open segments whose whole file is downloading. */
  private readonly downloads = new Map<Segment, Promise<Segment>>();
  private compacting: Promise<void> | null = null;
  /** Tail room promised to batches between their backpressure check and their apply. */
  private readonly reserved = { records: 0, bytes: 0 };
  epoch = 0;

  private constructor(name: string, config: CollectionConfig, private readonly stores: CollectionStores, manifest: Manifest,
    private readonly tailLimits: TailLimits) {
    this.name = name;
    this.config = config;
    this.manifest = manifest;
    this.tail = new Tail(config.dimension, config.metric);
    this.appliedSeq = manifest.walSeq;
    this.sourceSeq = manifest.sourceSeq ?? null;
  }

  /** Load the current manifest, map its segments and replay the WAL tail. */
  static async open(name: string, config: CollectionConfig, stores: CollectionStores, tailLimits: Partial<TailLimits> = {},
    // Reads the caller started before it had the config (database.ts), each made after the open began.
    started: { pointer?: ReturnType<LogStore['getPointer']>; lastSeq?: Promise<number> } = {}): Promise<Collection> {
    const lastSeq = started.lastSeq ?? stores.log.lastSeq(name);
    lastSeq.catch(() => undefined);
    const pointer = await (started.pointer ?? stores.log.getPointer(name));
    const manifest = pointer ? decodeManifest(await stores.objects.get(pointer.key), pointer.key) : emptyManifest(name, config);
    const c = new Collection(name, config, stores, manifest, { tailRecordsMax: limits.tailRecordsMax, tailBytesMax: limits.tailBytesMax, ...tailLimits });
    c.install(manifest, await Promise.all(manifest.segments.map((e) => c.openSegment(e))));
    // Read-your-writes holds: the WAL head was read after this open began, so it covers every write acknowledged before it.
    await c.catchUp(await lastSeq);
    return c;
  }

  /**
   * Catch up with other processes that share the stores (serverless workers
   * next to an indexer elsewhere): if the manifest pointer moved, install the
   * current manifest (segments already open are kept, the tail it folded in is
   * dropped), then apply the WAL up to its last acknowledged seq. A dropped
   * collection is `not_found`.
   */
  async refresh(): Promise<void> {
    this.checkOpen();
    await this.exclusive(async () => {
      // Both reads at once (a strong read pays one round trip): the head is read after the refresh began.
      const lastSeq = this.stores.log.lastSeq(this.name);
      lastSeq.catch(() => undefined);
      const pointer = await this.stores.log.getPointer(this.name);
      if (pointer && pointer.version > this.manifest.version) {
        const manifest = decodeManifest(await this.stores.objects.get(pointer.key), pointer.key);
        const open = new Map(this.segments.map((s) => [s.entry.key, s.segment]));
        const opened = await Promise.all(manifest.segments.map((e) => open.get(e.key) ?? this.openSegment(e)));
        // Inside the catch-up chain, so no commit applies records meanwhile.
        const run = this.catchingUp.then(() => {
          this.tail.removeUpTo(manifest.walSeq);
          for (const seq of this.pending.keys()) if (seq <= manifest.walSeq) this.pending.delete(seq);
          if (this.appliedSeq < manifest.walSeq) this.appliedSeq = manifest.walSeq;
          this.digestState = undefined;
          this.install(manifest, opened);
        });
        this.catchingUp = run.catch(() => undefined);
        await run;
      } else if (!pointer && (this.manifest.version > 0 || (await this.stores.log.getCollectionConfig(this.name)) === null)) {
        throw new HyperspaceError('not_found', `collection not found: name=${this.name}`);
      }
      await this.catchUp(await lastSeq);
    });
  }

  /**
   * Map the segment's local file, or — behind a remote store that asks for it
   * — open a large one partially (ranged reads; docs/format/segment.md §8) and
   * let its download finish in the background; else download it whole.
   */
  private async openSegment(entry: Pick<SegmentEntry, 'key' | 'bytes' | 'headBytes'>): Promise<Segment> {
    const { objects } = this.stores;
    const path = objects.localPath?.(entry.key);
    if (path) return Segment.open(mmapFile(path), entry.key);
    // Only files with a clusters section name a head (manifest `headBytes`).
    if (objects.partialOpenBytesMin !== undefined && entry.headBytes !== undefined && entry.bytes >= objects.partialOpenBytesMin) {
      const partial = await Segment.openPartial((offset, length) => objects.get(entry.key, { offset, length }), entry.bytes, entry.key, entry.headBytes);
      if (partial) return partial;
    }
    return Segment.open(await objects.get(entry.key), entry.key);
  }

  /** The whole file of a partially open segment, downloaded once; after a failure, tried again once limits.segmentDownloadRetryMs has passed. */
  private wholeOf(segment: Segment): Promise<Segment> {
    let running = this.downloads.get(segment);
    if (!running) {
      running = this.stores.objects.get(segment.name).then((bytes) => Segment.open(bytes, segment.name));
      // A failure (a segment larger than the cache, S3 down) answers every caller for a while rather than
      // starting another download of hundreds of MB per query; cold searches go on meanwhile.
      running.then((whole) => this.swapIn(segment, whole), () => {
        setTimeout(() => this.downloads.delete(segment), limits.segmentDownloadRetryMs).unref();
      });
      this.downloads.set(segment, running);
    }
    return running;
  }

  /** Same file, same positions: the open segments' dead bitsets stay valid. */
  private swapIn(partial: Segment, whole: Segment): void {
    for (const s of this.segments) if (s.segment === partial) s.segment = whole;
    this.downloads.delete(partial);
  }

  /** Wait until no segment is partially open (reads that need vectors, leaves or the graph). */
  async whole(): Promise<void> {
    for (;;) {
      const partial = this.segments.filter((s) => !s.segment.index);
      if (partial.length === 0) return;
      await Promise.all(partial.map((s) => this.wholeOf(s.segment)));
    }
  }

  // ------------------------------------------------------------------ writes

  async upsert(points: readonly PointInput[], options: { idempotencyKey?: string } = {}): Promise<{ seq: number }> {
    this.checkOpen();
    this.checkNotReplica();
    const records = validatePoints(this.name, this.config, points);
    if (records.length === 0) return { seq: this.appliedSeq };
    const reservation = this.checkBackpressure(records.length, records.length * this.config.dimension * 4);
    return this.commit(reservation, () => encodeUpserts(records, this.config.dimension),
      records.map((r) => ({ kind: 'upsert', id: r.id, vector: r.vector, metadata: r.metadata })), options.idempotencyKey);
  }

  async delete(ids: readonly string[], options: { idempotencyKey?: string } = {}): Promise<{ seq: number }> {
    this.checkOpen();
    this.checkNotReplica();
    const valid = validateIds(ids);
    if (valid.length === 0) return { seq: this.appliedSeq };
    const reservation = this.checkBackpressure(valid.length, 0);
    return this.commit(reservation, () => encodeDeletes(valid), valid.map((id) => ({ kind: 'delete', id })), options.idempotencyKey);
  }

  /**
   * A replica's write (engine/sync.ts): the leader's records with the leader's
   * seqs, through the replica's own WAL. `sourceSeq` is the leader seq the
   * replica reflects once this batch is applied; it never goes down.
   */
  async commitReplicated(upserts: readonly ReplicatedRecord[], deletes: readonly string[], sourceSeq: number): Promise<{ seq: number }> {
    this.checkOpen();
    if (this.sourceSeq === null && (this.appliedSeq > 0 || this.manifest.segments.length > 0)) {
      throw new HyperspaceError('conflict', `collection=${this.name} has local writes; a replica must start empty (drop it and sync again)`);
    }
    if (sourceSeq < (this.sourceSeq ?? 0)) {
      throw new HyperspaceError('conflict', `replica would move backwards: collection=${this.name} at leader seq ${this.sourceSeq} got ${sourceSeq}`);
    }
    const reservation = this.checkBackpressure(upserts.length + deletes.length, upserts.length * this.config.dimension * 4);
    const payload = () => encodeReplicated(upserts.map((r) => ({ ...r, sourceSeq: r.seq })), deletes, sourceSeq, this.config.dimension);
    const ops: WalOp[] = [
      ...upserts.map((r): WalOp => ({ kind: 'upsert', id: r.id, vector: r.vector, metadata: r.metadata, sourceSeq: r.seq })),
      ...deletes.map((id): WalOp => ({ kind: 'delete', id })),
    ];
    return this.commit(reservation, payload, ops, undefined, sourceSeq);
  }

  private async commit(reservation: Reservation, payload: () => Uint8Array, ops: WalOp[], idempotencyKey?: string, sourceSeq?: number): Promise<{ seq: number }> {
    try {
      const { seq } = await this.stores.log.append(this.name, payload(), { idempotencyKey });
      if (seq > this.appliedSeq) this.pending.set(seq, { ops, sourceSeq });
      await this.catchUp(seq); // acknowledged means visible: read-your-writes
      return { seq };
    } finally {
      this.reserved.records -= reservation.records;
      this.reserved.bytes -= reservation.bytes;
    }
  }

  /** Refuses a batch that would grow the tail past its bounds, before anything is stored. */
  private checkBackpressure(incoming: number, incomingBytes: number): Reservation {
    const { tailRecordsMax, tailBytesMax } = this.tailLimits;
    const refuse = (holds: string, more: string, limit: string) => new HyperspaceError('overloaded',
      `write backpressure: collection=${this.name} unindexed tail holds ${holds}, ${more} more would pass the limit of ${limit}; retry after the indexer catches up`);
    // Batches between this check and their apply count too, so concurrent writers cannot overshoot the bound.
    const records = this.tail.size + this.reserved.records, bytes = this.tail.vectorBytes + this.reserved.bytes;
    if (records + incoming > tailRecordsMax) throw refuse(`${records} records`, `${incoming}`, `${tailRecordsMax} records`);
    if (bytes + incomingBytes > tailBytesMax) throw refuse(`${bytes} bytes of vectors`, `${incomingBytes}`, `${tailBytesMax} bytes`);
    this.reserved.records += incoming;
    this.reserved.bytes += incomingBytes;
    return { records: incoming, bytes: incomingBytes };
  }

  /** Apply WAL records up to `seq` in order; records not written here are read back. */
  private catchUp(seq: number): Promise<void> {
    const run = this.catchingUp.then(async () => {
      while (this.appliedSeq < seq) {
        const next = this.appliedSeq + 1;
        const pending = this.pending.get(next);
        if (pending) {
          this.pending.delete(next);
          this.apply(next, pending.ops, pending.sourceSeq);
          continue;
        }
        const records = await this.stores.log.read(this.name, next, { limit: 1000 });
        if (records.length === 0 || records[0].seq !== next)
          throw new HyperspaceError('data', `wal gap: collection=${this.name} expected seq ${next}`);
        for (const r of records) {
          if (r.seq > seq) break;
          this.pending.delete(r.seq);
          this.apply(r.seq, decodeBatch(r.payload, `collection=${this.name} seq=${r.seq}`), batchSourceSeq(r.payload));
        }
      }
    });
    this.catchingUp = run.catch(() => undefined);
    return run;
  }

  private apply(seq: number, ops: WalOp[], sourceSeq?: number): void {
    if (this.tail.size === 0) this.tailSinceMs = Date.now();
    for (const op of ops) {
      const previous = op.kind === 'upsert' ? this.tail.upsert(op.id, seq, op.vector, op.metadata, op.sourceSeq) : this.tail.delete(op.id, seq);
      if (!previous) this.shadowInSegments(op.id);
      if (this.digestState) {
        if (op.kind === 'upsert') this.digestState.set(op.id, leafHash(op.id, op.sourceSeq ?? seq, op.vector, op.metadata));
        else this.digestState.remove(op.id);
      }
    }
    this.appliedSeq = seq;
    if (sourceSeq !== undefined) this.sourceSeq = Math.max(this.sourceSeq ?? 0, sourceSeq);
  }

  private checkNotReplica(): void {
    if (this.sourceSeq === null) return;
    const leader = this.replicaLag?.().leader;
    throw new HyperspaceError('conflict', `collection=${this.name} is a read replica${leader ? ` of ${leader}` : ''}: write to the leader`);
  }

  /** @internal engine/sync.ts: the state a sync answer is computed from, synchronously. */
  syncView(): SyncView {
    this.checkOpen();
    if (!this.digestState) this.digestState = this.buildDigest();
    return { manifest: this.manifest, segments: this.segments, tail: this.tail.entries, appliedSeq: this.appliedSeq, digest: this.digestState, sourceSeq: this.sourceSeq };
  }

  private shadowInSegments(id: string): void {
    for (const s of this.segments) {
      const pos = s.segment.positionOf(id);
      if (pos >= 0) s.dead.set(pos);
    }
  }

  // ------------------------------------------------------------------- reads

  async search(vector: Float32Array | readonly number[], options: SearchOptions = {}): Promise<{ hits: Hit[]; consistency: ConsistencyPoint }> {
    this.checkOpen();
    const k = options.k ?? 10;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > limits.kMax) throw invalid(`k must be an integer in 1..${limits.kMax}, got ${String(k)}`);
    const query = checkVector(toFloat32(vector, 'query'), this.config.dimension, this.config.metric, 'query');
    const filter = options.filter === undefined || options.filter === null ? null : parseFilter(options.filter);
    const consistency = options.consistency ?? 'strong';
    if (consistency !== 'strong' && consistency !== 'eventual') throw invalid(`consistency must be "strong" or "eventual", got ${JSON.stringify(consistency)}`);
    if (options.exact !== undefined && typeof options.exact !== 'boolean') throw invalid(`exact must be a boolean, got ${typeof options.exact}`);
    const include = new Set(options.include ?? []);
    for (const what of include) if (what !== 'metadata' && what !== 'vector') throw invalid(`include may hold "metadata" and "vector", got ${JSON.stringify(what)}`);
    if (options.exact === true) await this.whole();
    const plans = options.exact === true ? new Map<Segment, ColdPlan>() : await this.loadProbes(query, k, options.ef, filter);
    const candidates: { distance: number; get: () => PointRecord }[] = [];
    // Eventual reads are evaluated at the manifest's point: records the tail shadows stay visible there.
    for (const s of this.segments) {
      this.searchSegment(s, query, k, options.ef, filter, consistency === 'strong' ? s.dead : s.deadBase, candidates, options.exact === true, plans.get(s.segment));
    }
    if (consistency === 'strong') {
      for (const h of this.tail.search(query, k, filter, options.ef, options.exact === true))
        candidates.push({ distance: h.distance, get: () => ({ id: h.entry.id, vector: h.entry.vector!, metadata: h.entry.metadata! }) });
    }
    candidates.sort((a, b) => a.distance - b.distance);
    const hits = candidates.slice(0, k).map((c) => {
      const r = c.get();
      const hit: Hit = { id: r.id, distance: c.distance };
      if (include.has('metadata')) hit.metadata = r.metadata;
      if (include.has('vector')) hit.vector = Float32Array.from(r.vector);
      return hit;
    });
    return { hits, consistency: this.consistencyPoint(consistency) };
  }

  /**
   * Fetch the clusters a query reads in partially open segments, so the
   * search itself runs without an await (one consistency point). A manifest
   * installed meanwhile may bring new partial segments: look again, bounded.
   */
  private async loadProbes(query: Float32Array, k: number, ef: number | undefined, filter: FilterExpr | null): Promise<Map<Segment, ColdPlan>> {
    const plans = new Map<Segment, ColdPlan>();
    for (let round = 0; round < 3; round++) {
      const partial = this.segments.filter((s) => s.segment.cold && !plans.has(s.segment));
      if (partial.length === 0) break;
      await Promise.all(partial.map((s) => {
        const plan = this.coldPlan(s.segment, query, k, ef, filter);
        plans.set(s.segment, plan);
        return s.segment.cold!.load(plan.probes);
      }));
      // Only after this query's reads, and after its answer is on its way (a timer runs after the caller's
      // continuations): the download would share the connection.
      setTimeout(() => { if (!this.closed) for (const s of partial) void this.wholeOf(s.segment).catch(() => undefined); }, 0);
    }
    return plans;
  }

  /** Which clusters of a partially open segment a query reads, and the filter's allow-list there. */
  private coldPlan(segment: Segment, query: Float32Array, k: number, ef: number | undefined, filter: FilterExpr | null): ColdPlan {
    const allow = filter ? segment.metadata.evaluate(filter) : null;
    return { allow, probes: segment.cold!.probes(query, k, allow, this.probeShare(ef)) };
  }

  /** The share of a partially open segment a query reads: the default, scaled by the query's ef. */
  private probeShare(ef: number | undefined): number {
    const base = SEARCH_DEFAULTS[this.config.metric][this.config.quantization].ef;
    return Math.min(1, coldLimits.probeShare * (ef ?? base) / base);
  }

  private searchSegment(s: OpenSegment, query: Float32Array, k: number, efOption: number | undefined, filter: FilterExpr | null,
    dead: Bitset, out: { distance: number; get: () => PointRecord }[], exact = false, plan?: ColdPlan): void {
    let allow: Bitset | null = null;
    let ef = efOption;
    const cold = s.segment.cold;
    if (cold && !exact) {
      const { probes, allow: coldAllow } = plan ?? this.coldPlan(s.segment, query, k, efOption, filter);
      this.collectHits(s, cold.search(query, k, probes, coldAllow, dead), out);
      return;
    }
    if (exact) {
      // An allow-list at or under the flat threshold is scanned exactly by the core.
      allow = filter ? s.segment.metadata.evaluate(filter) : Bitset.full(s.segment.count);
      const r = s.segment.index!.search(query, { k, allow: allow.bytes, deleted: dead.bytes, flatThreshold: s.segment.count });
      this.collectHits(s, r, out);
      return;
    }
    if (filter) {
      allow = s.segment.metadata.evaluate(filter);
      const kept = allow.popcount();
      if (kept === 0) return;
      ef = filteredEf(ef, kept / Math.max(1, s.segment.count), this.config);
    }
    this.collectHits(s, s.segment.index!.search(query, { k, ef, allow: allow?.bytes, deleted: dead.bytes }), out);
  }

  private collectHits(s: OpenSegment, r: { positions: Uint32Array; distances: Float32Array }, out: { distance: number; get: () => PointRecord }[]): void {
    const segment = s.segment; // a swap to the whole file after the search must not change what a hit reads
    for (let i = 0; i < r.positions.length; i++) {
      const pos = r.positions[i];
      out.push({ distance: r.distances[i], get: () => ({ id: segment.id(pos), vector: segment.vector(pos), metadata: segment.metadataAt(pos) }) });
    }
  }

  /** On a replica, walSeq is the leader's seq the state reflects (comparable with the leader's digest). */
  private consistencyPoint(consistency: Consistency = 'strong'): ConsistencyPoint {
    if (this.sourceSeq !== null) return { manifestVersion: this.manifest.version, walSeq: consistency === 'strong' ? this.sourceSeq : this.manifest.sourceSeq ?? 0 };
    return { manifestVersion: this.manifest.version, walSeq: consistency === 'strong' ? this.appliedSeq : this.manifest.walSeq };
  }

  async get(id: string): Promise<PointRecord | null> {
    this.checkOpen();
    validateIds([id]);
    const t = this.tail.entries.get(id);
    if (t) return t.deleted ? null : { id, vector: Float32Array.from(t.vector!), metadata: t.metadata! };
    if (this.segments.some((s) => !s.segment.index)) {
      await this.whole();
      return this.get(id);
    }
    for (const s of this.segments) {
      const pos = s.segment.positionOf(id);
      if (pos >= 0 && !s.dead.has(pos)) return { id, vector: Float32Array.from(s.segment.vector(pos)), metadata: s.segment.metadataAt(pos) };
    }
    return null;
  }

  async count(options: { filter?: unknown } = {}): Promise<number> {
    this.checkOpen();
    const filter = options.filter === undefined || options.filter === null ? null : parseFilter(options.filter);
    let n = this.tail.count(filter);
    for (const s of this.segments) {
      const live = filter ? s.segment.metadata.evaluate(filter) : Bitset.full(s.segment.count);
      n += live.and(s.dead.clone().not()).popcount();
    }
    return n;
  }

  /** Live records in id (UTF-8 byte) order, `limit` at a time; `cursor` comes from the previous page. */
  async scroll(options: { cursor?: string | null; limit?: number; filter?: unknown } = {}): Promise<{ points: PointRecord[]; nextCursor: string | null }> {
    this.checkOpen();
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > limits.scrollLimitMax) throw invalid(`limit must be an integer in 1..${limits.scrollLimitMax}, got ${String(limit)}`);
    const after = options.cursor ? decodeCursor(options.cursor) : '';
    const filter = options.filter === undefined || options.filter === null ? null : parseFilter(options.filter);
    await this.whole();
    const found: PointRecord[] = [];
    for (const s of this.segments) {
      const allow = filter ? s.segment.metadata.evaluate(filter) : null;
      let taken = 0;
      for (let o = s.segment.orderIndexAfter(after); o < s.segment.count && taken <= limit; o++) {
        const pos = s.segment.positionAtOrder(o);
        if (s.dead.has(pos) || (allow && !allow.has(pos))) continue;
        found.push({ id: s.segment.id(pos), vector: Float32Array.from(s.segment.vector(pos)), metadata: s.segment.metadataAt(pos) });
        taken++;
      }
    }
    for (const e of this.tail.entries.values()) {
      if (e.deleted || compareUtf8(e.id, after) <= 0 || (filter && !matches(filter, e.metadata))) continue;
      found.push({ id: e.id, vector: Float32Array.from(e.vector!), metadata: e.metadata! });
    }
    found.sort((a, b) => compareUtf8(a.id, b.id));
    const points = found.slice(0, limit);
    const nextCursor = found.length > limit ? encodeCursor(points[points.length - 1].id) : null;
    return { points, nextCursor };
  }

  describe(): CollectionDescription {
    let count = this.tail.liveCount;
    for (const s of this.segments) count += s.segment.count - s.dead.popcount();
    return {
      name: this.name, dimension: this.config.dimension, metric: this.config.metric,
      quantization: this.config.quantization, hnsw: this.config.hnsw, count,
      segments: this.segments.length, segmentBytes: this.segments.reduce((n, s) => n + s.entry.bytes, 0),
      lastSeq: this.appliedSeq, tailLength: this.tail.size, manifestVersion: this.manifest.version,
      indexedSeq: this.manifest.walSeq,
      ...(this.sourceSeq === null ? {} : { replica: this.replicaDescription(this.sourceSeq) }),
    };
  }

  private replicaDescription(sourceSeq: number): ReplicaDescription {
    const lag = this.replicaLag?.();
    return lag ? { sourceSeq, ...lag, lagSeqs: Math.max(0, lag.leaderSeq - sourceSeq) } : { sourceSeq };
  }

  /** The Merkle digest of the live records at the current consistency point (DESIGN §7). */
  async digest(): Promise<DigestSummary & { consistency: ConsistencyPoint }> {
    this.checkOpen();
    await this.whole();
    if (!this.digestState) this.digestState = this.buildDigest();
    return { ...this.digestState.root(), consistency: this.consistencyPoint() };
  }

  private buildDigest(): Digest {
    const d = new Digest();
    for (const s of this.segments)
      for (let pos = 0; pos < s.segment.count; pos++) if (!s.dead.has(pos)) d.set(s.segment.id(pos), s.segment.leaf(pos));
    for (const e of this.tail.entries.values())
      if (!e.deleted) d.set(e.id, tailLeaf(e));
    return d;
  }

  // ------------------------------------------------------------ index state

  /** Make `manifest` current in memory; synchronous so no search sees half of it. */
  private install(manifest: Manifest, opened: Segment[]): void {
    this.manifest = manifest;
    // A replica's manifest written elsewhere (the region replicator) moves the leader seq this state reflects; never back.
    if (manifest.sourceSeq !== undefined && (this.sourceSeq === null || manifest.sourceSeq > this.sourceSeq)) this.sourceSeq = manifest.sourceSeq;
    const deletions = manifest.deletions;
    this.segments = opened.map((segment, i) => {
      const deadBase = new Bitset(segment.count);
      for (const [id, seq] of deletions) {
        const pos = segment.positionOf(id);
        if (pos >= 0 && segment.seq(pos) < seq) deadBase.set(pos);
      }
      return { entry: manifest.segments[i], segment, deadBase, dead: deadBase.clone() };
    });
    for (const id of this.tail.entries.keys()) this.shadowInSegments(id);
  }

  /** Whether the background indexer should fold the tail now. */
  shouldIndex(options: IndexerOptions, nowMs = Date.now()): boolean {
    if (this.tail.size === 0) return false;
    return this.tail.size >= options.tailRecordsFlush || nowMs - this.tailSinceMs >= options.tailAgeMsFlush;
  }

  /**
   * Size-tiered compaction plan: merge four or more segments of one tier
   * (tier = ⌊log4(live records / 1000)⌋), so each record is rewritten
   * O(log n) times; past twice `segmentsMax` merge the smallest; rewrite a
   * segment that is mostly dead. Null when nothing needs merging.
   */
  compactionPlan(options: IndexerOptions): OpenSegment[] | null {
    const live = (s: OpenSegment) => s.segment.count - s.deadBase.popcount();
    const tiers = new Map<number, OpenSegment[]>();
    for (const s of this.segments) {
      const tier = Math.floor(Math.log(Math.max(1, live(s) / 1000)) / Math.log(4));
      tiers.set(tier, [...(tiers.get(tier) ?? []), s]);
    }
    for (const tier of [...tiers.keys()].sort((a, b) => a - b)) if (tiers.get(tier)!.length >= 4) return tiers.get(tier)!;
    if (this.segments.length > 2 * options.segmentsMax)
      return [...this.segments].sort((a, b) => live(a) - live(b)).slice(0, this.segments.length - options.segmentsMax + 1);
    const mostlyDead = this.segments.find((s) => s.deadBase.popcount() > Math.max(1000, s.segment.count / 3));
    return mostlyDead ? [mostlyDead] : null;
  }

  /** Start a planned merge in the background unless one runs; flushes go on meanwhile. */
  compactInBackground(options: IndexerOptions): Promise<void> | null {
    if (this.compacting || this.closed) return null;
    const plan = this.compactionPlan(options);
    if (!plan) return null;
    const run = this.mergeSegments(plan).finally(() => { this.compacting = null; });
    this.compacting = run;
    return run;
  }

  /** Fold everything applied so far into a new segment and commit manifest v+1. */
  flush(): Promise<void> {
    return this.exclusive(() => this.foldTail());
  }

  /** Merge all segments into one, dropping dead records. */
  async compact(): Promise<void> {
    this.checkOpen();
    while (this.compacting) await this.compacting.catch(() => undefined);
    const run = this.mergeSegments([...this.segments]);
    const done = run.finally(() => { this.compacting = null; });
    done.catch(() => undefined); // the caller gets the error from `run`; this copy only holds the slot
    this.compacting = done;
    return run;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.checkOpen();
    const run = this.indexing.then(task);
    this.indexing = run.catch(() => undefined);
    return run;
  }

  private async foldTail(): Promise<void> {
    await this.catchingUp;
    const upTo = this.appliedSeq;
    if (upTo <= this.manifest.walSeq) return;
    const snapshot = [...this.tail.entries.values()].filter((e) => e.seq <= upTo).map((e) => ({ ...e, vector: e.vector?.slice() }));
    const sourceSeq = this.sourceSeq;
    const records: SegmentRecord[] = snapshot.filter((e) => !e.deleted).map((e) => ({ id: e.id, seq: e.seq, vector: e.vector!, metadata: e.metadata!, leaf: tailLeaf(e) }));
    const deletions = new Map(this.manifest.deletions);
    // Deletes of ids no segment holds are kept too, as tombstones for followers (engine/sync-tombstones.ts).
    for (const e of snapshot) if (e.deleted || this.segments.some((s) => s.segment.positionOf(e.id) >= 0)) deletions.set(e.id, e.seq);
    const older = this.segments.map((s) => s.segment);
    const kept = retainTombstones([...deletions], (id, seq) => holdsOlder(older, id, seq), tombstoneHorizonOf(this.manifest));
    const added = records.length ? await this.writeSegmentFile(records) : [];
    await this.commitManifest({
      walSeq: upTo, segments: [...this.manifest.segments, ...added.map((a) => a.entry)], deletions: kept.deletions, tombstoneHorizon: kept.horizon,
      ...(sourceSeq === null ? {} : { sourceSeq }),
    }, [...this.segments.map((s) => s.segment), ...added.map((a) => a.segment)]);
    this.tail.removeUpTo(upTo);
    for (const s of this.segments) s.dead = s.deadBase.clone();
    for (const id of this.tail.entries.keys()) this.shadowInSegments(id);
    if (this.tail.size > 0) this.tailSinceMs = Date.now();
    await this.stores.log.truncateBefore(this.name, upTo);
  }

  /**
   * Rewrite `group` as one segment without its dead records. The build runs
   * outside the indexing lock; the commit re-reads the current state, so
   * segments and deletions committed meanwhile are kept.
   */
  private async mergeSegments(group: OpenSegment[]): Promise<void> {
    if (group.length === 0 || (group.length === 1 && group[0].deadBase.popcount() === 0 && this.manifest.deletions.length === 0)) return;
    const records: SegmentRecord[] = [];
    for (const s of group) {
      const segment = s.segment.index ? s.segment : await this.wholeOf(s.segment);
      for (let pos = 0; pos < segment.count; pos++)
        if (!s.deadBase.has(pos))
          records.push({ id: segment.id(pos), seq: segment.seq(pos), vector: segment.vector(pos), metadata: segment.metadataAt(pos), leaf: segment.leaf(pos) });
    }
    const added = records.length ? await this.writeSegmentFile(records) : [];
    await this.exclusive(async () => {
      const merged = new Set(group.map((s) => s.entry.key));
      const kept = this.segments.filter((s) => !merged.has(s.entry.key));
      const opened = [...kept.map((s) => s.segment), ...added.map((a) => a.segment)];
      // A deletion entry stays while some segment still holds the id with a lower seq;
      // the others stay as tombstones for followers, within their bound.
      const retained = retainTombstones(this.manifest.deletions, (id, seq) => holdsOlder(opened, id, seq), tombstoneHorizonOf(this.manifest));
      await this.commitManifest({ walSeq: this.manifest.walSeq, segments: [...kept.map((s) => s.entry), ...added.map((a) => a.entry)],
        deletions: retained.deletions, tombstoneHorizon: retained.horizon }, opened);
    });
  }

  private async writeSegmentFile(records: SegmentRecord[]): Promise<{ entry: SegmentEntry; segment: Segment }[]> {
    this.checkLease();
    const written = await writeSegment(records, this.config);
    const key = segmentKey(this.name, this.epoch, ulid());
    await this.stores.objects.put(key, written.bytes);
    const entry: SegmentEntry = { key, bytes: written.bytes.length, count: written.count, minSeq: written.minSeq, maxSeq: written.maxSeq, root: written.root,
      ...(written.headBytes === undefined ? {} : { headBytes: written.headBytes }) };
    // The writer maps its local file, or keeps the bytes it has: never reads its own segment back over the network.
    const path = this.stores.objects.localPath?.(key);
    return [{ entry, segment: Segment.open(path ? mmapFile(path) : written.bytes, key) }];
  }

  /** CAS manifest v+1 in; `opened` are the open segments of `change.segments`, in order. */
  private async commitManifest(change: Pick<Manifest, 'walSeq' | 'segments' | 'deletions' | 'tombstoneHorizon' | 'sourceSeq'>, opened: Segment[]): Promise<void> {
    this.checkLease();
    const previous = this.manifest;
    const next: Manifest = { ...previous, ...change, version: previous.version + 1, parentVersion: previous.version, epoch: this.epoch, createdAtMs: Date.now() };
    const key = manifestKey(this.name, next.version, this.epoch);
    await this.stores.objects.put(key, encodeManifest(next));
    try {
      const ok = await this.stores.log.casPointer(this.name, previous.version === 0 ? null : previous.version, { version: next.version, key }, { epoch: this.epoch });
      if (!ok) throw new HyperspaceError('conflict', `manifest commit lost: collection=${this.name} expected version ${previous.version}`);
    } catch (error) {
      // An ambiguous outcome is reconciled by reading the pointer back. A manifest
      // that did not commit is removed: its key (version, our epoch) is the one
      // our retry will use, and immutable objects refuse other bytes.
      const pointer = await this.stores.log.getPointer(this.name).catch(() => undefined);
      if (pointer === undefined) throw error;
      if (pointer?.key !== key) {
        await this.stores.objects.delete(key).catch(() => undefined);
        throw error;
      }
    }
    this.install(next, opened);
  }

  /** Delete objects no retained manifest references, once older than the grace period. */
  async gc(nowMs = Date.now(), graceMs = limits.gcGraceMs): Promise<{ deleted: string[] }> {
    this.checkOpen();
    return this.exclusive(async () => {
      const prefix = collectionPrefix(this.name);
      const current = this.manifest;
      const referenced = new Set(current.segments.map((s) => s.key));
      const currentKey = manifestKey(this.name, current.version, current.epoch);
      const deleted: string[] = [];
      for (const key of await this.stores.objects.list(`${prefix}manifests/`)) {
        if (key === currentKey) continue;
        let manifest: Manifest | null = null;
        try { manifest = decodeManifest(await this.stores.objects.get(key), key); } catch { /* garbage: collect below */ }
        if (manifest && nowMs - manifest.createdAtMs < graceMs) {
          for (const s of manifest.segments) referenced.add(s.key);
          continue;
        }
        await this.stores.objects.delete(key);
        deleted.push(key);
      }
      for (const key of await this.stores.objects.list(`${prefix}segments/`)) {
        if (referenced.has(key)) continue;
        const written = ulidTime(key.slice(key.lastIndexOf('-') + 1, -'.hyp'.length));
        if (nowMs - written < graceMs) continue;
        await this.stores.objects.delete(key);
        deleted.push(key);
      }
      return { deleted };
    });
  }

  /** Wait for in-flight indexing; further calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.indexing;
    await this.compacting?.catch(() => undefined);
  }

  /** Epoch 0 is no lease (a worker opened with `leases: false`): it must never write index files. */
  private checkLease(): void {
    if (this.epoch === 0) {
      throw new HyperspaceError('conflict', `collection=${this.name} is open without the indexer lease (a worker sharing the stores): the indexer builds its segments`);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', `collection is closed: name=${this.name}`);
  }
}

/**
 * The beam of a filtered segment search: a selective filter leaves fewer
 * allowed nodes per step, so widen it (up to 8×) from the caller's ef or the
 * native default of this metric and quantization — never below that default.
 */
export function filteredEf(ef: number | undefined, selectivity: number, config: Pick<CollectionConfig, 'metric' | 'quantization'>): number {
  const base = ef ?? SEARCH_DEFAULTS[config.metric][config.quantization].ef;
  return Math.min(limits.efMax, Math.ceil(base * Math.min(8, Math.sqrt(1 / Math.max(selectivity, 1e-9)))));
}

/** Whether one of `segments` holds `id` with a seq below `seq` (a deletion entry still shadows it). */
function holdsOlder(segments: readonly Segment[], id: string, seq: number): boolean {
  return segments.some((segment) => {
    const pos = segment.positionOf(id);
    return pos >= 0 && segment.seq(pos) < seq;
  });
}

/** The Merkle leaf of a live tail entry: a replicated record hashes the leader's seq. */
export function tailLeaf(e: TailEntry): Uint8Array {
  return leafHash(e.id, e.sourceSeq ?? e.seq, e.vector!, e.metadata!);
}

export function toFloat32(v: Float32Array | readonly number[], label: string): Float32Array {
  if (v instanceof Float32Array) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++)
      if (typeof v[i] !== 'number') throw invalid(`${label} must hold numbers, got ${typeof v[i]} at index ${i}`);
    return Float32Array.from(v);
  }
  throw invalid(`${label} must be a Float32Array or an array of numbers`);
}

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]*$/.test(cursor)) throw invalid(`invalid scroll cursor: ${JSON.stringify(cursor)}`);
  return Buffer.from(cursor, 'base64url').toString('utf8');
}
