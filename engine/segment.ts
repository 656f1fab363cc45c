// `chunk_*.hyp` segment writer and reader (docs/format/segment.md). The
// reader works over the bytes as they are (a mapped file on local disk):
// it verifies each section's CRC-32C once, then only views.
import { crc32c, dataError, HyperspaceError, Index } from '../native/index.ts';
import { queuedBuild } from './build-queue.ts';
import { compareUtf8 } from './canonical-json.ts';
import { clusterVectors, CLUSTERS_RECORDS_MIN, type Clustering } from './clusters.ts';
import { ColdReader, type RangeReader } from './cold-segment.ts';
import { bucketCount, bucketOf, leafHash, toHex } from './merkle.ts';
import { buildMetadataIndex, MetadataIndex } from './metadata-index.ts';
import { sha256 } from './sha256.ts';
import type { CollectionConfig, Metadata } from './validate.ts';

const MAGIC = 0x47455348; // "HSEG"
const VERSION = 1;
const HEADER = 128;
const ALIGN = 64;
const METRIC_CODE = { l2: 0, dot: 1, cosine: 2, poincare: 3 } as const;
/** Metric names by code (the inverse of METRIC_CODE). */
const METRIC_OF = Object.keys(METRIC_CODE) as (keyof typeof METRIC_CODE)[];
const QUANT_CODE = { none: 0, int8: 1, binary: 2 } as const;
const SECTION = { index: 1, ids: 2, idOrder: 3, seqs: 4, metadata: 5, leaves: 6, buckets: 7, clusters: 8 } as const;
/** The index blob's own header and its `vectors` section type (docs/format/index.md). */
const BLOB_HEADER = 128;
const BLOB_VECTORS = 6;
/** What a partial open reads first when the manifest has no `headBytes`: header, section table, the index blob's header. */
const HEAD_BYTES = 64 * 1024;
/** Enough of the index section for the blob's header and section table. */
const BLOB_HEAD_BYTES = 4096;
type SectionName = keyof typeof SECTION;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface SegmentRecord {
  id: string;
  seq: number;
  /** As stored: unit length for cosine. */
  vector: Float32Array;
  metadata: Metadata;
  /** Merkle leaf; computed when absent. */
  leaf?: Uint8Array;
}

export interface SegmentSummary {
  count: number;
  minSeq: number;
  maxSeq: number;
  root: string;
  /** With a clusters section: the bytes a partial open reads in one GET (docs/format/segment.md §8). */
  headBytes?: number;
}

/**
 * Serialize records (each id at most once) into a segment file. From
 * `clustersMin` records on, records are stored in cluster order with a
 * `clusters` section, so a reader can answer before downloading the file.
 */
export async function writeSegment(input: readonly SegmentRecord[], config: CollectionConfig,
  options: { clustersMin?: number } = {}): Promise<{ bytes: Uint8Array } & SegmentSummary> {
  const n = input.length, dim = config.dimension;
  let vectors = new Float32Array(n * dim);
  input.forEach((r, i) => vectors.set(r.vector, i * dim));
  let records = input;
  let clustering: Clustering | null = null;
  if (n >= (options.clustersMin ?? CLUSTERS_RECORDS_MIN)) {
    clustering = clusterVectors(vectors, n, dim, config.metric);
    const order = clustering.order;
    records = Array.from(order, (i) => input[i]);
    const sorted = new Float32Array(n * dim);
    order.forEach((i, p) => sorted.set(vectors.subarray(i * dim, (i + 1) * dim), p * dim));
    vectors = sorted;
  }
  const index = await queuedBuild(vectors, {
    dimension: dim, metric: config.metric, quantization: config.quantization,
    m: config.hnsw.M, efConstruction: config.hnsw.efConstruction,
  }, 'segment');
  const idBytes = records.map((r) => encoder.encode(r.id));
  const ids = new Uint8Array(4 * (n + 1) + idBytes.reduce((s, b) => s + b.length, 0));
  const offsets = new DataView(ids.buffer);
  let at = 4 * (n + 1);
  idBytes.forEach((b, i) => { offsets.setUint32(4 * i, at - 4 * (n + 1), true); ids.set(b, at); at += b.length; });
  offsets.setUint32(4 * n, at - 4 * (n + 1), true);
  const order = Uint32Array.from(records.keys()).sort((a, b) => compareUtf8(records[a].id, records[b].id));
  const seqs = new BigUint64Array(n);
  let minSeq = Infinity, maxSeq = 0;
  records.forEach((r, i) => { seqs[i] = BigInt(r.seq); minSeq = Math.min(minSeq, r.seq); maxSeq = Math.max(maxSeq, r.seq); });
  const leaves = new Uint8Array(32 * n);
  records.forEach((r, i) => leaves.set(r.leaf ?? leafHash(r.id, r.seq, r.vector, r.metadata), 32 * i));
  const buckets = bucketHashes(records.map((r) => r.id), order, leaves);
  const root = sha256(buckets);
  // What a partial open reads comes first, then the graph and vectors, then the leaves (digests, compaction).
  const sections: [SectionName, Uint8Array][] = [
    ['ids', ids],
    ['idOrder', new Uint8Array(order.buffer)],
    ['seqs', new Uint8Array(seqs.buffer)],
    ['metadata', buildMetadataIndex(records.map((r) => r.metadata))],
    ['buckets', buckets],
    ...(clustering ? [['clusters', encodeClusters(clustering, index, dim)] as [SectionName, Uint8Array]] : []),
    ['index', index],
    ['leaves', leaves],
  ];
  const { bytes, offsets: placed } = assemble(sections, { n, dim, metric: METRIC_CODE[config.metric], quant: QUANT_CODE[config.quantization], minSeq: n ? minSeq : 0, maxSeq, root });
  const headBytes = clustering ? placed.get('index')! + Math.min(index.length, BLOB_HEAD_BYTES) : undefined;
  return { bytes, count: n, minSeq: n ? minSeq : 0, maxSeq, root: toHex(root), ...(headBytes === undefined ? {} : { headBytes }) };
}

