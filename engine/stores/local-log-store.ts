// LogStore over local files, the embedded default
// (docs/format/local-stores.md, docs/format/wal.md).
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';
import { DirectoryLock } from './directory-lock.ts';
import { ensureDirectory, fsyncDirectory, isErrorCode, Mutex, readRecordFile, writeRecordFile } from './local-files.ts';
import { LocalWal, type WalStats } from './local-wal.ts';
import {
  assertCollectionConfig,
  assertConfigPutAllowed,
  assertLeaseRequest,
  assertPointerSwap,
  nextLease,
  pointerSwapAllowed,
  type LeaseRecord,
} from './log-store-rules.ts';
import {
  assertCollectionName,
  type AppendOptions,
  type CasOptions,
  type Lease,
  type LogStore,
  type ManifestPointer,
  type ReadOptions,
  type WalRecord,
} from './log-store.ts';

export class LocalLogStore implements LogStore {
  readonly directory: string;
  /** Counters for tests and benchmarks (group commit shows as fsyncs ≪ appends). */
  readonly stats: WalStats = {
    openFiles: 0,
    appends: 0,
    groupCommits: 0,
    fsyncs: 0,
    bytesWritten: 0,
    tornTailBytesTruncated: 0,
  };
  private readonly lock: DirectoryLock;
  private readonly wals = new Map<string, Promise<LocalWal>>();
  /** Opened WALs, least recently used first, to bound open segment files. */
  private readonly recentWals = new Map<string, LocalWal>();
  /** Pointer, lease, config and drop: one writer at a time. */
  private readonly metadataMutex = new Mutex();
  /** Collections whose drop is in progress: no WAL may be reopened meanwhile. */
  private readonly dropping = new Set<string>();
  private closed = false;

  private constructor(directory: string, lock: DirectoryLock) {
    this.directory = directory;
    this.lock = lock;
  }

