// The embedded database: collections over an ObjectStore and a LogStore, with
// the indexer as a background task in the same process (DESIGN §3–§5).
import { join } from 'node:path';
import { HyperspaceError } from '../native/index.ts';
import { Collection, indexerDefaults, type CollectionDescription, type CollectionStores, type IndexerOptions, type TailLimits } from './collection.ts';
import { collectionPrefix } from './manifest.ts';
import { LocalLogStore } from './stores/local-log-store.ts';
import { LocalObjectStore } from './stores/local-object-store.ts';
import { validateCollectionName, validateConfig, type CollectionConfig, type CollectionConfigInput } from './validate.ts';

export interface OpenOptions extends Partial<TailLimits> {
  /** Background indexer tunables, or false to index only on flush(). */
  indexer?: Partial<IndexerOptions> | false;
  /** Lease owner name; one per process that indexes these stores. */
  owner?: string;
  /**
   * false: take no indexer lease (a serverless worker that shares the stores
   * with an indexer elsewhere): it writes the WAL and reads, and refuses to
   * write index files (`conflict`). Default true.
   */
  leases?: boolean;
  /** Load only these collections (those that exist); default all. */
  collections?: readonly string[];
}

const LEASE_TTL_MS = 60_000;
const TICK_MS = 50;
/** How often the background indexer collects unreferenced files (each waits out limits.gcGraceMs). */
const GC_EVERY_MS = 60_000;

export class HyperspaceDB {
  private readonly collections = new Map<string, Collection>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastGcMs = Date.now();
  private closed = false;
  private readonly indexer: IndexerOptions | false;
  private readonly owner: string;
  private readonly tailLimits: Partial<TailLimits>;
  private readonly leases: boolean;
  /** The last background indexing failure, for describe/metrics. */
  lastIndexerError: Error | undefined;

  private constructor(private readonly stores: CollectionStores & { close?: () => Promise<void> }, options: OpenOptions) {
    this.indexer = options.indexer === false ? false : { ...indexerDefaults, ...options.indexer };
    this.owner = options.owner ?? 'embedded-indexer';
    this.leases = options.leases !== false;
    this.tailLimits = {};
    if (options.tailRecordsMax !== undefined) this.tailLimits.tailRecordsMax = options.tailRecordsMax;
    if (options.tailBytesMax !== undefined) this.tailLimits.tailBytesMax = options.tailBytesMax;
  }

  /**
   * Open a data directory (the embedded default) or explicit stores. Returns
   * once every collection is recovered: manifest loaded, segments mapped and
   * checksummed, WAL tail replayed.
   */
  static async open(target: string | CollectionStores, options: OpenOptions = {}): Promise<HyperspaceDB> {
    let stores: CollectionStores & { close?: () => Promise<void> };
    if (typeof target === 'string') {
      const log = await LocalLogStore.open(join(target, 'log'));
      try {
        const objects = await LocalObjectStore.open(join(target, 'objects'));
        stores = { objects, log, close: () => log.close() };
      } catch (e) {
        await log.close();
        throw e;
      }
    } else {
      stores = target;
    }
    const db = new HyperspaceDB(stores, options);
    try {
      const only = options.collections && new Set(options.collections);
      // A worker that opens nothing up front (`collections: []`) skips the listing round trip.
      const names = only?.size === 0 ? [] : await stores.log.listCollections();
      for (const name of names) if (!only || only.has(name)) await db.load(name);
    } catch (e) {
      await stores.close?.();
      throw e;
    }
    if (db.indexer) {
      db.timer = setInterval(() => void db.tick(), TICK_MS);
      db.timer.unref();
    }
    return db;
  }