function bucketHashes(ids: string[], order: Uint32Array, leaves: Uint8Array): Uint8Array {
  const perBucket: number[][] = Array.from({ length: bucketCount }, () => []);
  for (const pos of order) perBucket[bucketOf(ids[pos])].push(pos); // id order within each bucket
  const out = new Uint8Array(32 * bucketCount);
  perBucket.forEach((positions, b) => out.set(sha256(...positions.map((p) => leaves.subarray(32 * p, 32 * p + 32))), 32 * b));
  return out;
}

const align = (x: number) => Math.ceil(x / ALIGN) * ALIGN;

/** Section 8: u32 C, u32 dimension, f32 centroids, u32 start[C+1], u32 vectorCrc[C]. */
function encodeClusters(c: Clustering, blob: Uint8Array, dim: number): Uint8Array {
  const count = c.starts.length - 1;
  const vectors = blobSection(blob, BLOB_VECTORS, 'index blob');
  const body = new Uint8Array(8 + 4 * count * dim + 4 * (count + 1) + 4 * count);
  const v = new DataView(body.buffer);
  v.setUint32(0, count, true);
  v.setUint32(4, dim, true);
  body.set(new Uint8Array(c.centroids.buffer, c.centroids.byteOffset, c.centroids.byteLength), 8);
  let at = 8 + 4 * count * dim;
  for (const start of c.starts) { v.setUint32(at, start, true); at += 4; }
  for (let j = 0; j < count; j++) {
    const range = blob.subarray(vectors.offset + c.starts[j] * dim * 4, vectors.offset + c.starts[j + 1] * dim * 4);
    v.setUint32(at, crc32c(range), true);
    at += 4;
  }
  return body;
}

interface TableEntry { type: number; crc: number; offset: number; length: number }

/** A section table of `count` 24-byte entries at `at` (segment and index blob share the layout). */
function readTable(v: DataView, at: number, count: number): TableEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const t = at + 24 * i;
    return { type: v.getUint32(t, true), crc: v.getUint32(t + 4, true), offset: Number(v.getBigUint64(t + 8, true)), length: Number(v.getBigUint64(t + 16, true)) };
  });
}

/** Offset and length of a section of the index blob whose header is at the start of `head`. */
function blobSection(head: Uint8Array, type: number, name: string): TableEntry {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const count = v.getUint16(18, true);
  if (head.length < BLOB_HEADER + 24 * count) throw dataError(`index blob header truncated: file=${name}`);
  if (!headerCrcMatches(head, BLOB_HEADER + 24 * count, 56)) throw dataError(`index blob header checksum mismatch: file=${name}`);
  const entry = readTable(v, BLOB_HEADER, count).find((e) => e.type === type);
  if (!entry) throw dataError(`index blob missing section ${type}: file=${name}`);
  return entry;
}

const sectionName = (type: number) => Object.keys(SECTION).find((k) => SECTION[k as SectionName] === type) ?? `type ${type}`;

