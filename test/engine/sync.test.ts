// Replication in one process (engine/sync.ts): a replica catches up by
// sequence and repairs unknown divergence, moving only what differs, and its
// root equals the leader's at the same leader seq.
import { afterEach, describe, expect, it } from 'vitest';
import { HyperspaceDB, type Collection } from '../../engine/index.ts';
import { crc32c as crc } from '../../native/index.ts';
import { retainTombstones } from '../../engine/sync-tombstones.ts';
import type { ReplicatedRecord } from '../../engine/collection.ts';
import { changesSince, decodeChanges, decodePulls, learnSourceSeqs, localSource, pull, repair, syncReplica, type SyncReport, type SyncSource } from '../../engine/sync.ts';
import { bucketOf } from '../../engine/merkle.ts';
import { rng } from '../helpers/random.ts';
import { expectError, temporaryDirectory, vectorOf } from './engine-helpers.ts';

const dimension = 16;
const opened: HyperspaceDB[] = [];

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

async function pair(metric: 'l2' | 'cosine' = 'l2'): Promise<{ leader: Collection; replica: Collection; replicaDb: HyperspaceDB; replicaDir: string }> {
  const leaderDb = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
  const replicaDir = await temporaryDirectory();
  const replicaDb = await HyperspaceDB.open(replicaDir, { indexer: false });
  opened.push(leaderDb, replicaDb);
  const config = { dimension, metric, hnsw: { M: 8, efConstruction: 32 } };
  return { leader: await leaderDb.createCollection('docs', config), replica: await replicaDb.createCollection('docs', config), replicaDb, replicaDir };
}

const point = (i: number, version = 0) => ({ id: `p${i}`, vector: vectorOf(`p${i}`, dimension, version), metadata: { i, version } });
const points = (from: number, to: number, version = 0) => Array.from({ length: to - from }, (_, k) => point(from + k, version));

async function expectConverged(leader: Collection, replica: Collection): Promise<void> {
  const [l, r] = [await leader.digest(), await replica.digest()];
  expect(r.consistency.walSeq).toBe(l.consistency.walSeq);
  expect(r.root).toBe(l.root);
  expect(replica.describe().count).toBe(leader.describe().count);
}

