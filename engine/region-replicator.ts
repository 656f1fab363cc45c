// Region replication (DESIGN §7 "Regions"): a replica region's stores are
// brought to the home region's state by copying the segments the replica
// lacks (set difference of the two manifests' segment entries, by key and
// Merkle root, each verified on arrival), shipping the home's WAL tail as a
// tail segment, and committing the replica's manifest by pointer CAS.
// Protocol, ordering and why: docs/aws.md "Region replicas"; the replica
// manifest's fields: docs/format/manifest.md "Region replica manifests".
// Engine-level and transport-free: two {objects, log} store pairs; the home
// pair is only ever read.
import { dataError, HyperspaceError } from '../native/index.ts';
import { limits } from './limits.ts';
import { collectionPrefix, decodeManifest, encodeManifest, manifestKey, segmentKey, ulid, type Manifest, type SegmentEntry } from './manifest.ts';
import { Segment, writeSegment, type SegmentRecord } from './segment.ts';
import type { Lease, LogStore, ManifestPointer, WalRecord } from './stores/log-store.ts';
import type { ObjectStore } from './stores/object-store.ts';
import { tombstoneHorizonOf } from './sync-tombstones.ts';
import type { CollectionConfig } from './validate.ts';
import { decodeBatch, encodeReplicated } from './wal-batch.ts';

export interface StorePair {
  objects: ObjectStore;
  log: LogStore;
}

/** Bounds of one run (docs/aws.md "Region replicas"). */
export const regionReplicaLimits = {
  /** The replicator's lease on a replica collection; a run that outlives it cannot commit. */
  leaseTtlMs: 5 * 60 * 1000,
  /** Fetches of one segment from the home region before the collection fails with `data`. */
  fetchAttemptsMax: 3,
  /** Writes of one object to the replica that must read back as written. */
  writeAttemptsMax: 3,
  /** Snapshots of the home state when its indexer folded or collected underneath. */
  snapshotAttemptsMax: 3,
} as const;

export interface RegionReplicatorOptions {
  /** The home region's stores: read only. */
  home: StorePair;
  /** The replica region's stores. */
  replica: StorePair;
  /** Lease owner, unique per invocation. */
  owner: string;
  leaseTtlMs?: number;
  /** Unreferenced replica objects are deleted once their manifest is older than this (default `limits.gcGraceMs`). */
  gcGraceMs?: number;
  now?: () => number;
}

export type ReplicationOutcome = 'committed' | 'up-to-date' | 'busy' | 'lost' | 'dropped';

export interface CollectionReplication {
  collection: string;
  outcome: ReplicationOutcome;
  /** The home manifest version and last seq the replica reflects after the run (for `busy`: 0). */
  sourceVersion: number;
  sourceSeq: number;
  replicaVersion: number;
  segmentsCopied: number;
  /** Objects a run that died before its commit left in the replica, verified and kept. */
  segmentsReused: number;
  /** Arrivals that failed verification (from the home, or reading back from the replica) and were fetched or written again. */
  arrivalsRejected: number;
  /** Segment bytes written to the replica (the tail segment apart). */
  bytesCopied: number;
  /** Everything read from the home region: manifest, segments (rejected ones too), WAL records. */
  bytesFetched: number;
  tailRecords: number;
  tailSegmentBytes: number;
  deletedObjects: number;
}

/** The home moved underneath a snapshot (its indexer folded and truncated, or collected): read it again. */
class HomeMoved extends Error {}

interface ReplicaState {
  pointer: ManifestPointer | null;
  manifest: Manifest | null;
  config: string | null;
}

/**
 * Brings one collection of the replica to the home's current state (or drops
 * it when the home dropped it). `busy` when another replicator holds the
 * replica collection's lease, `lost` when another committed first.
 */