/** Check the header of a file of `fileLength` bytes whose first bytes are `head`; its section table. */
function readHeader(head: Uint8Array, fileLength: number, name: string): TableEntry[] {
  if (head.length < HEADER) throw dataError(`segment too short: ${head.length} bytes: file=${name}`);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (v.getUint32(0, true) !== MAGIC) throw dataError(`segment bad magic: file=${name}`);
  if (v.getUint16(4, true) !== VERSION) throw dataError(`segment unsupported version ${v.getUint16(4, true)}: file=${name}`);
  const count = v.getUint16(18, true);
  const tableEnd = HEADER + 24 * count;
  if (head.length < tableEnd) throw dataError(`segment truncated section table: file=${name}`);
  if (!headerCrcMatches(head, tableEnd, 72)) throw dataError(`segment header checksum mismatch: file=${name}`);
  const table = readTable(v, HEADER, count);
  for (const e of table) {
    if (e.offset % ALIGN !== 0 || e.offset + e.length > fileLength) throw dataError(`segment section ${sectionName(e.type)} out of bounds: file=${name}`);
  }
  return table;
}

/** Whether the CRC-32C at `crcAt` covers bytes 0..`end` of `head` with itself read as 0 (segment and index blob headers). */
function headerCrcMatches(head: Uint8Array, end: number, crcAt: number): boolean {
  const check = new Uint8Array(head.subarray(0, end)); // a copy (Buffer#slice is a view, and mapped pages are read-only)
  check.fill(0, crcAt, crcAt + 4);
  return crc32c(check) === new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(crcAt, true);
}

function verified(body: Uint8Array, e: TableEntry, name: string): Uint8Array {
  if (crc32c(body) !== e.crc) throw dataError(`segment section ${sectionName(e.type)} checksum mismatch: file=${name}`);
  return body;
}

function assemble(sections: [SectionName, Uint8Array][], h: { n: number; dim: number; metric: number; quant: number; minSeq: number; maxSeq: number; root: Uint8Array }): { bytes: Uint8Array; offsets: Map<SectionName, number> } {
  const tableEnd = HEADER + 24 * sections.length;
  let total = align(tableEnd);
  const placed = sections.map(([name, body]) => { const offset = total; total = align(total + body.length); return { name, body, offset }; });
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, VERSION, true);
  v.setUint16(6, HEADER, true);
  v.setUint32(8, h.n, true);
  v.setUint32(12, h.dim, true);
  v.setUint8(16, h.metric);
  v.setUint8(17, h.quant);
  v.setUint16(18, sections.length, true);
  v.setBigUint64(24, BigInt(h.minSeq), true);
  v.setBigUint64(32, BigInt(h.maxSeq), true);
  out.set(h.root, 40);
  placed.forEach((s, i) => {
    const t = HEADER + 24 * i;
    v.setUint32(t, SECTION[s.name], true);
    v.setUint32(t + 4, crc32c(s.body), true);
    v.setBigUint64(t + 8, BigInt(s.offset), true);
    v.setBigUint64(t + 16, BigInt(s.body.length), true);
    out.set(s.body, s.offset);
  });
  v.setUint32(72, crc32c(out.subarray(0, tableEnd)), true);
  return { bytes: out, offsets: new Map(placed.map((p) => [p.name, p.offset])) };
}

/** An open segment: views over its bytes, searched in place. */
export class Segment {
  readonly name: string;
  readonly count: number;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly root: string;
  /** Null until the whole file is here (a partial open, `cold` answers meanwhile). */
  readonly index: Index | null;
  readonly cold: ColdReader | null;
  readonly metadata: MetadataIndex;
  readonly byteLength: number;
  private readonly idOffsets: Uint32Array;
  private readonly idBytes: Uint8Array;
  private readonly idOrder: Uint32Array;
  private readonly seqs: BigUint64Array;
  private readonly leaves: Uint8Array | null;
  readonly bucketHashes: Uint8Array;

  private constructor(name: string, head: Uint8Array, byteLength: number, sections: Map<number, Uint8Array>, cold: ColdReader | null = null) {
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const need = (s: SectionName) => {
      const body = sections.get(SECTION[s]);
      if (!body) throw dataError(`segment missing section ${s}: file=${name}`);
      return body;
    };
    this.name = name;
    this.byteLength = byteLength;
    this.count = v.getUint32(8, true);
    this.minSeq = Number(v.getBigUint64(24, true));
    this.maxSeq = Number(v.getBigUint64(32, true));
    this.root = toHex(head.subarray(40, 72));
    this.cold = cold;
    this.index = cold ? null : Index.open(need('index'), { verify: false, name });
    const ids = need('ids');
    this.idOffsets = u32(ids.subarray(0, 4 * (this.count + 1)));
    this.idBytes = ids.subarray(4 * (this.count + 1));
    this.idOrder = u32(need('idOrder'));
    const seqBytes = need('seqs');
    this.seqs = new BigUint64Array(seqBytes.buffer, seqBytes.byteOffset, this.count);
    this.metadata = MetadataIndex.open(need('metadata'));
    this.leaves = cold ? null : need('leaves');
    this.bucketHashes = need('buckets');
    if ((this.index && this.index.count !== this.count) || this.idOrder.length !== this.count || (this.leaves && this.leaves.length !== 32 * this.count))
      throw dataError(`segment sections disagree on the record count: file=${name}`);
  }

