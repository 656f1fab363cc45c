// Browser (WASM) benchmark, in Debian's headless Chromium against a real
// `hyperspace serve` on 127.0.0.1 (docs/web.md; results in docs/benchmarks.md
// "Browser (WASM)"):
//  1. search QPS and recall@10 of the WASM core vs the Node addon on the same
//     index blob (MNIST-784, the first 10,000 train images, 500 test queries,
//     one thread each, default ef, best of interleaved rounds);
//  2. the first sync of those 10,000 vectors from the server, then the load
//     time of the database from IndexedDB after a page reload (median of 5);
//  3. bytes and time of a sync after 1% of the records changed on the server.
//     bash bench/run.sh web [--base 10000] [--queries 500]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndex, flatSearch, Index, kernelName, SEARCH_DEFAULTS } from '../native/index.ts';
import { api, freePort, launchChromium, startServer } from '../test/web/browser-harness.ts';
import { mnist, mnistDimension } from './datasets.ts';

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const baseCount = argument('base', 10_000);
const queryCount = argument('queries', 500);
const k = 10;
const dim = mnistDimension;

const data = mnist();
const base = data.train.subarray(0, baseCount * dim);
const queries = data.test.subarray(0, queryCount * dim);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function recall(results: ArrayLike<number>[]): number {
  let hits = 0;
  for (let q = 0; q < queryCount; q++) {
    const truth = new Set(flatSearch(base, queries.subarray(q * dim, (q + 1) * dim), { dimension: dim, metric: 'l2', k }).positions);
    for (let i = 0; i < k; i++) if (truth.has(results[q][i])) hits++;
  }
  return hits / (queryCount * k);
}

// ------------------------------------------------------------ 1. same blob
console.log(`MNIST-784 subset: ${baseCount} base vectors, ${queryCount} queries; native kernels ${kernelName}`);
let started = performance.now();
const blob = await buildIndex(base, { dimension: dim, metric: 'l2', threads: 2 });
console.log(`native build: ${((performance.now() - started) / 1000).toFixed(1)} s, ${(blob.length / 1e6).toFixed(1)} MB`);
const index = Index.open(blob);
const rounds = 5;
const best = (xs: number[]) => Math.min(...xs);
function nativeRound(results: Uint32Array[]): number {
  const t = performance.now();
  for (let q = 0; q < queryCount; q++) results[q] = index.search(queries.subarray(q * dim, (q + 1) * dim), { k }).positions;
  return (performance.now() - t) / 1000;
}

