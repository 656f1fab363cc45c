// The arm64 Lambda addon (`npm run build:lambda-addon -- --arch arm64`),
// cross-built on this x86_64 machine: what objdump says it asks of Amazon
// Linux 2023, and — as there is no arm64 Node here — that it loads and that
// the core objects linked into it build and search indexes exactly like the
// x86_64 addon, run under qemu-aarch64 (build/lambda-arm64/addon_check,
// native/lambda/addon_check.cc).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIndex, flatSearch, Index, type Metric, type Quantization } from '../../native/index.ts';
import { clusteredVectors, poincarePoints } from '../helpers/random.ts';

const addon = 'build/lambda-arm64/hyperspace_native.node';
const checker = 'build/lambda-arm64/addon_check';
const sysroot = '/usr/aarch64-linux-gnu';
const glibcMax = '2.34'; // Amazon Linux 2023
const buildMs = 240_000;

const crossTools = ['aarch64-linux-gnu-g++', 'aarch64-linux-gnu-objdump', 'qemu-aarch64'];
const missingTools = crossTools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const skipReason = missingTools.length
  ? `skipped: ${missingTools.join(', ')} missing (sudo apt-get install -y g++-aarch64-linux-gnu qemu-user; .ci/run installs them)`
  : '';
if (skipReason && process.env.CI) {
  // CI installs the cross tools (.ci/run): the arm64 addon must not go unchecked there.
  throw new Error(`arm64 Lambda addon test cannot run in CI: ${skipReason}`);
}
if (skipReason) console.warn(`test/infra/lambda-addon-arm64.test.ts ${skipReason}`);

const metricCode: Record<Metric, number> = { l2: 0, dot: 1, cosine: 2, poincare: 3 };
const quantizationCode: Record<Quantization, number> = { none: 0, int8: 1, binary: 2 };

function objdump(...args: string[]): string {
  return execFileSync('aarch64-linux-gnu-objdump', [...args, addon], { encoding: 'utf8', maxBuffer: 16 << 20 });
}