  /** Verify header and every section checksum, then view. `name` goes into every error. */
  static open(bytes: Uint8Array, name: string): Segment {
    bytes = aligned(bytes);
    const sections = new Map<number, Uint8Array>();
    for (const e of readHeader(bytes, bytes.length, name)) sections.set(e.type, verified(bytes.subarray(e.offset, e.offset + e.length), e, name));
    return new Segment(name, bytes, bytes.length, sections);
  }

  /**
   * Open a segment of `byteLength` bytes through ranged reads, without its
   * graph, vectors and leaves (docs/format/segment.md, section 8): search then
   * reads the clusters nearest each query. Null when the file has no clusters
   * section (the caller downloads it whole).
   */
  static async openPartial(read: RangeReader, byteLength: number, name: string, headBytes?: number): Promise<Segment | null> {
    const head = aligned(await read(0, Math.min(byteLength, headBytes ?? HEAD_BYTES)));
    const table = readHeader(head, byteLength, name);
    const entry = (s: SectionName) => table.find((e) => e.type === SECTION[s]);
    const clusters = entry('clusters'), index = entry('index');
    if (!clusters || !index) return null;
    const fetch = async (e: TableEntry) => verified(e.offset + e.length <= head.length
      ? new Uint8Array(head.subarray(e.offset, e.offset + e.length))
      : aligned(await read(e.offset, e.length)), e, name);
    const wanted: SectionName[] = ['ids', 'idOrder', 'seqs', 'metadata', 'buckets', 'clusters'];
    const sections = new Map<number, Uint8Array>();
    await Promise.all(wanted.map(async (s) => {
      const e = entry(s);
      if (e) sections.set(e.type, await fetch(e));
    }));
    const blobHeadBytes = Math.min(index.length, BLOB_HEAD_BYTES);
    const blobHead = index.offset + blobHeadBytes <= head.length ? head.subarray(index.offset) : await read(index.offset, blobHeadBytes);
    const vectors = blobSection(blobHead, BLOB_VECTORS, name);
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const cold = ColdReader.decode(sections.get(SECTION.clusters)!, {
      read, name, count: v.getUint32(8, true), dimension: v.getUint32(12, true),
      metric: METRIC_OF[v.getUint8(16)], vectorsOffset: index.offset + vectors.offset,
    });
    return new Segment(name, head, byteLength, sections, cold);
  }

  id(position: number): string {
    return decoder.decode(this.idBytes.subarray(this.idOffsets[position], this.idOffsets[position + 1]));
  }

  private idBytesAt(position: number): Uint8Array {
    return this.idBytes.subarray(this.idOffsets[position], this.idOffsets[position + 1]);
  }

  seq(position: number): number {
    return Number(this.seqs[position]);
  }

  leaf(position: number): Uint8Array {
    if (!this.leaves) throw new HyperspaceError('unavailable', `segment is still downloading, its leaves are not here yet: file=${this.name}`);
    return this.leaves.subarray(32 * position, 32 * position + 32);
  }

  vector(position: number): Float32Array {
    return this.index ? this.index.vector(position) : this.cold!.vector(position);
  }


  metadataAt(position: number): Metadata {
    return this.metadata.metadataAt(position);
  }

  /** Position of `id`, or -1. Binary search over the id order section. */
  positionOf(id: string): number {
    const key = encoder.encode(id);
    let lo = 0, hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const pos = this.idOrder[mid];
      const c = compareBytes(this.idBytesAt(pos), key);
      if (c === 0) return pos;
      if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  /** Index into id order of the first id strictly greater than `id` ('' = from the start). */
  orderIndexAfter(id: string): number {
    if (id === '') return 0;
    const key = encoder.encode(id);
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.idBytesAt(this.idOrder[mid]), key) <= 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  positionAtOrder(orderIndex: number): number {
    return this.idOrder[orderIndex];
  }
}

/** A copy at an 8-byte aligned offset when `bytes` is not (typed views need alignment). */
function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
}

function u32(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
