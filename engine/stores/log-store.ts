// Everything that needs a strongly consistent conditional write (DESIGN §3):
// the WAL, the manifest pointer, the indexer lease and the collection catalog,
// per collection. Implemented by local files (embedded default), DynamoDB, and
// later IndexedDB; so only Uint8Array, strings and numbers cross it.
// Formats: docs/format/wal.md, docs/format/local-stores.md.
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';

/**
 * Sequence numbers are `number`s: dense per collection from 1, exact up to
 * 2^53 − 1 (285 years at a million appends per second).
 */
export type Seq = number;

export interface WalRecord {
  seq: Seq;
  payload: Uint8Array;
  /** Wall clock of the commit, ms since the epoch: for age thresholds only,
   * never for ordering (order is `seq`). */
  appendedAtMs: number;
}

export interface AppendOptions {
  /** A retried append with the same key (within `limits.walIdempotencyWindowMs`
   * and the last `limits.walIdempotencyKeysMax` keys) returns the original seq;
   * the same key with another payload is a `conflict`. */
  idempotencyKey?: string;
}

export interface ReadOptions {
  /** At most this many records (default and cap `limits.walReadRecordsMax`). */
  limit?: number;
  /** Stop before the records (framing included) pass this many bytes (default and cap
   * `limits.walReadBytesMax`); at least one record is returned if any exists. */
  bytesMax?: number;
}

export interface ManifestPointer {
  version: number;
  key: string;
}

export interface Lease {
  epoch: number;
}

export interface CasOptions {
  /** The caller's lease epoch: if a newer epoch is stored, the CAS throws
   * `conflict` (fencing a deposed indexer). */
  epoch?: number;
}

export interface LogStore {
  /** Appends one record; resolves once it is durable, with its sequence number. */
  append(collection: string, payload: Uint8Array, options?: AppendOptions): Promise<{ seq: Seq }>;
  /** Records with seq ≥ `fromSeq`, in order, only acknowledged ones. Reading
   * from a truncated seq is `not_found`. */
  read(collection: string, fromSeq: Seq, options?: ReadOptions): Promise<WalRecord[]>;
  /** The last acknowledged seq, 0 if none. */
  lastSeq(collection: string): Promise<Seq>;
  /** Drops records ≤ `seq` (folded into a manifest). Physical removal may be lazy. */
  truncateBefore(collection: string, seq: Seq): Promise<void>;

  getPointer(collection: string): Promise<ManifestPointer | null>;
  /** Sets the pointer to `next` if it is at `expectedVersion` (`null`: none
   * yet); false if it is not. `next.version` must be greater than the current. */
  casPointer(
    collection: string,
    expectedVersion: number | null,
    next: ManifestPointer,
    options?: CasOptions,
  ): Promise<boolean>;

  /** Takes or renews the indexer lease: a new holder gets the previous epoch + 1,
   * the current holder renewing keeps its epoch; held by another → `conflict`. */
  acquireLease(collection: string, owner: string, ttlMs: number): Promise<Lease>;
  /** Gives the lease up if `owner` still holds `epoch`; otherwise a no-op. */
  releaseLease(collection: string, owner: string, epoch: number): Promise<void>;

  /** Stores the collection's config (JSON text). With `ifAbsent`, an existing
   * collection is a `conflict`. */
  putCollectionConfig(name: string, json: string, options?: { ifAbsent?: boolean }): Promise<void>;
  getCollectionConfig(name: string): Promise<string | null>;
  /** Names of the collections that have a config, sorted. */
  listCollections(): Promise<string[]>;
  /** Removes config, pointer and WAL, and fences the lease; false if there was
   * no such collection. */
  dropCollection(name: string): Promise<boolean>;

  close(): Promise<void>;
}

const collectionNamePattern = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** DESIGN §2: the name doubles as a directory name and a key segment. */
export function assertCollectionName(name: string): void {
  if (typeof name !== 'string' || !collectionNamePattern.test(name) || name === '.' || name === '..') {
    throw new HyperspaceError(
      'invalid',
      `invalid collection name: name=${JSON.stringify(name)} expected=[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}`,
    );
  }
}

export function assertSeq(what: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new HyperspaceError('invalid', `invalid ${what}: got=${value} expected=integer>=${minimum}`);
  }
}

export function assertLeaseTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > limits.leaseTtlMsMax) {
    throw new HyperspaceError('invalid', `invalid lease ttl: ttlMs=${ttlMs} expected=1..${limits.leaseTtlMsMax}`);
  }
}
