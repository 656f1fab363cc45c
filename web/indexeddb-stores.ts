// ObjectStore and LogStore over IndexedDB: the browser's durable twin of the
// local-directory stores (DESIGN §3, docs/web.md). One IndexedDB database per
// HyperspaceDB holds three object stores:
//   objects  key → Blob (segments, manifests; immutable)
//   wal      [collection, seq] → { payload, appendedAtMs }
//   state    [collection, field] → config JSON | pointer | lease | { lastSeq, truncatedThroughSeq }
//   outbox   n → a write queued for the server (web/outbox.ts)
// Writes of the LogStore are committed with durability "strict" before they
// resolve (acknowledged means durable). The small state is mirrored in memory
// and mutations are serialized, so a compare-and-swap is a check in memory
// followed by one transaction. One page at a time opens a database (a Web
// Lock held while it is open); idempotency keys live in memory only.
import { HyperspaceError } from '../native/errors.ts';
import { limits } from '../engine/limits.ts';
import { crc32c } from '../engine/stores/crc32c.ts';
import { IdempotencyKeys } from '../engine/stores/idempotency-keys.ts';
import {
  assertCollectionConfig, assertConfigPutAllowed, assertLeaseRequest, assertPayload, assertPointerSwap, nextLease,
  pointerSwapAllowed, readBound, truncatedError, truncatePastEndError, type LeaseRecord,
} from '../engine/stores/log-store-rules.ts';
import {
  assertCollectionName, assertSeq, type AppendOptions, type CasOptions, type Lease, type LogStore, type ManifestPointer,
  type ReadOptions, type WalRecord,
} from '../engine/stores/log-store.ts';
import { assertObjectKey, compareKeys, objectNotFound, type ByteRange, type ObjectStore } from '../engine/stores/object-store.ts';

const SCHEMA_VERSION = 2; // 2: the outbox (web/outbox.ts)
type Field = 'config' | 'pointer' | 'lease' | 'wal';
interface WalState { lastSeq: number; truncatedThroughSeq: number }

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

function unavailable(what: string, e: unknown): HyperspaceError {
  return new HyperspaceError('unavailable', `IndexedDB ${what} failed: ${(e as Error)?.message ?? String(e)}`);
}

/** Opens (creating on first use) the IndexedDB database `name`. */
export async function openIndexedDb(name: string, factory: IDBFactory = indexedDB): Promise<IDBDatabase> {
  const open = factory.open(name, SCHEMA_VERSION);
  open.onupgradeneeded = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('objects')) db.createObjectStore('objects');
    if (!db.objectStoreNames.contains('wal')) db.createObjectStore('wal');
    if (!db.objectStoreNames.contains('state')) db.createObjectStore('state');
    if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { autoIncrement: true });
  };
  try {
    return await request(open);
  } catch (e) {
    throw unavailable(`open of ${name}`, e);
  }
}

/**
 * Objects are kept as Blobs: Chrome reads a 33 MB Blob back in ~80 ms where
 * the same bytes as a Uint8Array take ~180–400 ms (structured-clone
 * deserialization), and a Blob serves a byte range without reading the rest.
 */
export class IndexedDbObjectStore implements ObjectStore {
  constructor(private readonly db: IDBDatabase) {}

  private async value(key: string): Promise<Blob | undefined> {
    const stored = (await request(this.db.transaction('objects').objectStore('objects').get(key))) as Blob | Uint8Array | undefined;
    return stored instanceof Uint8Array ? new Blob([stored as BlobPart]) : stored;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    assertObjectKey(key);
    const existing = await this.value(key);
    if (existing) {
      const old = new Uint8Array(await existing.arrayBuffer());
      if (old.length !== bytes.length || old.some((byte, i) => byte !== bytes[i]))
        throw new HyperspaceError('conflict', `object already exists with different content: key=${key} size=${old.length} newSize=${bytes.length}`);
      return;
    }
    const tx = this.db.transaction('objects', 'readwrite');
    tx.objectStore('objects').put(new Blob([bytes as BlobPart]), key);
    await done(tx).catch((e) => { throw unavailable(`put of ${key}`, e); });
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertObjectKey(key);
    const blob = await this.value(key);
    if (!blob) throw objectNotFound(key);
    if (range === undefined) return new Uint8Array(await blob.arrayBuffer());
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
      throw new HyperspaceError('invalid', `invalid range: key=${key} offset=${offset} length=${length}`);
    if (offset + length > blob.size)
      throw new HyperspaceError('invalid', `range out of bounds: key=${key} offset=${offset} length=${length} size=${blob.size}`);
    return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
  }

