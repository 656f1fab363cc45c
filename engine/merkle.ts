// The Merkle digest of a collection's logical state (DESIGN §7). Byte layout,
// ordering rules and test vectors: docs/format/merkle.md (version 1).
import { canonicalJsonBytes, compareUtf8 } from './canonical-json.ts';
import { sha256 } from './sha256.ts';

export const leafVersion = 1;
export const bucketCount = 256;

const textEncoder = new TextEncoder();
const hostIsLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const emptyHash = sha256();

/**
 * Leaf hash of one live record: SHA-256(u8 1 ‖ u32 LE id byte length ‖ id UTF-8
 * ‖ u64 LE seq ‖ vector float32 LE ‖ canonical JSON of metadata, {} when absent).
 * `vector` is the vector as stored (for cosine: after normalization).
 */
export function leafHash(
  id: string,
  seq: number | bigint,
  vector: Float32Array,
  metadata?: Readonly<Record<string, unknown>> | null,
): Uint8Array {
  const idBytes = textEncoder.encode(id);
  const metadataBytes = canonicalJsonBytes(metadata ?? {});
  const sequence = BigInt(seq);
  if (sequence < 0n || sequence > 0xffff_ffff_ffff_ffffn) throw new RangeError(`seq must fit in a u64, got ${seq}`);
  const head = new Uint8Array(1 + 4 + idBytes.length + 8);
  const view = new DataView(head.buffer);
  head[0] = leafVersion;
  view.setUint32(1, idBytes.length, true);
  head.set(idBytes, 5);
  view.setBigUint64(5 + idBytes.length, sequence, true);
  return sha256(head, float32LittleEndian(vector), metadataBytes);
}

/** The bucket (0..255) of an id: the first byte of SHA-256 of its UTF-8 bytes. */
export function bucketOf(id: string): number {
  return sha256(textEncoder.encode(id))[0]!;
}

/** Nibbles of SHA-256(id) after the bucket byte that `idKey` keeps (6 bytes, exact in a double). */
export const idKeyNibbles = 12;

/** The bucket and bytes 1..6 of SHA-256(id) as an integer: where repair nodes place the id (docs/format/merkle.md). */
export function idKey(id: string): { bucket: number; key: number } {
  const h = sha256(textEncoder.encode(id));
  return { bucket: h[0]!, key: ((((h[1]! * 256 + h[2]!) * 256 + h[3]!) * 256 + h[4]!) * 256 + h[5]!) * 256 + h[6]! };
}

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += bytes[i]!.toString(16).padStart(2, '0');
  return hex;
}

export interface DigestSummary {
  /** Hex SHA-256 of the 256 bucket hashes in order. */
  root: string;
  /** Hex bucket hashes, index = bucket. */
  buckets: string[];
}

/**
 * The digest of a set of live records, kept incrementally: `set`/`remove`
 * mark one bucket dirty and `root()` rehashes only the dirty buckets. Each
 * bucket's ids are sorted once and then kept sorted (binary-search insert), so
 * rehashing a bucket that one write touched does not sort it again.
 */
export class Digest {
  private readonly leaves: Map<string, Uint8Array>[] = Array.from({ length: bucketCount }, () => new Map());
  /** Per bucket, its ids in leaf order once first needed. */
  private readonly sorted: (string[] | undefined)[] = new Array(bucketCount);
  /** idKey of live ids, kept from the hash that placed them (repair trees need it for every id). */
  private readonly keys = new Map<string, number>();
  private readonly bucketHashes: Uint8Array[] = Array.from({ length: bucketCount }, () => emptyHash);
  private readonly dirty = new Set<number>();
  private summary: DigestSummary | undefined;

  get size(): number {
    return this.leaves.reduce((sum, bucket) => sum + bucket.size, 0);
  }

  /** Records `id` as live with `leaf` (32 bytes), replacing any previous leaf. */
  set(id: string, leaf: Uint8Array, bucket?: number): void {
    if (leaf.length !== 32) throw new RangeError(`leaf hash must be 32 bytes, got ${leaf.length}`);
    if (bucket === undefined) {
      const placed = idKey(id);
      bucket = placed.bucket;
      this.keys.set(id, placed.key);
    }
    const leaves = this.leaves[bucket]!;
    const sorted = this.sorted[bucket];
    if (sorted && !leaves.has(id)) sorted.splice(sortedIndex(sorted, id), 0, id);
    leaves.set(id, leaf);
    this.markDirty(bucket);
  }

  /** Removes `id`; removing an id that is not there is a no-op. */
  remove(id: string, bucket = bucketOf(id)): void {
    if (!this.leaves[bucket]!.delete(id)) return;
    this.keys.delete(id);
    const sorted = this.sorted[bucket];
    if (sorted) sorted.splice(sortedIndex(sorted, id), 1);
    this.markDirty(bucket);
  }

  /** idKey(id).key of a live id, from the cache when its set() computed it. */
  keyOf(id: string): number {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = idKey(id).key;
      if (this.get(id)) this.keys.set(id, key);
    }
    return key;
  }

  get(id: string): Uint8Array | undefined {
    return this.leaves[bucketOf(id)]!.get(id);
  }

  /** The bucket's live entries in leaf order (by id UTF-8 bytes): what repair compares. */
  bucketEntries(bucket: number): { id: string; leaf: Uint8Array }[] {
    const leaves = this.leaves[bucket]!;
    return this.sortedIds(bucket).map((id) => ({ id, leaf: leaves.get(id)! }));
  }

  private sortedIds(bucket: number): string[] {
    return (this.sorted[bucket] ??= [...this.leaves[bucket]!.keys()].sort(compareUtf8));
  }

  bucketHash(bucket: number): Uint8Array {
    this.refresh();
    return this.bucketHashes[bucket]!;
  }

  root(): DigestSummary {
    this.refresh();
    if (this.summary === undefined) {
      this.summary = { root: toHex(sha256(...this.bucketHashes)), buckets: this.bucketHashes.map(toHex) };
    }
    return { root: this.summary.root, buckets: [...this.summary.buckets] };
  }

  private markDirty(bucket: number): void {
    this.dirty.add(bucket);
    this.summary = undefined;
  }

  private refresh(): void {
    for (const bucket of this.dirty) {
      // One hash call over the concatenated leaves: a call per leaf costs more than the hashing.
      const leaves = this.leaves[bucket]!;
      const ids = this.sortedIds(bucket);
      const concatenated = new Uint8Array(32 * ids.length);
      ids.forEach((id, i) => concatenated.set(leaves.get(id)!, 32 * i));
      this.bucketHashes[bucket] = sha256(concatenated);
    }
    this.dirty.clear();
  }
}

/** Where `id` is or would go in `sorted` (leaf order). */
function sortedIndex(sorted: readonly string[], id: string): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8(sorted[mid]!, id) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function float32LittleEndian(vector: Float32Array): Uint8Array {
  if (hostIsLittleEndian) return new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true);
  return bytes;
}