describe('catch-up by sequence', () => {
  it('converges after upserts, updates, deletes, flush and compaction on the leader', async () => {
    const { leader, replica } = await pair();
    const source = localSource(leader);
    await leader.upsert(points(0, 300));
    let report = await syncReplica(replica, source);
    expect(report).toMatchObject({ mode: 'catch-up', upserts: 300, deletes: 0 });
    await expectConverged(leader, replica);

    await leader.flush();
    await leader.upsert(points(0, 50, 1)); // updates of segment records
    await leader.delete(['p60', 'p61', 'p400']); // p400 never existed
    await leader.upsert(points(300, 320));
    await leader.flush();
    await leader.delete(['p301']); // a delete in the tail of an id in a segment
    await leader.upsert([point(60, 2)]); // deleted, then written again
    report = await syncReplica(replica, source);
    expect(report.mode).toBe('catch-up');
    expect(report.upserts).toBe(50 + 19 + 1); // p301 is gone again
    await expectConverged(leader, replica);
    expect(await replica.get('p61')).toBeNull();
    expect(await replica.get('p301')).toBeNull();
    expect((await replica.get('p60'))?.metadata).toEqual({ i: 60, version: 2 });

    await leader.delete(['p0', 'p1']);
    await leader.flush();
    await leader.compact(); // deletion entries no segment needs any more survive as tombstones
    report = await syncReplica(replica, source);
    expect(report).toMatchObject({ mode: 'catch-up', deletes: 2 });
    await expectConverged(leader, replica);
    expect(await replica.get('p0')).toBeNull();
  });

  it('cosine vectors cross as stored, so leaves agree bit for bit', async () => {
    const { leader, replica } = await pair('cosine');
    await leader.upsert(points(0, 100));
    await syncReplica(replica, localSource(leader));
    await expectConverged(leader, replica);
  });

  it('pages end on batch boundaries and the last page carries the root', async () => {
    const { leader } = await pair();
    for (let b = 0; b < 5; b++) await leader.upsert(points(b * 10, b * 10 + 10));
    const first = decodeChanges(changesSince(leader, 0, { limit: 25 }));
    expect(first).toMatchObject({ afterSeq: 0, throughSeq: 2, leaderSeq: 5, done: false, root: null });
    expect(first.upserts.map((u) => u.seq)).toEqual([...Array(10).fill(1), ...Array(10).fill(2)]);
    const big = decodeChanges(changesSince(leader, 0, { limit: 5 })); // one batch larger than the page goes whole
    expect(big).toMatchObject({ throughSeq: 1, done: false });
    expect(big.upserts).toHaveLength(10);
    const last = decodeChanges(changesSince(leader, 2));
    expect(last).toMatchObject({ throughSeq: 5, done: true, root: (await leader.digest()).root });
  });

  it('moves only the changes: 1% changed moves under 3% of a full copy', async () => {
    const { leader, replica } = await pair();
    for (let b = 0; b < 10; b++) await leader.upsert(points(b * 1000, b * 1000 + 1000));
    await leader.flush();
    const counter = { bytes: 0 };
    await syncReplica(replica, localSource(leader, counter));
    const full = counter.bytes;
    counter.bytes = 0;
    await leader.upsert(points(0, 80, 1));
    await leader.delete(Array.from({ length: 20 }, (_, i) => `p${5000 + i}`));
    await leader.flush();
    const report = await syncReplica(replica, localSource(leader, counter));
    expect(report).toMatchObject({ mode: 'catch-up', upserts: 80, deletes: 20 });
    expect(counter.bytes / full).toBeLessThan(0.03);
    await expectConverged(leader, replica);
  });

  it('a replica refuses local writes and a leader that is behind it', async () => {
    const { leader, replica } = await pair();
    await leader.upsert(points(0, 10));
    await syncReplica(replica, localSource(leader));
    await expectError(() => replica.upsert([point(1)]), 'conflict', 'collection=docs is a read replica: write to the leader');
    await expectError(() => replica.delete(['p1']), 'conflict', 'collection=docs is a read replica: write to the leader');
    const { leader: older } = await pair();
    await older.upsert(points(0, 3)); // a leader at seq 1
    const behind: SyncSource = { ...localSource(older), changes: async () => changesSince(older, 0) };
    await leader.upsert(points(10, 20));
    await syncReplica(replica, localSource(leader)); // replica at seq 2
    await expectError(() => syncReplica(replica, behind), 'conflict', 'leader is at seq 1, behind this replica (2): collection=docs refuses to move backwards');
    expect((await replica.digest()).consistency.walSeq).toBe(2);
  });

  it('survives a restart: the replica remembers the leader seq it reflects', async () => {
    const { leader, replica, replicaDb, replicaDir } = await pair();
    await leader.upsert(points(0, 40));
    await syncReplica(replica, localSource(leader));
    await replica.flush();
    await leader.upsert(points(40, 60));
    await syncReplica(replica, localSource(leader));
    await replicaDb.close();
    opened.splice(opened.indexOf(replicaDb), 1);
    const reopened = await HyperspaceDB.open(replicaDir, { indexer: false });
    opened.push(reopened);
    const again = reopened.collection('docs');
    await expectConverged(leader, again);
    await leader.delete(['p5']);
    expect(await syncReplica(again, localSource(leader))).toMatchObject({ mode: 'catch-up', deletes: 1, upserts: 0 });
    await expectConverged(leader, again);
  });
});

