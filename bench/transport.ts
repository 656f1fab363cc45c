// Transport overhead of the API (issue #4): k = 10 searches on MNIST-784 and
// single-point upserts through `hyperspace serve` on loopback, issued from a
// separate load-generator process (bench/transport-load.ts) over gRPC (SDK)
// and HTTP JSON (raw fetch with keep-alive, and the SDK), next to the same
// calls made directly on the library in this process, on a byte-identical
// copy of the server's data directory. Overhead = transport p50 − direct p50.
//
// A health call per client (empty request, tiny reply) isolates the cost of
// the call machinery from the search payload. CPU per request is counted too — the load generator's own, the server's
// (from /proc/<pid>/stat) and the direct side's — because on a loaded machine
// wall-clock overhead is mostly two processes waiting for a core, while the
// CPU a request costs is what the transport adds on an idle one.
//
// One request at a time (latency, not throughput). Rounds rotate the order of
// the clients so drift on the shared machine hits them alike; searches run
// before upserts so every search sees the same single segment and empty tail.
//
//   npm run bench:transport -- [--queries 1000] [--upserts 200] [--rounds 3] [--warmup 200] [--base 60000]

import { spawn, fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HyperspaceDB, type Collection } from '../engine/index.ts';
import { groundTruth, mnist, recallAt10 } from './datasets.ts';
import { FastestPerRequest, Latencies, loadAverage, positiveNumber, scratchDirectory, upsertRows, writeResults, type LatencySummary } from './measure.ts';
import type { ClientName, Command, Operation, Reply } from './transport-load.ts';

const { values: flags } = parseArgs({
  options: {
    queries: { type: 'string', default: '1000' },
    upserts: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '200' },
    base: { type: 'string' },
  },
  strict: true,
});
const queryCount = positiveNumber('queries', flags.queries);
const upsertCount = positiveNumber('upserts', flags.upserts);
const rounds = positiveNumber('rounds', flags.rounds);
const warmup = Number(flags.warmup);
const k = 10;
const collectionName = 'mnist';
const repository = fileURLToPath(new URL('..', import.meta.url));

const full = mnist();
/** `--base N` takes the first N train vectors (a quick look); the load generator only needs the queries. */
const baseCount = flags.base === undefined ? full.trainCount : Math.min(full.trainCount, positiveNumber('base', flags.base));
const data = { ...full, train: full.train.subarray(0, baseCount * full.dimension), trainCount: baseCount };
const queries = data.test.subarray(0, queryCount * data.dimension);
console.log(`transport: ${data.name}, ${data.trainCount} base, ${queryCount} queries, ${upsertCount} upserts × ${rounds} rounds (load ${loadAverage().join(' ')})`);
const truth = await groundTruth(data.train, queries, data.dimension, data.metric, k);
const truthIds = truth.ids.map((row) => Array.from(row));

// The server's data: all of MNIST in one segment. The direct side gets a copy.
const serverDirectory = scratchDirectory('transport-server');
const directDirectory = scratchDirectory('transport-direct');
{
  const db = await HyperspaceDB.open(serverDirectory, { indexer: false });
  const collection = await db.createCollection(collectionName, { dimension: data.dimension, metric: data.metric });
  await upsertRows(collection, data.train, data.dimension, 0, data.trainCount);
  await collection.flush();
  await collection.compact();
  await db.close();
  cpSync(serverDirectory, directDirectory, { recursive: true });
}

