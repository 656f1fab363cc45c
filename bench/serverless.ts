// Cold and warm queries on the serverless path (issue 5, "Benchmark"):
// HyperspaceDB over S3ObjectStore + DynamoLogStore (with the Lambda worker's
// /tmp segment cache) against @lancedb/lancedb 0.31.0 reading the same vectors
// from the same s3rver, both on loopback, interleaved in one run.
//
// Setup (parent): DynamoDB Local + s3rver (test/harness/emulators.ts), MNIST-784
// 60k loaded into HyperspaceDB (WAL upserts, then flush [+ compact] so all of
// it is in segments) and into a LanceDB table on the same s3rver with its
// default IVF-PQ index. Every S3 request of the query processes goes through a
// counting pass-through proxy in the parent, so GETs and bytes are counted the
// same way for both engines (LanceDB's Rust object_store cannot be wrapped).
//
// Cold (5×, median, engines alternating): spawn a FRESH child — bench/
// serverless-child.ts bundled by esbuild and run with plain `node`, as Lambda
// runs a bundled handler — with an empty segment cache; it loads the engine
// (HyperspaceDB: native addon and AWS SDK; LanceDB: its napi binary), opens
// the data and answers one query. Timed from spawn to the answer arriving in
// the parent over IPC; the child reports its own clock at each phase.
// HyperspaceDB opens its (large) segment partially: ranged GETs of the small
// sections and of the clusters nearest the query (docs/format/segment.md §8),
// the whole file downloading in the background after the first answer.
//
// Warm: in the last pair of children, 1,000 MNIST test queries in `eventual`
// mode (no store round trip: HyperspaceDB searches what it has loaded; LanceDB
// with its default read-consistency, which does not re-check the table) and
// 1,000 in `strong` mode (HyperspaceDB: db.refresh() — one consistent read of
// the manifest pointer and of the WAL head, plus any tail — then search;
// LanceDB: a connection with readConsistencyInterval 0, which checks the
// table's latest version before every query), in interleaved blocks of 100.
// recall@10 against exact ground truth next to every figure.
//
//   bash bench/run.sh serverless [--dataset mnist|glove] [--queries 1000] [--cold 5] [--limit N]   (npm run bench:serverless)

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildConfig, FromChild, ToChild } from './serverless-child.ts';

const { values: flags } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    queries: { type: 'string', default: '1000' },
    cold: { type: 'string', default: '5' },
    limit: { type: 'string' },
  },
  strict: true,
});
if (!['mnist', 'glove'].includes(flags.dataset!)) throw new Error(`--dataset must be mnist or glove, got ${flags.dataset}`);

const K = 10;
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

await runParent();

// ==================================================================== parent

