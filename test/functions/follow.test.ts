// Replication over real sockets on 127.0.0.1: `hyperspace serve --follow`
// keeps a read replica converged with its leader, `hyperspace sync` pulls
// one collection and reports the bytes it moved, a diverged replica is
// repaired by moving only what differs, and a replica never moves backwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HyperspaceDB } from '../../engine/index.ts';
import { LeaderClient, syncCommand, syncFrom } from '../../functions/follow.ts';
import { runCommand } from '../../functions/cli/run.ts';
import { startServe, type RunningServe } from '../../functions/serve.ts';
import { vectorOf } from '../engine/engine-data.ts';
import { call } from './http-harness.ts';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hyperspace-follow-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(options: { follow?: string; data?: string } = {}): Promise<{ running: RunningServe; base: string }> {
  const running = await startServe({
    data: options.data ?? await scratch(), host: '127.0.0.1', httpPort: 0, grpcPort: null, insecure: false,
    corsOrigins: [], bodyBytesMax: 16 * 1024 * 1024, drainMs: 1000,
    ...(options.follow ? { follow: options.follow, followPollMs: 50 } : {}),
  });
  cleanup.push(() => running.close());
  return { running, base: `http://127.0.0.1:${running.http.port}` };
}

const dimension = 8;
const point = (i: number, version = 0) => ({ id: `doc-${i}`, vector: Array.from(vectorOf(`doc-${i}`, dimension, version)), metadata: { i, version } });
const points = (from: number, to: number, version = 0) => Array.from({ length: to - from }, (_, k) => point(from + k, version));

async function ok(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const reply = await call(base, method, path, body);
  expect(reply.status, JSON.stringify(reply.json)).toBe(200);
  return reply.json;
}

async function createDocs(base: string): Promise<void> {
  await ok(base, 'POST', '/v1/collections', { name: 'docs', dimension, metric: 'cosine', hnsw: { m: 8, efConstruction: 32 } });
}

/** Waits until the follower's digest equals the leader's at the same leader seq. */
async function converged(leader: string, follower: string, name = 'docs'): Promise<{ root: string; consistency: { walSeq: number } }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const l = await call(leader, 'GET', `/v1/collections/${name}/digest`);
    const f = await call(follower, 'GET', `/v1/collections/${name}/digest`);
    if (f.status === 200 && f.json.root === l.json.root && f.json.consistency.walSeq === l.json.consistency.walSeq) return l.json;
    if (Date.now() > deadline) throw new Error(`not converged: leader ${JSON.stringify(l.json.consistency)} ${l.json.root} follower ${JSON.stringify(f.json)}`.slice(0, 500));
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('hyperspace serve --follow', () => {
  it('copies the leader, converges after upserts, updates, deletes, flush and compaction, and refuses writes naming the leader', async () => {
    const leader = await serve();
    await createDocs(leader.base);
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 200) });
    const follower = await serve({ follow: leader.base });
    const first = await converged(leader.base, follower.base);
    expect(first.consistency.walSeq).toBe(1);

    await ok(leader.base, 'POST', '/v1/collections/docs/flush');
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 20, 1) });
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-30', 'doc-31'] });
    await ok(leader.base, 'POST', '/v1/collections/docs/flush');
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(200, 230) });
    await ok(leader.base, 'POST', '/v1/collections/docs/compact');
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-201'] });
    const later = await converged(leader.base, follower.base);
    expect(later.consistency.walSeq).toBe(5);

    // Reads are served by the follower.
    const got = await ok(follower.base, 'GET', '/v1/collections/docs/points/doc-3');
    expect(got.metadata).toEqual({ i: 3, version: 1 });
    expect((await call(follower.base, 'GET', '/v1/collections/docs/points/doc-30')).status).toBe(404);
    const hits = await ok(follower.base, 'POST', '/v1/collections/docs/search', { vector: point(210).vector, k: 1 });
    expect(hits.hits[0].id).toBe('doc-210');
    const count = await ok(follower.base, 'POST', '/v1/collections/docs/count', {});
    expect(count.count).toBe(200 - 2 + 30 - 1);

    // Writes are answered 409 conflict naming the leader (no redirect).
    for (const [path, body] of [['/v1/collections/docs/upsert', { points: [point(1)] }], ['/v1/collections/docs/delete', { ids: ['doc-1'] }], ['/v1/collections', { name: 'x', dimension: 2, metric: 'l2' }]] as const) {
      const refused = await call(follower.base, 'POST', path, body);
      expect(refused.status).toBe(409);
      expect(refused.json.error.kind).toBe('conflict');
      expect(refused.json.error.message).toContain(`read-only follower of ${leader.base}`);
    }
    expect((await call(follower.base, 'DELETE', '/v1/collections/docs')).status).toBe(409);

    // Lag in describe and /metrics.
    const described = (await ok(follower.base, 'GET', '/v1/collections/docs')).collection;
    expect(described.replica).toMatchObject({ sourceSeq: 5, leader: leader.base, leaderSeq: 5, lagSeqs: 0, lastError: null });
    expect(described.replica.lagSeconds).toBeGreaterThanOrEqual(0);
    expect(described.replica.lagSeconds).toBeLessThan(5);
    const metrics = await fetch(`${follower.base}/metrics`).then((r) => r.text());
    expect(metrics).toContain('hyperspace_replica_source_seq{collection="docs"} 5');
    expect(metrics).toContain('hyperspace_replica_lag_seqs{collection="docs"} 0');
    expect(metrics).toMatch(/hyperspace_replica_lag_seconds\{collection="docs"\} \d/);
    expect(Number(/hyperspace_replica_sync_bytes\{collection="docs"\} (\d+)/.exec(metrics)![1])).toBeGreaterThan(200 * dimension * 4);

    // A collection created on the leader appears on the follower; one dropped goes.
    await ok(leader.base, 'POST', '/v1/collections', { name: 'more', dimension: 3, metric: 'l2' });
    await ok(leader.base, 'POST', '/v1/collections/more/upsert', { points: [{ id: 'a', vector: [1, 2, 3] }] });
    await converged(leader.base, follower.base, 'more');
    await ok(leader.base, 'DELETE', '/v1/collections/more');
    const deadline = Date.now() + 10_000;
    while ((await call(follower.base, 'GET', '/v1/collections/more')).status !== 404) {
      if (Date.now() > deadline) throw new Error('dropped collection still on the follower');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('keeps serving its state while the leader is down, and catches up when it returns', async () => {
    const leaderDir = await scratch();
    const leader = await serve({ data: leaderDir });
    await createDocs(leader.base);
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 50) });
    const follower = await serve({ follow: leader.base });
    await converged(leader.base, follower.base);
    const port = leader.running.http.port;
    await leader.running.close();
    await new Promise((r) => setTimeout(r, 300));
    const described = (await ok(follower.base, 'GET', '/v1/collections/docs')).collection;
    expect(described.count).toBe(50);
    expect(described.replica.lastError).toMatch(/unreachable/);
    // The leader comes back on the same port with more writes.
    const back = await startServe({ data: leaderDir, host: '127.0.0.1', httpPort: port, grpcPort: null, insecure: false, corsOrigins: [], bodyBytesMax: 1 << 24, drainMs: 1000 });
    cleanup.push(() => back.close());
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(50, 60) });
    await converged(leader.base, follower.base);
  });
});

