// A byte-bounded cache of segment files on local disk (`/tmp` on Lambda),
// wrapped around the object store (DESIGN §6): a worker downloads each segment
// once, keeps it across invocations of the same container, and lets the
// engine map it (`localPath`, or `get` answering with the mapped file) instead
// of holding a copy on the heap. Segments are immutable, so a cached file never
// goes stale; Segment.open verifies every section checksum each time a file is
// mapped, and the cache checks the downloaded length and CRC-32C before the
// file takes its name (temporary file, then rename), so a container killed
// mid-download leaves nothing that looks whole.
//
// Only segment files are cached (`…/segments/….hyp`); manifests and spilled WAL
// payloads pass through. Past `bytesMax` the least recently used files are
// removed; a file still mapped by an open segment keeps its pages until the
// mapping goes (Linux semantics), so the bound is on what the cache holds, not
// on what open segments map.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ByteRange, ObjectStore } from '../../engine/stores/object-store.ts';
import { limits } from '../../engine/limits.ts';
import { inParts } from '../../engine/stores/in-parts.ts';
import { crc32c, HyperspaceError, mmapFile } from '../../native/index.ts';

export interface SegmentCacheOptions {
  /** Directory of the cache (created). Lambda: under /tmp. */
  directory: string;
  /** Bytes the cache may hold; Lambda's /tmp is 512 MB unless configured larger. */
  bytesMax: number;
  /** Segments from this size on are first read by ranges while they download
   * (docs/format/segment.md §8); default 16 MiB. Infinity turns it off. */
  partialOpenBytesMin?: number;
}

export interface SegmentCacheStats {
  files: number;
  bytes: number;
  hits: number;
  downloads: number;
  evictions: number;
  /** Ranged reads of segments not cached yet, passed to the store (partial opens). */
  rangedReads: number;
}

const segmentKeyPattern = /\/segments\/[^/]+\.hyp$/;
/** A large segment downloads in parts of this size, limits.s3PartsInFlightMax at a time. */
const PART_BYTES = 16 * 1024 * 1024;

export class SegmentCache implements ObjectStore {
  /** key → file size; Map order is recency (oldest first). */
  private readonly files = new Map<string, number>();
  private bytes = 0;
  private readonly downloading = new Map<string, Promise<void>>();
  readonly stats = { hits: 0, downloads: 0, evictions: 0, rangedReads: 0 };
  readonly partialOpenBytesMin: number;

  constructor(private readonly inner: ObjectStore, private readonly options: SegmentCacheOptions) {
    if (!Number.isSafeInteger(options.bytesMax) || options.bytesMax < 1) {
      throw new HyperspaceError('invalid', `segment cache bytesMax must be a positive integer, got ${options.bytesMax}`);
    }
    this.partialOpenBytesMin = options.partialOpenBytesMin ?? 16 * 1024 * 1024;
    mkdirSync(options.directory, { recursive: true });
    // A warm container keeps its files; a half-written one (killed mid-download) is dropped.
    for (const name of readdirSync(options.directory)) {
      if (name.endsWith('.tmp')) rmSync(join(options.directory, name), { force: true });
    }
  }

  static isSegmentKey(key: string): boolean {
    return segmentKeyPattern.test(key);
  }

  describe(): SegmentCacheStats {
    return { files: this.files.size, bytes: this.bytes, ...this.stats };
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.inner.put(key, bytes);
    // The indexer maps the segment it just wrote: keep it rather than download it again.
    if (SegmentCache.isSegmentKey(key) && !this.files.has(key)) this.store(key, bytes);
  }