  async head(key: string): Promise<{ size: number } | null> {
    assertObjectKey(key);
    const blob = await this.value(key);
    return blob ? { size: blob.size } : null;
  }

  async list(prefix: string): Promise<string[]> {
    const store = this.db.transaction('objects').objectStore('objects');
    const keys = prefix === '' ? await request(store.getAllKeys()) : await request(store.getAllKeys(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));
    return (keys as string[]).filter((k) => k.startsWith(prefix)).sort(compareKeys);
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    const tx = this.db.transaction('objects', 'readwrite');
    tx.objectStore('objects').delete(key);
    await done(tx).catch((e) => { throw unavailable(`delete of ${key}`, e); });
  }
}

export class IndexedDbLogStore implements LogStore {
  private readonly configs = new Map<string, string>();
  private readonly pointers = new Map<string, ManifestPointer>();
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly wals = new Map<string, WalState>();
  private readonly keys = new Map<string, IdempotencyKeys>();
  /** Mutations run one at a time: each decides in memory, commits, then applies. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly db: IDBDatabase, private readonly name: string) {}

  static async open(db: IDBDatabase): Promise<IndexedDbLogStore> {
    const store = new IndexedDbLogStore(db, db.name);
    const tx = db.transaction('state');
    const [keys, values] = await Promise.all([request(tx.objectStore('state').getAllKeys()), request(tx.objectStore('state').getAll())]);
    keys.forEach((key, i) => {
      const [collection, field] = key as [string, Field];
      const value = values[i];
      if (field === 'config') store.configs.set(collection, value as string);
      else if (field === 'pointer') store.pointers.set(collection, value as ManifestPointer);
      else if (field === 'lease') store.leases.set(collection, value as LeaseRecord);
      else if (field === 'wal') store.wals.set(collection, value as WalState);
    });
    return store;
  }

  private mutate<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      this.assertOpen();
      return task();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One strict transaction writing `state` entries (and WAL records). */
  private async commit(what: string, state: [string, Field, unknown | undefined][], wal: [string, number, WalRecord][] = [],
    walDelete?: [string, number, number]): Promise<void> {
    try {
      const tx = this.db.transaction(['state', 'wal'], 'readwrite', { durability: 'strict' });
      for (const [collection, field, value] of state) {
        if (value === undefined) tx.objectStore('state').delete([collection, field]);
        else tx.objectStore('state').put(value, [collection, field]);
      }
      for (const [collection, seq, record] of wal)
        tx.objectStore('wal').put({ payload: record.payload, appendedAtMs: record.appendedAtMs }, [collection, seq]);
      if (walDelete) tx.objectStore('wal').delete(IDBKeyRange.bound([walDelete[0], walDelete[1]], [walDelete[0], walDelete[2]]));
      await done(tx);
    } catch (e) {
      throw unavailable(`${what} in ${this.name}`, e);
    }
  }

  private walState(collection: string): WalState {
    this.assertOpen();
    assertCollectionName(collection);
    return this.wals.get(collection) ?? { lastSeq: 0, truncatedThroughSeq: 0 };
  }

  private idempotencyKeys(collection: string): IdempotencyKeys {
    let keys = this.keys.get(collection);
    if (!keys) this.keys.set(collection, (keys = new IdempotencyKeys(collection)));
    return keys;
  }

