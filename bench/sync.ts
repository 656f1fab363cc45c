// Replication benchmark (issue 6): N records of 64-d on a leader served over
// HTTP on loopback; change 1% (half updates, half deletes), then
//   (a) catch a follower up by sequence, and
//   (b) repair a replica that only knows its digest (same old state, no seq used),
// reporting bytes on the wire (request + response bodies) and wall time next
// to a full copy, in one run. Goals: (a) bytes ≤ 1.2 × the changed records'
// encoded size + a constant, ≤ 2 s; (b) bytes ≤ changed size + 64 B × log2(N/k)
// per changed record.
//   bash bench/run.sh sync [--records 1000000] [--dimension 64] [--change 0.01]
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HyperspaceDB } from '../engine/index.ts';
import { repair, type SyncReport } from '../engine/sync.ts';
import { LeaderClient, syncFrom } from '../functions/follow.ts';
import { Router } from '../functions/http/router.ts';
import { startHttpServer } from '../functions/http/server.ts';

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, dimension: { type: 'string', default: '64' }, change: { type: 'string', default: '0.01' } } });
const N = Number(values.records), dimension = Number(values.dimension), changeFraction = Number(values.change);
const k = Math.round(N * changeFraction);
const batch = 10_000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const dirs: string[] = [];
const scratch = async () => { const d = await mkdtemp(join(tmpdir(), 'hs-bench-sync-')); dirs.push(d); return d; };
const replicaOptions = { indexer: false as const, tailRecordsMax: 2 * N, tailBytesMax: 8 * N * dimension + (1 << 30) };

function vector(i: number, version: number): Float32Array {
  const v = new Float32Array(dimension);
  let s = (i * 2654435761 + version * 40503) >>> 0 || 1;
  for (let j = 0; j < dimension; j++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; v[j] = s / 4294967296 - 0.5; }
  return v;
}
const id = (i: number) => `rec-${i}`;
const seconds = (t0: number) => (performance.now() - t0) / 1000;

