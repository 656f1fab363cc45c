// The `hyperspace` commands other than `demo`: each one opens the data
// directory, makes one or a few engine calls and prints the result.
import { existsSync } from 'node:fs';
import { HyperspaceError, HyperspaceDB, indexerDefaults, type Collection, type CollectionDescription, type OpenOptions } from '../../engine/index.ts';
import { choiceOption, intOption, jsonOption, stringOption, UsageError, type CommandSpec, type OptionSpec, type ParsedArgs } from './args.ts';
import { ImportIndexer, ImportStopped, importSource } from './import.ts';
import { countOf, formatCount, Progress, type ProgressOutput } from './progress.ts';
import { fvecsSource, jsonlSource, type PointSource, type SourceBatch } from './readers.ts';

export interface Io {
  stdout: { write(text: string): unknown };
  stderr: ProgressOutput;
}

export interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, io: Io): Promise<void>;
}

export const metrics = ['l2', 'cosine', 'dot', 'poincare'] as const;
export const quantizations = ['none', 'int8', 'binary'] as const;

export function dataDirectory(args: ParsedArgs): string {
  return stringOption(args, 'data') ?? './data';
}

/**
 * Open the data directory (which must exist unless `create`), run `work`,
 * always close. A CLI process lives for one command, so the background indexer
 * is off unless the command asks for it: close() waits for in-flight indexing,
 * and a merge it started on its own could keep `hyperspace search` waiting.
 */