  append(collection: string, payload: Uint8Array, options: AppendOptions = {}): Promise<{ seq: number }> {
    this.walState(collection);
    assertPayload(collection, payload);
    const keys = this.idempotencyKeys(collection);
    const key = keys.encode(options.idempotencyKey) === null ? null : options.idempotencyKey!;
    const payloadCrc = crc32c(payload);
    if (key !== null) {
      const retried = keys.lookup(key, payloadCrc);
      if (retried) return retried;
    }
    const copy = payload.slice();
    return this.mutate(async () => {
      const wal = this.walState(collection);
      const seq = wal.lastSeq + 1;
      const appendedAtMs = Date.now();
      const next = { ...wal, lastSeq: seq };
      await this.commit('append', [[collection, 'wal', next]], [[collection, seq, { seq, payload: copy, appendedAtMs }]]);
      this.wals.set(collection, next);
      if (key !== null) keys.remember(key, { seq, payloadCrc, appendedAtMs });
      return { seq };
    });
  }

  async read(collection: string, fromSeq: number, options: ReadOptions = {}): Promise<WalRecord[]> {
    const wal = this.walState(collection);
    assertSeq('fromSeq', fromSeq, 1);
    const limit = readBound('limit', options.limit, limits.walReadRecordsMax);
    const bytesMax = readBound('bytesMax', options.bytesMax, limits.walReadBytesMax);
    if (fromSeq <= wal.truncatedThroughSeq) throw truncatedError(collection, fromSeq, wal.truncatedThroughSeq);
    if (fromSeq > wal.lastSeq) return [];
    const upTo = Math.min(wal.lastSeq, fromSeq + limit - 1);
    const store = this.db.transaction('wal').objectStore('wal');
    const values = (await request(store.getAll(IDBKeyRange.bound([collection, fromSeq], [collection, upTo])))) as { payload: Uint8Array; appendedAtMs: number }[];
    const result: WalRecord[] = [];
    let bytes = 0;
    for (let i = 0; i < values.length; i++) {
      if (result.length > 0 && bytes + values[i].payload.length > bytesMax) break;
      bytes += values[i].payload.length;
      result.push({ seq: fromSeq + i, payload: values[i].payload, appendedAtMs: values[i].appendedAtMs });
    }
    return result;
  }

  async lastSeq(collection: string): Promise<number> {
    return this.walState(collection).lastSeq;
  }

  truncateBefore(collection: string, seq: number): Promise<void> {
    this.walState(collection);
    assertSeq('truncate seq', seq, 0);
    return this.mutate(async () => {
      const wal = this.walState(collection);
      if (seq > wal.lastSeq) throw truncatePastEndError(collection, seq, wal.lastSeq);
      if (seq <= wal.truncatedThroughSeq) return;
      const next = { ...wal, truncatedThroughSeq: seq };
      await this.commit('truncate', [[collection, 'wal', next]], [], [collection, wal.truncatedThroughSeq + 1, seq]);
      this.wals.set(collection, next);
    });
  }

  async getPointer(collection: string): Promise<ManifestPointer | null> {
    this.assertOpen();
    assertCollectionName(collection);
    return this.pointers.get(collection) ?? null;
  }

  casPointer(collection: string, expectedVersion: number | null, next: ManifestPointer, options: CasOptions = {}): Promise<boolean> {
    this.assertOpen();
    assertPointerSwap(collection, expectedVersion, next, options);
    return this.mutate(async () => {
      const current = this.pointers.get(collection) ?? null;
      if (!pointerSwapAllowed(collection, current, this.leases.get(collection) ?? null, expectedVersion, next, options)) return false;
      const pointer = { version: next.version, key: next.key };
      await this.commit('pointer swap', [[collection, 'pointer', pointer]]);
      this.pointers.set(collection, pointer);
      return true;
    });
  }