describe('repair', () => {
  it('narrows a diverged replica down to the differing records, deletes what the leader lacks', async () => {
    const { leader, replica } = await pair();
    await leader.upsert(points(0, 2000));
    await leader.flush();
    await syncReplica(replica, localSource(leader));
    // Diverge the replica behind the protocol's back: dropped, stale, corrupted and extra records.
    const at = replica.syncView().sourceSeq!;
    const live = await leader.get('p10');
    await replica.commitReplicated([
      { id: 'p10', seq: 1, vector: live!.vector.map((x) => x + 1), metadata: live!.metadata }, // corrupted
      { id: 'p11', seq: 1, vector: vectorOf('p11', dimension, 7), metadata: { i: 11, version: 7 } }, // stale
      { id: 'ghost', seq: 1, vector: vectorOf('ghost', dimension), metadata: {} }, // the leader never had it
    ], ['p12', 'p13'], at);
    const counter = { bytes: 0 };
    const report = await syncReplica(replica, localSource(leader, counter));
    expect(report.mode).toBe('repair');
    expect(report.repair).toMatchObject({ recordsPulled: 4, recordsDeleted: 1, recordsRejected: 0 });
    expect(report.repair!.bucketsDiffering).toBeLessThanOrEqual(5);
    await expectConverged(leader, replica);
    expect(await replica.get('ghost')).toBeNull();
    // A full copy of 2,000 16-d records is ~250 KB; the repair moved a few KB.
    expect(counter.bytes).toBeLessThan(20_000);
  });

  it('repairs a replica behind the tombstone horizon (it cannot be served by sequence)', async () => {
    const { leader, replica } = await pair();
    await leader.upsert(points(0, 30));
    await syncReplica(replica, localSource(leader));
    await leader.delete(['p1', 'p2']);
    await leader.flush();
    // Pretend compaction had to forget those tombstones: a leader manifest with a horizon past them.
    const view = leader.syncView();
    (view.manifest as { tombstoneHorizon?: number }).tombstoneHorizon = view.manifest.walSeq;
    expect(decodeChanges(changesSince(leader, 1)).resync).toBe(true);
    const report = await syncReplica(replica, localSource(leader));
    expect(report.mode).toBe('repair');
    expect(report.repair?.recordsDeleted).toBe(2);
    await expectConverged(leader, replica);
  });

  it('a record corrupted on the way is rejected and fetched again, never applied', async () => {
    const { leader, replica } = await pair();
    await leader.upsert(points(0, 200));
    await syncReplica(replica, localSource(leader));
    await replica.commitReplicated([{ id: 'p7', seq: 1, vector: vectorOf('x', dimension), metadata: {} }], [], replica.syncView().sourceSeq!);
    let flips = 0;
    const honest = localSource(leader);
    const flaky: SyncSource = {
      ...honest,
      async pull(request) {
        const bytes = pull(leader, request);
        if (request.ids?.includes('p7') && flips++ === 0) {
          // Re-frame a record whose vector changed: valid CRC, wrong content.
          // Frame header 12, leader seq 8, hash bytes 1, dimension 4, no expanded nodes 4, record count 4: the first vector.
          const changed = bytes.slice();
          changed[12 + 8 + 1 + 4 + 4 + 4 + 1] ^= 1;
          return reframe(changed);
        }
        return bytes;
      },
    };
    const report = await syncReplica(replica, flaky);
    expect(report.repair?.recordsRejected).toBe(1);
    await expectConverged(leader, replica);
  });

  it('a frame corrupted in transit fails its checksum', async () => {
    const { leader } = await pair();
    await leader.upsert(points(0, 5));
    const bytes = changesSince(leader, 0);
    bytes[bytes.length - 3] ^= 0xff;
    await expectError(() => decodeChanges(bytes), 'data', 'sync changes: checksum mismatch (corrupted in transit)');
  });
});

