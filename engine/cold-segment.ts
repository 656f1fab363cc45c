// Answers queries over a segment that is not on local disk yet, from ranged
// reads of the clusters nearest each query (docs/format/segment.md, section
// 8): a cold search worker's first answer costs a few MB instead of the whole
// file, while the file downloads in the background (engine/collection.ts).
import { crc32c, dataError, flatSearch, HyperspaceError, type Metric, type SearchResult } from '../native/index.ts';
import type { Bitset } from './bitset.ts';
import { clusterMetric } from './clusters.ts';

/** Reads `length` bytes at `offset` of one object. */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

export const coldLimits = {
  /** A query scans the nearest clusters until it has seen this share of the records
   * (at the default ef; a query's ef scales it). bench/cold-sweep.ts: recall@10
   * 0.963 on MNIST-784 60k, 0.843 on GloVe-100 341k. */
  probeShare: 0.03,
  /** Cluster vectors kept in memory across queries, per segment. */
  cacheBytesMax: 256 * 1024 * 1024,
  /** One ranged GET covers adjacent clusters up to this many bytes. */
  readBytesMax: 8 * 1024 * 1024,
  /** Ranged GETs in flight per query. */
  readsInFlightMax: 16,
};

interface ColdInfo {
  read: RangeReader;
  name: string;
  count: number;
  dimension: number;
  metric: Metric;
  /** File offset of position 0's vector. */
  vectorsOffset: number;
}

export interface ColdStats {
  gets: number;
  bytes: number;
  clustersLoaded: number;
}

export class ColdReader {
  readonly clusterCount: number;
  readonly stats: ColdStats = { gets: 0, bytes: 0, clustersLoaded: 0 };
  /** cluster → its vectors; Map order is recency (oldest first). */
  private readonly loaded = new Map<number, Float32Array>();
  private loadedBytes = 0;
  private readonly loading = new Map<number, Promise<void>>();

  private constructor(private readonly info: ColdInfo, private readonly centroids: Float32Array,
    private readonly starts: Uint32Array, private readonly crcs: Uint32Array) {
    this.clusterCount = crcs.length;
  }

  /** Section 8 of a segment whose header says `info`; a malformed section is a `data` error. */
  static decode(body: Uint8Array, info: ColdInfo): ColdReader {
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const bad = (why: string) => dataError(`segment clusters section ${why}: file=${info.name}`);
    if (body.length < 8) throw bad('truncated');
    const c = v.getUint32(0, true), dim = v.getUint32(4, true);
    if (dim !== info.dimension) throw bad(`dimension ${dim} differs from the header's ${info.dimension}`);
    if (c < 1 || body.length !== 8 + 4 * c * dim + 4 * (c + 1) + 4 * c) throw bad(`length ${body.length} does not fit ${c} clusters`);
    const words = new Uint32Array(body.buffer, body.byteOffset + 8 + 4 * c * dim, 2 * c + 1);
    const starts = words.slice(0, c + 1), crcs = words.slice(c + 1);
    if (starts[0] !== 0 || starts[c] !== info.count) throw bad(`starts span ${starts[0]}..${starts[c]}, not 0..${info.count}`);
    for (let j = 0; j < c; j++) if (starts[j + 1] < starts[j]) throw bad(`starts decrease at cluster ${j}`);
    const centroids = new Float32Array(body.buffer.slice(body.byteOffset + 8, body.byteOffset + 8 + 4 * c * dim));
    return new ColdReader(info, centroids, starts, crcs);
  }

  /** The clusters a query scans, nearest centroid first: the probe share of the records and at least k allowed ones. */
  probes(query: Float32Array, k: number, allow: Bitset | null, share = coldLimits.probeShare): number[] {
    const { dimension, metric, count } = this.info;
    const ranked = flatSearch(this.centroids, query, { dimension, metric: clusterMetric(metric), k: this.clusterCount }).positions;
    const target = Math.max(k, Math.ceil(share * count));
    const out: number[] = [];
    let scanned = 0, allowed = 0;
    for (const j of ranked) {
      out.push(j);
      const size = this.starts[j + 1] - this.starts[j];
      scanned += size;
      allowed += allow ? allow.slice(this.starts[j], size).popcount() : size;
      if (scanned >= target && allowed >= k) break;
    }
    return out;
  }