async function runParent(): Promise<void> {
  const { startEmulators } = await import('../test/harness/emulators.ts');
  const { mnist, glove, groundTruth, recallAt10 } = await import('./datasets.ts');
  const { coldLimits } = await import('../engine/cold-segment.ts');
  const { Latencies, installedVersion, writeResults } = await import('./measure.ts');
  const { HyperspaceDB } = await import('../engine/index.ts');
  const { S3ObjectStore } = await import('../engine/stores/s3-object-store.ts');
  const { DynamoLogStore } = await import('../engine/stores/dynamo-log-store.ts');
  const { indexCollection } = await import('../functions/lambda/indexing.ts');
  const lancedb = await import('@lancedb/lancedb');
  // The CommonJS build, the one @lancedb/lancedb requires: its `instanceof` checks fail on the ESM build's classes.
  const arrow = createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow');

  const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
  const uptimes: Record<string, string> = {};
  const mark = (label: string) => { uptimes[label] = uptime(); console.log(`[${label}] ${uptimes[label]}`); };
  mark('start');

  const queryCount = Number(flags.queries);
  const coldRuns = Number(flags.cold);
  const data = flags.dataset === 'glove' ? glove() : mnist();
  const COLLECTION = flags.dataset!;
  const LANCE_TABLE = flags.dataset!;
  const trainCount = flags.limit ? Math.min(Number(flags.limit), data.trainCount) : data.trainCount;
  const dimension = data.dimension;
  // GloVe is compared by cosine: both engines get unit vectors, so LanceDB's l2 ranks as cosine does.
  const prepare = (v: Float32Array) => (data.metric === 'cosine' ? unitRows(v, dimension) : v);
  const train = prepare(data.train.subarray(0, trainCount * dimension));
  const test = prepare(data.test.subarray(0, queryCount * dimension));
  const truth = await groundTruth(train, test, dimension, data.metric, K);
  console.log(`${data.name}: ${trainCount} vectors, ${queryCount} queries, ground truth ready`);

  const emulators = await startEmulators({ quickStart: false });
  const proxy = await countingProxy(emulators.s3Endpoint);
  const scratch = mkdtempSync(join(tmpdir(), 'hyperspace-bench-serverless-'));
  const children = new Set<ChildProcess>();
  const cleanup = () => { for (const c of children) c.kill('SIGKILL'); rmSync(scratch, { recursive: true, force: true }); };
  process.once('exit', cleanup);
  try {
    const table = await emulators.newTable();
    const bucket = await emulators.newBucket();
    const lanceBucket = await emulators.newBucket();
    const lanceUri = `s3://${lanceBucket}/lance`;

    // ------------------------------------------------ load HyperspaceDB
    let t0 = performance.now();
    const objects = new S3ObjectStore({ bucket, client: emulators.s3Client() });
    const log = new DynamoLogStore({ table, objects, client: emulators.dynamoClient() });
    const loader = await HyperspaceDB.open({ objects, log }, { indexer: false, leases: false, collections: [] } as never);
    const collection = await loader.createCollection(COLLECTION, { dimension, metric: data.metric });
    // The indexer's pass (as the stream-fed Lambda runs it): fold the WAL into a segment under the lease.
    let indexMs = 0;
    const indexPass = async (compact: false | 'full') => {
      const started = performance.now();
      const indexed = await indexCollection({ objects, log }, COLLECTION, { owner: 'bench-indexer', compact });
      indexMs += performance.now() - started;
      return indexed.outcome === 'indexed' ? indexed.after : null;
    };
    for (let start = 0; start < trainCount; start += 1000) {
      const end = Math.min(trainCount, start + 1000);
      await collection.upsert(Array.from({ length: end - start }, (_, i) => ({
        id: String(start + i), vector: train.subarray((start + i) * dimension, (start + i + 1) * dimension),
      })));
      // Past 100k unindexed records, index (the tail is bounded: writers would get backpressure).
      if (end % 100_000 === 0 && end < trainCount) {
        await indexPass(false);
        await loader.refresh(COLLECTION);
      }
    }
    const walMs = performance.now() - t0 - indexMs;
    await loader.close();
    let after = await indexPass(false);
    if (after && after.segments > 1) after = await indexPass('full');
    const hyperspaceLoad = { walUpsertMs: Math.round(walMs), flushCompactMs: Math.round(indexMs), collection: after };
    const segmentBytes = (await Promise.all((await emulators.s3Client().send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: bucket }))).Contents!
      .filter((o) => o.Key!.endsWith('.hyp')).map(async (o) => ({ key: o.Key, bytes: o.Size }))));
    console.log('HyperspaceDB loaded:', JSON.stringify(hyperspaceLoad), JSON.stringify(segmentBytes));
    mark('hyperspace loaded');

    // ------------------------------------------------ load LanceDB
    t0 = performance.now();
    const storageOptions = {
      endpoint: proxy.endpoint, region: 'us-east-1', allowHttp: 'true',
      awsAccessKeyId: credentials.accessKeyId, awsSecretAccessKey: credentials.secretAccessKey,
    };
    const lance = await lancedb.connect(lanceUri, { storageOptions });
    const listType = new arrow.FixedSizeList(dimension, new arrow.Field('item', new arrow.Float32(), true));
    const schema = new arrow.Schema([new arrow.Field('id', new arrow.Int32(), false), new arrow.Field('vector', listType, false)]);
    const batches: InstanceType<typeof arrow.RecordBatch>[] = [];
    for (let start = 0; start < trainCount; start += 10_000) {
      const n = Math.min(trainCount, start + 10_000) - start;
      const values = arrow.makeData({ type: new arrow.Float32(), length: n * dimension, data: train.slice(start * dimension, (start + n) * dimension) });
      const vectors = arrow.makeData({ type: listType, length: n, nullCount: 0, child: values });
      const ids = arrow.makeData({ type: new arrow.Int32(), length: n, data: Int32Array.from({ length: n }, (_, i) => start + i) });
      batches.push(new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children: [ids, vectors] })));
    }
    const lanceTable = await lance.createTable(LANCE_TABLE, new arrow.Table(schema, batches) as never);
    const lanceWriteMs = performance.now() - t0;
    t0 = performance.now();
    // The default (IVF-PQ, dimension/16 sub-vectors) for MNIST. For GloVe's 100 dimensions the default gave
    // recall@10 0.045 on 50k unit vectors (0.743 with 25 sub-vectors, 0.909 with 50), so GloVe gets 50.
    const lanceConfig = dimension % 16 === 0 ? undefined : lancedb.Index.ivfPq({ numSubVectors: dimension / 2 });
    await lanceTable.createIndex('vector', lanceConfig ? { config: lanceConfig } : undefined); // settings recorded below
    const lanceIndexMs = performance.now() - t0;
    const indices = await lanceTable.listIndices();
    const indexStats = await lanceTable.indexStats(indices[0].name);
    const lanceLoad = { writeMs: Math.round(lanceWriteMs), indexMs: Math.round(lanceIndexMs), rows: await lanceTable.countRows(), indices, indexStats,
      numSubVectors: lanceConfig ? dimension / 2 : 'default' };
    console.log('LanceDB loaded:', JSON.stringify(lanceLoad));
    lance.close();
    mark('lance loaded');

    // ------------------------------------------------ cold
    const queriesFile = join(scratch, 'queries.f32');
    writeFileSync(queriesFile, new Uint8Array(test.buffer, test.byteOffset, test.byteLength));
    const childScript = bundleChild();
    const lanceModule = createRequire(import.meta.url).resolve('@lancedb/lancedb');
    const spawnChild = (engine: 'hyperspace' | 'lance', round: number, queryIndex: number) => {
      const config: ChildConfig = {
        engine, s3: proxy.endpoint, dynamo: emulators.dynamoEndpoint, bucket, table, collection: COLLECTION,
        lanceUri, lanceTable: LANCE_TABLE, lanceModule, cacheDirectory: join(scratch, `cache-${engine}-${round}`),
        dimension, queriesFile, coldQuery: queryIndex, k: K,
      };
      proxy.reset();
      const startedNs = process.hrtime.bigint();
      const child = spawn(process.execPath, ['--max-old-space-size=4096', childScript], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SERVERLESS_BENCH_CONFIG: JSON.stringify(config) },
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      const next = <T extends FromChild['type']>(type: T) => new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
        const onMessage = (m: FromChild) => { if (m.type === type) { child.off('exit', onExit); child.off('message', onMessage); resolve(m as never); } };
        const onExit = (code: number) => reject(new Error(`${engine} child exited with ${code}`));
        child.on('message', onMessage);
        child.once('exit', onExit);
      });
      const cold = next('cold').then((m) => ({ ...m, spawnToAnswerMs: Number(process.hrtime.bigint() - startedNs) / 1e6, s3: proxy.snapshot() }));
      return { child, cold, next };
    };

    type Engine = 'hyperspace' | 'lance';
    const engines: Engine[] = ['hyperspace', 'lance'];
    const coldResults: Record<Engine, { ms: number; childMs: number; phasesMs: Record<string, number>; s3: ReturnType<typeof proxy.snapshot>; recall: number; detail: unknown }[]> = { hyperspace: [], lance: [] };
    const kept: Partial<Record<Engine, ReturnType<typeof spawnChild>>> = {};
    mark('cold start');
    for (let round = 0; round < coldRuns; round++) {
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) {
        await proxy.idle(); // the last round keeps its first child (and its download) alive for the warm runs
        const run = spawnChild(engine, round, round);
        const cold = await run.cold;
        const recall = recallAt10([cold.ids], [truth.ids[round]]);
        const childMs = cold.phasesMs.answered - cold.phasesMs.nodeStarted;
        coldResults[engine].push({ ms: cold.spawnToAnswerMs, childMs, phasesMs: cold.phasesMs, s3: cold.s3, recall, detail: cold.detail });
        const phases = Object.entries(cold.phasesMs).map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ');
        console.log(`cold ${engine} #${round + 1}: ${cold.spawnToAnswerMs.toFixed(0)} ms spawn→answer (child clock: ${phases} ms), ` +
          `${cold.s3.gets} GETs, ${(cold.s3.bytes / 1e6).toFixed(1)} MB, recall@10 ${recall}`);
        if (round === coldRuns - 1) kept[engine] = run;
        else { run.child.send({ type: 'exit' }); await new Promise((r) => run.child.once('exit', r)); }
      }
    }
    mark('cold done');

    // ------------------------------------------------ warm
    const warm: Record<string, { latencies: InstanceType<typeof Latencies>; ids: number[][]; gets: number }> = {};
    for (const engine of engines) for (const mode of ['eventual', 'strong']) warm[`${engine}/${mode}`] = { latencies: new Latencies(), ids: [], gets: 0 };
    // One untimed pass of 20 queries per engine and mode: JIT, connections, lazily opened handles.
    for (const engine of engines) for (const mode of ['eventual', 'strong'] as const) {
      kept[engine]!.child.send({ type: 'warm', mode, from: 0, to: 20 } satisfies ToChild);
      await kept[engine]!.next('warm');
    }
    const block = 100;
    for (let from = 0; from < queryCount; from += block) {
      const to = Math.min(queryCount, from + block);
      for (const mode of ['eventual', 'strong'] as const) for (const engine of engines) {
        const run = kept[engine]!;
        proxy.reset();
        run.child.send({ type: 'warm', mode, from, to } satisfies ToChild);
        const answer = await run.next('warm');
        const w = warm[`${engine}/${mode}`];
        for (const ns of answer.latenciesNs) w.latencies.record(ns);
        w.ids.push(...answer.ids);
        w.gets += proxy.snapshot().gets;
      }
    }
    mark('warm done');
    for (const engine of engines) kept[engine]!.child.send({ type: 'exit' });

    // ------------------------------------------------ report
    const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
    const summary: Record<string, unknown> = {};
    for (const engine of engines) {
      const c = coldResults[engine];
      summary[`${engine}/cold`] = {
        medianMs: Math.round(median(c.map((r) => r.ms))), runsMs: c.map((r) => Math.round(r.ms)),
        medianChildMs: Math.round(median(c.map((r) => r.childMs))),
        gets: median(c.map((r) => r.s3.gets)), bytes: median(c.map((r) => r.s3.bytes)), requests: c[0].s3.byKind,
        recall: c.reduce((s, r) => s + r.recall, 0) / c.length,
      };
      for (const mode of ['eventual', 'strong']) {
        const w = warm[`${engine}/${mode}`];
        const s = w.latencies.summary();
        summary[`${engine}/warm-${mode}`] = { p50Ms: s.p50Us / 1000, p99Ms: s.p99Us / 1000, count: s.count, recall: recallAt10(w.ids, truth.ids), s3GetsPerQuery: w.gets / s.count };
      }
    }
    console.log(JSON.stringify(summary, null, 2));
    const file = writeResults(`serverless-${flags.dataset}`, {
      dataset: { name: data.name, trainCount, queryCount, metric: data.metric, k: K }, probeShare: coldLimits.probeShare,
      versions: { lancedb: installedVersion('@lancedb/lancedb'), arrow: installedVersion('apache-arrow') },
      uptimes, hyperspaceLoad, segmentBytes, lanceLoad, cold: coldResults, summary,
    });
    console.log(`results: ${file}`);
  } finally {
    await new Promise((r) => setTimeout(r, 200));
    for (const c of children) c.kill('SIGKILL');
    await proxy.close();
    await emulators.stop();
    cleanup();
  }
}

