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
// Cold (5×, median, engines alternating): spawn a FRESH child (`node --import
// tsx`, as bench/run.sh runs scripts) with an empty segment cache; it loads
// the engine (HyperspaceDB: native addon; LanceDB: its napi binary), fetches
// the manifest, downloads what it needs and answers one query. Timed from
// spawn to the answer arriving in the parent over IPC.
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
//   bash bench/run.sh serverless [--queries 1000] [--cold 5]      (npm run bench:serverless)

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    child: { type: 'string' },
    queries: { type: 'string', default: '1000' },
    cold: { type: 'string', default: '5' },
    limit: { type: 'string' },
  },
  strict: true,
});

const COLLECTION = 'mnist';
const LANCE_TABLE = 'mnist';
const K = 10;

interface ChildConfig {
  s3: string; // the counting proxy
  dynamo: string;
  bucket: string;
  table: string;
  lanceUri: string;
  cacheDirectory: string;
  query: number[];
}

type ToChild = { type: 'warm'; mode: 'eventual' | 'strong'; from: number; to: number } | { type: 'exit' };
type FromChild =
  | { type: 'cold'; ids: number[]; childMs: number; detail: Record<string, unknown> }
  | { type: 'warm'; latenciesNs: number[]; ids: number[][] };

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

if (flags.child) await runChild(flags.child as 'hyperspace' | 'lance');
else await runParent();

// ===================================================================== child

async function runChild(engine: 'hyperspace' | 'lance'): Promise<void> {
  const started = performance.now();
  const config = JSON.parse(process.env.SERVERLESS_BENCH_CONFIG!) as ChildConfig;
  const send = (message: FromChild) => new Promise<void>((resolve) => process.send!(message, () => resolve()));
  let search: (vector: Float32Array, mode: 'eventual' | 'strong') => Promise<number[]>;
  let detail: () => Record<string, unknown>;

  if (engine === 'hyperspace') {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { HyperspaceDB } = await import('../engine/index.ts');
    const { S3ObjectStore, s3ClientConfig } = await import('../engine/stores/s3-object-store.ts');
    const { DynamoLogStore } = await import('../engine/stores/dynamo-log-store.ts');
    const { SegmentCache } = await import('../functions/lambda/segment-cache.ts');
    const s3 = new S3ObjectStore({ bucket: config.bucket, client: new S3Client(s3ClientConfig({ endpoint: config.s3, credentials })) });
    const objects = new SegmentCache(s3, { directory: config.cacheDirectory, bytesMax: 2 * 1024 ** 3 });
    const log = new DynamoLogStore({
      table: config.table, objects: s3,
      client: new DynamoDBClient({ region: 'us-east-1', endpoint: config.dynamo, credentials, maxAttempts: 3 }),
    });
    // As the function-URL worker does: open with nothing loaded, then refresh the named collection.
    const db = await HyperspaceDB.open({ objects, log }, { indexer: false, leases: false, collections: [] });
    await db.refresh(COLLECTION);
    const collection = db.collection(COLLECTION);
    search = async (vector, mode) => {
      if (mode === 'strong') await db.refresh(COLLECTION);
      const { hits } = await collection.search(vector, { k: K, consistency: mode });
      return hits.map((h) => Number(h.id));
    };
    detail = () => ({ cache: objects.stats, segments: collection.describe() });
  } else {
    const lancedb = await import('@lancedb/lancedb');
    const storageOptions = {
      endpoint: config.s3, region: 'us-east-1', allowHttp: 'true',
      awsAccessKeyId: credentials.accessKeyId, awsSecretAccessKey: credentials.secretAccessKey,
    };
    const connection = await lancedb.connect(config.lanceUri, { storageOptions });
    const table = await connection.openTable(LANCE_TABLE);
    let strongTable: Awaited<ReturnType<typeof connection.openTable>> | undefined;
    search = async (vector, mode) => {
      let t = table;
      if (mode === 'strong') {
        strongTable ??= await (await lancedb.connect(config.lanceUri, { storageOptions, readConsistencyInterval: 0 })).openTable(LANCE_TABLE);
        t = strongTable;
      }
      const rows = await t.vectorSearch(vector).column('vector').distanceType('l2').limit(K).select(['id']).toArray();
      return rows.map((r: { id: number }) => Number(r.id));
    };
    detail = () => ({});
  }

  const ids = await search(Float32Array.from(config.query), 'eventual');
  await send({ type: 'cold', ids, childMs: performance.now() - started, detail: detail() });

  const { mnist } = await import('./datasets.ts');
  const test = mnist().test;
  process.on('message', async (message: ToChild) => {
    if (message.type === 'exit') {
      process.exit(0);
    }
    const latenciesNs: number[] = [];
    const all: number[][] = [];
    for (let q = message.from; q < message.to; q++) {
      const vector = test.subarray(q * 784, (q + 1) * 784);
      const t0 = process.hrtime.bigint();
      all.push(await search(vector, message.mode));
      latenciesNs.push(Number(process.hrtime.bigint() - t0));
    }
    await send({ type: 'warm', latenciesNs, ids: all });
  });
}