  private async load(name: string): Promise<Collection> {
    // The pointer and the WAL head are read alongside the config: one round trip, not three (cold workers).
    const log = this.stores.log;
    const reads = { pointer: log.getPointer(name), lastSeq: log.lastSeq(name) };
    for (const read of Object.values(reads)) read.catch(() => undefined);
    const json = await log.getCollectionConfig(name);
    if (json === null) throw new HyperspaceError('not_found', `collection not found: name=${name}`);
    const config = JSON.parse(json) as CollectionConfig;
    const collection = await Collection.open(name, config, this.stores, this.tailLimits, reads);
    if (!this.leases) {
      this.collections.set(name, collection);
      return collection;
    }
    // Each open is a new incarnation with a new epoch, even under the same owner
    // name: a killed incarnation may have left a manifest under its epoch at the
    // next version (written, never CASed), and manifest keys carry the epoch.
    const held = await this.stores.log.acquireLease(name, this.owner, LEASE_TTL_MS);
    await this.stores.log.releaseLease(name, this.owner, held.epoch);
    collection.epoch = (await this.stores.log.acquireLease(name, this.owner, LEASE_TTL_MS)).epoch;
    this.collections.set(name, collection);
    return collection;
  }

  async createCollection(name: string, input: CollectionConfigInput): Promise<Collection> {
    this.checkOpen();
    validateCollectionName(name);
    const config = validateConfig(input);
    if (this.collections.has(name)) throw new HyperspaceError('conflict', `collection already exists: name=${name}`);
    await this.stores.log.putCollectionConfig(name, JSON.stringify(config), { ifAbsent: true });
    return this.load(name);
  }

  /**
   * For a process that shares the stores with others (serverless workers):
   * bring collection `name` up to date — load it if another process created
   * it, forget it if another dropped it (then `not_found`), else
   * Collection.refresh(). Without a name, sync the list of collections.
   */
  async refresh(name?: string): Promise<void> {
    this.checkOpen();
    if (name === undefined) {
      const names = new Set(await this.stores.log.listCollections());
      for (const known of [...this.collections.keys()]) if (!names.has(known)) await this.forget(known);
      for (const found of names) if (!this.collections.has(found)) await this.load(found);
      return;
    }
    validateCollectionName(name);
    const c = this.collections.get(name);
    if (!c) {
      await this.load(name);
      return;
    }
    try {
      await c.refresh();
    } catch (e) {
      if (e instanceof HyperspaceError && e.kind === 'not_found' && (await this.stores.log.getCollectionConfig(name)) === null) {
        await this.forget(name);
      }
      throw e;
    }
  }

  private async forget(name: string): Promise<void> {
    const c = this.collections.get(name);
    this.collections.delete(name);
    await c?.close();
  }

  collection(name: string): Collection {
    this.checkOpen();
    const c = this.collections.get(name);
    if (!c) throw new HyperspaceError('not_found', `collection not found: name=${name}`);
    return c;
  }

  listCollections(): CollectionDescription[] {
    this.checkOpen();
    return [...this.collections.values()].map((c) => c.describe()).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async dropCollection(name: string): Promise<void> {
    const c = this.collection(name);
    this.collections.delete(name);
    await c.close();
    await this.stores.log.dropCollection(name);
    for (const key of await this.stores.objects.list(collectionPrefix(name))) await this.stores.objects.delete(key);
  }

  /** One pass of the background indexer: fold tails that passed a threshold, merge when segments pile up. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed || !this.indexer) return;
    this.ticking = true;
    try {
      for (const c of this.collections.values()) {
        if (this.closed) break;
        try {
          if (c.shouldIndex(this.indexer)) await c.flush();
          c.compactInBackground(this.indexer)?.catch((e) => { this.lastIndexerError = e as Error; });
          if (Date.now() - this.lastGcMs >= GC_EVERY_MS) await c.gc();
        } catch (e) {
          this.lastIndexerError = e as Error;
        }
      }
    } finally {
      if (Date.now() - this.lastGcMs >= GC_EVERY_MS) this.lastGcMs = Date.now();
      this.ticking = false;
    }
  }

  /** Stop the indexer, let in-flight work finish, release the data directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const c of this.collections.values()) await c.close();
    // Give the leases up, so the next indexer (another process) need not wait out their ttl.
    if (this.leases) {
      for (const c of this.collections.values()) if (c.epoch > 0) await this.stores.log.releaseLease(c.name, this.owner, c.epoch).catch(() => undefined);
    }
    await this.stores.close?.();
  }

  private checkOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', 'database is closed');
  }
}