/**
 * Bundle bench/serverless-child.ts, minified and split at its dynamic imports
 * (each engine's child loads only its own code, as a Lambda bundle holds only
 * its handler's), into .bench-child/ at the repository root, so the addon
 * resolves as in a Lambda bundle (../build/Release).
 */
function bundleChild(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outdir = join(root, '.bench-child');
  rmSync(outdir, { recursive: true, force: true });
  execFileSync(join(root, 'node_modules', '.bin', 'esbuild'), [
    join(root, 'bench', 'serverless-child.ts'), '--bundle', '--splitting', '--minify', '--platform=node', '--format=esm', '--target=node20',
    `--outdir=${outdir}`, '--out-extension:.js=.mjs', '--log-level=warning', '--main-fields=module,main', // as infra/native-addon.ts
    '--banner:js=import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
  ], { stdio: 'inherit' });
  return join(outdir, 'serverless-child.mjs');
}

function unitRows(rows: Float32Array, dimension: number): Float32Array {
  const out = new Float32Array(rows.length);
  for (let i = 0; i < rows.length; i += dimension) {
    let s = 0;
    for (let d = 0; d < dimension; d++) s += rows[i + d] * rows[i + d];
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dimension; d++) out[i + d] = rows[i + d] * r;
  }
  return out;
}

/** A pass-through HTTP proxy in front of s3rver that counts requests by method and response bytes. */
async function countingProxy(target: string) {
  const upstream = new URL(target);
  let gets = 0;
  let bytes = 0;
  let byKind: Record<string, number> = {};
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    res.on('close', () => { inFlight--; });
    const kind = `${req.method} ${req.headers.range ? 'ranged' : 'whole'}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    if (req.method === 'GET') gets++;
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      up.pipe(res);
    });
    // A client that goes away (a child exiting mid-download) must not leave s3rver streaming into the next run.
    res.on('close', () => { if (!res.writableFinished) forward.destroy(); });
    forward.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reset() { gets = 0; bytes = 0; byKind = {}; },
    /** Until no request has been in flight for 300 ms (a kept child's background download has finished). */
    async idle() {
      for (let quiet = 0; quiet < 3;) {
        await new Promise((r) => setTimeout(r, 100));
        quiet = inFlight === 0 ? quiet + 1 : 0;
      }
    },
    snapshot() { return { gets, bytes, byKind: { ...byKind } }; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
