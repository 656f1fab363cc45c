// Replication by Merkle digest (DESIGN §7): catch-up by sequence, repair of
// unknown divergence, and the binary encoding both use. Protocol, frames,
// limits and test vectors: docs/format/merkle.md ("Catch-up", "Repair",
// "Wire frames"). The leader side answers from one synchronous view of the
// collection (no await between reads), so every answer describes one
// consistency point; the replica side is transport-free (a SyncSource moves
// the bytes and counts them).
import { crc32c, dataError, HyperspaceError } from '../native/index.ts';
import { canonicalJsonBytes } from './canonical-json.ts';
import type { Collection, ReplicatedRecord, SyncView } from './collection.ts';
import { limits } from './limits.ts';
import { bucketCount, Digest, idKeyNibbles, leafHash, toHex, type DigestSummary } from './merkle.ts';
import { sha256 } from './sha256.ts';
import type { Segment } from './segment.ts';
import { sourceSeqsOf, type SourceSeqs } from './sync-source-seqs.ts';
import { tombstoneHorizonOf } from './sync-tombstones.ts';
import type { TailEntry } from './tail.ts';
import type { HyperspaceDB } from './database.ts';
import { validateIds, type CollectionConfig, type Metadata } from './validate.ts';

const MAGIC = 0x4e595348; // "HSYN"
const FRAME_VERSION = 1;
const FRAME_HEADER = 12;
export const frameType = { changes: 1, pull: 2 } as const;
const FLAG_DONE = 1, FLAG_RESYNC = 2;
const NODE_CHILDREN = 1, NODE_ENTRIES = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const zeroHash = new Uint8Array(32);

// ------------------------------------------------------------------ frames

/** Growable little-endian writer. */
class Writer {
  private bytes = new Uint8Array(1024);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
  u8(v: number): void { this.room(1); this.view.setUint8(this.length, v); this.length += 1; }
  u16(v: number): void { this.room(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  u64(v: number): void { this.room(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  raw(b: Uint8Array): void { this.room(b.length); this.bytes.set(b, this.length); this.length += b.length; }
  short(b: Uint8Array): void { this.u16(b.length); this.raw(b); }
  long(b: Uint8Array): void { this.u32(b.length); this.raw(b); }
  f32s(v: Float32Array): void { this.raw(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)); }
  done(): Uint8Array { return this.bytes.subarray(0, this.length); }
}

class Reader {
  private readonly view: DataView;
  at = 0;
  constructor(private readonly bytes: Uint8Array, private readonly what: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.bytes.length) throw dataError(`sync ${this.what} truncated at byte ${this.at}`);
  }
  u8(): number { this.need(1); return this.view.getUint8(this.at++); }
  u16(): number { this.need(2); const v = this.view.getUint16(this.at, true); this.at += 2; return v; }
  u32(): number { this.need(4); const v = this.view.getUint32(this.at, true); this.at += 4; return v; }
  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw dataError(`sync ${this.what}: seq ${v} out of range`);
    return Number(v);
  }
  raw(n: number): Uint8Array { this.need(n); const b = this.bytes.subarray(this.at, this.at + n); this.at += n; return b; }
  text(n: number): string { return decoder.decode(this.raw(n)); }
  short(): string { return this.text(this.u16()); }
  f32s(n: number): Float32Array { return new Float32Array(this.raw(4 * n).slice().buffer); }
  end(): void { if (this.at !== this.bytes.length) throw dataError(`sync ${this.what}: ${this.bytes.length - this.at} trailing bytes`); }
}

function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint8(4, FRAME_VERSION);
  v.setUint8(5, type);
  v.setUint32(8, crc32c(body), true);
  out.set(body, FRAME_HEADER);
  return out;
}