// ==================================================================== parent

async function runParent(): Promise<void> {
  const { startEmulators } = await import('../test/harness/emulators.ts');
  const { mnist, groundTruth, recallAt10 } = await import('./datasets.ts');
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
  const data = mnist();
  const trainCount = flags.limit ? Math.min(Number(flags.limit), data.trainCount) : data.trainCount;
  const dimension = data.dimension;
  const train = data.train.subarray(0, trainCount * dimension);
  const test = data.test.subarray(0, queryCount * dimension);
  const truth = await groundTruth(train, test, dimension, 'l2', K);
  console.log(`MNIST-784: ${trainCount} vectors, ${queryCount} queries, ground truth ready`);

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
    const collection = await loader.createCollection(COLLECTION, { dimension, metric: 'l2' });
    for (let start = 0; start < trainCount; start += 1000) {
      const end = Math.min(trainCount, start + 1000);
      await collection.upsert(Array.from({ length: end - start }, (_, i) => ({
        id: String(start + i), vector: train.subarray((start + i) * dimension, (start + i + 1) * dimension),
      })));
    }
    const walMs = performance.now() - t0;
    await loader.close();
    // The indexer's pass (as the stream-fed Lambda runs it): fold the WAL into a segment under the lease.
    t0 = performance.now();
    const indexed = await indexCollection({ objects, log }, COLLECTION, { owner: 'bench-indexer', compact: false });
    const after = indexed.outcome === 'indexed' ? indexed.after : null;
    if (after && after.segments > 1) await indexCollection({ objects, log }, COLLECTION, { owner: 'bench-indexer', compact: 'full' });
    const hyperspaceLoad = { walUpsertMs: Math.round(walMs), flushCompactMs: Math.round(performance.now() - t0), collection: after };
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
    await lanceTable.createIndex('vector'); // the default: IVF-PQ, settings recorded below
    const lanceIndexMs = performance.now() - t0;
    const indices = await lanceTable.listIndices();
    const indexStats = await lanceTable.indexStats(indices[0].name);
    const lanceLoad = { writeMs: Math.round(lanceWriteMs), indexMs: Math.round(lanceIndexMs), rows: await lanceTable.countRows(), indices, indexStats };
    console.log('LanceDB loaded:', JSON.stringify(lanceLoad));
    lance.close();
    mark('lance loaded');

    // ------------------------------------------------ cold
    const script = fileURLToPath(import.meta.url);
    const spawnChild = (engine: string, round: number, queryIndex: number) => {
      const cacheDirectory = join(scratch, `cache-${engine}-${round}`);
      const config: ChildConfig = {
        s3: proxy.endpoint, dynamo: emulators.dynamoEndpoint, bucket, table, lanceUri, cacheDirectory,
        query: Array.from(test.subarray(queryIndex * dimension, (queryIndex + 1) * dimension)),
      };
      proxy.reset();
      const startedNs = process.hrtime.bigint();
      const child = spawn(process.execPath, ['--max-old-space-size=4096', '--import', 'tsx', script, '--child', engine], {
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
    const coldResults: Record<Engine, { ms: number; childMs: number; s3: ReturnType<typeof proxy.snapshot>; recall: number; detail: unknown }[]> = { hyperspace: [], lance: [] };
    const kept: Partial<Record<Engine, ReturnType<typeof spawnChild>>> = {};
    mark('cold start');
    for (let round = 0; round < coldRuns; round++) {
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) {
        const run = spawnChild(engine, round, round);
        const cold = await run.cold;
        const recall = recallAt10([cold.ids], [truth.ids[round]]);
        coldResults[engine].push({ ms: cold.spawnToAnswerMs, childMs: cold.childMs, s3: cold.s3, recall, detail: cold.detail });
        console.log(`cold ${engine} #${round + 1}: ${cold.spawnToAnswerMs.toFixed(0)} ms spawn→answer (${cold.childMs.toFixed(0)} ms inside the child), ` +
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
    const file = writeResults('serverless', {
      dataset: { name: 'mnist-784', trainCount, queryCount, metric: 'l2', k: K },
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

/** A pass-through HTTP proxy in front of s3rver that counts requests by method and response bytes. */
async function countingProxy(target: string) {
  const upstream = new URL(target);
  let gets = 0;
  let bytes = 0;
  let byKind: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const kind = `${req.method} ${req.headers.range ? 'ranged' : 'whole'}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    if (req.method === 'GET') gets++;
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      up.pipe(res);
    });
    forward.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reset() { gets = 0; bytes = 0; byKind = {}; },
    snapshot() { return { gets, bytes, byKind: { ...byKind } }; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
