// The decisions every LogStore implementation makes the same way: who gets the
// lease, whether a pointer swap is allowed, what a valid config is
// (docs/format/local-stores.md "Manifest pointer and lease (fencing)").
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';
import { assertCollectionName, assertLeaseTtl, assertSeq, type CasOptions, type ManifestPointer } from './log-store.ts';

export interface LeaseRecord {
  epoch: number;
  /** Empty when nobody holds the lease. */
  owner: string;
  expiresAtMs: number;
}

/** The lease after `owner` asks for it at `now`; `conflict` if another holds it. */
export function nextLease(
  collection: string,
  current: LeaseRecord | null,
  owner: string,
  ttlMs: number,
  now: number,
): LeaseRecord {
  const lease = current ?? { epoch: 0, owner: '', expiresAtMs: 0 };
  if (lease.owner === owner) return { epoch: lease.epoch, owner, expiresAtMs: now + ttlMs };
  if (lease.owner !== '' && lease.expiresAtMs > now) {
    throw new HyperspaceError(
      'conflict',
      `lease is held: collection=${collection} owner=${lease.owner} epoch=${lease.epoch} expiresInMs=${lease.expiresAtMs - now}`,
    );
  }
  return { epoch: lease.epoch + 1, owner, expiresAtMs: now + ttlMs };
}

export function assertLeaseRequest(collection: string, owner: string, ttlMs: number): void {
  assertCollectionName(collection);
  assertLeaseTtl(ttlMs);
  if (typeof owner !== 'string' || owner === '' || owner.length > 256) {
    throw new HyperspaceError('invalid', `invalid lease owner: collection=${collection} owner=${owner}`);
  }
}

export function assertPointerSwap(
  collection: string,
  expectedVersion: number | null,
  next: ManifestPointer,
  options: CasOptions,
): void {
  assertCollectionName(collection);
  if (expectedVersion !== null) assertSeq('expected manifest version', expectedVersion, 1);
  assertSeq('manifest version', next?.version, 1);
  if (typeof next.key !== 'string' || next.key === '') {
    throw new HyperspaceError('invalid', `invalid manifest key: collection=${collection} key=${next.key}`);
  }
  if (options.epoch !== undefined) assertSeq('lease epoch', options.epoch, 0);
}

/** Whether the pointer may move from `current` to `next`: fencing first, then
 * the version check; throws for a stale epoch or a version going backwards. */
export function pointerSwapAllowed(
  collection: string,
  current: ManifestPointer | null,
  lease: LeaseRecord | null,
  expectedVersion: number | null,
  next: ManifestPointer,
  options: CasOptions,
): boolean {
  if (options.epoch !== undefined && lease && lease.epoch > options.epoch) {
    throw new HyperspaceError(
      'conflict',
      `stale lease epoch: collection=${collection} epoch=${options.epoch} current=${lease.epoch}`,
    );
  }
  if ((current?.version ?? null) !== expectedVersion) return false;
  if (next.version <= (current?.version ?? 0)) {
    throw new HyperspaceError(
      'invalid',
      `manifest version must increase: collection=${collection} current=${current?.version ?? 0} next=${next.version}`,
    );
  }
  return true;
}

export function assertCollectionConfig(name: string, json: string): void {
  assertCollectionName(name);
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > limits.collectionConfigBytesMax) {
    throw new HyperspaceError(
      'too_large',
      `collection config too large: name=${name} bytes=${bytes} max=${limits.collectionConfigBytesMax}`,
    );
  }
  try {
    JSON.parse(json);
  } catch {
    throw new HyperspaceError('invalid', `collection config is not JSON: name=${name}`);
  }
}

/** Checks a config put against what exists: `conflict` or `too_large`. */
export function assertConfigPutAllowed(
  name: string,
  exists: boolean,
  collectionCount: () => Promise<number>,
  options: { ifAbsent?: boolean },
): Promise<void> {
  return (async () => {
    if (exists && options.ifAbsent) throw new HyperspaceError('conflict', `collection already exists: name=${name}`);
    if (!exists && (await collectionCount()) >= limits.collectionsMax) {
      throw new HyperspaceError('too_large', `too many collections: max=${limits.collectionsMax}`);
    }
  })();
}

export function assertPayload(collection: string, payload: Uint8Array): void {
  if (!(payload instanceof Uint8Array)) {
    throw new HyperspaceError('invalid', `wal payload must be a Uint8Array: collection=${collection}`);
  }
  if (payload.length > limits.walRecordBytesMax) {
    throw new HyperspaceError(
      'too_large',
      `wal record too large: collection=${collection} bytes=${payload.length} max=${limits.walRecordBytesMax}`,
    );
  }
}

export function readBound(what: string, value: number | undefined, maximum: number): number {
  if (value === undefined) return maximum;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new HyperspaceError('invalid', `invalid read ${what}: got=${value} expected=integer>=1`);
  }
  return Math.min(value, maximum);
}

export function truncatedError(collection: string, fromSeq: number, truncatedThroughSeq: number): HyperspaceError {
  return new HyperspaceError(
    'not_found',
    `wal records already truncated: collection=${collection} fromSeq=${fromSeq} truncatedThroughSeq=${truncatedThroughSeq}`,
  );
}

export function truncatePastEndError(collection: string, seq: number, lastSeq: number): HyperspaceError {
  return new HyperspaceError(
    'invalid',
    `cannot truncate past the last sequence: collection=${collection} seq=${seq} lastSeq=${lastSeq}`,
  );
}
