// `hyperspace demo` (what `npm start` runs until `hyperspace serve` exists):
// the embedded database on ./data, loaded with 5,000 real MNIST images, then
// searched with the 200 held-out test images and measured against exact search.
//
// The images are the committed real-data fixture of the test suite
// (test/fixtures/README.md: sources and licenses), so the demo works offline on
// a fresh clone with nothing to download.
import { exactTopK, loadMnistFixture, MNIST_FIXTURE, recallAtK } from '../../test/fixtures/load.ts';
import type { Collection, PointInput } from '../../engine/index.ts';
import { intOption, type ParsedArgs } from './args.ts';
import { dataDirectory, withDatabase, type Command, type Io } from './commands.ts';
import { importSource } from './import.ts';
import { countOf, formatCount, Progress } from './progress.ts';
import type { PointSource, SourceBatch } from './readers.ts';

const collectionName = 'mnist';
const dimension = MNIST_FIXTURE.dimension;
const k = 10;
const batchSize = 1000;
const warmupQueries = 10;
const exampleQueries = 3;

export const demo: Command = {
  spec: {
    name: 'demo',
    summary: `Try the database on real data. Loads ${formatCount(MNIST_FIXTURE.trainCount)} MNIST images into collection "${collectionName}" (once), indexes them, then searches with ${MNIST_FIXTURE.testCount} held-out test images: recall@${k} against exact search, latency p50/p99, examples.`,
    positionals: [],
    options: {
      limit: { type: 'string', value: 'N', default: String(MNIST_FIXTURE.trainCount), description: 'import only the first N images (when the collection is created)' },
      ef: { type: 'string', value: 'N', default: '64', description: 'HNSW search beam width for the test queries' },
    },
    notes: [`A second run reuses the collection in the data directory; delete the directory (or pass another --data) to start over.`],
    examples: ['hyperspace demo', 'hyperspace demo --data /tmp/hyperspace-demo --limit 1000'],
  },
  async run(args, io) {
    const limit = intOption(args, 'limit', 1, MNIST_FIXTURE.trainCount, MNIST_FIXTURE.trainCount);
    const ef = intOption(args, 'ef', 1, 100_000, 64);
    const dir = dataDirectory(args);
    const out = (line = '') => io.stdout.write(`${line}\n`);
    const startedMs = performance.now();
    const { train, test } = loadMnistFixture();
    out(`HyperspaceDB demo: embedded database in ${dir} (WAL and segments on local disk)`);
    await withDatabase(args, async (db) => {
      let collection: Collection;
      if (db.listCollections().some((d) => d.name === collectionName)) {
        collection = db.collection(collectionName);
        out(`Reusing collection ${collectionName}: ${formatCount(collection.describe().count)} points (delete ${dir} to start over)`);
      } else {
        collection = await db.createCollection(collectionName, { dimension, metric: 'l2' });
        out(`Created collection ${collectionName} (${dimension}-d, metric l2); importing ${formatCount(limit)} MNIST training images, ids mnist-<row>, metadata { row }`);
        const progress = new Progress(io.stderr, `import ${collectionName}`, { points: limit, bytes: limit * dimension * 4 });
        const done = await importSource(collection, fixtureSource(train, limit), progress);
        out(`Imported ${formatCount(done.count)} vectors in ${done.seconds.toFixed(1)} s (${formatCount(Math.round(done.rate))} vectors/s)`);
      }
      const flushMs = performance.now();
      await collection.flush();
      const d = collection.describe();
      out(`Indexed: ${countOf(d.count, 'point')} in ${countOf(d.segments, 'HNSW segment')} (flush took ${((performance.now() - flushMs) / 1000).toFixed(1)} s)`);
      out();
      await measure(collection, train, test, Math.min(d.count, MNIST_FIXTURE.trainCount), ef, io);
    }, { create: true });
    out();
    out(`Done in ${((performance.now() - startedMs) / 1000).toFixed(1)} s. Try next:`);
    const data = dir === './data' || dir === 'data' ? '' : ` --data ${dir}`;
    out(`  npx hyperspace stats${data}`);
    out(`  npx hyperspace search ${collectionName} --id mnist-0 --k 5 --include metadata${data}`);
    out(`  npx hyperspace search ${collectionName} --id mnist-0 --filter '{"row": {"$gte": 2500}}'${data}`);
    out(`  npx hyperspace create docs --dimension 3 --metric cosine${data}`);
    out(`  echo '{"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}}' > /tmp/docs.jsonl && npx hyperspace import docs /tmp/docs.jsonl${data}`);
    out(`  npx hyperspace --help`);
  },
};