export async function replicateCollection(options: RegionReplicatorOptions, name: string): Promise<CollectionReplication> {
  const report = emptyReport(name);
  let lease: Lease;
  try {
    lease = await takeLease(options, name);
  } catch (error) {
    if (error instanceof HyperspaceError && error.kind === 'conflict' && error.message.startsWith('lease is held:')) return { ...report, outcome: 'busy' };
    throw error;
  }
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Run(options, name, lease, report).run();
      } catch (error) {
        if (!(error instanceof HomeMoved)) throw error;
        if (attempt >= regionReplicaLimits.snapshotAttemptsMax) {
          throw new HyperspaceError('unavailable', `home of collection=${name} changed during ${attempt} snapshots (${error.message}); the next run retries`);
        }
      }
    }
  } finally {
    await options.replica.log.releaseLease(name, options.owner, lease.epoch).catch(() => undefined);
  }
}

function takeLease(options: RegionReplicatorOptions, name: string): Promise<Lease> {
  return options.replica.log.acquireLease(name, options.owner, options.leaseTtlMs ?? regionReplicaLimits.leaseTtlMs);
}

export type ReplicationResult = CollectionReplication | { collection: string; outcome: 'failed'; error: HyperspaceError };

/** Every collection of either region, one after another; a failure of one does not stop the others. */
export async function replicateAll(options: RegionReplicatorOptions): Promise<ReplicationResult[]> {
  const names = new Set([...(await options.home.log.listCollections()), ...(await options.replica.log.listCollections())]);
  const results: ReplicationResult[] = [];
  for (const name of [...names].sort()) {
    try {
      results.push(await replicateCollection(options, name));
    } catch (error) {
      const e = error instanceof HyperspaceError ? error : new HyperspaceError('internal', (error as Error)?.message ?? String(error), { cause: error });
      results.push({ collection: name, outcome: 'failed', error: e });
    }
  }
  return results;
}

function emptyReport(collection: string): CollectionReplication {
  return {
    collection, outcome: 'up-to-date', sourceVersion: 0, sourceSeq: 0, replicaVersion: 0, segmentsCopied: 0, segmentsReused: 0,
    arrivalsRejected: 0, bytesCopied: 0, bytesFetched: 0, tailRecords: 0, tailSegmentBytes: 0, deletedObjects: 0,
  };
}

/** One attempt at one collection, under `lease` (a drop fences it: the run takes a new one). */
class Run {
  private readonly home: StorePair;
  private readonly replica: StorePair;
  private readonly now: () => number;

  constructor(private readonly options: RegionReplicatorOptions, private readonly name: string, private readonly lease: Lease,
    private readonly report: CollectionReplication) {
    this.home = options.home;
    this.replica = options.replica;
    this.now = options.now ?? Date.now;
  }