/** Starts `hyperspace serve` on free loopback ports; resolves once gRPC listens (the last step of its start). */
function startServer(): Promise<{ child: ChildProcess; httpBaseUrl: string; grpcAddress: string }> {
  const child = spawn(process.execPath, [join(repository, 'bin/hyperspace.mjs'), 'serve', '--data', serverDirectory, '--http-port', '0', '--grpc-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let output = '';
    let httpBaseUrl: string | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      httpBaseUrl ??= /http: listening on (http:\/\/\S+)/.exec(output)?.[1];
      const grpcAddress = /grpc: listening on (\S+)/.exec(output)?.[1];
      if (httpBaseUrl && grpcAddress) resolve({ child, httpBaseUrl, grpcAddress });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening:\n${output}`)));
  });
}

function startLoadGenerator(): { ask: (command: Command) => Promise<Reply>; child: ChildProcess } {
  const child = fork(join(repository, 'bench/transport-load.ts'), [], { execArgv: ['--import', 'tsx'] });
  process.once('exit', () => child.kill('SIGKILL'));
  const ask = (command: Command) => new Promise<Reply>((resolve, reject) => {
    child.once('message', (reply: Reply) => (reply.type === 'error' ? reject(new Error(`load generator: ${reply.message}`)) : resolve(reply)));
    child.send(command);
  });
  return { ask, child };
}

const clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
/** User + system CPU of another process, from /proc (Linux), in µs (resolution 1/CLK_TCK s). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is stat field 3 (state)
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicksPerSecond;
}
/** CPU spent per side and operation: client (or direct) process, server process, requests (warm-ups included). */
const cpu = new Map<string, { clientUs: number; serverUs: number; requests: number }>();
const addCpu = (key: string, clientUs: number, serverUs: number, requests: number) => {
  const total = cpu.get(key) ?? { clientUs: 0, serverUs: 0, requests: 0 };
  cpu.set(key, { clientUs: total.clientUs + clientUs, serverUs: total.serverUs + serverUs, requests: total.requests + requests });
};

const server = await startServer();
console.log(`  serve: ${server.httpBaseUrl}, grpc ${server.grpcAddress}`);
const load = startLoadGenerator();
await load.ask({ type: 'init', grpcAddress: server.grpcAddress, httpBaseUrl: server.httpBaseUrl, collection: collectionName, queryCount, upsertCount, k });

// Opened like serve opens its directory: background indexer on.
const direct = await HyperspaceDB.open(directDirectory);
const collection: Collection = direct.collection(collectionName);
const directHistograms = { search: new Latencies(), upsert: new Latencies(), health: new Latencies() };
const directFastest = { search: new FastestPerRequest(queryCount), upsert: new FastestPerRequest(upsertCount), health: new FastestPerRequest(queryCount) };
let directUpserts = 0;

async function runDirect(operation: Operation, withRecall: boolean): Promise<number | undefined> {
  const query = (q: number) => queries.subarray(q * data.dimension, (q + 1) * data.dimension);
  const count = operation === 'upsert' ? upsertCount : queryCount;
  // health has no library call: its direct side times an already resolved promise.
  const f = operation === 'health' ? async () => undefined : operation === 'search'
    ? async (q: number) => (await collection.search(query(q), { k })).hits.map((h) => Number(h.id))
    : async () => {
      await collection.upsert([{ id: `direct-${directUpserts++ % 100}`, vector: data.test.subarray((directUpserts % data.testCount) * data.dimension, ((directUpserts % data.testCount) + 1) * data.dimension) }]);
      return undefined;
    };
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < warmup; i++) await f(i % count);
  const found: number[][] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    const ids = await f(i);
    directFastest[operation].record(i, directHistograms[operation].recordSince(started));
    if (ids) found.push(ids);
  }
  const used = process.cpuUsage(cpuBefore);
  addCpu(`direct ${operation}`, used.user + used.system, 0, warmup + count);
  return withRecall ? recallAt10(found, truthIds) : undefined;
}

const operations: Operation[] = ['search', 'health', 'upsert'];
const sides: ('direct' | ClientName)[] = ['direct', 'grpc-sdk', 'http-fetch', 'http-sdk'];
const recalls: Record<string, number> = {};
const loadBefore = loadAverage();
for (const operation of operations) {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(i + round) % sides.length];
      const withRecall = operation === 'search' && round === 0;
      if (side === 'direct') {
        const recall = await runDirect(operation, withRecall);
        if (recall !== undefined) recalls.direct = recall;
      } else {
        const serverCpuBefore = processCpuUs(server.child.pid!);
        const reply = await load.ask({ type: 'run', client: side, operation, warmup, truthIds: withRecall ? truthIds : undefined });
        if (reply.type !== 'done') throw new Error(`load generator: unexpected reply ${reply.type}`);
        addCpu(`${side} ${operation}`, reply.cpuUs, processCpuUs(server.child.pid!) - serverCpuBefore, reply.requests);
        if (reply.recallAt10 !== undefined) recalls[side] = reply.recallAt10;
      }
    }
    console.log(`  ${operation} round ${round + 1}/${rounds} done (load ${loadAverage().join(' ')})`);
  }
}
const loadAfter = loadAverage();
const report = await load.ask({ type: 'report' });
if (report.type !== 'report') throw new Error('load generator: no report');
load.child.disconnect();

interface Row {
  side: string;
  operation: Operation;
  latency: LatencySummary;
  overheadP50Us: number;
  overheadP99Us: number;
  /** Percentiles of each request's fastest round, and the overhead at their p50. */
  bestOfRounds: LatencySummary;
  bestOfRoundsOverheadP50Us: number;
  /** CPU per request: the client (or direct) process, the server process, and their sum minus the direct call's. */
  cpuUsPerRequest: { client: number; server: number; overhead: number };
  recallAt10?: number;
}
const rows: Row[] = [];
for (const operation of operations) {
  const directLatency = directHistograms[operation].summary();
  const directBest = directFastest[operation].summary();
  const perRequest = (key: string) => {
    const c = cpu.get(key)!;
    return { client: c.clientUs / c.requests, server: c.serverUs / c.requests };
  };
  const directCpu = perRequest(`direct ${operation}`).client;
  for (const side of sides) {
    const latency = side === 'direct' ? directLatency : report.latencies[`${side} ${operation}`];
    const bestOfRounds = side === 'direct' ? directBest : report.bestOfRounds[`${side} ${operation}`];
    const row: Row = {
      side, operation, latency,
      overheadP50Us: Math.round((latency.p50Us - directLatency.p50Us) * 10) / 10,
      overheadP99Us: Math.round((latency.p99Us - directLatency.p99Us) * 10) / 10,
      bestOfRounds, bestOfRoundsOverheadP50Us: Math.round((bestOfRounds.p50Us - directBest.p50Us) * 10) / 10,
      cpuUsPerRequest: (({ client, server: serverUs }) => ({
        client: Math.round(client), server: Math.round(serverUs), overhead: Math.round(client + serverUs - directCpu),
      }))(perRequest(`${side} ${operation}`)),
    };
    if (operation === 'search') row.recallAt10 = recalls[side];
    rows.push(row);
    console.log(`  ${operation.padEnd(7)} ${side.padEnd(11)} p50 ${latency.p50Us} µs  p99 ${latency.p99Us} µs  overhead p50 ${row.overheadP50Us} µs  p99 ${row.overheadP99Us} µs | best of ${rounds}: p50 ${bestOfRounds.p50Us} µs (overhead ${row.bestOfRoundsOverheadP50Us})  p99 ${bestOfRounds.p99Us} µs | CPU/request client ${row.cpuUsPerRequest.client} µs, server ${row.cpuUsPerRequest.server} µs, overhead ${row.cpuUsPerRequest.overhead} µs` +
      (row.recallAt10 === undefined ? '' : `  recall@10 ${row.recallAt10.toFixed(4)}`));
  }
}
console.log(`  load before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);

server.child.kill('SIGTERM');
await new Promise((resolve) => server.child.once('exit', resolve));
await direct.close();
console.log(`results: ${writeResults('transport', {
  dataset: data.name, baseCount: data.trainCount, queryCount, upsertCount, rounds, warmup, k,
  rows, loadAverage: { before: loadBefore, after: loadAfter },
})}`);