  static async open(directory: string): Promise<LocalLogStore> {
    const root = resolve(directory);
    await ensureDirectory(root);
    const lock = await DirectoryLock.acquire(root);
    try {
      for (const name of ['collections', 'leases', 'trash']) await ensureDirectory(join(root, name));
      // Drops that crashed after their commit point (the rename into trash).
      for (const name of await readdir(join(root, 'trash'))) {
        await rm(join(root, 'trash', name), { recursive: true, force: true });
      }
      return new LocalLogStore(root, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async append(collection: string, payload: Uint8Array, options?: AppendOptions): Promise<{ seq: number }> {
    const wal = await this.wal(collection);
    const appended = wal.append(payload, options);
    this.boundOpenFiles(collection, wal);
    return appended;
  }

  async read(collection: string, fromSeq: number, options?: ReadOptions): Promise<WalRecord[]> {
    return (await this.wal(collection)).read(fromSeq, options);
  }

  async lastSeq(collection: string): Promise<number> {
    return (await this.wal(collection)).lastSeq();
  }

  async truncateBefore(collection: string, seq: number): Promise<void> {
    return (await this.wal(collection)).truncateBefore(seq);
  }

  async getPointer(collection: string): Promise<ManifestPointer | null> {
    this.assertOpen();
    assertCollectionName(collection);
    return (await readRecordFile(this.collectionPath(collection, 'pointer'))) as ManifestPointer | null;
  }

  async casPointer(
    collection: string,
    expectedVersion: number | null,
    next: ManifestPointer,
    options: CasOptions = {},
  ): Promise<boolean> {
    this.assertOpen();
    assertPointerSwap(collection, expectedVersion, next, options);
    return this.metadataMutex.run(async () => {
      const current = (await readRecordFile(this.collectionPath(collection, 'pointer'))) as ManifestPointer | null;
      const lease = options.epoch === undefined ? null : await this.readLease(collection);
      if (!pointerSwapAllowed(collection, current, lease, expectedVersion, next, options)) return false;
      await ensureDirectory(this.collectionPath(collection));
      await writeRecordFile(this.collectionPath(collection, 'pointer'), { version: next.version, key: next.key });
      return true;
    });
  }

  async acquireLease(collection: string, owner: string, ttlMs: number): Promise<Lease> {
    this.assertOpen();
    assertLeaseRequest(collection, owner, ttlMs);
    return this.metadataMutex.run(async () => {
      const lease = nextLease(collection, await this.readLease(collection), owner, ttlMs, Date.now());
      await this.writeLease(collection, lease);
      return { epoch: lease.epoch };
    });
  }

  async releaseLease(collection: string, owner: string, epoch: number): Promise<void> {
    this.assertOpen();
    assertCollectionName(collection);
    await this.metadataMutex.run(async () => {
      const lease = await this.readLease(collection);
      if (lease && lease.owner === owner && lease.epoch === epoch) {
        await this.writeLease(collection, { epoch, owner: '', expiresAtMs: 0 });
      }
    });
  }

  async putCollectionConfig(name: string, json: string, options: { ifAbsent?: boolean } = {}): Promise<void> {
    this.assertOpen();
    assertCollectionConfig(name, json);
    await this.metadataMutex.run(async () => {
      const exists = (await this.getCollectionConfig(name)) !== null;
      await assertConfigPutAllowed(name, exists, async () => (await this.listCollections()).length, options);
      await ensureDirectory(this.collectionPath(name));
      await writeRecordFile(this.collectionPath(name, 'config'), { config: json });
    });
  }

  async getCollectionConfig(name: string): Promise<string | null> {
    this.assertOpen();
    assertCollectionName(name);
    const record = (await readRecordFile(this.collectionPath(name, 'config'))) as { config: string } | null;
    return record?.config ?? null;
  }

  async listCollections(): Promise<string[]> {
    this.assertOpen();
    const names: string[] = [];
    for (const name of await readdir(join(this.directory, 'collections'))) {
      const config = await stat(this.collectionPath(name, 'config')).catch(() => null);
      if (config) names.push(name);
    }
    return names.sort();
  }

  async dropCollection(name: string): Promise<boolean> {
    this.assertOpen();
    assertCollectionName(name);
    this.dropping.add(name);
    try {
      return await this.metadataMutex.run(() => this.dropLocked(name));
    } finally {
      this.dropping.delete(name);
    }
  }

  private async dropLocked(name: string): Promise<boolean> {
    const existed = (await this.getCollectionConfig(name)) !== null;
    if (!existed && (await stat(this.collectionPath(name)).catch(() => null)) === null) return false;
    const wal = this.wals.get(name);
    this.wals.delete(name);
    this.recentWals.delete(name);
    if (wal) await (await wal.catch(() => null))?.close();
    // Fence every indexer of this incarnation; the lease file outlives the drop.
    const lease = await this.readLease(name);
    if (lease) await this.writeLease(name, { epoch: lease.epoch + 1, owner: '', expiresAtMs: 0 });
    const trash = join(this.directory, 'trash', `${name}.${randomBytes(6).toString('hex')}`);
    try {
      await rename(this.collectionPath(name), trash); // the commit point of the drop
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return existed;
      throw error;
    }
    await fsyncDirectory(join(this.directory, 'collections'));
    await fsyncDirectory(join(this.directory, 'trash'));
    await rm(trash, { recursive: true, force: true });
    return existed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wal of this.wals.values()) await (await wal.catch(() => null))?.close();
    this.wals.clear();
    await this.metadataMutex.run(async () => {});
    await this.lock.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', `log store is closed: dir=${this.directory}`);
  }

  private collectionPath(name: string, file?: string): string {
    const directory = join(this.directory, 'collections', name);
    return file === undefined ? directory : join(directory, file);
  }

  private wal(collection: string): Promise<LocalWal> {
    this.assertOpen();
    assertCollectionName(collection);
    if (this.dropping.has(collection)) {
      throw new HyperspaceError('unavailable', `collection is being dropped: collection=${collection}`);
    }
    let wal = this.wals.get(collection);
    if (!wal) {
      wal = LocalWal.open(collection, this.collectionPath(collection, 'wal'), this.stats);
      this.wals.set(collection, wal);
      // Corruption stays (the collection is unusable until repaired); a
      // transient error (EMFILE, EIO) is retried on the next call.
      wal.catch((error) => {
        if (!(error instanceof HyperspaceError && error.kind === 'data')) this.wals.delete(collection);
      });
    }
    return wal;
  }

  /** Marks `collection` most recently used and closes the segment files of the
   * least recently used idle WALs past `limits.walOpenFilesMax`. */
  private boundOpenFiles(collection: string, wal: LocalWal): void {
    this.recentWals.delete(collection);
    this.recentWals.set(collection, wal);
    const opening = wal.hasOpenFile() ? 0 : 1; // its next group opens a file
    for (const [name, candidate] of this.recentWals) {
      if (this.stats.openFiles + opening <= limits.walOpenFilesMax) break;
      if (!candidate.hasOpenFile()) this.recentWals.delete(name);
      else if (candidate !== wal) candidate.releaseFile();
    }
  }

  private async readLease(collection: string): Promise<LeaseRecord | null> {
    return (await readRecordFile(join(this.directory, 'leases', collection))) as LeaseRecord | null;
  }

  private async writeLease(collection: string, lease: LeaseRecord): Promise<void> {
    await writeRecordFile(join(this.directory, 'leases', collection), lease);
  }
}