  async run(): Promise<CollectionReplication> {
    const { name, report } = this;
    const homeConfig = await this.home.log.getCollectionConfig(name);
    let state = await this.readReplica();
    if (homeConfig === null) {
      if (state.pointer === null && state.config === null) return { ...report, outcome: 'dropped' };
      return this.drop(state);
    }
    if (state.config !== null && state.config !== homeConfig) {
      // Dropped and re-created at home with another config: the replica's copy is of a collection that no longer exists.
      await this.drop(state);
      state = { pointer: null, manifest: null, config: null };
      this.lease.epoch = (await takeLease(this.options, name)).epoch;
    }
    this.assertReplica(state);

    const homePointer = await this.home.log.getPointer(name);
    const sourceVersion = homePointer?.version ?? 0;
    const sourceSeq = await this.home.log.lastSeq(name);
    report.sourceVersion = sourceVersion;
    report.sourceSeq = sourceSeq;
    report.replicaVersion = state.pointer?.version ?? 0;
    const current = state.manifest;
    if (current) {
      const atSeq = current.sourceSeq ?? 0, atVersion = current.sourceVersion ?? 0;
      if (sourceSeq < atSeq || sourceVersion < atVersion) {
        throw new HyperspaceError('conflict', `home of collection=${name} is behind its region replica: home at seq ${sourceSeq} manifest v${sourceVersion}, ` +
          `replica reflects seq ${atSeq} manifest v${atVersion}; refusing to move the replica backwards (if the home collection was dropped and re-created, drop it in the replica region)`);
      }
      if (sourceSeq === atSeq && sourceVersion === atVersion) {
        await this.settle(state, homeConfig, current);
        return { ...report, outcome: 'up-to-date' };
      }
    }
    // The manifest the pointer named: with the records up to sourceSeq (read after the pointer), the home at sourceSeq.
    const homeManifest = homePointer ? decodeManifest(await this.fetch(homePointer.key), homePointer.key) : null;
    const config = JSON.parse(homeConfig) as CollectionConfig;
    const tail = await this.readTail(homeManifest?.walSeq ?? 0, sourceSeq);

    // Segments the replica lacks, by key and root.
    const held = new Map((current?.segments ?? []).map((e) => [e.key, e.root]));
    for (const entry of homeManifest?.segments ?? []) if (held.get(entry.key) !== entry.root) await this.copySegment(entry);

    // The tail: the last write of each id wins; live ones go into a tail segment with the home's seqs.
    const last = new Map<string, SegmentRecord | { id: string; seq: number; deleted: true }>();
    for (const record of tail) {
      for (const op of decodeBatch(record.payload, `home collection=${name} seq=${record.seq}`)) {
        last.set(op.id, op.kind === 'upsert' ? { id: op.id, seq: op.sourceSeq ?? record.seq, vector: op.vector, metadata: op.metadata } : { id: op.id, seq: record.seq, deleted: true });
      }
    }
    report.tailRecords = last.size;
    const deletions = new Map(homeManifest?.deletions ?? []);
    for (const [id, entry] of last) deletions.set(id, entry.seq);
    const live = [...last.values()].filter((e): e is SegmentRecord => !('deleted' in e));
    let tailEntry: SegmentEntry | null = null;
    if (live.length > 0) {
      const written = await writeSegment(live, config);
      const key = segmentKey(name, this.lease.epoch, ulid(this.now()));
      tailEntry = { key, bytes: written.bytes.length, count: written.count, minSeq: written.minSeq, maxSeq: written.maxSeq, root: written.root };
      await this.putVerified(key, written.bytes);
      report.tailSegmentBytes = written.bytes.length;
    }

    const version = (state.pointer?.version ?? 0) + 1;
    const next: Manifest = {
      format: 1, collection: name, version, parentVersion: state.pointer?.version ?? null, epoch: this.lease.epoch,
      walSeq: await this.replica.log.lastSeq(name), config: homeManifest?.config ?? config,
      segments: [...(homeManifest?.segments ?? []), ...(tailEntry ? [tailEntry] : [])],
      deletions: [...deletions], createdAtMs: this.now(),
      tombstoneHorizon: homeManifest ? tombstoneHorizonOf(homeManifest) : 0, sourceSeq, sourceVersion,
    };
    const key = manifestKey(name, version, this.lease.epoch);
    if (!(await this.commit(state.pointer, next, key, tailEntry?.key))) return { ...report, outcome: 'lost' };
    report.replicaVersion = version;
    await this.settle({ ...state, pointer: { version, key }, manifest: next }, homeConfig, next);
    // Markers older than the previous manifest are no longer read by anyone refreshing.
    if (current && current.walSeq > 0) await this.replica.log.truncateBefore(name, current.walSeq);
    report.deletedObjects += await this.collectGarbage(next, key);
    return { ...report, outcome: 'committed' };
  }