  /** A range of a segment not cached yet is read from the store: a cold reader must not wait for the download. */
  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (!SegmentCache.isSegmentKey(key)) return this.inner.get(key, range);
    if (range !== undefined && !this.files.has(key) && !this.adopt(key)) {
      this.stats.rangedReads++;
      return this.inner.get(key, range);
    }
    await this.ensure(key);
    const mapped = mmapFile(this.pathOf(key));
    if (range === undefined) return mapped;
    if (range.offset + range.length > mapped.length) {
      throw new HyperspaceError('invalid', `range past the end: key=${key} offset=${range.offset} length=${range.length} size=${mapped.length}`);
    }
    return mapped.subarray(range.offset, range.offset + range.length);
  }

  head(key: string): Promise<{ size: number } | null> {
    const size = this.files.get(key);
    return size === undefined ? this.inner.head(key) : Promise.resolve({ size });
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  async delete(key: string): Promise<void> {
    await this.inner.delete(key);
    this.evict(key);
  }

  /** The cached file of `key`, if it is cached (the engine maps it). */
  localPath(key: string): string | undefined {
    if (!this.files.has(key)) {
      if (!SegmentCache.isSegmentKey(key) || !this.adopt(key)) return undefined;
    }
    this.touch(key);
    this.stats.hits++;
    return this.pathOf(key);
  }

  /** Downloads `key` once, even when several opens ask for it at the same time. */
  private async ensure(key: string): Promise<void> {
    if (this.files.has(key) || this.adopt(key)) {
      this.touch(key);
      this.stats.hits++;
      return;
    }
    let running = this.downloading.get(key);
    if (!running) {
      running = (async () => {
        const bytes = await this.download(key);
        this.stats.downloads++;
        this.store(key, bytes);
      })().finally(() => this.downloading.delete(key));
      this.downloading.set(key, running);
    }
    await running;
  }

  /**
   * One GET for a small segment (the store checks the object's checksum);
   * a large one in parallel ranged GETs — one S3 connection gives ~100 MB/s,
   * several give several times that. Segment.open verifies every section's
   * CRC-32C when the file is mapped, so a part damaged in transit is caught.
   */
  private async download(key: string): Promise<Uint8Array> {
    const head = await this.inner.head(key);
    if (!head || head.size < 2 * PART_BYTES) return this.inner.get(key);
    const out = new Uint8Array(head.size);
    await inParts(Math.ceil(head.size / PART_BYTES), limits.s3PartsInFlightMax, async (index) => {
      const offset = index * PART_BYTES;
      out.set(await this.inner.get(key, { offset, length: Math.min(PART_BYTES, head.size - offset) }), offset);
    });
    return out;
  }

  /** Writes `bytes` as the file of `key` (temporary name, verified, renamed) and evicts past the bound. */
  private store(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.options.bytesMax) {
      throw new HyperspaceError('too_large',
        `segment larger than the whole segment cache: key=${key} bytes=${bytes.length} cacheBytesMax=${this.options.bytesMax} (raise the function's ephemeral storage and HYPERSPACE_CACHE_BYTES)`);
    }
    this.makeRoom(bytes.length);
    const path = this.pathOf(key);
    const temporary = `${path}.${process.pid}.tmp`;
    const expected = crc32c(bytes);
    writeFileSync(temporary, bytes);
    const written = mmapFile(temporary);
    if (written.length !== bytes.length || crc32c(written) !== expected) {
      rmSync(temporary, { force: true });
      throw new HyperspaceError('data', `segment cache write did not read back: key=${key} bytes=${bytes.length} read=${written.length}`);
    }
    renameSync(temporary, path);
    this.files.set(key, bytes.length);
    this.bytes += bytes.length;
  }

  /** A file a previous handler instance of this container left (the index is per instance). */
  private adopt(key: string): boolean {
    try {
      const size = statSync(this.pathOf(key)).size;
      this.makeRoom(size);
      this.files.set(key, size);
      this.bytes += size;
      return true;
    } catch {
      return false;
    }
  }

  private makeRoom(incoming: number): void {
    for (const key of this.files.keys()) {
      if (this.bytes + incoming <= this.options.bytesMax) break;
      this.evict(key);
      this.stats.evictions++;
    }
  }

  private evict(key: string): void {
    const size = this.files.get(key);
    if (size === undefined) return;
    this.files.delete(key);
    this.bytes -= size;
    rmSync(this.pathOf(key), { force: true });
  }

  private touch(key: string): void {
    const size = this.files.get(key)!;
    this.files.delete(key);
    this.files.set(key, size);
  }

  /** Keys may hold any character: name files by a hash of the key. */
  private pathOf(key: string): string {
    return join(this.options.directory, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.hyp`);
  }
}