function fixtureSource(train: Float32Array, limit: number): PointSource {
  async function* batches(): AsyncGenerator<SourceBatch> {
    for (let start = 0; start < limit; start += batchSize) {
      const points: PointInput[] = [];
      const origins: number[] = [];
      for (let row = start; row < Math.min(limit, start + batchSize); row++) {
        points.push({ id: `mnist-${row}`, vector: train.subarray(row * dimension, (row + 1) * dimension), metadata: { row } });
        origins.push(row);
      }
      yield { points, origins, position: (start + points.length) * dimension * 4 };
    }
  }
  return { unit: 'row', totalBytes: limit * dimension * 4, totalPoints: limit, batches: batches() };
}

/** Runs every test image as a query; prints recall@k against exact search over the same rows, latency, examples. */
async function measure(collection: Collection, train: Float32Array, test: Float32Array, rows: number, ef: number, io: Io): Promise<void> {
  const out = (line = '') => io.stdout.write(`${line}\n`);
  const queryCount = test.length / dimension;
  const query = (q: number) => test.subarray(q * dimension, (q + 1) * dimension);
  for (let q = 0; q < warmupQueries; q++) await collection.search(query(q), { k, ef });
  const latenciesMs: number[] = [];
  const found: number[][] = [];
  for (let q = 0; q < queryCount; q++) {
    const startedMs = performance.now();
    const { hits } = await collection.search(query(q), { k, ef });
    latenciesMs.push(performance.now() - startedMs);
    found.push(hits.map((h) => Number(h.id.slice('mnist-'.length))));
  }
  const truth = exactTopK(train.subarray(0, rows * dimension), test, dimension, 'l2', k);
  const recall = recallAtK(found, truth.ids, Math.min(k, truth.k));
  latenciesMs.sort((a, b) => a - b);
  const percentile = (p: number) => latenciesMs[Math.min(latenciesMs.length - 1, Math.ceil(p * latenciesMs.length) - 1)];
  out(`Searched ${queryCount} held-out MNIST test images, k=${k}, ef=${ef}, one at a time (distances are squared L2):`);
  out(`  recall@${k} vs exact search: ${recall.toFixed(3)}`);
  out(`  latency p50 ${percentile(0.5).toFixed(2)} ms, p99 ${percentile(0.99).toFixed(2)} ms`);
  out();
  for (let q = 0; q < exampleQueries; q++) {
    const { hits } = await collection.search(query(q), { k: 3, ef, include: ['metadata'] });
    out(`Test image ${q}: nearest ${hits.map((h) => `${h.id} (row ${String(h.metadata?.row)}, distance ${Math.round(h.distance)})`).join(', ')}`);
    if (q > 0) continue;
    const nearest = Number(hits[0].id.slice('mnist-'.length));
    out(sideBySide([picture(query(q)), picture(train.subarray(nearest * dimension, (nearest + 1) * dimension))], [`test image ${q}`, hits[0].id]));
  }
}

const shades = ' .:-=+*#%@';

/** A 28×28 image in 14 text rows (one character per column, two pixel rows per character). */
function picture(pixels: Float32Array): string[] {
  const lines: string[] = [];
  for (let y = 0; y < 28; y += 2) {
    let line = '';
    for (let x = 0; x < 28; x++) {
      const value = (pixels[y * 28 + x] + pixels[(y + 1) * 28 + x]) / 2;
      line += shades[Math.min(shades.length - 1, Math.floor((value / 256) * shades.length))];
    }
    lines.push(line);
  }
  return lines;
}

function sideBySide(pictures: string[][], captions: string[]): string {
  const rows = pictures[0].map((_, y) => `  |${pictures.map((p) => p[y]).join('|   |')}|`);
  const footer = `   ${captions.map((c) => c.padEnd(28)).join('     ')}`.trimEnd();
  return [...rows, footer].join('\n');
}
