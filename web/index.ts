// The browser build's entry point (bundled by web/build.ts into
// web/dist/hyperspace-web.js): the embedded engine from engine/ over IndexedDB
// and the WASM core, with the same collection API (docs/web.md).
import { HyperspaceDB, type OpenOptions } from '../engine/index.ts';
import { openIndexedDbStores } from './indexeddb-stores.ts';
import { Outbox } from './outbox.ts';

export * from '../engine/index.ts';
export { IndexedDbLogStore, IndexedDbObjectStore, openIndexedDbStores } from './indexeddb-stores.ts';
export { MemoryLogStore, MemoryObjectStore } from '../engine/stores/memory-stores.ts';
export { kernelName, buildIndex, Index, flatSearch, crc32c } from '../native/index.ts';

export interface BrowserOpenOptions extends OpenOptions {
  /** Another IndexedDB implementation (tests). */
  indexedDB?: IDBFactory;
}

/**
 * Open (or create) the database kept in IndexedDB under `name`. Resolves once
 * every collection is loaded: manifest, segments (verified), WAL tail.
 * `loadMs` is how long that took.
 */
export async function openBrowserDatabase(name = 'hyperspace', options: BrowserOpenOptions = {}): Promise<BrowserDatabase> {
  const started = performance.now();
  const stores = await openIndexedDbStores(name, options.indexedDB);
  const db = await HyperspaceDB.open(stores, { owner: 'browser', ...options });
  return Object.assign(db, { loadMs: performance.now() - started, outbox: new Outbox(stores.idb, () => db) });
}

export type BrowserDatabase = HyperspaceDB & {
  /** How long the open took (IndexedDB reads, checksums, WAL replay), ms. */
  loadMs: number;
  /** Writes for synced collections, queued until the server can be reached. */
  outbox: Outbox;
};
export { HttpServer, type HttpServerOptions, type RemoteCollection } from './http-server.ts';
export { syncFromServer, type BrowserSyncReport, type SyncProgress } from './sync.ts';
export { Digest, leafHash, bucketOf, toHex } from '../engine/merkle.ts';
export { Outbox, type PushReport } from './outbox.ts';
export { WorkerDatabase } from './worker-client.ts';