  /**
   * After a commit (or when a run died right after one): the catalog entry —
   * so the collection appears only once its first manifest is committed — and
   * the replication marker a warm reader learns the home seq from.
   */
  private async settle(state: ReplicaState, homeConfig: string, manifest: Manifest): Promise<void> {
    if (state.config === null) await this.replica.log.putCollectionConfig(this.name, homeConfig);
    if ((await this.replica.log.lastSeq(this.name)) <= manifest.walSeq) {
      await this.replica.log.append(this.name, encodeReplicated([], [], manifest.sourceSeq ?? 0, manifest.config.dimension));
    }
  }

  private async readReplica(): Promise<ReplicaState> {
    const [pointer, config] = await Promise.all([this.replica.log.getPointer(this.name), this.replica.log.getCollectionConfig(this.name)]);
    const manifest = pointer ? decodeManifest(await this.replica.objects.get(pointer.key), pointer.key) : null;
    return { pointer, manifest, config };
  }

  /** The replicator writes the pointer before the catalog entry and always with `sourceSeq`: anything else is not its own. */
  private assertReplica(state: ReplicaState): void {
    if ((state.manifest && state.manifest.sourceSeq === undefined) || (state.pointer === null && state.config !== null)) {
      throw new HyperspaceError('conflict', `collection=${this.name} in the replica region is not a region replica (it was not written by the replicator): ` +
        'it is left alone; drop it there to replicate the home collection');
    }
  }

  private async drop(state: ReplicaState): Promise<CollectionReplication> {
    this.assertReplica(state);
    await this.replica.log.dropCollection(this.name);
    const keys = await this.replica.objects.list(collectionPrefix(this.name));
    for (const key of keys) await this.replica.objects.delete(key);
    this.report.deletedObjects += keys.length;
    return { ...this.report, outcome: 'dropped' };
  }

  /** An object of the home; gone (collected, or a newer pointer) means the snapshot moved. */
  private async fetch(key: string): Promise<Uint8Array> {
    try {
      const bytes = await this.home.objects.get(key);
      this.report.bytesFetched += bytes.length;
      return bytes;
    } catch (error) {
      if (error instanceof HyperspaceError && error.kind === 'not_found') throw new HomeMoved(error.message);
      throw error;
    }
  }

  /** The home's WAL records (fromSeq, throughSeq]. */
  private async readTail(afterSeq: number, throughSeq: number): Promise<WalRecord[]> {
    const records: WalRecord[] = [];
    for (let next = afterSeq + 1; next <= throughSeq;) {
      let page: WalRecord[];
      try {
        page = await this.home.log.read(this.name, next);
      } catch (error) {
        if (error instanceof HyperspaceError && error.kind === 'not_found') throw new HomeMoved(error.message);
        throw error;
      }
      if (page.length === 0 || page[0].seq !== next) throw dataError(`home wal gap: collection=${this.name} expected seq ${next}`);
      for (const record of page) {
        if (record.seq > throughSeq) break;
        records.push(record);
        this.report.bytesFetched += record.payload.length;
        next = record.seq + 1;
      }
    }
    return records;
  }

  /** Copies one home segment, verified on arrival; a bad arrival is fetched again, never committed. */
  private async copySegment(entry: SegmentEntry): Promise<void> {
    // Renew the lease per segment, so a long first copy keeps it (a holder renewing keeps its epoch).
    this.lease.epoch = (await takeLease(this.options, this.name)).epoch;
    if (await this.replica.objects.head(entry.key)) {
      // Left by a run that died before its commit: kept if it is what the home manifest names.
      if (verifyArrival(await this.replica.objects.get(entry.key), entry) === null) {
        this.report.segmentsReused++;
        return;
      }
      await this.replica.objects.delete(entry.key);
    }
    for (let fetches = 1; ; fetches++) {
      const bytes = await this.fetch(entry.key);
      const problem = verifyArrival(bytes, entry);
      if (problem === null) {
        await this.putVerified(entry.key, bytes);
        this.report.segmentsCopied++;
        this.report.bytesCopied += bytes.length;
        return;
      }
      this.report.arrivalsRejected++;
      if (fetches >= regionReplicaLimits.fetchAttemptsMax) {
        throw dataError(`segment arrived corrupted ${fetches} times from the home region, not committed: collection=${this.name} key=${entry.key}: ${problem}`);
      }
    }
  }