  acquireLease(collection: string, owner: string, ttlMs: number): Promise<Lease> {
    this.assertOpen();
    assertLeaseRequest(collection, owner, ttlMs);
    return this.mutate(async () => {
      const lease = nextLease(collection, this.leases.get(collection) ?? null, owner, ttlMs, Date.now());
      await this.commit('lease', [[collection, 'lease', lease]]);
      this.leases.set(collection, lease);
      return { epoch: lease.epoch };
    });
  }

  releaseLease(collection: string, owner: string, epoch: number): Promise<void> {
    this.assertOpen();
    assertCollectionName(collection);
    return this.mutate(async () => {
      const lease = this.leases.get(collection);
      if (!lease || lease.owner !== owner || lease.epoch !== epoch) return;
      const released = { epoch, owner: '', expiresAtMs: 0 };
      await this.commit('lease release', [[collection, 'lease', released]]);
      this.leases.set(collection, released);
    });
  }

  putCollectionConfig(name: string, json: string, options: { ifAbsent?: boolean } = {}): Promise<void> {
    this.assertOpen();
    assertCollectionConfig(name, json);
    return this.mutate(async () => {
      await assertConfigPutAllowed(name, this.configs.has(name), async () => this.configs.size, options);
      await this.commit('config', [[name, 'config', json]]);
      this.configs.set(name, json);
    });
  }

  async getCollectionConfig(name: string): Promise<string | null> {
    this.assertOpen();
    assertCollectionName(name);
    return this.configs.get(name) ?? null;
  }

  async listCollections(): Promise<string[]> {
    this.assertOpen();
    return [...this.configs.keys()].sort();
  }

  dropCollection(name: string): Promise<boolean> {
    this.assertOpen();
    assertCollectionName(name);
    return this.mutate(async () => {
      const existed = this.configs.has(name);
      if (!existed && !this.wals.has(name) && !this.pointers.has(name)) return false;
      const lease = this.leases.get(name);
      const fenced = lease ? { epoch: lease.epoch + 1, owner: '', expiresAtMs: 0 } : undefined;
      const wal = this.wals.get(name);
      await this.commit('drop', [[name, 'config', undefined], [name, 'pointer', undefined], [name, 'wal', undefined], [name, 'lease', fenced]], [],
        wal ? [name, 1, Number.MAX_SAFE_INTEGER] : undefined);
      if (fenced) this.leases.set(name, fenced);
      this.configs.delete(name);
      this.wals.delete(name);
      this.pointers.delete(name);
      this.keys.delete(name);
      return existed;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', `log store is closed: indexeddb=${this.name}`);
  }
}

/** How long an open waits for another page (or the page being reloaded) to let go. */
const LOCK_WAIT_MS = 5000;

/**
 * Holds the Web Lock of database `name` until the returned release is called:
 * two pages writing one WAL would each assign the same sequence numbers.
 */
async function holdLock(name: string): Promise<() => void> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) return () => undefined; // no Web Locks (Node tests): the caller's responsibility
  let release: () => void = () => undefined;
  let acquired!: () => void;
  const held = new Promise<void>((resolve) => { acquired = resolve; });
  const request = locks.request(`hyperspace:${name}`, { signal: AbortSignal.timeout(LOCK_WAIT_MS) }, () => {
    acquired();
    return new Promise<void>((resolve) => { release = resolve; });
  });
  try {
    await Promise.race([held, request]);
  } catch {
    throw new HyperspaceError('conflict', `database ${name} is open in another tab or window (waited ${LOCK_WAIT_MS} ms); close it there first`);
  }
  return () => release();
}

/** Both stores over one IndexedDB database, held by this page; `close` lets go. */
export async function openIndexedDbStores(name: string, factory?: IDBFactory) {
  const release = await holdLock(name);
  try {
    const db = await openIndexedDb(name, factory);
    const log = await IndexedDbLogStore.open(db);
    return { objects: new IndexedDbObjectStore(db), log, idb: db, close: async () => { await log.close(); release(); } };
  } catch (e) {
    release();
    throw e;
  }
}
