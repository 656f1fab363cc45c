// ANN benchmark: recall@10 against QPS for HyperspaceDB and its peers, on real
// data, with the same HNSW parameters for everyone. Search is single-threaded,
// one query at a time; rounds interleave the engines in rotating order so that
// drift on the machine (thermal, page cache, neighbours) hits them all alike.
//
//   npm run bench:ann -- --dataset mnist|glove|all [--limit N] [--queries N]
//                        [--m 16] [--ef-construction 200] [--efs 10,20,...]
//                        [--rounds 3] [--threads 2] [--engines a,b] [--rerank ef|N]

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { glove, groundTruth, mnist, recallAt10, type Dataset } from './datasets.ts';
import { hnswlib, hyperspace, usearch, type Engine, type Quantization } from './peers.ts';

const benchDirectory = dirname(fileURLToPath(import.meta.url));
const k = 10;

const { values: flags } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'all' },
    limit: { type: 'string' },
    queries: { type: 'string', default: '1000' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '200' },
    efs: { type: 'string', default: '10,20,40,80,160,320' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    engines: { type: 'string' },
    rerank: { type: 'string', default: 'ef' },
    warmup: { type: 'string', default: '100' },
  },
  strict: true,
});

const positiveInteger = (name: string, text: string | undefined): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer: got ${text}`);
  return value;
};
const options = {
  dataset: flags.dataset!,
  limit: flags.limit === undefined ? undefined : positiveInteger('limit', flags.limit),
  queries: positiveInteger('queries', flags.queries),
  m: positiveInteger('m', flags.m),
  efConstruction: positiveInteger('ef-construction', flags['ef-construction']),
  efs: flags.efs!.split(',').map((text) => positiveInteger('efs', text)),
  rounds: positiveInteger('rounds', flags.rounds),
  threads: positiveInteger('threads', flags.threads),
  engines: flags.engines?.split(',').map((name) => name.trim()),
  rerank: flags.rerank!,
  warmup: Number(flags.warmup),
};
if (!['mnist', 'glove', 'all'].includes(options.dataset)) throw new Error(`--dataset must be mnist, glove or all: got ${options.dataset}`);
// Quantized searches re-score candidates in float32: all ef of them by default.
const rerankFor = options.rerank === 'ef'
  ? (ef: number, wanted: number) => Math.max(ef, wanted)
  : ((fixed: number) => () => fixed)(positiveInteger('rerank', options.rerank));

interface Run {
  ef: number;
  recallAt10: number;
  /** Queries per wall-clock second: the median round. */
  qpsMedian: number;
  qpsRounds: number[];
  /**
   * Queries per second of process CPU time (user + system), median round. On a
   * shared machine this tracks the engine's cost when wall time is stolen by
   * other processes; search runs on the calling thread for every engine here.
   */
  cpuQpsMedian: number;
  cpuQpsRounds: number[];
  latencyUs: { p50: number; p90: number; p99: number; max: number };
}
interface EngineReport {
  name: string;
  buildMs: number;
  /** Process CPU time (all threads) spent in the build: its total work, robust to a busy machine. */
  buildCpuMs: number;
  bytesPerVector?: number;
  queryPrepareUsPerQuery?: number;
  notes: string[];
  runs: Run[];
}
interface DatasetReport {
  name: string;
  metric: string;
  dimension: number;
  trainCount: number;
  queryCount: number;
  groundTruthMs: number;
  /** os.loadavg() (1, 5, 15 min) before the builds and after the last search. */
  loadAverage: { before: number[]; after: number[] };
  engines: EngineReport[];
  skipped: string[];
}

async function engineCandidates(metric: Dataset['metric']): Promise<{ engines: Engine<unknown>[]; skipped: string[] }> {
  const skipped: string[] = [];
  const engines: Engine<unknown>[] = [];
  const peers: [string, () => Promise<unknown>][] = [['hnswlib-node', hnswlib], ['usearch', () => usearch('cos')]];
  if (metric === 'cosine') peers.push(['usearch-ip', () => usearch('ip')]);
  for (const [name, make] of peers) {
    try {
      engines.push(await make() as Engine<unknown>);
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  const quantizations: Quantization[] = ['none', 'int8', 'binary'];
  const ours = await hyperspace(quantizations, rerankFor);
  if ('skipped' in ours) skipped.push(`hyperspace: ${ours.skipped}`);
  else engines.push(...ours.engines as Engine<unknown>[]);
  const wanted = options.engines;
  return { engines: wanted ? engines.filter((engine) => wanted.includes(engine.name)) : engines, skipped };
}

async function benchmarkDataset(dataset: Dataset): Promise<DatasetReport> {
  const { dimension, metric } = dataset;
  const trainCount = Math.min(options.limit ?? dataset.trainCount, dataset.trainCount);
  const queryCount = Math.min(options.queries, dataset.testCount);
  const train = dataset.train.subarray(0, trainCount * dimension);
  const test = dataset.test.subarray(0, queryCount * dimension);
  console.log(`\n## ${dataset.name}: ${trainCount} × ${dimension} (${metric}), ${queryCount} queries, M=${options.m} efConstruction=${options.efConstruction}`);

  const truthStarted = performance.now();
  const truth = await groundTruth(train, test, dimension, metric, k, options.threads);
  const groundTruthMs = performance.now() - truthStarted;
  console.log(`ground truth (exact top-${k}): ${(groundTruthMs / 1000).toFixed(1)} s`);

  const loadBefore = loadavg();
  if (loadBefore[0] > cpus().length * 0.5) console.log(`note: load average ${loadBefore[0].toFixed(1)} on ${cpus().length} cores; wall-clock QPS will be noisy, see the CPU-time QPS`);
  const { engines: candidates, skipped } = await engineCandidates(metric);
  for (const reason of skipped) console.log(`skipped ${reason}`);
  const queries = Array.from({ length: queryCount }, (_, q) => test.subarray(q * dimension, (q + 1) * dimension));

  const reports = new Map<Engine<unknown>, EngineReport>();
  const prepared = new Map<Engine<unknown>, unknown[]>();
  for (const engine of candidates) {
    try {
      const cpuStarted = process.cpuUsage();
      const buildMs = await engine.build(train, dimension, metric, { m: options.m, efConstruction: options.efConstruction, threads: options.threads });
      const cpu = process.cpuUsage(cpuStarted);
      const buildCpuMs = (cpu.user + cpu.system) / 1000;
      const report: EngineReport = { name: engine.name, buildMs, buildCpuMs, bytesPerVector: engine.bytesPerVector?.(), notes: engine.notes, runs: [] };
      if (engine.prepareQuery) {
        const started = performance.now();
        prepared.set(engine, queries.map((query) => engine.prepareQuery!(query)));
        report.queryPrepareUsPerQuery = ((performance.now() - started) * 1000) / queryCount;
      } else {
        prepared.set(engine, queries);
      }
      reports.set(engine, report);
      const size = report.bytesPerVector === undefined ? '' : `, ${report.bytesPerVector.toFixed(1)} bytes/vector`;
      console.log(`built ${engine.name}: ${(buildMs / 1000).toFixed(1)} s, ${(buildCpuMs / 1000).toFixed(1)} CPU s${size} (${engine.notes.join('; ')})`);
    } catch (error) {
      skipped.push(`${engine.name}: build failed: ${(error as Error).message.split('\n')[0]}`);
      console.log(`skipped ${engine.name}: build failed: ${(error as Error).stack}`);
    }
  }
  const engines = candidates.filter((engine) => reports.has(engine));

  for (const ef of options.efs) {
    for (const engine of engines) {
      engine.setEf(ef);
      const input = prepared.get(engine)!;
      for (let q = 0; q < Math.min(options.warmup, queryCount); q++) engine.search(input[q], k);
    }
    const qpsRounds = new Map<Engine<unknown>, number[]>(engines.map((engine) => [engine, []]));
    const cpuQpsRounds = new Map<Engine<unknown>, number[]>(engines.map((engine) => [engine, []]));
    const latenciesNs = new Map<Engine<unknown>, Float64Array>(engines.map((engine) => [engine, new Float64Array(queryCount * options.rounds)]));
    const results = new Map<Engine<unknown>, ArrayLike<number>[]>();
    for (let round = 0; round < options.rounds; round++) {
      const order = engines.map((_, i) => engines[(i + round) % engines.length]);
      for (const engine of order) {
        const input = prepared.get(engine)!;
        const latencies = latenciesNs.get(engine)!;
        const found: ArrayLike<number>[] = new Array(queryCount);
        const cpuStarted = process.cpuUsage();
        const started = performance.now();
        for (let q = 0; q < queryCount; q++) {
          const queryStarted = performance.now();
          found[q] = engine.search(input[q], k);
          latencies[round * queryCount + q] = (performance.now() - queryStarted) * 1e6;
        }
        const wallMs = performance.now() - started;
        const cpu = process.cpuUsage(cpuStarted);
        qpsRounds.get(engine)!.push((queryCount * 1000) / wallMs);
        cpuQpsRounds.get(engine)!.push((queryCount * 1e6) / Math.max(1, cpu.user + cpu.system));
        if (round === 0) results.set(engine, found);
      }
    }
    for (const engine of engines) {
      const rounds = qpsRounds.get(engine)!;
      const sortedLatencies = latenciesNs.get(engine)!.sort();
      const percentileUs = (p: number) => sortedLatencies[Math.min(sortedLatencies.length - 1, Math.floor((p / 100) * sortedLatencies.length))] / 1000;
      reports.get(engine)!.runs.push({
        ef,
        recallAt10: recallAt10(results.get(engine)!, truth.ids),
        qpsMedian: median(rounds),
        qpsRounds: rounds,
        cpuQpsMedian: median(cpuQpsRounds.get(engine)!),
        cpuQpsRounds: cpuQpsRounds.get(engine)!,
        latencyUs: { p50: percentileUs(50), p90: percentileUs(90), p99: percentileUs(99), max: sortedLatencies[sortedLatencies.length - 1] / 1000 },
      });
    }
    process.stdout.write(`ef=${ef} done  `);
  }
  process.stdout.write('\n');
  for (const engine of engines) engine.dispose?.();

  const report: DatasetReport = {
    name: dataset.name, metric, dimension, trainCount, queryCount, groundTruthMs,
    loadAverage: { before: loadBefore, after: loadavg() },
    engines: engines.map((engine) => reports.get(engine)!), skipped,
  };
  printTable(report);
  return report;
}