  /** Writes an object to the replica and reads it back; what does not read back as written is deleted and written again. */
  private async putVerified(key: string, bytes: Uint8Array): Promise<void> {
    for (let writes = 1; ; writes++) {
      await this.replica.objects.put(key, bytes);
      if (equalBytes(await this.replica.objects.get(key), bytes)) return;
      this.report.arrivalsRejected++;
      await this.replica.objects.delete(key);
      if (writes >= regionReplicaLimits.writeAttemptsMax) {
        throw dataError(`segment did not read back as written in the replica region ${writes} times, not committed: collection=${this.name} key=${key}`);
      }
    }
  }

  /** CAS the replica's pointer; false (and what only this attempt wrote deleted) when another replicator got there first. */
  private async commit(previous: ManifestPointer | null, next: Manifest, key: string, tailKey: string | undefined): Promise<boolean> {
    await this.replica.objects.put(key, encodeManifest(next));
    let failure: unknown;
    let committed = false;
    try {
      committed = await this.replica.log.casPointer(this.name, previous?.version ?? null, { version: next.version, key }, { epoch: this.lease.epoch });
    } catch (error) {
      // Ambiguous, or fenced by a newer lease: the pointer read back decides.
      const pointer = await this.replica.log.getPointer(this.name).catch(() => undefined);
      if (pointer === undefined) throw error;
      committed = pointer?.key === key;
      if (!committed && !(error instanceof HyperspaceError && error.kind === 'conflict')) failure = error;
    }
    if (committed) return true;
    for (const written of [key, tailKey]) if (written) await this.replica.objects.delete(written).catch(() => undefined);
    if (failure !== undefined) throw failure;
    return false;
  }

  /**
   * After a commit: manifests other than `current` past the grace period, and
   * segments no remaining manifest names (readers of a recent manifest keep
   * theirs until it passes the grace period too).
   */
  private async collectGarbage(current: Manifest, currentKey: string): Promise<number> {
    const prefix = collectionPrefix(this.name);
    const graceMs = this.options.gcGraceMs ?? limits.gcGraceMs;
    const referenced = new Set(current.segments.map((s) => s.key));
    const doomed: string[] = [];
    for (const key of await this.replica.objects.list(`${prefix}manifests/`)) {
      if (key === currentKey) continue;
      const manifest = await this.replica.objects.get(key).then((bytes) => decodeManifest(bytes, key), () => null);
      if (manifest && this.now() - manifest.createdAtMs < graceMs) for (const s of manifest.segments) referenced.add(s.key);
      else doomed.push(key);
    }
    for (const key of await this.replica.objects.list(`${prefix}segments/`)) if (!referenced.has(key)) doomed.push(key);
    for (const key of doomed) await this.replica.objects.delete(key);
    return doomed.length;
  }
}

/** Why `bytes` are not the segment `entry` names (checksums, root, count, seq range, size), or null. */
export function verifyArrival(bytes: Uint8Array, entry: SegmentEntry): string | null {
  let segment: Segment;
  try {
    segment = Segment.open(bytes, entry.key);
  } catch (error) {
    return (error as Error).message;
  }
  if (bytes.length !== entry.bytes) return `${bytes.length} bytes, the manifest says ${entry.bytes}`;
  if (segment.root !== entry.root) return `root ${segment.root}, the manifest says ${entry.root}`;
  if (segment.count !== entry.count || segment.minSeq !== entry.minSeq || segment.maxSeq !== entry.maxSeq) {
    return `${segment.count} records seqs ${segment.minSeq}..${segment.maxSeq}, the manifest says ${entry.count} records seqs ${entry.minSeq}..${entry.maxSeq}`;
  }
  return null;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