  /** Fetch (ranged, verified) the clusters of `wanted` not in memory yet. */
  async load(wanted: readonly number[]): Promise<void> {
    const missing = [...new Set(wanted)].filter((j) => !this.loaded.has(j) && !this.loading.has(j)).sort((a, b) => a - b);
    const runs = this.runs(missing);
    for (const run of runs) {
      const done = this.loadRun(run);
      for (const j of run) this.loading.set(j, done);
      done.catch(() => undefined).finally(() => { for (const j of run) this.loading.delete(j); });
    }
    const waits = [...new Set(wanted.map((j) => this.loading.get(j)).filter((p) => p !== undefined))];
    await Promise.all(waits);
  }

  /** Exact top-k over the loaded clusters of `probes`. */
  search(query: Float32Array, k: number, probes: readonly number[], allow: Bitset | null, dead: Bitset): SearchResult {
    const { dimension, metric } = this.info;
    const hits: { position: number; distance: number }[] = [];
    for (const j of probes) {
      const vectors = this.loaded.get(j);
      if (!vectors) continue;
      const start = this.starts[j], size = this.starts[j + 1] - start;
      const r = flatSearch(vectors, query, {
        dimension, metric, k: Math.min(k, size),
        allow: allow ? allow.slice(start, size).bytes : null, deleted: dead.slice(start, size).bytes,
      });
      for (let i = 0; i < r.positions.length; i++) hits.push({ position: start + r.positions[i], distance: r.distances[i] });
    }
    hits.sort((a, b) => a.distance - b.distance);
    const top = hits.slice(0, k);
    return { positions: Uint32Array.from(top, (h) => h.position), distances: Float32Array.from(top, (h) => h.distance) };
  }

  /** The vector at `position`, when its cluster is in memory (every hit of `search` is). */
  vector(position: number): Float32Array {
    const j = this.clusterOf(position);
    const vectors = this.loaded.get(j);
    if (!vectors) throw new HyperspaceError('unavailable', `segment is still downloading, position ${position} is not here yet: file=${this.info.name}`);
    const at = (position - this.starts[j]) * this.info.dimension;
    return vectors.subarray(at, at + this.info.dimension);
  }

  private clusterOf(position: number): number {
    let lo = 0, hi = this.clusterCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= position) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /** Adjacent clusters grouped into reads of at most readBytesMax (a single larger cluster reads alone). */
  private runs(sorted: number[]): number[][] {
    const runs: number[][] = [];
    const bytesOf = (j: number) => (this.starts[j + 1] - this.starts[j]) * this.info.dimension * 4;
    let bytes = 0;
    for (const j of sorted) {
      const last = runs[runs.length - 1];
      if (last && last[last.length - 1] === j - 1 && bytes + bytesOf(j) <= coldLimits.readBytesMax) {
        last.push(j);
        bytes += bytesOf(j);
      } else {
        runs.push([j]);
        bytes = bytesOf(j);
      }
    }
    return runs;
  }

  private async loadRun(run: number[]): Promise<void> {
    await this.slot();
    try {
      const rowBytes = this.info.dimension * 4;
      const first = this.starts[run[0]], end = this.starts[run[run.length - 1] + 1];
      // One refetch: a corrupt read is S3 or the network, not the file (the file's CRCs were checked when written).
      for (let attempt = 1; ; attempt++) {
        const bytes = await this.info.read(this.info.vectorsOffset + first * rowBytes, (end - first) * rowBytes);
        this.stats.gets++;
        this.stats.bytes += bytes.length;
        const bad = run.find((j) => crc32c(bytes.subarray((this.starts[j] - first) * rowBytes, (this.starts[j + 1] - first) * rowBytes)) !== this.crcs[j]);
        if (bad === undefined && bytes.length === (end - first) * rowBytes) {
          for (const j of run) this.keep(j, new Float32Array(bytes.slice((this.starts[j] - first) * rowBytes, (this.starts[j + 1] - first) * rowBytes).buffer));
          return;
        }
        if (attempt === 2) throw dataError(`segment cluster ${bad ?? run[0]} checksum mismatch in a ranged read: file=${this.info.name}`);
      }
    } finally {
      this.release();
    }
  }

  private keep(j: number, vectors: Float32Array): void {
    for (const [old, v] of this.loaded) {
      if (this.loadedBytes + vectors.byteLength <= coldLimits.cacheBytesMax) break;
      this.loaded.delete(old);
      this.loadedBytes -= v.byteLength;
    }
    this.loaded.set(j, vectors);
    this.loadedBytes += vectors.byteLength;
    this.stats.clustersLoaded++;
  }

  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  private async slot(): Promise<void> {
    if (this.inFlight < coldLimits.readsInFlightMax) { this.inFlight++; return; }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); else this.inFlight--;
  }
}
