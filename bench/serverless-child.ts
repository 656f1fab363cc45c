// One query process of bench/serverless.ts: a fresh worker of either engine
// that opens the data on the S3 server, answers a first query (cold), then
// warm queries on request. The parent bundles this file with esbuild and runs
// it with plain `node` — as Lambda runs a bundled handler — so neither engine
// pays for a TypeScript loader at start.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface ChildConfig {
  engine: 'hyperspace' | 'lance';
  s3: string; // the counting proxy
  dynamo: string;
  bucket: string;
  table: string;
  collection: string;
  lanceUri: string;
  lanceTable: string;
  /** Absolute path of @lancedb/lancedb's entry (bench/node_modules), resolved by the parent. */
  lanceModule: string;
  cacheDirectory: string;
  dimension: number;
  /** Raw float32 queries, row-major (the first is the cold query of this run). */
  queriesFile: string;
  coldQuery: number;
  k: number;
}

export type ToChild = { type: 'warm'; mode: 'eventual' | 'strong'; from: number; to: number } | { type: 'exit' };
export type FromChild =
  | { type: 'cold'; ids: number[]; phasesMs: Record<string, number>; detail: Record<string, unknown> }
  | { type: 'warm'; latenciesNs: number[]; ids: number[][] };

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

if (process.env.SERVERLESS_BENCH_CONFIG) await main(JSON.parse(process.env.SERVERLESS_BENCH_CONFIG) as ChildConfig);

async function main(config: ChildConfig): Promise<void> {
  // performance.now() counts from the process's time origin: this is Node's own start-up.
  const phasesMs: Record<string, number> = { nodeStarted: performance.now() };
  const send = (message: FromChild) => new Promise<void>((resolve) => process.send!(message, undefined, {}, () => resolve()));
  const engine = config.engine === 'hyperspace'
    ? await (await import('./serverless-child-hyperspace.ts')).openHyperspace(config, phasesMs)
    : await openLance(config, phasesMs);
  const bytes = readFileSync(config.queriesFile);
  const queries = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const query = (q: number) => queries.subarray(q * config.dimension, (q + 1) * config.dimension);
  const ids = await engine.search(query(config.coldQuery), 'eventual');
  phasesMs.answered = performance.now();
  await send({ type: 'cold', ids, phasesMs, detail: engine.detail() });

  process.on('message', async (message: ToChild) => {
    if (message.type === 'exit') process.exit(0);
    const latenciesNs: number[] = [];
    const all: number[][] = [];
    for (let q = message.from; q < message.to; q++) {
      const t0 = process.hrtime.bigint();
      all.push(await engine.search(query(q), message.mode));
      latenciesNs.push(Number(process.hrtime.bigint() - t0));
    }
    await send({ type: 'warm', latenciesNs, ids: all });
  });
}

export interface Engine {
  search(vector: Float32Array, mode: 'eventual' | 'strong'): Promise<number[]>;
  detail(): Record<string, unknown>;
}

async function openLance(config: ChildConfig, phasesMs: Record<string, number>): Promise<Engine> {
  const lancedb = await import(pathToFileURL(config.lanceModule).href) as typeof import('@lancedb/lancedb');
  phasesMs.loaded = performance.now();
  const storageOptions = {
    endpoint: config.s3, region: 'us-east-1', allowHttp: 'true',
    awsAccessKeyId: credentials.accessKeyId, awsSecretAccessKey: credentials.secretAccessKey,
  };
  const connection = await lancedb.connect(config.lanceUri, { storageOptions });
  const table = await connection.openTable(config.lanceTable);
  phasesMs.opened = performance.now();
  let strongTable: typeof table | undefined;
  return {
    async search(vector, mode) {
      let t = table;
      if (mode === 'strong') {
        strongTable ??= await (await lancedb.connect(config.lanceUri, { storageOptions, readConsistencyInterval: 0 })).openTable(config.lanceTable);
        t = strongTable;
      }
      const rows = await t.vectorSearch(vector).column('vector').distanceType('l2').limit(config.k).select(['id']).toArray();
      return rows.map((r: { id: number }) => Number(r.id));
    },
    detail: () => ({}),
  };
}