const dataDir = mkdtempSync(join(tmpdir(), 'hyperspace-bench-web-'));
const port = await freePort();
const server = await startServer(dataDir, port);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.route('**/bench/blob', (route) => route.fulfill({ body: Buffer.from(blob), contentType: 'application/octet-stream' }));
  await page.route('**/bench/queries', (route) => route.fulfill({ body: Buffer.from(queries.buffer, queries.byteOffset, queries.byteLength), contentType: 'application/octet-stream' }));
  await page.goto(`${server.url}/demo/`);
  await page.waitForFunction(() => (window as any).demo !== undefined, undefined, { timeout: 60_000 });
  const wasmOpen = await page.evaluate(async () => {
    const { hs } = (window as any).demo;
    const blob = new Uint8Array(await (await fetch('/bench/blob')).arrayBuffer());
    (window as any).benchQueries = new Float32Array(await (await fetch('/bench/queries')).arrayBuffer());
    const t = performance.now();
    (window as any).benchIndex = hs.Index.open(blob);
    return { kernel: hs.kernelName as string, openMs: performance.now() - t };
  });
  const wasmRound = () => page.evaluate(({ dim, k, queryCount }) => {
    const index = (window as any).benchIndex, queries = (window as any).benchQueries as Float32Array;
    const results: number[][] = [];
    const t = performance.now();
    for (let q = 0; q < queryCount; q++) results.push(Array.from(index.search(queries.subarray(q * dim, (q + 1) * dim), { k }).positions as Uint32Array));
    return { seconds: (performance.now() - t) / 1000, results };
  }, { dim, k, queryCount });
  // Rounds interleaved, best of each: other work on the machine hits both alike.
  const nativeResults: Uint32Array[] = [];
  const nativeSeconds: number[] = [], wasmSeconds: number[] = [];
  let wasmResults: number[][] = [];
  for (let round = 0; round < rounds; round++) {
    nativeSeconds.push(nativeRound(nativeResults));
    const w = await wasmRound();
    wasmSeconds.push(w.seconds);
    wasmResults = w.results;
  }
  const nativeQps = queryCount / best(nativeSeconds), wasmQps = queryCount / best(wasmSeconds);
  const nativeRecall = recall(nativeResults), wasmRecall = recall(wasmResults);
  const wasm = { ...wasmOpen, results: wasmResults };
  let sameIds = 0;
  for (let q = 0; q < queryCount; q++) for (let i = 0; i < k; i++) if (wasm.results[q][i] === nativeResults[q][i]) sameIds++;

  // ---------------------------------------------------- 2. sync, then reloads
  await api(server.url, 'POST', '/v1/collections', { name: 'mnist', dimension: dim, metric: 'l2' });
  const point = (i: number, shift = 0) => ({ id: `m${i}`, vector: Array.from(base.subarray(i * dim, (i + 1) * dim), (x) => x + shift) });
  for (let i = 0; i < baseCount; i += 250) {
    await api(server.url, 'POST', '/v1/collections/mnist/upsert', { points: Array.from({ length: Math.min(250, baseCount - i) }, (_, j) => point(i + j)) });
  }
  await api(server.url, 'POST', '/v1/collections/mnist/flush', {});
  const sync = () => page.evaluate(async () => {
    const { db, hs } = (window as any).demo;
    const report = await hs.syncFromServer(db, new hs.HttpServer({ url: location.origin }), 'mnist');
    return { ...report, localRoot: (await db.collection('mnist').digest()).root };
  });
  const serverRoot = async () => (await api(server.url, 'GET', '/v1/collections/mnist/digest')).root as string;
  const first = await sync();
  if (first.localRoot !== await serverRoot()) throw new Error('first sync did not converge');
  started = performance.now();
  await page.evaluate(async () => { await (window as any).demo.db.collection('mnist').flush(); });
  const localBuildSeconds = (performance.now() - started) / 1000;
  const loads: number[] = [];
  for (let i = 0; i < 5; i++) {
    await page.reload();
    await page.waitForFunction(() => (window as any).demo !== undefined, undefined, { timeout: 60_000 });
    loads.push(await page.evaluate(() => (window as any).demo.db.loadMs as number));
  }
  const loaded = await page.evaluate(async () => (window as any).demo.db.collection('mnist').describe());

  // ------------------------------------------------------ 3. sync after 1%
  const changed = Math.max(1, Math.round(baseCount / 100));
  const changedPoints = Array.from({ length: changed }, (_, j) => point(j * 97 % baseCount, 1));
  await api(server.url, 'POST', '/v1/collections/mnist/upsert', { points: changedPoints });
  const delta = await sync();
  if (delta.localRoot !== await serverRoot()) throw new Error('delta sync did not converge');

  const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  console.log(`
| | Node addon (${kernelName}) | Chromium WASM (${wasm.kernel}) |
|---|---:|---:|
| search QPS, 1 thread, k=10, ef=${SEARCH_DEFAULTS.l2.none.ef} (best of ${rounds} interleaved rounds) | ${fmt(nativeQps)} | ${fmt(wasmQps)} (${fmt(wasmQps / nativeQps * 100)}%) |
| recall@10 | ${nativeRecall.toFixed(4)} | ${wasmRecall.toFixed(4)} |
| same id at the same rank | | ${fmt(sameIds / (queryCount * k) * 100, 2)}% |
| open the ${(blob.length / 1e6).toFixed(1)} MB blob (copy into WASM memory, verify CRCs) | | ${fmt(wasm.openMs, 1)} ms |

| browser database, ${fmt(baseCount)} × ${dim}-d (l2) | |
|---|---:|
| first sync from the server (catch-up by sequence) | ${fmt(first.ms)} ms, ${fmt(first.bytes / 1e6, 1)} MB, ${first.pages} pages |
| index build in the browser (flush, WASM, 1 thread) | ${fmt(localBuildSeconds, 1)} s |
| load from IndexedDB after a reload, median of ${loads.length} (${loaded.segments} segment, ${loaded.tailLength} in the tail) | ${fmt(median(loads))} ms (${loads.map((x) => fmt(x)).join(', ')}) |
| sync after ${fmt(changed)} records (1%) changed on the server | ${fmt(delta.ms)} ms, ${fmt(delta.bytes / 1e3, 1)} KB (${delta.mode}, ${delta.upserts} upserts) |
| bytes per changed record | ${fmt(delta.bytes / changed)} (a record is ${dim * 4} bytes of vector) |
`);
} finally {
  await browser.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