describe('follower chains: leader → follower → follower', () => {
  it('both followers converge to the leader\'s root at the same leader seq; deletes are not resurrected', async () => {
    const leader = await serve();
    await createDocs(leader.base);
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 200) });
    const middle = await serve({ follow: leader.base });
    const last = await serve({ follow: middle.base });
    expect((await converged(leader.base, middle.base)).consistency.walSeq).toBe(1);
    expect((await converged(leader.base, last.base)).consistency.walSeq).toBe(1);

    await ok(leader.base, 'POST', '/v1/collections/docs/flush');
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 20, 1) });
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-30', 'doc-31'] });
    await ok(middle.base, 'POST', '/v1/collections/docs/flush'); // the middle folds what it serves
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(200, 230) });
    await ok(leader.base, 'POST', '/v1/collections/docs/compact');
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-201'] });
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: [point(30, 2)] }); // deleted, then written again
    const atLeader = await converged(leader.base, middle.base);
    const atLast = await converged(leader.base, last.base);
    expect(atLast).toEqual(atLeader);
    expect(atLast.consistency.walSeq).toBe(6);

    for (const id of ['doc-31', 'doc-201']) expect((await call(last.base, 'GET', `/v1/collections/docs/points/${id}`)).status).toBe(404);
    expect((await ok(last.base, 'GET', '/v1/collections/docs/points/doc-30')).metadata).toEqual({ i: 30, version: 2 });
    expect((await ok(last.base, 'POST', '/v1/collections/docs/count', {})).count).toBe(200 - 1 + 30 - 1);
    const described = (await ok(last.base, 'GET', '/v1/collections/docs')).collection;
    expect(described.replica).toMatchObject({ sourceSeq: 6, leader: middle.base, leaderSeq: 6, lagSeqs: 0, lastError: null });
    const refused = await call(last.base, 'POST', '/v1/collections/docs/upsert', { points: [point(1)] });
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toContain(`read-only follower of ${middle.base}`);
  });

  it('a follower that restarted learns the leader seqs of what it had folded, then serves a new follower', async () => {
    const leader = await serve();
    await createDocs(leader.base);
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 100) });
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: ['doc-7'] });
    const middleDir = await scratch();
    let middle = await serve({ data: middleDir, follow: leader.base });
    await converged(leader.base, middle.base);
    await ok(middle.base, 'POST', '/v1/collections/docs/flush');
    await middle.running.close();
    middle = await serve({ data: middleDir, follow: leader.base });
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(100, 110) });
    const last = await serve({ follow: middle.base });
    const atLeader = await converged(leader.base, middle.base);
    expect(await converged(leader.base, last.base)).toEqual(atLeader);
    expect((await call(last.base, 'GET', '/v1/collections/docs/points/doc-7')).status).toBe(404);
  });
});