try {
  const leaderDb = await HyperspaceDB.open(await scratch(), { indexer: false, tailRecordsMax: 2 * N, tailBytesMax: 8 * N * dimension + (1 << 30) });
  // Small HNSW parameters: the bench measures replication, not the index build.
  const leader = await leaderDb.createCollection('bench', { dimension, metric: 'l2', hnsw: { M: 4, efConstruction: 16 } });
  let t0 = performance.now();
  for (let from = 0; from < N; from += batch) {
    await leader.upsert(Array.from({ length: Math.min(batch, N - from) }, (_, j) => ({ id: id(from + j), vector: vector(from + j, 0), metadata: { i: from + j } })));
  }
  log(`leader: ${N} records written in ${seconds(t0).toFixed(1)} s`);
  t0 = performance.now();
  await leader.flush();
  log(`leader: flushed in ${seconds(t0).toFixed(1)} s`);
  const server = await startHttpServer(new Router({ db: leaderDb }), { host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${server.port}`;

  // Full copy into replica A; B is a byte copy of A's directory (the same old state).
  const dirA = await scratch();
  let a = await HyperspaceDB.open(dirA, replicaOptions);
  const fullClient = new LeaderClient({ leader: url });
  t0 = performance.now();
  const full = await syncFrom(a, fullClient, 'bench');
  const fullSeconds = seconds(t0);
  const fullBytes = fullClient.bytes.sent + fullClient.bytes.received;
  log(`full copy: ${fullBytes} bytes in ${fullSeconds.toFixed(1)} s (${full.pages} pages)`);
  await a.collection('bench').flush();
  await a.close();
  const dirB = await scratch();
  await cp(dirA, dirB, { recursive: true });
  a = await HyperspaceDB.open(dirA, replicaOptions);
  const b = await HyperspaceDB.open(dirB, replicaOptions);
  // A running follower has its digest in memory since its last sync; so has a replica that "knows its digest".
  t0 = performance.now();
  await Promise.all([a.collection('bench').digest(), b.collection('bench').digest()]);
  log(`replicas reopened, digests in memory in ${seconds(t0).toFixed(1)} s`);

  // Change 1% on the leader: k/2 updates, k/2 deletes, spread over the id space.
  const stride = Math.floor(N / k);
  const updated = Array.from({ length: Math.ceil(k / 2) }, (_, j) => 2 * j * stride);
  const deleted = Array.from({ length: Math.floor(k / 2) }, (_, j) => (2 * j + 1) * stride);
  for (let j = 0; j < updated.length; j += batch) {
    await leader.upsert(updated.slice(j, j + batch).map((i) => ({ id: id(i), vector: vector(i, 1), metadata: { i, version: 1 } })));
  }
  for (let j = 0; j < deleted.length; j += batch) await leader.delete(deleted.slice(j, j + batch).map(id));
  await leader.flush();
  const encoder = new TextEncoder();
  const changedBytes = updated.reduce((s, i) => s + 8 + 2 + encoder.encode(id(i)).length + 4 + JSON.stringify({ i, version: 1 }).length + 4 * dimension, 0)
    + deleted.reduce((s, i) => s + 8 + 2 + encoder.encode(id(i)).length, 0);

  // (a) catch-up by sequence
  const clientA = new LeaderClient({ leader: url });
  t0 = performance.now();
  const caught = await syncFrom(a, clientA, 'bench');
  const catchUpSeconds = seconds(t0);
  const catchUpBytes = clientA.bytes.sent + clientA.bytes.received;

  // (b) repair of a replica that only knows its digest
  const clientB = new LeaderClient({ leader: url });
  const report: SyncReport = { mode: 'repair', sourceSeq: 0, root: '', upserts: 0, deletes: 0, pages: 0 };
  t0 = performance.now();
  const outcome = await repair(b.collection('bench'), clientB.source('bench'), report);
  const repairSeconds = seconds(t0);
  const repairBytes = clientB.bytes.sent + clientB.bytes.received;
  const leaderRoot = (await leader.digest()).root;

  const goalA = 1.2 * changedBytes + 64 * 1024;
  const goalB = changedBytes + 64 * Math.log2(N / k) * k;
  const result = {
    records: N, dimension, changed: k, updated: updated.length, deleted: deleted.length, changedBytes,
    full: { bytes: fullBytes, seconds: +fullSeconds.toFixed(2) },
    catchUp: { bytes: catchUpBytes, seconds: +catchUpSeconds.toFixed(2), mode: caught.mode, converged: caught.root === leaderRoot, goalBytes: Math.round(goalA) },
    repair: { bytes: repairBytes, seconds: +repairSeconds.toFixed(2), outcome, converged: report.root === leaderRoot, ...report.repair, goalBytes: Math.round(goalB) },
  };
  console.log(JSON.stringify(result, null, 2));
  const mb = (x: number) => (x / 1e6).toFixed(2);
  console.log(`\n| | bytes on the wire | wall time | vs full copy |\n|---|---|---|---|`);
  console.log(`| full copy (${N.toLocaleString('en')} × ${dimension}-d) | ${mb(fullBytes)} MB | ${fullSeconds.toFixed(1)} s | 100% |`);
  console.log(`| (a) catch-up, ${k.toLocaleString('en')} changed | ${mb(catchUpBytes)} MB (goal ≤ ${mb(goalA)}) | ${catchUpSeconds.toFixed(2)} s (goal ≤ 2) | ${(100 * catchUpBytes / fullBytes).toFixed(2)}% |`);
  console.log(`| (b) repair from the digest | ${mb(repairBytes)} MB (goal ≤ ${mb(goalB)}) | ${repairSeconds.toFixed(2)} s | ${(100 * repairBytes / fullBytes).toFixed(2)}% |`);
  console.log(`changed records encoded: ${mb(changedBytes)} MB`);
  await server.close({ drainMs: 1000 });
  await Promise.all([a.close(), b.close(), leaderDb.close()]);
} finally {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