export async function withDatabase<T>(args: ParsedArgs, work: (db: HyperspaceDB) => Promise<T>,
  options: { create?: boolean; indexer?: OpenOptions['indexer'] } = {}): Promise<T> {
  const dir = dataDirectory(args);
  if (!options.create && !existsSync(dir)) {
    throw new HyperspaceError('not_found', `data directory not found: ${dir} (create a collection first, or pass --data DIR)`);
  }
  const db = await HyperspaceDB.open(dir, { indexer: options.indexer ?? false });
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

const createOptions: Record<string, OptionSpec> = {
  metric: { type: 'string', value: 'l2|cosine|dot|poincare', description: 'distance metric' },
  quantization: { type: 'string', value: 'none|int8|binary', default: 'none', description: 'quantized codes for graph traversal (float32 rerank)' },
  m: { type: 'string', value: 'M', default: '16', description: 'HNSW links per node' },
  'ef-construction': { type: 'string', value: 'N', default: '200', description: 'HNSW build beam width' },
};

function collectionConfig(args: ParsedArgs, dimension: number) {
  const metric = choiceOption(args, 'metric', metrics);
  if (!metric) throw new UsageError('--metric is required (l2|cosine|dot|poincare)');
  const M = intOption(args, 'm', 0, Number.MAX_SAFE_INTEGER, 16);
  const efConstruction = intOption(args, 'ef-construction', 0, Number.MAX_SAFE_INTEGER, 200);
  return { dimension, metric, quantization: choiceOption(args, 'quantization', quantizations, 'none'), hnsw: { M, efConstruction } };
}

function describeConfig(d: CollectionDescription): string {
  return `dimension ${d.dimension}, metric ${d.metric}, quantization ${d.quantization}, M ${d.hnsw.M}, efConstruction ${d.hnsw.efConstruction}`;
}

export const create: Command = {
  spec: {
    name: 'create',
    summary: 'Create an empty collection.',
    positionals: ['NAME'],
    options: {
      dimension: { type: 'string', value: 'N', description: 'vector dimension (required)' },
      ...createOptions,
    },
    examples: ['hyperspace create docs --dimension 768 --metric cosine --quantization int8'],
  },
  async run(args, io) {
    const dimension = intOption(args, 'dimension', 0, Number.MAX_SAFE_INTEGER);
    if (dimension === undefined) throw new UsageError('--dimension is required');
    const config = collectionConfig(args, dimension);
    const name = args.positionals[0];
    await withDatabase(args, async (db) => {
      const c = await db.createCollection(name, config);
      io.stdout.write(`created collection ${name} (${describeConfig(c.describe())})\n`);
    }, { create: true });
  },
};

export const importCommand: Command = {
  spec: {
    name: 'import',
    summary: 'Import vectors from an fvecs or JSONL file, streamed in batches.',
    positionals: ['NAME', 'FILE'],
    options: {
      format: { type: 'string', value: 'fvecs|jsonl', description: 'file format (default: from the extension, .fvecs or .jsonl/.ndjson)' },
      batch: { type: 'string', value: 'N', default: '1000', description: 'points per upsert (1..10000); a bad point rejects its whole batch' },
      'id-prefix': { type: 'string', value: 'TEXT', default: '""', description: 'fvecs: ids are TEXT + row number (from 0)' },
      create: { type: 'boolean', description: 'create the collection if missing, with the file\'s dimension (needs --metric)' },
      flush: { type: 'boolean', description: 'index everything still pending before exiting' },
      ...createOptions,
    },
    notes: [
      'Formats:',
      '  fvecs  per vector: little-endian int32 dimension, then dimension x float32',
      '  jsonl  one {"id": "...", "vector": [...], "metadata": {...}} per line (metadata optional)',
      '',
      'Progress goes to stderr; the summary (count, seconds, rate) to stdout. On a bad',
      'line the import stops, naming the line; nothing of that line\'s batch is stored.',
      'Every acknowledged batch is durable (WAL). While importing, segments are built in',
      'the background; the rest stays in the searchable WAL tail until --flush, a later',
      '"hyperspace flush NAME" or another process\'s indexer folds it. Segments are not',
      'merged during an import: run "hyperspace compact NAME" afterwards.',
    ],
    examples: [
      'hyperspace import sift sift_base.fvecs --create --metric l2 --id-prefix sift-',
      'hyperspace import docs docs.jsonl --batch 5000',
    ],
  },
  async run(args, io) {
    const [name, file] = args.positionals;
    const format = choiceOption(args, 'format', ['fvecs', 'jsonl'] as const) ?? formatFromExtension(file);
    const batchSize = intOption(args, 'batch', 1, 10_000, 1000);
    const shouldCreate = args.options.create === true;
    if (!shouldCreate && args.options.metric !== undefined) throw new UsageError('--metric is only used with --create');
    if (format !== 'fvecs' && args.options['id-prefix'] !== undefined) throw new UsageError('--id-prefix applies to fvecs only (JSONL lines carry their ids)');
    const source = format === 'fvecs' ? await fvecsSource(file, batchSize, stringOption(args, 'id-prefix')) : await jsonlSource(file, batchSize);
    await withDatabase(args, async (db) => {
      const iterator = source.batches[Symbol.asyncIterator]();
      let collection: Collection;
      let first: IteratorResult<SourceBatch> | undefined;
      const existing = db.listCollections().some((d) => d.name === name);
      if (existing || !shouldCreate) {
        collection = db.collection(name);
      } else {
        // The dimension comes from the file: take its first batch before creating.
        first = await iterator.next();
        const vector = first.done ? undefined : first.value.points[0].vector;
        const dimension = vector && typeof (vector as { length?: unknown }).length === 'number' ? (vector as ArrayLike<number>).length : 0;
        if (!dimension) throw new HyperspaceError('invalid', `cannot create ${name}: ${first.done ? 'the file holds no vectors' : `${source.unit} ${first.value.origins[0]}: vector must be an array of numbers`}`);
        collection = await db.createCollection(name, collectionConfig(args, dimension));
        io.stderr.write(`created collection ${name} (${describeConfig(collection.describe())})\n`);
      }
      const progress = new Progress(io.stderr, `import ${name}`, { points: source.totalPoints, bytes: source.totalBytes });
      const restOfSource: PointSource = { ...source, batches: { [Symbol.asyncIterator]: () => iterator } };
      try {
        const indexer = new ImportIndexer(collection, indexerDefaults.tailRecordsFlush);
        const done = await importSource(collection, restOfSource, progress, first, indexer);
        io.stdout.write(`imported ${countOf(done.count, 'vector')} into ${name} in ${done.seconds.toFixed(1)} s (${formatCount(Math.round(done.rate))} vectors/s)\n`);
        const started = performance.now();
        if (indexer.busy) io.stderr.write(`finishing the segment being built (${countOf(indexer.runningCount, 'vector')})...\n`);
        await indexer.settle();
        if (args.options.flush) await collection.flush();
        if (args.options.flush || performance.now() - started > 1000) {
          io.stdout.write(`indexed in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
        }
        const d = collection.describe();
        if (d.tailLength > 0) io.stderr.write(`${countOf(d.tailLength, 'vector')} not indexed yet (searchable now by exact scan): "hyperspace flush ${name}" indexes them\n`);
        if (d.segments > indexerDefaults.segmentsMax) io.stderr.write(`${d.segments} segments: "hyperspace compact ${name}" merges them for faster search\n`);
      } catch (e) {
        if (!(e instanceof ImportStopped)) throw e;
        io.stderr.write(`import stopped: ${countOf(e.imported, 'vector')} from earlier batches were stored, nothing of the failing batch\n`);
        throw e.cause;
      }
    }, { create: shouldCreate });
  },
};

function formatFromExtension(file: string): 'fvecs' | 'jsonl' {
  if (/\.fvecs$/i.test(file)) return 'fvecs';
  if (/\.(jsonl|ndjson)$/i.test(file)) return 'jsonl';
  throw new UsageError(`cannot tell the format of ${file} from its extension: pass --format fvecs|jsonl`);
}

export const search: Command = {
  spec: {
    name: 'search',
    summary: 'Search a collection with a vector, or with the vector of a stored point; prints JSON.',
    positionals: ['NAME'],
    options: {
      vector: { type: 'string', value: 'JSON', description: 'the query vector, e.g. \'[0.1, 0.2, 0.3]\'' },
      id: { type: 'string', value: 'ID', description: 'use the stored vector of this id as the query (it finds itself first)' },
      k: { type: 'string', value: 'N', default: '10', description: 'number of hits' },
      ef: { type: 'string', value: 'N', description: 'HNSW search beam width (higher: better recall, slower)' },
      filter: { type: 'string', value: 'JSON', description: 'metadata filter, e.g. \'{"year": {"$gte": 2020}}\' (docs/filters.md)' },
      include: { type: 'string', value: 'LIST', description: 'comma-separated: metadata, vector' },
      consistency: { type: 'string', value: 'strong|eventual', default: 'strong', description: 'eventual skips the unindexed tail' },
    },
    examples: [
      'hyperspace search docs --vector \'[0.1, 0.2, 0.3, 0.4]\' --k 5 --include metadata',
      'hyperspace search mnist --id mnist-7 --filter \'{"row": {"$lt": 1000}}\'',
    ],
  },
  async run(args, io) {
    const name = args.positionals[0];
    const vectorJson = jsonOption(args, 'vector');
    const id = stringOption(args, 'id');
    if ((vectorJson === undefined) === (id === undefined)) throw new UsageError('give exactly one of --vector JSON or --id ID');
    if (vectorJson !== undefined && (!Array.isArray(vectorJson) || !vectorJson.every((x) => typeof x === 'number'))) {
      throw new UsageError('--vector must be a JSON array of numbers');
    }
    const include = (stringOption(args, 'include') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const what of include) if (what !== 'metadata' && what !== 'vector') throw new UsageError(`--include takes metadata and/or vector, got ${JSON.stringify(what)}`);
    const options = {
      k: intOption(args, 'k', 1, Number.MAX_SAFE_INTEGER, 10),
      ef: intOption(args, 'ef', 1, Number.MAX_SAFE_INTEGER),
      filter: jsonOption(args, 'filter'),
      consistency: choiceOption(args, 'consistency', ['strong', 'eventual'] as const, 'strong'),
      include: include as ('metadata' | 'vector')[],
    };
    await withDatabase(args, async (db) => {
      const c = db.collection(name);
      let query: Float32Array | number[];
      if (id !== undefined) {
        const record = await c.get(id);
        if (!record) throw new HyperspaceError('not_found', `point not found: collection=${name} id=${id}`);
        query = record.vector;
      } else {
        query = vectorJson as number[];
      }
      const { hits, consistency } = await c.search(query, options);
      // Valid JSON, one hit per line: readable at k=10, and `jq` takes it as is.
      const shown = hits.map((h) => `    ${JSON.stringify({ ...h, ...(h.vector ? { vector: Array.from(h.vector) } : {}) })}`);
      io.stdout.write(`{\n  "hits": [${shown.length ? `\n${shown.join(',\n')}\n  ` : ''}],\n  "consistency": ${JSON.stringify(consistency)}\n}\n`);
    });
  },
};

export const stats: Command = {
  spec: {
    name: 'stats',
    summary: 'Describe one collection or all of them: config, counts, segments, bytes, sequence numbers.',
    positionals: ['NAME?'],
    options: { json: { type: 'boolean', description: 'print JSON instead of a table' } },
    examples: ['hyperspace stats', 'hyperspace stats mnist --json'],
  },
  async run(args, io) {
    const name = args.positionals[0];
    await withDatabase(args, async (db) => {
      const descriptions = name === undefined ? db.listCollections() : [db.collection(name).describe()];
      if (args.options.json) {
        io.stdout.write(`${JSON.stringify(name === undefined ? descriptions : descriptions[0], null, 2)}\n`);
      } else if (descriptions.length === 0) {
        io.stdout.write('no collections (create one: hyperspace create NAME --dimension N --metric l2)\n');
      } else {
        io.stdout.write(statsTable(descriptions));
      }
    });
  },
};

export function statsTable(descriptions: CollectionDescription[]): string {
  const header = ['name', 'dimension', 'metric', 'quantization', 'M', 'efC', 'count', 'segments', 'bytes', 'tail', 'lastSeq', 'indexedSeq', 'manifest'];
  const rows = descriptions.map((d) => [
    d.name, String(d.dimension), d.metric, d.quantization, String(d.hnsw.M), String(d.hnsw.efConstruction),
    formatCount(d.count), String(d.segments), formatBytes(d.segmentBytes), formatCount(d.tailLength),
    String(d.lastSeq), String(d.indexedSeq), String(d.manifestVersion),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // Text columns left-aligned, numbers right-aligned.
  const line = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function maintenance(name: 'flush' | 'compact', summary: string): Command {
  return {
    spec: { name, summary, positionals: ['NAME'], options: {}, examples: [`hyperspace ${name} mnist`] },
    async run(args, io) {
      const collectionName = args.positionals[0];
      await withDatabase(args, async (db) => {
        const c = db.collection(collectionName);
        const started = performance.now();
        await (name === 'flush' ? c.flush() : c.compact());
        const d = c.describe();
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        io.stdout.write(`${name === 'flush' ? 'flushed' : 'compacted'} ${collectionName} in ${seconds} s: ${countOf(d.count, 'point')} in ${countOf(d.segments, 'segment')} (${formatBytes(d.segmentBytes)}), tail ${formatCount(d.tailLength)}, manifest v${d.manifestVersion}\n`);
      });
    },
  };
}

export const flush = maintenance('flush', 'Index everything pending now: fold the unindexed WAL tail into a segment.');
export const compact = maintenance('compact', 'Merge the collection\'s segments into one and drop deleted records.');
