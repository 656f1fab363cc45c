// The unindexed WAL tail held in memory: the latest op per id, and the live
// vectors packed in slots for an exact SIMD scan (DESIGN §6 step 3).
import { flatSearch, Index, type Metric, type SearchResult } from '../native/index.ts';
import { queuedBuild } from './build-queue.ts';
import type { FilterExpr } from './filter.ts';
import { matches } from './filter.ts';
import type { Metadata } from './validate.ts';

export interface TailEntry {
  id: string;
  seq: number;
  deleted: boolean;
  /** Slot in the packed vectors, -1 for a delete. */
  slot: number;
  vector?: Float32Array;
  metadata?: Metadata;
  /** A replicated record's seq on the leader: its Merkle leaf uses it (docs/format/merkle.md). */
  sourceSeq?: number;
}

/**
 * A run of tail slots indexed in memory (not persisted), so that a large tail
 * does not turn every query into a long exact scan (DESIGN §6: the tail is a
 * latency budget). Slot ranges are multiples of 8 so bitsets slice by bytes.
 */
interface Chunk {
  start: number;
  end: number;
  index: Index | null;
}

export const TAIL_CHUNK_SLOTS = 4096;

export class Tail {
  private chunks: Chunk[] = [];
  private chunkedUpTo = 0;
  private generation = 0;
  readonly entries = new Map<string, TailEntry>();
  private vectors: Float32Array;
  private slotEntries: (TailEntry | undefined)[] = [];
  private deadBits: Uint8Array;
  private slots = 0;
  private live = 0;

  constructor(private readonly dimension: number, private readonly metric: Metric) {
    this.vectors = new Float32Array(1024 * dimension);
    this.deadBits = new Uint8Array(128);
  }

  /** Live (upserted, not superseded) records. */
  get liveCount(): number {
    return this.live;
  }

  /** Entries held, deletes included: the tail's length for backpressure. */
  get size(): number {
    return this.entries.size;
  }

  get vectorBytes(): number {
    return this.slots * this.dimension * 4;
  }

  /** Apply one op; returns the entry it replaced, if any. */
  upsert(id: string, seq: number, vector: Float32Array, metadata: Metadata, sourceSeq?: number): TailEntry | undefined {
    const previous = this.retire(id);
    const slot = this.slots++;
    this.ensureCapacity(this.slots);
    this.vectors.set(vector, slot * this.dimension);
    const entry: TailEntry = { id, seq, deleted: false, slot, vector: this.vectors.subarray(slot * this.dimension, (slot + 1) * this.dimension), metadata };
    if (sourceSeq !== undefined) entry.sourceSeq = sourceSeq;
    this.slotEntries[slot] = entry;
    this.entries.set(id, entry);
    this.live++;
    if (this.slots - this.chunkedUpTo >= TAIL_CHUNK_SLOTS) this.startChunk();
    return previous;
  }

  private startChunk(): void {
    const chunk: Chunk = { start: this.chunkedUpTo, end: this.chunkedUpTo + TAIL_CHUNK_SLOTS, index: null };
    this.chunkedUpTo = chunk.end;
    this.chunks.push(chunk);
    const generation = this.generation;
    const vectors = this.vectors.slice(chunk.start * this.dimension, chunk.end * this.dimension);
    // One build thread: the segment indexer needs the other core.
    queuedBuild(vectors, { dimension: this.dimension, metric: this.metric, efConstruction: 100, threads: 1 }, 'tail')
      .then((bytes) => { if (generation === this.generation) chunk.index = Index.open(bytes, { verify: false }); })
      .catch(() => { /* the chunk stays scanned exactly */ });
  }

  /** Chunks with a built index, from slot 0 without a gap: the rest is scanned exactly. */
  private builtPrefix(): Chunk[] {
    const built: Chunk[] = [];
    for (const c of this.chunks) {
      if (!c.index) break;
      built.push(c);
    }
    return built;
  }

  delete(id: string, seq: number): TailEntry | undefined {
    const previous = this.retire(id);
    this.entries.set(id, { id, seq, deleted: true, slot: -1 });
    return previous;
  }