/** Checks magic, version, type and the CRC-32C of the body; a mismatch is a `data` error (re-fetch). */
function unframe(bytes: Uint8Array, type: number, what: string): Reader {
  if (bytes.length < FRAME_HEADER) throw dataError(`sync ${what}: ${bytes.length} bytes is shorter than a frame header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MAGIC) throw dataError(`sync ${what}: bad magic`);
  if (v.getUint8(4) !== FRAME_VERSION) throw dataError(`sync ${what}: unsupported frame version ${v.getUint8(4)}`);
  if (v.getUint8(5) !== type) throw dataError(`sync ${what}: frame type ${v.getUint8(5)}, expected ${type}`);
  const body = bytes.subarray(FRAME_HEADER);
  if (crc32c(body) !== v.getUint32(8, true)) throw dataError(`sync ${what}: checksum mismatch (corrupted in transit)`);
  return new Reader(body, what);
}

/** Records as a block: u32 n, n × dimension f32, then per record u64 seq, u16 id, u32 canonical metadata. */
function writeRecords(w: Writer, records: readonly ReplicatedRecord[], dimension: number): void {
  w.u32(records.length);
  for (const r of records) {
    if (r.vector.length !== dimension) throw new HyperspaceError('internal', `sync: vector of ${r.id} has ${r.vector.length} values, expected ${dimension}`);
    w.f32s(r.vector);
  }
  for (const r of records) {
    w.u64(r.seq);
    w.short(encoder.encode(r.id));
    w.long(canonicalJsonBytes(r.metadata ?? {}));
  }
}

function readRecords(r: Reader, dimension: number): ReplicatedRecord[] {
  const n = r.u32();
  const vectors = r.f32s(n * dimension);
  const out: ReplicatedRecord[] = [];
  for (let i = 0; i < n; i++) {
    const seq = r.u64();
    const id = r.short();
    const metadata = JSON.parse(r.text(r.u32())) as Metadata;
    out.push({ id, seq, vector: vectors.subarray(i * dimension, (i + 1) * dimension), metadata });
  }
  return out;
}

// ------------------------------------------------------------- repair nodes

/**
 * A repair node: the records of one bucket whose SHA-256(id), after the bucket
 * byte, starts with `path` (nibbles, high nibble first, at most 12: bytes 1..6).
 * Depth 0 is the bucket.
 * Written as hex: two digits of bucket, then one digit per nibble ("ca3f").
 */
export interface NodePath {
  bucket: number;
  path: number[];
}

export function nodeToHex(node: NodePath): string {
  return node.bucket.toString(16).padStart(2, '0') + node.path.map((n) => n.toString(16)).join('');
}

export function nodeFromHex(text: unknown): NodePath {
  if (typeof text !== 'string' || !/^[0-9a-f]{2}[0-9a-f]*$/.test(text) || text.length > 2 + limits.syncNodeDepthMax) {
    throw new HyperspaceError('invalid', `node must be 2 hex digits of bucket and at most ${limits.syncNodeDepthMax} hex nibbles, got ${JSON.stringify(String(text).slice(0, 40))}`);
  }
  return { bucket: parseInt(text.slice(0, 2), 16), path: [...text.slice(2)].map((c) => parseInt(c, 16)) };
}

function writeNode(w: Writer, node: NodePath): void {
  w.u8(node.bucket);
  w.u8(node.path.length);
  for (let i = 0; i < node.path.length; i += 2) w.u8((node.path[i] << 4) | (node.path[i + 1] ?? 0));
}

function readNode(r: Reader): NodePath {
  const bucket = r.u8(), depth = r.u8();
  if (depth > limits.syncNodeDepthMax) throw dataError(`sync node depth ${depth} > ${limits.syncNodeDepthMax}`);
  const path: number[] = [];
  for (let i = 0; i < depth; i += 2) {
    const b = r.u8();
    path.push(b >> 4);
    if (i + 1 < depth) path.push(b & 15);
  }
  return { bucket, path };
}

/** One bucket's live records ordered by SHA-256(id): every node is a contiguous run. */
class BucketTree {
  /** Id order (leaf order), as the digest keeps them. */
  readonly ids: string[];
  readonly leaves: Uint8Array[];
  /** idKey (bytes 1..6 of SHA-256(id)) per entry, by id order. */
  private readonly keys: Float64Array;
  /** Entries (id-order indexes) sorted by key. */
  private readonly byKey: Uint32Array;

  constructor(entries: { id: string; leaf: Uint8Array }[], keyOf: (id: string) => number) {
    this.ids = entries.map((e) => e.id);
    this.leaves = entries.map((e) => e.leaf);
    this.keys = Float64Array.from(this.ids, keyOf);
    this.byKey = Uint32Array.from(entries.keys()).sort((a, b) => this.keys[a] - this.keys[b] || a - b);
  }

  /** [lo, hi) in key order of the records under `path`. */
  range(path: readonly number[]): [number, number] {
    let prefix = 0;
    for (const nibble of path) prefix = prefix * 16 + nibble;
    const span = 16 ** (idKeyNibbles - path.length);
    const first = (bound: number) => {
      let lo = 0, hi = this.byKey.length;
      while (lo < hi) { const m = (lo + hi) >>> 1; if (this.keys[this.byKey[m]] < bound) lo = m + 1; else hi = m; }
      return lo;
    };
    return [first(prefix * span), first((prefix + 1) * span)];
  }

  /** Id-order indexes of a key range, in id order (the order leaves are hashed in). */
  members(lo: number, hi: number): number[] {
    return Array.from(this.byKey.subarray(lo, hi)).sort((a, b) => a - b);
  }

  hash(lo: number, hi: number): Uint8Array {
    return sha256(...this.members(lo, hi).map((i) => this.leaves[i]));
  }

  /** The 16 children of `path`: count and hash of each. */
  children(path: readonly number[]): { count: number; hash: Uint8Array }[] {
    return Array.from({ length: 16 }, (_, nibble) => {
      const [lo, hi] = this.range([...path, nibble]);
      return { count: hi - lo, hash: this.hash(lo, hi) };
    });
  }
}

const treeCache = new WeakMap<Digest, Map<number, { bucketHash: Uint8Array; tree: BucketTree }>>();

/** The tree of one bucket, rebuilt only when the bucket changed since the last call. */
function bucketTree(digest: Digest, bucket: number): BucketTree {
  let cache = treeCache.get(digest);
  if (!cache) treeCache.set(digest, (cache = new Map()));
  const bucketHash = digest.bucketHash(bucket);
  const hit = cache.get(bucket);
  if (hit && hit.bucketHash === bucketHash) return hit.tree;
  const tree = new BucketTree(digest.bucketEntries(bucket), (id) => digest.keyOf(id));
  cache.set(bucket, { bucketHash, tree });
  return tree;
}

// ------------------------------------------------------------ serving side

/**
 * What a sync answer is computed from: one synchronous view of a collection,
 * in the seqs it serves — a leader's own, or, on a replica, its leader's
 * (a follower chain: docs/format/merkle.md "Follower chains").
 */
interface Served {
  name: string;
  view: SyncView;
  /** The consistency point: the leader seq the state reflects. */
  seq: number;
  /** Every delete with a higher seq is known (served as a tombstone). */
  horizon: number;
  /** On a replica: the leader seqs it knows. */
  seqs: SourceSeqs | null;
}

function served(collection: Collection): Served {
  const view = collection.syncView();
  if (view.sourceSeq === null) return { name: collection.name, view, seq: view.appliedSeq, horizon: tombstoneHorizonOf(view.manifest), seqs: null };
  const seqs = sourceSeqsOf(collection);
  return { name: collection.name, view, seq: view.sourceSeq, horizon: seqs.horizon, seqs };
}

function unknownSeq(s: Served, what: string): HyperspaceError {
  return new HyperspaceError('unavailable', `collection=${s.name} is a replica that does not know the leader seq of ${what} yet ` +
    '(records folded before it restarted are learned again from its upstream on its next sync); retry');
}

/** One segment's live-or-dead positions sorted by the seq each is served with; positions whose seq is not known are apart. */
interface SeqOrder {
  seqs: Float64Array;
  order: Uint32Array;
  unknown: Uint32Array;
}

function sortSeqs(seqs: Float64Array): SeqOrder {
  const known: number[] = [], unknown: number[] = [];
  for (let pos = 0; pos < seqs.length; pos++) (Number.isNaN(seqs[pos]) ? unknown : known).push(pos);
  const order = Uint32Array.from(known).sort((a, b) => seqs[a] - seqs[b] || a - b);
  return { seqs, order, unknown: Uint32Array.from(unknown) };
}

// Segments are immutable: a leader's order is computed once per segment. A
// replica's depends on what it knows, so it is recomputed when that changes.
const leaderOrders = new WeakMap<Segment, SeqOrder>();
const replicaOrders = new WeakMap<Segment, { generation: number; order: SeqOrder }>();

function segmentOrder(s: Served, segment: Segment): SeqOrder {
  const seqs = s.seqs;
  if (seqs === null) {
    let order = leaderOrders.get(segment);
    if (!order) leaderOrders.set(segment, (order = sortSeqs(Float64Array.from({ length: segment.count }, (_, pos) => segment.seq(pos)))));
    return order;
  }
  const hit = replicaOrders.get(segment);
  if (hit && hit.generation === seqs.generation) return hit.order;
  const order = sortSeqs(Float64Array.from({ length: segment.count }, (_, pos) => seqs.upserts.get(segment.id(pos)) ?? Number.NaN));
  replicaOrders.set(segment, { generation: seqs.generation, order });
  return order;
}

/** The seq a live tail entry is served with; undefined when a replica does not know it. */
function tailSeq(s: Served, e: TailEntry): number | undefined {
  if (s.seqs === null) return e.seq;
  return e.deleted ? s.seqs.deletes.get(e.id) : e.sourceSeq;
}

/** The live record of `id` as served, or null; a replica that does not know its seq answers `unavailable`. */
function lookup(s: Served, id: string): ReplicatedRecord | null {
  const t = s.view.tail.get(id);
  if (t) {
    if (t.deleted) return null;
    const seq = tailSeq(s, t);
    if (seq === undefined) throw unknownSeq(s, JSON.stringify(id));
    return { id, seq, vector: t.vector!, metadata: t.metadata! };
  }
  for (const { segment, dead } of s.view.segments) {
    const pos = segment.positionOf(id);
    if (pos < 0 || dead.has(pos)) continue;
    const seq = s.seqs === null ? segment.seq(pos) : s.seqs.upserts.get(id);
    if (seq === undefined) throw unknownSeq(s, JSON.stringify(id));
    return { id, seq, vector: segment.vector(pos), metadata: segment.metadataAt(pos) };
  }
  return null;
}

function isLive(view: SyncView, id: string): boolean {
  const t = view.tail.get(id);
  if (t) return !t.deleted;
  return view.segments.some(({ segment, dead }) => { const pos = segment.positionOf(id); return pos >= 0 && !dead.has(pos); });
}

const leaderTombstones = new WeakMap<SyncView['manifest'], { appliedSeq: number; list: [string, number][] }>();

/**
 * Deletes served as tombstones, by seq: on a leader the manifest's deletion
 * entries no later write of the id supersedes (the tail's own deletes are
 * served from the tail); on a replica every delete it wrote of an id not live.
 */
function tombstones(s: Served): [string, number][] {
  const { view } = s;
  if (s.seqs !== null) return [...s.seqs.deletes].filter(([id]) => !isLive(view, id)).sort((a, b) => a[1] - b[1]);
  const hit = leaderTombstones.get(view.manifest);
  if (hit && hit.appliedSeq === view.appliedSeq) return hit.list;
  const list = view.manifest.deletions.filter(([id]) => !view.tail.has(id) && !isLive(view, id)).sort((a, b) => a[1] - b[1]);
  leaderTombstones.set(view.manifest, { appliedSeq: view.appliedSeq, list });
  return list;
}

/** The sorted (id, leaf) list of one bucket's live records: what repair compares. */
export function bucketEntries(collection: Collection, bucket: number): { id: string; leaf: Uint8Array }[] {
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= bucketCount) throw new HyperspaceError('invalid', `bucket must be an integer in 0..255, got ${bucket}`);
  return collection.syncView().digest.bucketEntries(bucket);
}

/** A source of changes in seq order: the next seq (Infinity when none) and the change there. */
interface ChangeCursor {
  next(): number;
  take(): { upsert: ReplicatedRecord } | { delete: [string, number] };
}

function segmentCursor(s: Served, entry: SyncView['segments'][number], afterSeq: number): ChangeCursor {
  const { segment, dead } = entry;
  const { seqs, order } = segmentOrder(s, segment);
  let lo = 0, hi = order.length;
  while (lo < hi) { const m = (lo + hi) >>> 1; if (seqs[order[m]] <= afterSeq) lo = m + 1; else hi = m; }
  let at = lo;
  return {
    next() {
      while (at < order.length && dead.has(order[at])) at++;
      return at < order.length ? seqs[order[at]] : Infinity;
    },
    take() {
      const pos = order[at++];
      return { upsert: { id: segment.id(pos), seq: seqs[pos], vector: segment.vector(pos), metadata: segment.metadataAt(pos) } };
    },
  };
}

function listCursor<T>(items: readonly T[], seqOf: (item: T) => number, change: (item: T) => ReturnType<ChangeCursor['take']>): ChangeCursor {
  let at = 0;
  return { next: () => (at < items.length ? seqOf(items[at]) : Infinity), take: () => change(items[at++]) };
}

/**
 * Catch-up answer (frame type 1): every change with seq in (afterSeq,
 * throughSeq] at this instant — live records as upserts, deleted ids as
 * tombstones — whole batches, at most `limit` changes (one batch may pass it).
 * The last page (throughSeq = the served seq) carries the Merkle root there.
 * A replica behind the tombstone horizon gets the `resync` flag: repair.
 * Each source (a segment, the tail, the tombstones) is read in seq order from
 * afterSeq, so a page costs its own size, not the collection's.
 */
export function changesSince(collection: Collection, afterSeq: number, options: { limit?: number; bytesMax?: number } = {}): Uint8Array {
  const limit = options.limit ?? limits.syncChangesMax;
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new HyperspaceError('invalid', `afterSeq must be an integer ≥ 0, got ${afterSeq}`);
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.syncChangesMax) throw new HyperspaceError('invalid', `limit must be an integer in 1..${limits.syncChangesMax}, got ${limit}`);
  const s = served(collection);
  const { view } = s;
  const dimension = collection.config.dimension;
  const w = new Writer();
  const head = (throughSeq: number, flags: number, root: Uint8Array) => {
    w.u64(afterSeq); w.u64(throughSeq); w.u64(s.seq); w.u8(flags); w.raw(root); w.u32(dimension);
  };
  if (afterSeq > s.seq) {
    throw new HyperspaceError('conflict', `afterSeq ${afterSeq} is ahead of the leader: collection=${collection.name} last seq ${s.seq} (a replica never moves backwards)`);
  }
  if (afterSeq > 0 && afterSeq < s.horizon) {
    head(afterSeq, FLAG_RESYNC, zeroHash);
    writeRecords(w, [], dimension);
    w.u32(0);
    return frame(frameType.changes, w.done());
  }
  const cursors: ChangeCursor[] = [];
  for (const entry of view.segments) {
    if (s.seqs === null && entry.entry.maxSeq <= afterSeq) continue;
    // A replica's record folded before it restarted has a seq at most its horizon: only an empty replica needs it.
    if (afterSeq === 0 && segmentOrder(s, entry.segment).unknown.some((pos) => !entry.dead.has(pos))) throw unknownSeq(s, 'some records');
    cursors.push(segmentCursor(s, entry, afterSeq));
  }
  const tail: { seq: number; e: TailEntry }[] = [];
  for (const e of view.tail.values()) {
    // On a replica the tail's deletes are served from its tombstones, which know their leader seqs.
    if (s.seqs !== null && e.deleted) continue;
    const seq = tailSeq(s, e);
    if (seq === undefined) { if (afterSeq === 0) throw unknownSeq(s, JSON.stringify(e.id)); continue; }
    if (seq > afterSeq) tail.push({ seq, e });
  }
  tail.sort((a, b) => a.seq - b.seq);
  cursors.push(listCursor(tail, (t) => t.seq, ({ seq, e }) => (e.deleted ? { delete: [e.id, seq] } : { upsert: { id: e.id, seq, vector: e.vector!, metadata: e.metadata! } })));
  const deleted = tombstones(s);
  let first = 0;
  while (first < deleted.length && deleted[first][1] <= afterSeq) first++;
  cursors.push(listCursor(deleted.slice(first), (d) => d[1], (d) => ({ delete: d })));

  const recordBytes = 4 * dimension + 64;
  const fit = Math.max(1, Math.min(limit, Math.floor((options.bytesMax ?? limits.syncChangesBytesMax) / recordBytes)));
  const picked: { seq: number; change: ReturnType<ChangeCursor['take']> }[] = [];
  let throughSeq = s.seq;
  let batchOnly: number | undefined; // set when one batch alone is larger than the page: send it whole
  for (;;) {
    let best: ChangeCursor | undefined, bestSeq = Infinity;
    for (const c of cursors) { const seq = c.next(); if (seq < bestSeq) { bestSeq = seq; best = c; } }
    if (!best) break;
    if (batchOnly !== undefined && bestSeq !== batchOnly) { throughSeq = batchOnly; break; }
    if (batchOnly === undefined && picked.length >= fit) {
      // The first change that does not fit: end the page before its batch.
      let start = picked.length;
      while (start > 0 && picked[start - 1].seq === bestSeq) start--;
      if (start > 0) { picked.length = start; throughSeq = picked[start - 1].seq; break; }
      batchOnly = bestSeq;
    }
    picked.push({ seq: bestSeq, change: best.take() });
  }
  const upserts: ReplicatedRecord[] = [];
  const deletes: [string, number][] = [];
  for (const { change } of picked) if ('upsert' in change) upserts.push(change.upsert); else deletes.push(change.delete);
  const done = throughSeq === s.seq;
  head(throughSeq, done ? FLAG_DONE : 0, done ? fromHex(view.digest.root().root) : zeroHash);
  writeRecords(w, upserts, dimension);
  w.u32(deletes.length);
  for (const [id, seq] of deletes) { w.u64(seq); w.short(encoder.encode(id)); }
  return frame(frameType.changes, w.done());
}

export interface PullRequest {
  /** Nodes (hex, see NodePath) to answer with children or entries. */
  expand?: readonly string[];
  /** Nodes whose every live record to send. */
  nodes?: readonly string[];
  /** Ids whose live record to send (absent ones are listed as missing). */
  ids?: readonly string[];
  /** Bytes of each node hash and leaf prefix in the answer: 8 (default) or 32. */
  hashBytes?: number;
}

/**
 * Repair answer (frame type 2): expanded nodes (16 children with count and
 * hash, or the entries of a small node), then the requested records, ids the
 * leader does not hold, and what did not fit (ask again; a deferred node is
 * expanded and its children fetched).
 */
export function pull(collection: Collection, request: PullRequest): Uint8Array {
  const expand = (request.expand ?? []).map(nodeFromHex);
  const nodes = (request.nodes ?? []).map(nodeFromHex);
  const ids = request.ids === undefined ? [] : validateIds(request.ids);
  const hashBytes = request.hashBytes ?? 8;
  if (hashBytes !== 8 && hashBytes !== 32) throw new HyperspaceError('invalid', `hashBytes must be 8 or 32, got ${hashBytes}`);
  if (expand.length + nodes.length > limits.syncNodesMax) throw new HyperspaceError('too_large', `pull names ${expand.length + nodes.length} nodes > ${limits.syncNodesMax}`);
  if (ids.length > limits.syncIdsMax) throw new HyperspaceError('too_large', `pull names ${ids.length} ids > ${limits.syncIdsMax}`);
  const s = served(collection);
  const { view } = s;
  const dimension = collection.config.dimension;
  const w = new Writer();
  w.u64(s.seq); w.u8(hashBytes); w.u32(dimension);
  w.u32(expand.length);
  for (const node of expand) {
    writeNode(w, node);
    const tree = bucketTree(view.digest, node.bucket);
    const [lo, hi] = tree.range(node.path);
    if (hi - lo <= limits.syncNodeEntriesMax || node.path.length >= idKeyNibbles) {
      w.u8(NODE_ENTRIES);
      const members = tree.members(lo, hi);
      w.u32(members.length);
      for (const i of members) { w.short(encoder.encode(tree.ids[i])); w.raw(tree.leaves[i].subarray(0, hashBytes)); }
    } else {
      w.u8(NODE_CHILDREN);
      for (const child of tree.children(node.path)) { w.u32(child.count); w.raw(child.hash.subarray(0, hashBytes)); }
    }
  }
  const records: ReplicatedRecord[] = [];
  const missing: string[] = [];
  const deferredIds: string[] = [];
  const deferredNodes: NodePath[] = [];
  let bytes = 0;
  const fits = (n: number) => records.length + n <= limits.syncPullRecordsMax && bytes + n * (4 * dimension + 64) <= limits.syncPullBytesMax;
  for (const node of nodes) {
    const tree = bucketTree(view.digest, node.bucket);
    const [lo, hi] = tree.range(node.path);
    // A node too big for one answer is deferred: the replica expands it and fetches its children.
    if (!fits(hi - lo) && !(records.length === 0 && node.path.length >= idKeyNibbles)) {
      deferredNodes.push(node);
      continue;
    }
    for (const i of tree.members(lo, hi)) {
      const record = lookup(s, tree.ids[i]);
      if (record) { records.push(record); bytes += 4 * dimension + 64; }
    }
  }
  for (const id of ids) {
    if (records.length > 0 && !fits(1)) { deferredIds.push(id); continue; }
    const record = lookup(s, id);
    if (record) { records.push(record); bytes += 4 * dimension + 64; } else missing.push(id);
  }
  writeRecords(w, records, dimension);
  w.u32(missing.length);
  for (const id of missing) w.short(encoder.encode(id));
  w.u32(deferredIds.length);
  for (const id of deferredIds) w.short(encoder.encode(id));
  w.u32(deferredNodes.length);
  for (const node of deferredNodes) writeNode(w, node);
  return frame(frameType.pull, w.done());
}

// --------------------------------------------------------------- decoding

export interface Changes {
  afterSeq: number;
  throughSeq: number;
  leaderSeq: number;
  done: boolean;
  resync: boolean;
  /** Hex Merkle root at throughSeq, on the last page. */
  root: string | null;
  upserts: ReplicatedRecord[];
  deletes: { id: string; seq: number }[];
}

export function decodeChanges(bytes: Uint8Array): Changes {
  const r = unframe(bytes, frameType.changes, 'changes');
  const afterSeq = r.u64(), throughSeq = r.u64(), leaderSeq = r.u64(), flags = r.u8();
  const root = r.raw(32);
  const dimension = r.u32();
  const upserts = readRecords(r, dimension);
  const deletes: { id: string; seq: number }[] = [];
  for (let i = r.u32(); i > 0; i--) { const seq = r.u64(); deletes.push({ id: r.short(), seq }); }
  r.end();
  const done = (flags & FLAG_DONE) !== 0;
  return { afterSeq, throughSeq, leaderSeq, done, resync: (flags & FLAG_RESYNC) !== 0, root: done ? toHex(root) : null, upserts, deletes };
}

export type NodeAnswer =
  | { node: NodePath; kind: 'children'; children: { count: number; hash: Uint8Array }[] }
  | { node: NodePath; kind: 'entries'; entries: { id: string; leafPrefix: Uint8Array }[] };

export interface Pulled {
  leaderSeq: number;
  hashBytes: number;
  expanded: NodeAnswer[];
  records: ReplicatedRecord[];
  missing: string[];
  deferredIds: string[];
  deferredNodes: NodePath[];
}

export function decodePull(bytes: Uint8Array): Pulled {
  const r = unframe(bytes, frameType.pull, 'pull');
  const leaderSeq = r.u64(), hashBytes = r.u8(), dimension = r.u32();
  const expanded: NodeAnswer[] = [];
  for (let i = r.u32(); i > 0; i--) {
    const node = readNode(r);
    const kind = r.u8();
    if (kind === NODE_CHILDREN) {
      const children = Array.from({ length: 16 }, () => ({ count: r.u32(), hash: r.raw(hashBytes) }));
      expanded.push({ node, kind: 'children', children });
    } else if (kind === NODE_ENTRIES) {
      const entries: { id: string; leafPrefix: Uint8Array }[] = [];
      for (let n = r.u32(); n > 0; n--) entries.push({ id: r.short(), leafPrefix: r.raw(hashBytes) });
      expanded.push({ node, kind: 'entries', entries });
    } else throw dataError(`sync pull: unknown node answer kind ${kind}`);
  }
  const records = readRecords(r, dimension);
  const strings = () => Array.from({ length: r.u32() }, () => r.short());
  const missing = strings(), deferredIds = strings();
  const deferredNodes = Array.from({ length: r.u32() }, () => readNode(r));
  r.end();
  return { leaderSeq, hashBytes, expanded, records, missing, deferredIds, deferredNodes };
}

/**
 * One repair answer from its frames: one over HTTP; over gRPC a stream whose
 * later frames carry the ids that did not fit the earlier ones (the last
 * frame's deferred ids are what is still left).
 */
export function decodePulls(frames: Uint8Array | readonly Uint8Array[]): Pulled {
  const list = frames instanceof Uint8Array ? [frames] : frames;
  if (list.length === 0) throw dataError('sync pull: the answer holds no frame');
  const parts = list.map(decodePull);
  const last = parts[parts.length - 1];
  return {
    leaderSeq: parts[0].leaderSeq, hashBytes: parts[0].hashBytes,
    expanded: parts.flatMap((p) => p.expanded), records: parts.flatMap((p) => p.records), missing: parts.flatMap((p) => p.missing),
    deferredIds: last.deferredIds, deferredNodes: parts.flatMap((p) => p.deferredNodes),
  };
}

// ------------------------------------------------------------ replica side

export interface DigestAnswer extends DigestSummary {
  consistency: { manifestVersion: number; walSeq: number };
}

/** Where a replica syncs from: the transport moves bytes and counts them. */
export interface SyncSource {
  digest(): Promise<DigestAnswer>;
  changes(afterSeq: number, limit?: number): Promise<Uint8Array>;
  /** One frame (HTTP), or the frames of a stream (gRPC PullBuckets). */
  pull(request: PullRequest): Promise<Uint8Array | readonly Uint8Array[]>;
}

/** An in-process source over a leader collection (tests, benchmarks): the same bytes a transport moves. */
export function localSource(leader: Collection, counter: { bytes: number } = { bytes: 0 }): SyncSource & { counter: { bytes: number } } {
  return {
    counter,
    async digest() {
      const d = await leader.digest();
      counter.bytes += JSON.stringify(d).length;
      return d;
    },
    async changes(afterSeq, limit) {
      const bytes = changesSince(leader, afterSeq, limit === undefined ? {} : { limit });
      counter.bytes += bytes.length + JSON.stringify({ afterSeq, limit }).length;
      return bytes;
    },
    async pull(request) {
      const bytes = pull(leader, request);
      counter.bytes += bytes.length + JSON.stringify(request).length;
      return bytes;
    },
  };
}

export interface SyncReport {
  /** How the replica converged: by sequence only, or with a repair. */
  mode: 'catch-up' | 'repair';
  /** The leader seq the replica now reflects; its root equals the leader's there. */
  sourceSeq: number;
  root: string;
  upserts: number;
  deletes: number;
  pages: number;
  repair?: RepairReport;
}

export interface RepairReport {
  bucketsDiffering: number;
  nodesExpanded: number;
  recordsPulled: number;
  recordsDeleted: number;
  /** Records whose leaf did not match what the leader listed: not applied, fetched again. */
  recordsRejected: number;
}

function replicaSeq(replica: Collection): number {
  return replica.syncView().sourceSeq ?? 0;
}

function checkRecord(replica: Collection, r: ReplicatedRecord): void {
  validateIds([r.id]);
  const { dimension } = replica.config;
  if (r.vector.length !== dimension) throw dataError(`sync: record ${JSON.stringify(r.id)} has ${r.vector.length} values, collection=${replica.name} expects ${dimension}`);
  for (let i = 0; i < r.vector.length; i++) if (!Number.isFinite(r.vector[i])) throw dataError(`sync: record ${JSON.stringify(r.id)} has a non-finite value at ${i}`);
  if (typeof r.metadata !== 'object' || r.metadata === null || Array.isArray(r.metadata)) throw dataError(`sync: record ${JSON.stringify(r.id)} metadata is not an object`);
}

/**
 * Writes records and deletes (with the leader seq each is known by) through
 * the replica's WAL in batches; only the last batch moves the replica to
 * `sourceSeq` (a crash before it repeats the page). The leader seqs written
 * are kept (engine/sync-source-seqs.ts) so that this replica can serve others.
 */
async function writeReplicated(replica: Collection, upserts: readonly ReplicatedRecord[], deletes: readonly { id: string; seq: number }[], sourceSeq: number): Promise<void> {
  for (const r of upserts) checkRecord(replica, r);
  const seqs = sourceSeqsOf(replica);
  const at = replicaSeq(replica);
  const batch = limits.batchPointsMax;
  const total = Math.max(1, Math.ceil((upserts.length + deletes.length) / batch));
  for (let i = 0; i < total; i++) {
    const u = upserts.slice(i * batch, (i + 1) * batch);
    const d = deletes.slice(Math.max(0, i * batch - upserts.length), Math.max(0, (i + 1) * batch - upserts.length));
    const commit = () => replica.commitReplicated(u, d.map((x) => x.id), i === total - 1 ? sourceSeq : at);
    try {
      try {
        await commit();
      } catch (e) {
        if (!(e instanceof HyperspaceError) || e.kind !== 'overloaded') throw e;
        await replica.flush(); // the tail is full: fold it (a follower's indexer may be off) and retry once
        await commit();
      }
    } catch (e) {
      seqs.unsure([...u.map((r) => r.id), ...d.map((x) => x.id)]);
      throw e;
    }
    seqs.wrote(u, d);
  }
}

/** Applies one catch-up page; false when the page is stale (the replica is already past it). */
export async function applyChanges(replica: Collection, changes: Changes): Promise<boolean> {
  if (changes.resync) throw new HyperspaceError('conflict', `collection=${replica.name} is behind the leader's tombstone horizon: repair`);
  const at = replicaSeq(replica);
  if (changes.leaderSeq < at) throw new HyperspaceError('conflict', `leader is at seq ${changes.leaderSeq}, behind this replica (${at}): collection=${replica.name} refuses to move backwards`);
  if (changes.afterSeq > at) throw new HyperspaceError('conflict', `page starts after seq ${changes.afterSeq}, replica is at ${at}: collection=${replica.name} (a gap)`);
  if (changes.throughSeq < at || (changes.throughSeq === at && changes.upserts.length + changes.deletes.length === 0 && replica.syncView().sourceSeq !== null)) return false;
  await writeReplicated(replica, changes.upserts, changes.deletes, changes.throughSeq);
  return true;
}

/** Pulls pages after the replica's seq until the last one, then compares roots there. */
export async function catchUp(replica: Collection, source: SyncSource, report: SyncReport): Promise<'converged' | 'diverged' | 'resync'> {
  for (;;) {
    const changes = decodeChanges(await source.changes(replicaSeq(replica)));
    report.pages++;
    if (changes.resync) return 'resync';
    await applyChanges(replica, changes);
    report.upserts += changes.upserts.length;
    report.deletes += changes.deletes.length;
    if (changes.done) {
      report.sourceSeq = replicaSeq(replica);
      report.root = replica.syncView().digest.root().root;
      return report.root === changes.root ? 'converged' : 'diverged';
    }
  }
}

/** The first `max` keys of a map, without copying the rest. */
function firstKeys<K>(map: ReadonlyMap<K, unknown>, max: number): K[] {
  const out: K[] = [];
  for (const key of map.keys()) { if (out.length >= max) break; out.push(key); }
  return out;
}

/**
 * Repair of unknown divergence: narrow differing buckets to differing entries
 * (16-way nodes over SHA-256(id)), pull only those records, delete what the
 * leader lacks, then catch up from the digest's seq and compare roots.
 * Nodes are compared with the replica's state before the repair (its bucket
 * trees, taken once): the repair's own writes do not change what it compares
 * with, and a large divergence does not rebuild the trees after every batch.
 */
export async function repair(replica: Collection, source: SyncSource, report: SyncReport, hashBytes = 8): Promise<'converged' | 'diverged' | 'resync'> {
  const leader = await source.digest();
  const point = leader.consistency.walSeq;
  const at = replicaSeq(replica);
  if (point < at) throw new HyperspaceError('conflict', `leader digest at seq ${point} is behind this replica (${at}): collection=${replica.name} refuses to move backwards`);
  const stats: RepairReport = { bucketsDiffering: 0, nodesExpanded: 0, recordsPulled: 0, recordsDeleted: 0, recordsRejected: 0 };
  report.mode = 'repair';
  report.repair = stats;
  const local = replica.syncView().digest;
  const trees = new Map<number, BucketTree>();
  const toExpand: NodePath[] = [];
  const toFetchNodes: NodePath[] = [];
  const toFetchIds = new Map<string, Uint8Array>();
  const toDelete = new Set<string>();
  const attempts = new Map<string, number>();
  const localIds = (node: NodePath) => {
    const tree = trees.get(node.bucket)!;
    const [lo, hi] = tree.range(node.path);
    return tree.members(lo, hi).map((i) => ({ id: tree.ids[i], leaf: tree.leaves[i] }));
  };
  for (let b = 0; b < bucketCount; b++) {
    if (toHex(local.bucketHash(b)) === leader.buckets[b]) continue;
    stats.bucketsDiffering++;
    const tree = bucketTree(local, b);
    trees.set(b, tree);
    const node = { bucket: b, path: [] };
    if (tree.ids.length === 0) toFetchNodes.push(node);
    else toExpand.push(node);
  }
  const upserts: ReplicatedRecord[] = [];
  const flushUpserts = async () => {
    if (upserts.length === 0) return;
    await writeReplicated(replica, upserts.splice(0), [], at);
  };
  // Each round expands or fetches something; the bound only stops a leader that keeps answering nothing.
  for (let round = 0; toExpand.length + toFetchNodes.length + toFetchIds.size > 0; round++) {
    if (round > limits.syncRepairRoundsMax) throw new HyperspaceError('unavailable', `sync: repair of collection=${replica.name} made no progress in ${round} requests; retry`);
    if (toExpand.length > 0) {
      const chunk = toExpand.splice(0, limits.syncNodesMax);
      const answer = decodePulls(await source.pull({ expand: chunk.map(nodeToHex), hashBytes }));
      stats.nodesExpanded += answer.expanded.length;
      for (const a of answer.expanded) {
        if (!trees.has(a.node.bucket)) throw dataError(`sync pull: node ${nodeToHex(a.node)} was not asked for`);
        if (a.kind === 'entries') {
          const mine = new Map(localIds(a.node).map((e) => [e.id, e.leaf]));
          for (const e of a.entries) {
            const leaf = mine.get(e.id);
            if (!leaf || !equalBytes(leaf.subarray(0, hashBytes), e.leafPrefix)) toFetchIds.set(e.id, e.leafPrefix);
            mine.delete(e.id);
          }
          for (const id of mine.keys()) toDelete.add(id);
          continue;
        }
        const mine = trees.get(a.node.bucket)!.children(a.node.path);
        a.children.forEach((theirs, nib) => {
          const child = { bucket: a.node.bucket, path: [...a.node.path, nib] };
          if (theirs.count === mine[nib].count && equalBytes(theirs.hash, mine[nib].hash.subarray(0, hashBytes))) return;
          if (theirs.count === 0) for (const e of localIds(child)) toDelete.add(e.id);
          else if (mine[nib].count === 0) toFetchNodes.push(child);
          else toExpand.push(child);
        });
      }
      continue;
    }
    const nodes = toFetchNodes.splice(0, limits.syncNodesMax);
    const ids = firstKeys(toFetchIds, limits.syncIdsMax);
    const answer = decodePulls(await source.pull({ nodes: nodes.map(nodeToHex), ids, hashBytes }));
    const asked = new Set(ids);
    for (const r of answer.records) {
      const expected = toFetchIds.get(r.id);
      if (expected && asked.has(r.id)) {
        const leaf = leafHash(r.id, r.seq, r.vector, r.metadata);
        if (!equalBytes(leaf.subarray(0, hashBytes), expected) && r.seq <= point) {
          // Not what the leader listed, and not a newer write: refuse it, fetch again.
          stats.recordsRejected++;
          const n = (attempts.get(r.id) ?? 0) + 1;
          attempts.set(r.id, n);
          if (n >= 3) throw dataError(`sync: record ${JSON.stringify(r.id)} of collection=${replica.name} arrived corrupted ${n} times`);
          continue;
        }
        toFetchIds.delete(r.id);
      }
      upserts.push(r);
      stats.recordsPulled++;
      if (upserts.length >= limits.batchPointsMax) await flushUpserts();
    }
    for (const id of answer.missing) { toFetchIds.delete(id); toDelete.add(id); }
    toExpand.push(...answer.deferredNodes);
    // Asked ids neither answered, missing nor deferred stay queued (a rejected record).
  }
  await flushUpserts();
  // The leader lacked these at its digest's seq: that is the seq they are known deleted by.
  const deletes = [...toDelete].map((id) => ({ id, seq: point }));
  stats.recordsDeleted = deletes.length;
  if (deletes.length > 0) await writeReplicated(replica, [], deletes, at);
  await writeReplicated(replica, [], [], Math.max(point, at));
  return catchUp(replica, source, report);
}

/**
 * One sync of a replica: catch up by sequence; when the leader cannot serve
 * that (behind the tombstone horizon) or the roots differ, repair (first with
 * 8-byte hashes, then with full ones). Returns once the roots are equal at
 * the same leader seq.
 */
export async function syncReplica(replica: Collection, source: SyncSource): Promise<SyncReport> {
  const report: SyncReport = { mode: 'catch-up', sourceSeq: replicaSeq(replica), root: '', upserts: 0, deletes: 0, pages: 0 };
  let outcome = await catchUp(replica, source, report);
  for (let attempt = 0; outcome !== 'converged'; attempt++) {
    if (attempt === 3) throw new HyperspaceError('data', `collection=${replica.name} did not converge after ${attempt} repairs (root ${report.root})`);
    outcome = await repair(replica, source, report, attempt === 0 ? 8 : 32);
  }
  return report;
}

/**
 * For a replica that serves others (a follower in a chain): learns the
 * leader seqs of live records it does not know them of — those folded before
 * this process began — from its upstream, each checked against the record's
 * leaf here (a record the upstream has changed since is rewritten by the next
 * sync instead). Returns how many are still unknown.
 */
export async function learnSourceSeqs(replica: Collection, source: SyncSource): Promise<number> {
  const seqs = sourceSeqsOf(replica);
  if (seqs.complete) return 0;
  const unknown = (): string[] => {
    const ids: string[] = [];
    for (const { segment, dead } of replica.syncView().segments)
      for (let pos = 0; pos < segment.count; pos++) if (!dead.has(pos) && !seqs.upserts.has(segment.id(pos))) ids.push(segment.id(pos));
    return ids;
  };
  const queue = unknown();
  for (let round = 0; queue.length > 0; round++) {
    if (round > limits.syncRepairRoundsMax) break;
    const answer = decodePulls(await source.pull({ ids: queue.splice(0, limits.syncIdsMax) }));
    const digest = replica.syncView().digest;
    for (const r of answer.records) {
      const leaf = digest.get(r.id);
      if (leaf && equalBytes(leaf, leafHash(r.id, r.seq, r.vector, r.metadata))) seqs.learned(r.id, r.seq);
    }
    queue.push(...answer.deferredIds);
  }
  const left = unknown().length;
  seqs.complete = left === 0;
  return left;
}

/** A leader's collection as its describe gives it (the server's and the SDK's CollectionInfo). */
export interface LeaderCollection {
  name: string;
  dimension: number;
  metric: CollectionConfig['metric'];
  quantization: CollectionConfig['quantization'];
  hnsw: { m: number; efConstruction: number };
}

function sameConfig(local: Collection, info: LeaderCollection): boolean {
  const c = local.config;
  return c.dimension === info.dimension && c.metric === info.metric && c.quantization === info.quantization
    && c.hnsw.M === info.hnsw.m && c.hnsw.efConstruction === info.hnsw.efConstruction;
}

/**
 * The replica in `db` of a leader's collection, with the leader's config:
 * created when missing, recreated when its config differs and it is a
 * replica. A collection with local writes is never touched.
 */
export async function replicaCollection(db: HyperspaceDB, info: LeaderCollection): Promise<Collection> {
  const { name } = info;
  let local: Collection | undefined;
  try {
    local = db.collection(name);
  } catch (e) {
    if (!(e instanceof HyperspaceError) || e.kind !== 'not_found') throw e;
  }
  if (local && sameConfig(local, info)) return local;
  if (local) {
    if (!local.describe().replica && local.describe().lastSeq > 0) {
      throw new HyperspaceError('conflict', `collection=${name} exists here with local writes and another config than the leader's; drop it to follow`);
    }
    await db.dropCollection(name);
  }
  return db.createCollection(name, { dimension: info.dimension, metric: info.metric, quantization: info.quantization, hnsw: { M: info.hnsw.m, efConstruction: info.hnsw.efConstruction } });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