describe('a replica serves sync in the leader\'s seqs (follower chains)', () => {
  async function chain(): Promise<{ leader: Collection; middle: Collection; middleDb: HyperspaceDB; middleDir: string; last: () => Promise<Collection> }> {
    const { leader, replica: middle, replicaDb: middleDb, replicaDir: middleDir } = await pair();
    const last = async () => {
      const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
      opened.push(db);
      return db.createCollection('docs', { dimension, metric: 'l2', hnsw: { M: 8, efConstruction: 32 } });
    };
    return { leader, middle, middleDb, middleDir, last };
  }

  it('leader → replica → replica: equal roots at the same leader seq, through folds, deletes and repairs', async () => {
    const { leader, middle, last } = await chain();
    const end = await last();
    await leader.upsert(points(0, 100));
    await leader.delete(['p3']);
    await syncReplica(middle, localSource(leader));
    await middle.flush(); // the middle serves folded records: their leader seqs are not in its segments
    expect(await syncReplica(end, localSource(middle))).toMatchObject({ mode: 'catch-up', upserts: 99, sourceSeq: 2 });
    await expectConverged(leader, end);

    await leader.upsert(points(0, 10, 1));
    await leader.delete(['p20', 'p21']);
    await leader.flush();
    await leader.upsert([point(20, 2)]); // deleted, then written again
    await syncReplica(middle, localSource(leader));
    await middle.flush();
    expect(await syncReplica(end, localSource(middle))).toMatchObject({ mode: 'catch-up', upserts: 11, deletes: 1, sourceSeq: 5 });
    await expectConverged(leader, end);
    expect(await end.get('p21')).toBeNull();
    expect(decodeChanges(changesSince(middle, 2)).leaderSeq).toBe(5); // the middle answers in the leader's seqs

    // The last replica diverges (a record dropped, one it should not have): a repair against the middle.
    await end.commitReplicated([{ id: 'intruder', seq: 1, vector: vectorOf('x', dimension), metadata: {} }], ['p50'], 5);
    await leader.upsert([point(60, 3)]);
    await syncReplica(middle, localSource(leader));
    const repaired = await syncReplica(end, localSource(middle));
    expect(repaired.repair).toMatchObject({ recordsDeleted: 1 });
    await expectConverged(leader, end);
    expect(await end.get('intruder')).toBeNull();
  });

  it('a replica behind the middle\'s horizon (tracking began after it) repairs instead of catching up', async () => {
    const { leader, middle, middleDb, middleDir, last } = await chain();
    await leader.upsert(points(0, 50));
    await syncReplica(middle, localSource(leader));
    const end = await last();
    await syncReplica(end, localSource(middle)); // at leader seq 1
    await leader.delete(['p1']);
    await syncReplica(middle, localSource(leader));
    await middle.flush();
    await middleDb.close();
    opened.splice(opened.indexOf(middleDb), 1);
    const reopenedDb = await HyperspaceDB.open(middleDir, { indexer: false });
    opened.push(reopenedDb);
    const reopened = reopenedDb.collection('docs');
    await leader.delete(['p2']);
    await syncReplica(reopened, localSource(leader));
    // The delete of p1 (seq 2) was written before the restart: a replica behind that point is told to repair.
    expect(decodeChanges(changesSince(reopened, 1)).resync).toBe(true);
    expect(decodeChanges(changesSince(reopened, 2)).deletes).toEqual([{ id: 'p2', seq: 3 }]);
    // Records folded before the restart: their leader seqs are learned from the upstream before they are served.
    const message = 'collection=docs is a replica that does not know the leader seq of "p0" yet (records folded before it restarted are learned again from its upstream on its next sync); retry';
    await expectError(() => pull(reopened, { ids: ['p0'] }), 'unavailable', message);
    await expectError(() => changesSince(reopened, 0), 'unavailable', message.replace('"p0"', 'some records'));
    const upstream = localSource(leader);
    expect(await learnSourceSeqs(reopened, upstream)).toBe(0);
    expect(upstream.counter.bytes).toBeGreaterThan(48 * dimension * 4); // the records themselves: a restart costs a copy
    expect(await learnSourceSeqs(reopened, upstream)).toBe(0); // known now: nothing moves
    const report = await syncReplica(end, localSource(reopened));
    expect(report.mode).toBe('repair');
    await expectConverged(leader, end);
    const fresh = await last();
    await syncReplica(fresh, localSource(reopened));
    await expectConverged(leader, fresh);
  });

  it('refuses a malformed repair answer', async () => {
    const { leader, replica } = await pair();
    await leader.upsert(points(0, 20));
    await syncReplica(replica, localSource(leader));
    await replica.commitReplicated([{ id: 'intruder', seq: 1, vector: vectorOf('x', dimension), metadata: {} }], [], replica.syncView().sourceSeq!);
    const other = ((bucketOf('intruder') + 1) % 256).toString(16).padStart(2, '0');
    const stray: SyncSource = { ...localSource(leader), pull: async () => pull(leader, { expand: [other] }) };
    const report: SyncReport = { mode: 'repair', sourceSeq: 0, root: '', upserts: 0, deletes: 0, pages: 0 };
    await expectError(() => repair(replica, stray, report), 'data', `sync pull: node ${other} was not asked for`);
    await expectError(() => decodePulls([]), 'data', 'sync pull: the answer holds no frame');
  });
});

