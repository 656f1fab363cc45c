// Shared pieces of the storage-engine and transport benchmarks (ingest,
// search-latency, build, transport): latency histograms, seeded synthetic
// data, the machine's load next to every figure, and the results file.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Collection } from '../engine/index.ts';
import { mulberry32 } from './datasets.ts';

const benchDirectory = dirname(fileURLToPath(import.meta.url));
const requireFromBench = createRequire(join(benchDirectory, 'package.json'));

// ---------------------------------------------------------------- latency

interface HdrHistogram {
  recordValue(value: number): void;
  getValueAtPercentile(percentile: number): number;
  readonly maxValue: number;
  readonly totalCount: number;
  reset(): void;
}
interface HdrModule {
  build(options: { lowestDiscernibleValue: number; highestTrackableValue: number; numberOfSignificantValueDigits: number }): HdrHistogram;
}
const hdr = requireFromBench('hdr-histogram-js') as HdrModule;

export interface LatencySummary {
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

/** An HDR histogram of latencies in nanoseconds (1 ns .. 60 s, 3 significant digits). */
export class Latencies {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });

  /** Record the time since `startedNs` (from `process.hrtime.bigint()`); returns it in nanoseconds. */
  recordSince(startedNs: bigint): number {
    const elapsedNs = Math.max(1, Number(process.hrtime.bigint() - startedNs));
    this.histogram.recordValue(elapsedNs);
    return elapsedNs;
  }

  record(nanoseconds: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(nanoseconds)));
  }

  summary(): LatencySummary {
    const us = (ns: number) => Math.round(ns / 10) / 100;
    const h = this.histogram;
    return { count: h.totalCount, p50Us: us(h.getValueAtPercentile(50)), p90Us: us(h.getValueAtPercentile(90)),
      p99Us: us(h.getValueAtPercentile(99)), maxUs: us(h.maxValue) };
  }
}

/**
 * Each request's fastest time over the rounds that repeat it. On a loaded
 * machine a request preempted mid-flight waits out another process's time
 * slice; in the best of several rounds that must hit the same request every
 * time to count, so these percentiles track the code rather than the scheduler.
 */
export class FastestPerRequest {
  private readonly fastestNs: Float64Array;

  constructor(count: number) {
    this.fastestNs = new Float64Array(count).fill(Infinity);
  }

  record(index: number, nanoseconds: number): void {
    if (nanoseconds < this.fastestNs[index]) this.fastestNs[index] = nanoseconds;
  }

  summary(): LatencySummary {
    const latencies = new Latencies();
    for (const ns of this.fastestNs) if (ns !== Infinity) latencies.record(ns);
    return latencies.summary();
  }
}

// ---------------------------------------------------------------- data

/**
 * `count` seeded gaussian vectors around `clusters` gaussian centres (centre
 * spread 1, within-cluster spread 0.25 per coordinate): clustered like real
 * embeddings, unlike uniform noise, and reproducible on every machine.
 */
export function gaussianClusters(count: number, dimension: number, seed: number, clusters = 64): Float32Array {
  const random = mulberry32(seed);
  const gaussian = () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const centres = new Float32Array(clusters * dimension);
  for (let i = 0; i < centres.length; i++) centres[i] = gaussian();
  const vectors = new Float32Array(count * dimension);
  for (let row = 0; row < count; row++) {
    const centre = Math.floor(random() * clusters) * dimension;
    for (let j = 0; j < dimension; j++) vectors[row * dimension + j] = centres[centre + j] + 0.25 * gaussian();
  }
  return vectors;
}

// ---------------------------------------------------------------- engine state

/** Upserts rows [from, to) of a row-major matrix, ids = row numbers as strings, in batches of 1,000. */
export async function upsertRows(collection: Collection, vectors: Float32Array, dimension: number, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1000) {
    const end = Math.min(to, start + 1000);
    await collection.upsert(Array.from({ length: end - start }, (_, i) => ({
      id: String(start + i), vector: vectors.subarray((start + i) * dimension, (start + i + 1) * dimension),
    })));
  }
}

/**
 * Waits until a collection's in-memory tail chunk indexes are built (they
 * build in the background after upserts) and returns how long that took. Reads
 * a private field: the engine exposes no such signal, and a benchmark that
 * wants a settled state should not make it grow one.
 */
export async function tailChunksBuilt(collection: Collection): Promise<number> {
  const started = performance.now();
  const chunks = () => (collection as unknown as { tail: { chunks: { index: unknown }[] } }).tail.chunks;
  while (chunks().some((c) => c.index === null)) await sleep(20);
  return performance.now() - started;
}

// ---------------------------------------------------------------- environment

/** os.loadavg() rounded: 1, 5 and 15 minutes. */
export function loadAverage(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100);
}

/** The commit benchmarked, and the engine/native files that differed from it (the tree is shared while we work). */
export function revision(): { commit: string; uncommitted: string[] } {
  const git = (args: string[]) => execFileSync('git', args, { cwd: benchDirectory, encoding: 'utf8' }).trim();
  try {
    return { commit: git(['rev-parse', 'HEAD']), uncommitted: git(['status', '--porcelain', '--', '../engine', '../native', '../functions', '../client']).split('\n').filter(Boolean) };
  } catch {
    return { commit: 'unknown', uncommitted: [] };
  }
}

export function machine(): Record<string, unknown> {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function installedVersion(name: string): string | undefined {
  try {
    return (requireFromBench(`${name}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Writes `bench/results/<name>-<timestamp>.json` (gitignored) and returns its path. */
export function writeResults(name: string, report: Record<string, unknown>): string {
  const directory = join(benchDirectory, 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${name}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: machine(), revision: revision(), argv: process.argv.slice(2), ...report }, null, 2) + '\n');
  return file;
}

/** A scratch data directory, removed at exit. */
export function scratchDirectory(label: string): string {
  const directory = mkdtempSync(join(tmpdir(), `hyperspace-bench-${label}-`));
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

export function positiveNumber(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number: got ${text}`);
  return value;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
