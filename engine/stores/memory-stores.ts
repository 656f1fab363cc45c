// In-memory twins of the stores (LevelDB's in-memory Env): the same contract
// and messages as the local stores, no durability. For engine unit tests and
// ephemeral embedded use; runs anywhere (no Node APIs).
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';
import { crc32c } from './crc32c.ts';
import { IdempotencyKeys } from './idempotency-keys.ts';
import {
  assertCollectionConfig,
  assertConfigPutAllowed,
  assertLeaseRequest,
  assertPayload,
  assertPointerSwap,
  nextLease,
  pointerSwapAllowed,
  readBound,
  truncatedError,
  truncatePastEndError,
  type LeaseRecord,
} from './log-store-rules.ts';
import {
  assertCollectionName,
  assertSeq,
  type AppendOptions,
  type CasOptions,
  type Lease,
  type LogStore,
  type ManifestPointer,
  type ReadOptions,
  type WalRecord,
} from './log-store.ts';
import { assertObjectKey, compareKeys, objectNotFound, type ByteRange, type ObjectStore } from './object-store.ts';

export class MemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, Uint8Array>();

  async put(key: string, bytes: Uint8Array): Promise<void> {
    assertObjectKey(key);
    const existing = this.objects.get(key);
    if (existing) {
      if (existing.length !== bytes.length || existing.some((byte, i) => byte !== bytes[i])) {
        throw new HyperspaceError(
          'conflict',
          `object already exists with different content: key=${key} size=${existing.length} newSize=${bytes.length}`,
        );
      }
      return;
    }
    this.objects.set(key, bytes.slice());
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertObjectKey(key);
    const bytes = this.objects.get(key);
    if (!bytes) throw objectNotFound(key);
    if (range === undefined) return bytes.slice();
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new HyperspaceError('invalid', `invalid range: key=${key} offset=${offset} length=${length}`);
    }
    if (offset + length > bytes.length) {
      throw new HyperspaceError(
        'invalid',
        `range out of bounds: key=${key} offset=${offset} length=${length} size=${bytes.length}`,
      );
    }
    return bytes.slice(offset, offset + length);
  }

  async head(key: string): Promise<{ size: number } | null> {
    assertObjectKey(key);
    const bytes = this.objects.get(key);
    return bytes ? { size: bytes.length } : null;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort(compareKeys);
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    this.objects.delete(key);
  }
}

interface MemoryWal {
  /** Records after the truncation watermark, in seq order. */
  records: WalRecord[];
  lastSeq: number;
  truncatedThroughSeq: number;
  keys: IdempotencyKeys;
}

export class MemoryLogStore implements LogStore {
  private readonly wals = new Map<string, MemoryWal>();
  private readonly pointers = new Map<string, ManifestPointer>();
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly configs = new Map<string, string>();
  private closed = false;

  async append(collection: string, payload: Uint8Array, options: AppendOptions = {}): Promise<{ seq: number }> {
    const wal = this.wal(collection);
    assertPayload(collection, payload);
    const key = wal.keys.encode(options.idempotencyKey) === null ? null : options.idempotencyKey!;
    const payloadCrc = crc32c(payload);
    if (key !== null) {
      const retried = wal.keys.lookup(key, payloadCrc);
      if (retried) return retried;
    }
    const seq = ++wal.lastSeq;
    const appendedAtMs = Date.now();
    wal.records.push({ seq, payload: payload.slice(), appendedAtMs });
    if (key !== null) wal.keys.remember(key, { seq, payloadCrc, appendedAtMs });
    return { seq };
  }

  async read(collection: string, fromSeq: number, options: ReadOptions = {}): Promise<WalRecord[]> {
    const wal = this.wal(collection);
    assertSeq('fromSeq', fromSeq, 1);
    const limit = readBound('limit', options.limit, limits.walReadRecordsMax);
    const bytesMax = readBound('bytesMax', options.bytesMax, limits.walReadBytesMax);
    if (fromSeq <= wal.truncatedThroughSeq) throw truncatedError(collection, fromSeq, wal.truncatedThroughSeq);
    const result: WalRecord[] = [];
    let bytes = 0;
    for (let i = fromSeq - wal.truncatedThroughSeq - 1; i < wal.records.length && result.length < limit; i++) {
      const record = wal.records[i];
      if (result.length > 0 && bytes + record.payload.length > bytesMax) break;
      bytes += record.payload.length;
      result.push({ ...record, payload: record.payload.slice() });
    }
    return result;
  }

  async lastSeq(collection: string): Promise<number> {
    return this.wal(collection).lastSeq;
  }

  async truncateBefore(collection: string, seq: number): Promise<void> {
    const wal = this.wal(collection);
    assertSeq('truncate seq', seq, 0);
    if (seq > wal.lastSeq) throw truncatePastEndError(collection, seq, wal.lastSeq);
    if (seq <= wal.truncatedThroughSeq) return;
    wal.records.splice(0, seq - wal.truncatedThroughSeq);
    wal.truncatedThroughSeq = seq;
  }

  async getPointer(collection: string): Promise<ManifestPointer | null> {
    this.assertOpen();
    assertCollectionName(collection);
    return this.pointers.get(collection) ?? null;
  }

  async casPointer(
    collection: string,
    expectedVersion: number | null,
    next: ManifestPointer,
    options: CasOptions = {},
  ): Promise<boolean> {
    this.assertOpen();
    assertPointerSwap(collection, expectedVersion, next, options);
    const current = this.pointers.get(collection) ?? null;
    const lease = this.leases.get(collection) ?? null;
    if (!pointerSwapAllowed(collection, current, lease, expectedVersion, next, options)) return false;
    this.pointers.set(collection, { version: next.version, key: next.key });
    return true;
  }

  async acquireLease(collection: string, owner: string, ttlMs: number): Promise<Lease> {
    this.assertOpen();
    assertLeaseRequest(collection, owner, ttlMs);
    const lease = nextLease(collection, this.leases.get(collection) ?? null, owner, ttlMs, Date.now());
    this.leases.set(collection, lease);
    return { epoch: lease.epoch };
  }

  async releaseLease(collection: string, owner: string, epoch: number): Promise<void> {
    this.assertOpen();
    assertCollectionName(collection);
    const lease = this.leases.get(collection);
    if (lease && lease.owner === owner && lease.epoch === epoch) {
      this.leases.set(collection, { epoch, owner: '', expiresAtMs: 0 });
    }
  }

  async putCollectionConfig(name: string, json: string, options: { ifAbsent?: boolean } = {}): Promise<void> {
    this.assertOpen();
    assertCollectionConfig(name, json);
    await assertConfigPutAllowed(name, this.configs.has(name), async () => this.configs.size, options);
    this.configs.set(name, json);
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

  async dropCollection(name: string): Promise<boolean> {
    this.assertOpen();
    assertCollectionName(name);
    const existed = this.configs.has(name);
    if (!existed && !this.wals.has(name) && !this.pointers.has(name)) return false;
    const lease = this.leases.get(name);
    if (lease) this.leases.set(name, { epoch: lease.epoch + 1, owner: '', expiresAtMs: 0 });
    this.configs.delete(name);
    this.wals.delete(name);
    this.pointers.delete(name);
    return existed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', 'log store is closed: dir=(memory)');
  }

  private wal(collection: string): MemoryWal {
    this.assertOpen();
    assertCollectionName(collection);
    let wal = this.wals.get(collection);
    if (!wal) {
      wal = { records: [], lastSeq: 0, truncatedThroughSeq: 0, keys: new IdempotencyKeys(collection) };
      this.wals.set(collection, wal);
    }
    return wal;
  }
}