describe('random divergence', () => {
  for (const k of [1, 10, 1000]) {
    it(`k=${k} records dropped, duplicated, stale or corrupted on the replica, deletes on the leader, writes during the sync: detected and repaired`, async () => {
      const { leader, replica } = await pair();
      const random = rng(k);
      const pick = (n: number) => Math.floor(random() * n);
      for (let b = 0; b < 4; b++) await leader.upsert(points(b * 1000, b * 1000 + 1000));
      await leader.flush();
      await syncReplica(replica, localSource(leader));
      const oldVersions = new Map<string, ReplicatedRecord>();
      for (let i = 0; i < 300; i++) {
        const id = `p${pick(4000)}`;
        const before = await leader.get(id);
        if (before) oldVersions.set(id, { id, seq: 1 + Math.floor(Number(id.slice(1)) / 1000), vector: before.vector, metadata: before.metadata });
      }
      await leader.upsert([...oldVersions.keys()].map((id) => point(Number(id.slice(1)), 9)));
      const deleted = new Set(Array.from({ length: 50 }, () => `p${pick(4000)}`));
      await leader.delete([...deleted]);
      await leader.flush();
      await syncReplica(replica, localSource(leader)); // the replica has the leader's state, then diverges
      const at = replica.syncView().sourceSeq!;
      const upserts = new Map<string, ReplicatedRecord>();
      const drops = new Set<string>();
      for (let i = 0; i < k; i++) {
        const kind = pick(4);
        const id = `p${pick(4000)}`;
        const live = await replica.get(id);
        if (kind === 0 && live) drops.add(id);
        else if (kind === 1) upserts.set(`dup-${i}`, { id: `dup-${i}`, seq: at, vector: vectorOf(id, dimension), metadata: {} }); // a copy under an id the leader lacks
        else if (kind === 2 && oldVersions.has(id)) upserts.set(id, oldVersions.get(id)!); // stale: the version before the leader's update
        else if (live) upserts.set(id, { id, seq: at, vector: live.vector.map((x, j) => (j === 0 ? x + 0.5 : x)), metadata: live.metadata }); // corrupted
        else if (deleted.has(id)) upserts.set(id, { id, seq: 1, vector: vectorOf(id, dimension), metadata: {} }); // a deleted record come back
      }
      for (const id of upserts.keys()) drops.delete(id);
      await replica.commitReplicated([...upserts.values()], [...drops], at);
      if (k >= 10) await replica.flush();
      expect((await replica.digest()).root).not.toBe((await leader.digest()).root);
      // The leader keeps taking writes while the replica syncs.
      let writes = 0;
      const honest = localSource(leader);
      const busy: SyncSource = {
        digest: async () => { await leader.upsert([point(5000 + writes++, 1)]); return honest.digest(); },
        changes: async (after, limit) => { await leader.delete([`p${pick(4000)}`]); return honest.changes(after, limit); },
        pull: async (request) => { await leader.upsert([point(pick(4000), 20 + writes++)]); return honest.pull(request); },
      };
      const before = replica.syncView().sourceSeq!;
      const report = await syncReplica(replica, busy);
      expect(report.mode).toBe('repair');
      expect(report.sourceSeq).toBeGreaterThanOrEqual(before);
      await expectConverged(leader, replica);
      for (const id of deleted) if (!(await leader.get(id))) expect(await replica.get(id)).toBeNull();
      for (const id of upserts.keys()) if (id.startsWith('dup-')) expect(await replica.get(id)).toBeNull();
    });
  }
});

describe('wire frames', () => {
  it('match the test vectors of docs/format/merkle.md', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: false });
    opened.push(db);
    const v = await db.createCollection('v', { dimension: 3, metric: 'l2' });
    await v.upsert([{ id: 'a', vector: [1, 2, 3] }]);
    await v.delete(['gone']);
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(changesSince(v, 0))).toBe('4853594e01010000739d454f' + '0000000000000000' + '0200000000000000' + '0200000000000000'
      + '01' + '8824d9f1b7a44c0e1f47e0a71e2dd72870e8bd7da2da3fcb2575e2390171bb53' + '03000000' + '01000000' + '0000803f0000004000004040'
      + '0100000000000000' + '0100' + '61' + '02000000' + '7b7d' + '01000000' + '0200000000000000' + '0400' + '676f6e65');
    expect(hex(pull(v, { expand: ['ca'], ids: ['gone'] }))).toBe('4853594e01020000b9bb4197' + '0200000000000000' + '08' + '03000000'
      + '01000000' + 'ca' + '00' + '02' + '01000000' + '0100' + '61' + '482e605f4b9f98c9' + '00000000' + '01000000' + '0400' + '676f6e65' + '00000000' + '00000000');
  });
});

describe('tombstones', () => {
  it('keeps needed entries and the newest others, raising the horizon past dropped ones', () => {
    const entries: [string, number][] = [['a', 5], ['b', 9], ['c', 7], ['d', 3]];
    const kept = retainTombstones(entries, (id) => id === 'd', 2, 2);
    expect(kept).toEqual({ deletions: [['b', 9], ['d', 3]], horizon: 7 });
  });
});

/** Recomputes the CRC of a tampered frame, as a leader with a bug would send it. */
function reframe(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(8, crc(bytes.subarray(12)), true);
  return bytes;
}