  private retire(id: string): TailEntry | undefined {
    const previous = this.entries.get(id);
    if (previous && previous.slot >= 0) {
      this.deadBits[previous.slot >> 3] |= 1 << (previous.slot & 7);
      this.slotEntries[previous.slot] = undefined;
      this.live--;
    }
    return previous;
  }

  private ensureCapacity(slots: number): void {
    if (slots * this.dimension > this.vectors.length) {
      const grown = new Float32Array(Math.max(slots, (this.vectors.length / this.dimension) * 2) * this.dimension);
      grown.set(this.vectors);
      this.vectors = grown;
      // Entries view the old buffer; re-point them at the new one.
      for (const e of this.slotEntries) if (e) e.vector = grown.subarray(e.slot * this.dimension, (e.slot + 1) * this.dimension);
    }
    if (Math.ceil(slots / 8) > this.deadBits.length) {
      const grown = new Uint8Array(this.deadBits.length * 2 + Math.ceil(slots / 8));
      grown.set(this.deadBits);
      this.deadBits = grown;
    }
  }

  /** Top-k over live slots passing the filter (indexed chunks, then an exact scan of the rest); hits carry entries. */
  search(query: Float32Array, k: number, filter: FilterExpr | null, ef?: number, exact = false): { entry: TailEntry; distance: number }[] {
    if (this.live === 0) return [];
    let allow: Uint8Array | null = null;
    if (filter) {
      allow = new Uint8Array(Math.ceil(this.slots / 8));
      let any = false;
      for (let s = 0; s < this.slots; s++) {
        const e = this.slotEntries[s];
        if (e && matches(filter, e.metadata)) { allow[s >> 3] |= 1 << (s & 7); any = true; }
      }
      if (!any) return [];
    }
    const hits: { entry: TailEntry; distance: number }[] = [];
    const collect = (r: SearchResult, start: number) => {
      for (let i = 0; i < r.positions.length; i++) hits.push({ entry: this.slotEntries[start + r.positions[i]]!, distance: r.distances[i] });
    };
    let flatStart = 0;
    for (const c of exact ? [] : this.builtPrefix()) {
      const slice = (bits: Uint8Array) => bits.subarray(c.start >> 3, c.end >> 3);
      collect(c.index!.search(query, { k, ef, allow: allow && slice(allow), deleted: slice(this.deadBits) }), c.start);
      flatStart = c.end;
    }
    if (flatStart < this.slots) {
      const r = flatSearch(this.vectors.subarray(flatStart * this.dimension, this.slots * this.dimension), query, {
        dimension: this.dimension, metric: this.metric, k: Math.min(k, this.slots - flatStart),
        allow: allow && allow.subarray(flatStart >> 3), deleted: this.deadBits.subarray(flatStart >> 3),
      });
      collect(r, flatStart);
    }
    if (this.chunks.length > 0) hits.sort((a, b) => a.distance - b.distance);
    return hits.slice(0, k);
  }

  count(filter: FilterExpr | null): number {
    if (!filter) return this.live;
    let n = 0;
    for (const e of this.slotEntries) if (e && matches(filter, e.metadata)) n++;
    return n;
  }

  /** Drop every entry with seq ≤ `seq` (folded into a segment) and repack. */
  removeUpTo(seq: number): void {
    const kept = [...this.entries.values()].filter((e) => e.seq > seq);
    this.generation++;
    this.chunks = [];
    this.chunkedUpTo = 0;
    this.entries.clear();
    this.slotEntries = [];
    this.slots = 0;
    this.live = 0;
    this.vectors = new Float32Array(Math.max(1024, kept.length) * this.dimension);
    this.deadBits = new Uint8Array(Math.ceil(Math.max(1024, kept.length) / 8));
    for (const e of kept) {
      if (e.deleted) this.delete(e.id, e.seq);
      else this.upsert(e.id, e.seq, e.vector!, e.metadata!, e.sourceSeq); // upsert copies it into the new slots
    }
  }
}