describe('hyperspace sync', () => {
  it('moves only the changes: a 1% change moves at most 3% of a full copy', async () => {
    const leader = await serve();
    await createDocs(leader.base);
    for (let b = 0; b < 5; b++) await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(b * 1000, b * 1000 + 1000) });
    await ok(leader.base, 'POST', '/v1/collections/docs/flush');
    const data = await scratch();
    const pull = async () => {
      let out = '';
      const code = await runCommand(syncCommand, ['--from', leader.base, '--collection', 'docs', '--data', data], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } as never });
      expect(code, out).toBe(0);
      return { out, bytes: Number(/bytes moved: (\d+)/.exec(out)![1]) };
    };
    const full = await pull();
    expect(full.out).toMatch(/by catch-up: 5000 upserted, 0 deleted; leader seq 5/);
    await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 40, 1) });
    await ok(leader.base, 'POST', '/v1/collections/docs/delete', { ids: Array.from({ length: 10 }, (_, i) => `doc-${4000 + i}`) });
    await ok(leader.base, 'POST', '/v1/collections/docs/flush');
    await ok(leader.base, 'POST', '/v1/collections/docs/compact');
    const delta = await pull();
    expect(delta.out).toMatch(/by catch-up: 40 upserted, 10 deleted; leader seq 7/);
    expect(delta.bytes / full.bytes).toBeLessThan(0.03);
    const db = await HyperspaceDB.open(data, { indexer: false });
    const local = await db.collection('docs').digest();
    await db.close();
    const remote = (await call(leader.base, 'GET', '/v1/collections/docs/digest')).json;
    expect(local.root).toBe(remote.root);
    expect(local.consistency.walSeq).toBe(remote.consistency.walSeq);
  });

  it('repairs a diverged replica: deletes what the leader lacks, pulls only differing records', async () => {
    const leader = await serve();
    // 64-d records, so that the fixed cost (the 256 bucket hashes of the digest, ~17 KB) stays small next to a full copy.
    await ok(leader.base, 'POST', '/v1/collections', { name: 'docs', dimension: 64, metric: 'l2', hnsw: { m: 8, efConstruction: 32 } });
    const wide = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => ({ id: `doc-${from + k}`, vector: Array.from(vectorOf(`doc-${from + k}`, 64)), metadata: { i: from + k } }));
    for (let b = 0; b < 3; b++) await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: wide(b * 1000, b * 1000 + 1000) });
    const data = await scratch();
    const db = await HyperspaceDB.open(data, { indexer: false });
    cleanup.push(() => db.close());
    const client = new LeaderClient({ leader: leader.base });
    await syncFrom(db, client, 'docs');
    const full = client.bytes.sent + client.bytes.received;
    const replica = db.collection('docs');
    const at = replica.syncView().sourceSeq!;
    const stale = (await replica.get('doc-5'))!;
    await replica.commitReplicated([
      { id: 'doc-5', seq: 1, vector: stale.vector.map((x, i) => (i === 0 ? x * 0.5 : x)), metadata: stale.metadata }, // corrupted
      { id: 'intruder', seq: 1, vector: stale.vector, metadata: {} }, // the leader never had it
    ], ['doc-6', 'doc-7'], at); // dropped
    await replica.flush();
    client.bytes.sent = client.bytes.received = 0;
    const report = await syncFrom(db, client, 'docs');
    expect(report.mode).toBe('repair');
    expect(report.repair).toMatchObject({ bucketsDiffering: 4, recordsPulled: 3, recordsDeleted: 1 });
    const moved = client.bytes.sent + client.bytes.received;
    expect(moved / full).toBeLessThan(0.03);
    const remote = (await call(leader.base, 'GET', '/v1/collections/docs/digest')).json;
    expect((await replica.digest()).root).toBe(remote.root);
    expect(await replica.get('intruder')).toBeNull();
  });

  it('never moves a replica to an older state', async () => {
    const leader = await serve();
    await createDocs(leader.base);
    for (let b = 0; b < 3; b++) await ok(leader.base, 'POST', '/v1/collections/docs/upsert', { points: points(b * 10, b * 10 + 10) });
    const data = await scratch();
    const db = await HyperspaceDB.open(data, { indexer: false });
    cleanup.push(() => db.close());
    await syncFrom(db, new LeaderClient({ leader: leader.base }), 'docs');
    const before = await db.collection('docs').digest();
    // Another leader with the same collection, one write in: behind the replica.
    const older = await serve();
    await createDocs(older.base);
    await ok(older.base, 'POST', '/v1/collections/docs/upsert', { points: points(0, 5) });
    await expect(syncFrom(db, new LeaderClient({ leader: older.base }), 'docs')).rejects.toMatchObject({
      kind: 'conflict', message: `leader ${older.base}: afterSeq 3 is ahead of the leader: collection=docs last seq 1 (a replica never moves backwards)`,
    });
    const after = await db.collection('docs').digest();
    expect(after).toEqual(before);
  });
});
