// The `hyperspace` CLI as a user meets it: bin/hyperspace.mjs run in child
// processes on temporary data directories, with small fvecs and JSONL files.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Progress } from '../../functions/cli/progress.ts';
import { randomVectors } from '../helpers/random.ts';

const bin = fileURLToPath(new URL('../../bin/hyperspace.mjs', import.meta.url));

interface Run { code: number; stdout: string; stderr: string }

function hyperspace(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function fvecs(vectors: Float32Array, dimension: number): Buffer {
  const count = vectors.length / dimension;
  const out = Buffer.alloc(count * (4 + 4 * dimension));
  for (let row = 0; row < count; row++) {
    const offset = row * (4 + 4 * dimension);
    out.writeInt32LE(dimension, offset);
    for (let j = 0; j < dimension; j++) out.writeFloatLE(vectors[row * dimension + j], offset + 4 + 4 * j);
  }
  return out;
}

function row(vectors: Float32Array, dimension: number, index: number): number[] {
  return Array.from(vectors.subarray(index * dimension, (index + 1) * dimension));
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hyperspace-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

// Each case spawns several CLI processes (~0.5 s each on an idle machine, far more on a busy one).
describe('hyperspace CLI', { timeout: 240_000 }, () => {
  it('explains every command with --help: usage, options, an example', async () => {
    const names = ['create', 'import', 'search', 'stats', 'flush', 'compact', 'demo'];
    const runs = await Promise.all(names.map((name) => hyperspace(name, '--help')));
    runs.forEach((run, i) => {
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Usage: hyperspace ${names[i]}`);
      expect(run.stdout).toContain('--data DIR');
      expect(run.stdout).toMatch(/Examples?:\n {2}hyperspace /);
    });
    const top = await hyperspace('--help');
    expect(top.code).toBe(0);
    for (const name of names) expect(top.stdout).toContain(`  ${name} `);
  });

  it('rejects an unknown command or option with a message, the usage and exit code 2', async () => {
    const command = await hyperspace('frobnicate');
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('hyperspace: unknown command "frobnicate"');
    expect(command.stderr).toContain('Usage: hyperspace COMMAND');

    const option = await hyperspace('search', 'docs', '--vector', '[1]', '--kk', '3');
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('hyperspace: unknown option --kk for "hyperspace search"');
    expect(option.stderr).toContain('Usage: hyperspace search NAME [options]');

    const value = await hyperspace('search', 'docs', '--vector', '[1]', '--k', 'ten');
    expect(value.code).toBe(2);
    expect(value.stderr).toContain('--k must be an integer, got "ten"');

    const missing = await hyperspace('create', 'docs', '--metric', 'l2');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--dimension is required');

    const none = await hyperspace();
    expect(none.code).toBe(2);
  });

  it('reports engine errors as "error (kind): message" with exit code 1', async () => {
    const data = join(scratch, 'errors');
    expect((await hyperspace('create', 'docs', '--dimension', '3', '--metric', 'l2', '--data', data)).code).toBe(0);
    const unknown = await hyperspace('search', 'nope', '--vector', '[1, 2, 3]', '--data', data);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('error (not_found): collection not found: name=nope\n');
    const mismatch = await hyperspace('search', 'docs', '--vector', '[1, 2]', '--data', data);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/^error \(invalid\): .*dimension/);
    const again = await hyperspace('create', 'docs', '--dimension', '3', '--metric', 'l2', '--data', data);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error (conflict): collection already exists: name=docs\n');
    const noData = await hyperspace('stats', '--data', join(scratch, 'missing'));
    expect(noData.code).toBe(1);
    expect(noData.stderr).toContain('error (not_found): data directory not found');
  });

  it('creates a collection, imports fvecs, searches by vector and by id, shows stats, flushes and compacts', async () => {
    const data = join(scratch, 'fvecs');
    const dimension = 8;
    const count = 300;
    const vectors = randomVectors(count, dimension, 11);
    const file = join(scratch, 'base.fvecs');
    await writeFile(file, fvecs(vectors, dimension));

    const created = await hyperspace('create', 'vecs', '--dimension', '8', '--metric', 'l2', '--m', '8', '--ef-construction', '64', '--data', data);
    expect(created.code).toBe(0);
    expect(created.stdout).toBe('created collection vecs (dimension 8, metric l2, quantization none, M 8, efConstruction 64)\n');

    const imported = await hyperspace('import', 'vecs', file, '--batch', '128', '--id-prefix', 'v-', '--data', data);
    expect(imported.code).toBe(0);
    expect(imported.stderr).not.toContain('error');
    expect(imported.stdout).toMatch(/^imported 300 vectors into vecs in \d+\.\d s \([\d,]+ vectors\/s\)\n$/);

    const byVector = await hyperspace('search', 'vecs', '--vector', JSON.stringify(row(vectors, dimension, 5)), '--k', '3', '--data', data);
    expect(byVector.code).toBe(0);
    const result = JSON.parse(byVector.stdout);
    expect(result.hits).toHaveLength(3);
    expect(result.hits[0]).toEqual({ id: 'v-5', distance: 0 });
    expect(result.consistency).toEqual({ manifestVersion: expect.any(Number), walSeq: 3 });

    const byId = await hyperspace('search', 'vecs', '--id', 'v-7', '--include', 'vector', '--data', data);
    const hits = JSON.parse(byId.stdout).hits;
    expect(hits).toHaveLength(10);
    expect(hits[0].id).toBe('v-7');
    expect(hits[0].vector).toEqual(row(vectors, dimension, 7));
    expect(hits[1].distance).toBeGreaterThan(0);

    const flushed = await hyperspace('flush', 'vecs', '--data', data);
    expect(flushed.code).toBe(0);
    expect(flushed.stdout).toMatch(/^flushed vecs in \d+\.\d s: 300 points in 1 segment \(.+\), tail 0, manifest v\d+\n$/);

    // A second import of the same rows makes a second segment for compact to merge.
    expect((await hyperspace('import', 'vecs', file, '--format', 'fvecs', '--id-prefix', 'v-', '--data', data)).code).toBe(0);
    expect((await hyperspace('flush', 'vecs', '--data', data)).code).toBe(0);
    const compacted = await hyperspace('compact', 'vecs', '--data', data);
    expect(compacted.code).toBe(0);
    expect(compacted.stdout).toMatch(/^compacted vecs in \d+\.\d s: 300 points in 1 segment \(.+\), tail 0, manifest v\d+\n$/);

    const json = await hyperspace('stats', 'vecs', '--json', '--data', data);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'vecs', dimension: 8, metric: 'l2', count: 300, segments: 1, tailLength: 0, hnsw: { M: 8, efConstruction: 64 } });
    const table = await hyperspace('--data', data, 'stats');
    expect(table.code).toBe(0);
    const [header, line] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^name\s+dimension\s+metric\s+quantization\s+M\s+efC\s+count\s+segments\s+bytes\s+tail/);
    expect(line).toMatch(/^vecs\s+8\s+l2\s+none\s+8\s+64\s+300\s+1\s+[\d.]+ KiB\s+0\s/);
  });

  it('imports JSONL with metadata, creating the collection from the file, and filters on it', async () => {
    const data = join(scratch, 'jsonl');
    const dimension = 4;
    const vectors = randomVectors(50, dimension, 12);
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `doc-${i}`, vector: row(vectors, dimension, i), metadata: { group: i % 2 === 0 ? 'even' : 'odd', i } }));
    const file = join(scratch, 'docs.jsonl');
    await writeFile(file, `${lines.slice(0, 25).join('\n')}\n\n${lines.slice(25).join('\r\n')}`); // a blank line, CRLF, no final newline

    const imported = await hyperspace('import', 'docs', file, '--create', '--metric', 'cosine', '--batch', '10', '--flush', '--data', data);
    expect(imported.code).toBe(0);
    expect(imported.stderr).toBe('created collection docs (dimension 4, metric cosine, quantization none, M 16, efConstruction 200)\n');
    expect(imported.stdout).toMatch(/^imported 50 vectors into docs in .*\nindexed in \d+\.\d s\n$/);
    expect(JSON.parse((await hyperspace('stats', 'docs', '--json', '--data', data)).stdout)).toMatchObject({ count: 50, tailLength: 0 });

    const filtered = await hyperspace('search', 'docs', '--vector', JSON.stringify(row(vectors, dimension, 3)), '--k', '5',
      '--filter', '{"group": "odd", "i": {"$lt": 40}}', '--include', 'metadata', '--data', data);
    expect(filtered.code).toBe(0);
    const hits = JSON.parse(filtered.stdout).hits as { id: string; distance: number; metadata: { group: string; i: number } }[];
    expect(hits[0].id).toBe('doc-3');
    expect(hits[0].distance).toBeCloseTo(0, 5);
    expect(hits).toHaveLength(5);
    for (const hit of hits) expect(hit.metadata.group).toBe('odd');
    for (const hit of hits) expect(hit.metadata.i).toBeLessThan(40);
  });

  it('stops at a bad JSONL line, naming it, with nothing of its batch stored', async () => {
    const data = join(scratch, 'bad');
    expect((await hyperspace('create', 'docs', '--dimension', '3', '--metric', 'l2', '--data', data)).code).toBe(0);
    const good = (i: number) => JSON.stringify({ id: `d${i}`, vector: [i, i, i] });

    const wrongDimension = join(scratch, 'wrong-dimension.jsonl');
    await writeFile(wrongDimension, [good(1), good(2), '{"id": "d3", "vector": [1, 2]}', good(4)].join('\n') + '\n');
    const first = await hyperspace('import', 'docs', wrongDimension, '--data', data);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('error (invalid): line 3: dimension mismatch: collection=docs expected=3 got=2');
    expect(first.stderr).toContain('import stopped: 0 vectors from earlier batches were stored, nothing of the failing batch');
    expect(JSON.parse((await hyperspace('stats', 'docs', '--json', '--data', data)).stdout).count).toBe(0);

    // With batches of 2, the first batch (lines 1-2) is stored; lines 3-4 are not.
    const badJson = join(scratch, 'bad-json.jsonl');
    await writeFile(badJson, [good(1), good(2), good(3), '{"id": "d4", "vector": [4, 4, 4]', good(5)].join('\n'));
    const second = await hyperspace('import', 'docs', badJson, '--batch', '2', '--data', data);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/error \(invalid\): line 4: not valid JSON: /);
    expect(second.stderr).toContain('import stopped: 2 vectors from earlier batches were stored');
    expect(JSON.parse((await hyperspace('stats', 'docs', '--json', '--data', data)).stdout).count).toBe(2);

    const unknownField = join(scratch, 'unknown-field.jsonl');
    await writeFile(unknownField, '{"id": "x", "values": [1, 2, 3]}\n');
    const third = await hyperspace('import', 'docs', unknownField, '--data', data);
    expect(third.stderr).toContain('error (invalid): line 1: unknown field "values" (expected "id", "vector", "metadata")');

    const truncated = join(scratch, 'truncated.fvecs');
    await writeFile(truncated, fvecs(new Float32Array([1, 2, 3, 4, 5, 6]), 3).subarray(0, 20));
    const fourth = await hyperspace('import', 'docs', truncated, '--data', data);
    expect(fourth.code).toBe(1);
    expect(fourth.stderr).toContain('error (invalid): row 1: truncated record');
    expect(JSON.parse((await hyperspace('stats', 'docs', '--json', '--data', data)).stdout).count).toBe(2);

    const missing = await hyperspace('import', 'docs', join(scratch, 'nope.jsonl'), '--data', data);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error (not_found): file not found: ${join(scratch, 'nope.jsonl')}\n`);
  });

  it('runs the demo on real MNIST data, then reuses it on the second run', async () => {
    const data = join(scratch, 'demo');
    const first = await hyperspace('demo', '--limit', '1000', '--data', data);
    expect(first.stderr).not.toContain('error');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Imported 1,000 vectors in ');
    const recall = Number(/recall@10 vs exact search: ([\d.]+)/.exec(first.stdout)?.[1]);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    expect(first.stdout).toMatch(/latency p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(first.stdout.match(/^Test image \d: nearest mnist-\d+/gm)).toHaveLength(3);
    expect(first.stdout).toContain(`npx hyperspace stats --data ${data}`);

    const second = await hyperspace('demo', '--data', data);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Reusing collection mnist: 1,000 points');
    expect(second.stdout).not.toContain('Imported');
  });
});

describe('import progress', () => {
  function recorder(isTTY: boolean) {
    const writes: string[] = [];
    return { writes, out: { isTTY, columns: 100, write: (text: string) => writes.push(text) } };
  }

  it('draws a bar with count, rate and ETA on a terminal, and clears it at the end', () => {
    let nowMs = 0;
    const { writes, out } = recorder(true);
    const progress = new Progress(out, 'import mnist', { points: 5000, bytes: 0 }, () => nowMs);
    nowMs = 1000;
    progress.update(1000, 0);
    // The bar shrinks so the line fits the terminal's 100 columns.
    expect(writes).toEqual(['\r\x1b[2Kimport mnist [#######..........................]  20%  1,000/5,000 vectors  1,000 vectors/s  ETA 4s']);
    expect(writes[0].length - '\r\x1b[2K'.length).toBeLessThan(100);
    nowMs = 1050;
    progress.update(1100, 0); // redrawn at most every 100 ms
    expect(writes).toHaveLength(1);
    nowMs = 5000;
    progress.update(5000, 0);
    expect(progress.finish()).toEqual({ count: 5000, seconds: 5, rate: 1000 });
    expect(writes.at(-1)).toBe('\r\x1b[2K');
  });

  it('writes a plain line every few seconds to a log, going by bytes when the count is unknown', () => {
    let nowMs = 0;
    const { writes, out } = recorder(false);
    const progress = new Progress(out, 'import docs', { bytes: 1000 }, () => nowMs);
    nowMs = 1000;
    progress.update(100, 100);
    expect(writes).toEqual([]);
    nowMs = 4000;
    progress.update(250, 250);
    expect(writes).toEqual(['import docs: 25%, 250 vectors  63 vectors/s  ETA 12s\n']);
    progress.finish();
    expect(writes).toHaveLength(1);
  });
});