function underQemu(...args: string[]): string {
  const run = spawnSync('qemu-aarch64', ['-L', sysroot, checker, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`addon_check ${args[0]} failed (exit ${run.status}${run.signal ? `, ${run.signal}` : ''}):\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

function versionAbove(version: string, limit: string): boolean {
  const a = version.split('.').map(Number), b = limit.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return false;
}

describe.skipIf(skipReason !== '')(`arm64 Lambda addon, cross-built${skipReason ? ` (${skipReason})` : ''}`, () => {
  let work = '';

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'hs-lambda-arm64-'));
    const run = spawnSync('bash', ['native/build-lambda-addon.sh', '--arch', 'arm64'], { encoding: 'utf8', timeout: buildMs });
    if (run.status !== 0) throw new Error(`build-lambda-addon.sh --arch arm64 failed (exit ${run.status}${run.signal ? `, ${run.signal}` : ''}):\n${run.stdout}${run.stderr}`);
    expect(run.stdout).toContain('build/lambda-arm64/hyperspace_native.node (arm64, elf64-littleaarch64)');
  }, buildMs + 10_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is an aarch64 ELF shared object whose entry point is napi_register_module_v1', () => {
    const header = objdump('-f');
    expect(header).toContain('file format elf64-littleaarch64');
    expect(header).toContain('architecture: aarch64');
    expect(header).toContain('DYNAMIC');
    expect(objdump('-T')).toMatch(/^[0-9a-f]+ g\s+DF \.text\s+[0-9a-f]+\s+Base\s+napi_register_module_v1$/m);
  });

  it(`asks Amazon Linux 2023 for glibc ≤ ${glibcMax} only, and for no libstdc++ at all`, () => {
    const symbols = objdump('-T');
    const glibcVersions = [...new Set([...symbols.matchAll(/\(GLIBC_([0-9.]+)\)/g)].map((m) => m[1]))];
    expect(glibcVersions.length).toBeGreaterThan(0);
    expect(glibcVersions.filter((v) => versionAbove(v, glibcMax))).toEqual([]);
    expect(symbols).not.toMatch(/GLIBCXX_|CXXABI_/);
    const libraries = [...objdump('-p').matchAll(/^\s*NEEDED\s+(\S+)$/gm)].map((m) => m[1]);
    expect(libraries.sort()).toEqual(['libc.so.6', 'libgcc_s.so.1', 'libm.so.6']);
    // The static libstdc++ stays private: node's own cannot interpose on it.
    expect(symbols).not.toMatch(/\s_ZNSt6thread|\s_ZSt9terminatev|\s__cxa_throw$/m);
  });

  it('loads under qemu-aarch64 with every import bound, and picks the NEON kernels', () => {
    const output = underQemu('load', addon);
    expect(output).toContain('kernels: neon');
    expect(output).toContain('napi_register_module_v1 found');
  });

  // Binary codes of 32 dimensions rank coarsely: re-score every record the beam visited.
  const cases: { metric: Metric; quantization: Quantization; rerank: number; data: (n: number, dimension: number, seed: number) => Float32Array }[] = [
    { metric: 'l2', quantization: 'int8', rerank: 0, data: clusteredVectors },
    { metric: 'cosine', quantization: 'binary', rerank: 1000, data: clusteredVectors },
    { metric: 'poincare', quantization: 'none', rerank: 0, data: poincarePoints },
  ];
  for (const { metric, quantization, rerank, data } of cases) {
    it(`builds and searches ${metric}/${quantization} indexes under qemu-aarch64 as the x86_64 addon does`, async () => {
      const dimension = 32, count = 2000, queryCount = 50, k = 10, ef = 64;
      const build = { m: 16, efConstruction: 100, seed: 5 };
      const vectors = data(count, dimension, 7);
      const queries = data(queryCount, dimension, 8);
      writeFileSync(join(work, 'vectors.f32'), vectors);
      writeFileSync(join(work, 'queries.f32'), queries);

      // One index from each architecture, built single-threaded from the same input.
      const x86Blob = await buildIndex(vectors, { dimension, metric, quantization, ...build, threads: 1 });
      writeFileSync(join(work, 'x86.hsix'), x86Blob);
      const built = underQemu('build', join(work, 'vectors.f32'), String(dimension), String(metricCode[metric]),
        String(quantizationCode[quantization]), String(build.m), String(build.efConstruction), String(build.seed), join(work, 'arm64.hsix'));
      expect(built).toContain(`built ${count} x ${dimension}`);
      const arm64Blob = new Uint8Array(readFileSync(join(work, 'arm64.hsix')));

      // aarch64 searches the x86_64 index: the same results as the x86_64 addon.
      underQemu('search', join(work, 'x86.hsix'), join(work, 'queries.f32'), String(k), String(ef), String(rerank), join(work, 'results.bin'));
      const results = readFileSync(join(work, 'results.bin'));
      const arm64Positions = new Uint32Array(results.buffer, results.byteOffset, queryCount * k);
      const arm64Distances = new Float32Array(results.buffer, results.byteOffset + queryCount * k * 4, queryCount * k);
      const x86Index = Index.open(x86Blob);
      // The x86_64 addon opens the aarch64 index (every checksum verified).
      const arm64Index = Index.open(arm64Blob);
      let samePositions = 0, x86Hits = 0, arm64Hits = 0;
      for (let q = 0; q < queryCount; q++) {
        const query = queries.subarray(q * dimension, (q + 1) * dimension);
        const x86 = x86Index.search(query, { k, ef, rerank });
        expect(x86.positions.length).toBe(k);
        for (let i = 0; i < k; i++) {
          if (x86.positions[i] !== arm64Positions[q * k + i]) continue;
          samePositions++;
          expect(Math.abs(x86.distances[i] - arm64Distances[q * k + i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x86.distances[i])));
        }
        // And the aarch64-built index is as good as the x86_64-built one.
        const truth = new Set(flatSearch(metric === 'cosine' ? x86Index.vectors() : vectors, query, { dimension, metric, k }).positions);
        for (const p of x86.positions) if (truth.has(p)) x86Hits++;
        for (const p of arm64Index.search(query, { k, ef, rerank }).positions) if (truth.has(p)) arm64Hits++;
      }
      // Float sums run in another order with NEON than with AVX2, so a near-tie
      // may break the other way; anything more is a bug.
      expect(samePositions / (queryCount * k)).toBeGreaterThanOrEqual(0.99);
      expect(arm64Hits / (queryCount * k)).toBeGreaterThanOrEqual(x86Hits / (queryCount * k) - 0.02);
      expect(x86Hits / (queryCount * k)).toBeGreaterThanOrEqual(0.9);
    });
  }
});