function printTable(report: DatasetReport): void {
  const header = ['engine', 'ef', 'recall@10', 'QPS', 'CPU QPS', 'p50 µs', 'p99 µs'];
  const lines = [header];
  for (const engine of report.engines) {
    for (const run of engine.runs) {
      lines.push([engine.name, String(run.ef), run.recallAt10.toFixed(4), run.qpsMedian.toFixed(0), run.cpuQpsMedian.toFixed(0), run.latencyUs.p50.toFixed(0), run.latencyUs.p99.toFixed(0)]);
    }
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column].length)));
  const format = (line: string[]) => '| ' + line.map((cell, column) => column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])).join(' | ') + ' |';
  console.log(`\n${report.name} (${report.trainCount} base, ${report.queryCount} queries, median of ${options.rounds} rounds, single-threaded search; QPS per wall-clock second, CPU QPS per second of process CPU time)`);
  console.log(`load average before ${report.loadAverage.before.map((v) => v.toFixed(1)).join(' ')}, after ${report.loadAverage.after.map((v) => v.toFixed(1)).join(' ')}`);
  console.log(format(lines[0]));
  console.log('|' + widths.map((width, column) => column === 0 ? '-'.repeat(width + 2) : '-'.repeat(width + 1) + ':').join('|') + '|');
  for (const line of lines.slice(1)) console.log(format(line));
  console.log('\nbuild:');
  for (const engine of report.engines) {
    const size = engine.bytesPerVector === undefined ? '' : `  ${engine.bytesPerVector.toFixed(1)} bytes/vector`;
    const prepare = engine.queryPrepareUsPerQuery === undefined ? '' : `  query conversion ${engine.queryPrepareUsPerQuery.toFixed(1)} µs/query (not in QPS)`;
    console.log(`  ${engine.name.padEnd(20)} ${(engine.buildMs / 1000).toFixed(1).padStart(7)} s ${(engine.buildCpuMs / 1000).toFixed(1).padStart(7)} CPU s${size}${prepare}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function installedVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(benchDirectory, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

const loaders: Record<string, () => Dataset> = { mnist, glove };
const datasetReports: DatasetReport[] = [];
for (const name of options.dataset === 'all' ? ['mnist', 'glove'] : [options.dataset]) {
  datasetReports.push(await benchmarkDataset(loaders[name]()));
}

const now = new Date();
const resultsDirectory = join(benchDirectory, 'results');
mkdirSync(resultsDirectory, { recursive: true });
const resultsFile = join(resultsDirectory, `ann-${now.toISOString().slice(0, 19).replace(/:/g, '-')}.json`);
writeFileSync(resultsFile, JSON.stringify({
  date: now.toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
  versions: { 'hnswlib-node': installedVersion('hnswlib-node'), usearch: installedVersion('usearch') },
  options: { ...options, k },
  datasets: datasetReports,
}, null, 2) + '\n');
console.log(`\nwrote ${resultsFile}`);
