// Tuning sweeps for the native core: recall@10 and single-thread QPS of our
// index over many (quantization, ef, rerank) settings, optionally against
// hnswlib-node in the same run. Faster to iterate with than `bench:ann`: the
// hnswlib index is built once and cached in bench/data/ (its build is
// single-threaded and takes minutes), and only the engines asked for run.
// The published comparison is `npm run bench:ann` (docs/benchmarks.md).
//
//   bash bench/run.sh tune-native --dataset mnist --quant none,int8,binary \
//     --efs 10,16,24,32,48,64 --reranks ef,20 [--hnswlib] [--limit N] [--queries N]

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildIndex, Index, type Quantization } from '../native/index.ts';
import { dataDirectory, glove, groundTruth, mnist, recallAt10, type Dataset } from './datasets.ts';

const { values: flags } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    limit: { type: 'string' },
    queries: { type: 'string', default: '1000' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '200' },
    quant: { type: 'string', default: 'none,int8,binary' },
    efs: { type: 'string', default: '10,20,40,80' },
    reranks: { type: 'string', default: 'ef' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    hnswlib: { type: 'boolean', default: false },
  },
  strict: true,
});

const k = 10;
const dataset: Dataset = flags.dataset === 'glove' ? glove() : mnist();
const { dimension, metric } = dataset;
const trainCount = Math.min(Number(flags.limit ?? dataset.trainCount), dataset.trainCount);
const queryCount = Math.min(Number(flags.queries), dataset.testCount);
const train = dataset.train.subarray(0, trainCount * dimension);
const test = dataset.test.subarray(0, queryCount * dimension);
const m = Number(flags.m), efConstruction = Number(flags['ef-construction']), threads = Number(flags.threads);
const rounds = Number(flags.rounds);
const efs = flags.efs!.split(',').map(Number);
const reranks = flags.reranks!.split(',');
const queries = Array.from({ length: queryCount }, (_, q) => test.subarray(q * dimension, (q + 1) * dimension));
const truth = await groundTruth(train, test, dimension, metric, k, threads);
console.log(`${dataset.name}: ${trainCount} × ${dimension} (${metric}), ${queryCount} queries, M=${m} efConstruction=${efConstruction}`);

interface Runner { name: string; setEf(ef: number): void; search(q: number): ArrayLike<number> }
const runners: { runner: Runner; label: (ef: number) => string }[] = [];

interface Hnsw {
  initIndex(n: number, m: number, efc: number, seed: number): void;
  addPoint(p: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(q: number[], k: number): { neighbors: number[] };
  writeIndexSync(path: string): void;
  readIndexSync(path: string): void;
}
if (flags.hnswlib) {
  const specifier: string = 'hnswlib-node';
  const loaded = await import(specifier);
  const { HierarchicalNSW } = (loaded.default ?? loaded) as { HierarchicalNSW: new (space: string, dim: number) => Hnsw };
  const index = new HierarchicalNSW(metric, dimension);
  const cache = join(dataDirectory, `hnswlib-${dataset.name}-${trainCount}-m${m}-efc${efConstruction}.bin`);
  const toArray = (v: Float32Array) => { const a = new Array<number>(v.length); for (let i = 0; i < v.length; i++) a[i] = v[i]; return a; };
  if (existsSync(cache)) {
    index.readIndexSync(cache);
  } else {
    const started = performance.now();
    index.initIndex(trainCount, m, efConstruction, 100);
    for (let i = 0; i < trainCount; i++) index.addPoint(toArray(train.subarray(i * dimension, (i + 1) * dimension)), i);
    console.log(`hnswlib-node build ${((performance.now() - started) / 1000).toFixed(1)} s (1 thread)`);
    index.writeIndexSync(cache);
  }
  const arrays = queries.map(toArray);
  runners.push({ runner: { name: 'hnswlib-node', setEf: (ef) => index.setEf(ef), search: (q) => index.searchKnn(arrays[q], k).neighbors }, label: (ef) => `ef=${ef}` });
}

for (const quantization of flags.quant!.split(',') as Quantization[]) {
  const started = performance.now();
  const bytes = await buildIndex(train, { dimension, metric, m, efConstruction, quantization, seed: 1, threads });
  const seconds = (performance.now() - started) / 1000;
  const index = Index.open(bytes);
  console.log(`hyperspace-${quantization} build ${seconds.toFixed(1)} s (${threads} threads), ${(bytes.length / trainCount).toFixed(0)} bytes/vector`);
  for (const rerank of quantization === 'none' ? ['-'] : reranks) {
    let ef = 10;
    const rerankFor = (e: number) => (rerank === 'ef' ? Math.max(e, k) : Number(rerank));
    runners.push({
      runner: {
        name: `hyperspace-${quantization}`,
        setEf: (value) => { ef = value; },
        search: (q) => index.search(queries[q], quantization === 'none' ? { k, ef } : { k, ef, rerank: rerankFor(ef) }).positions,
      },
      label: (e) => (quantization === 'none' ? `ef=${e}` : `ef=${e} rerank=${rerankFor(e)}`),
    });
  }
}

// Wall-clock QPS and, because the two cores are shared, QPS over this
// process's CPU time (what a query costs when it has a core to itself).
console.log('| engine | setting | recall@10 | QPS (median) | CPU QPS (median) |');
console.log('|---|---|---:|---:|---:|');
for (const ef of efs) {
  const qps = new Map<Runner, number[]>(runners.map(({ runner }) => [runner, []]));
  const cpuQps = new Map<Runner, number[]>(runners.map(({ runner }) => [runner, []]));
  const found = new Map<Runner, ArrayLike<number>[]>();
  for (const { runner } of runners) {
    runner.setEf(ef);
    for (let q = 0; q < Math.min(100, queryCount); q++) runner.search(q);
  }
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < runners.length; i++) {
      const { runner } = runners[(i + round) % runners.length];
      const results: ArrayLike<number>[] = new Array(queryCount);
      const started = performance.now(), cpuStarted = process.cpuUsage();
      for (let q = 0; q < queryCount; q++) results[q] = runner.search(q);
      qps.get(runner)!.push((queryCount * 1000) / (performance.now() - started));
      const cpu = process.cpuUsage(cpuStarted);
      cpuQps.get(runner)!.push((queryCount * 1e6) / (cpu.user + cpu.system));
      if (round === 0) found.set(runner, results);
    }
  }
  for (const { runner, label } of runners) {
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1].toFixed(0);
    console.log(`| ${runner.name} | ${label(ef)} | ${recallAt10(found.get(runner)!, truth.ids).toFixed(4)} | ${median(qps.get(runner)!)} | ${median(cpuQps.get(runner)!)} |`);
  }
}
