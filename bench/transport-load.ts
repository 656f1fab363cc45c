// The load generator of bench/transport.ts, in its own process so client and
// server never share an event loop. It runs what the parent asks over IPC,
// one request at a time, and keeps one latency histogram per client and
// operation until the parent asks for the report.
//
// Clients: the SDK over gRPC, raw fetch (Node's undici, keep-alive) over HTTP
// JSON, and the SDK over HTTP.

import { HyperspaceClient } from '../client/index.ts';
import { mnist, recallAt10 } from './datasets.ts';
import { FastestPerRequest, Latencies, type LatencySummary } from './measure.ts';

export type ClientName = 'grpc-sdk' | 'http-fetch' | 'http-sdk';
/** health: the same round trip with an empty request and a tiny reply — the call machinery alone. */
export type Operation = 'search' | 'upsert' | 'health';
export type Command =
  | { type: 'init'; grpcAddress: string; httpBaseUrl: string; collection: string; queryCount: number; upsertCount: number; k: number }
  | { type: 'run'; client: ClientName; operation: Operation; warmup: number; truthIds?: number[][] }
  | { type: 'report' };
export type Reply =
  | { type: 'ready' }
  /** cpuUs: this process's CPU over the warm-up and timed requests (requests of them). */
  | { type: 'done'; recallAt10?: number; cpuUs: number; requests: number }
  | { type: 'report'; latencies: Record<string, LatencySummary>; bestOfRounds: Record<string, LatencySummary> }
  | { type: 'error'; message: string };

const data = mnist();
const histograms = new Map<string, Latencies>();
const fastest = new Map<string, FastestPerRequest>();
let settings: Extract<Command, { type: 'init' }>;
let grpc: HyperspaceClient;
let http: HyperspaceClient;
let upsertsDone = 0;

const query = (q: number) => data.test.subarray(q * data.dimension, (q + 1) * data.dimension);

async function fetchJson(path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${settings.httpBaseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const parsed = await response.json();
  if (!response.ok) throw new Error(`HTTP ${response.status} ${path}: ${JSON.stringify(parsed)}`);
  return parsed;
}

type Call = (index: number) => Promise<string[] | undefined>;

function call(client: ClientName, operation: Operation): Call {
  const { collection, k } = settings;
  if (operation === 'health') {
    if (client === 'http-fetch') return async () => {
      const response = await fetch(`${settings.httpBaseUrl}/v1/health`);
      await response.json();
      return undefined;
    };
    const sdk = client === 'grpc-sdk' ? grpc : http;
    return async () => {
      await sdk.health();
      return undefined;
    };
  }
  if (operation === 'search') {
    if (client === 'http-fetch') return async (q) => {
      const result = await fetchJson(`/v1/collections/${collection}/search`, { vector: Array.from(query(q)), k }) as { hits: { id: string }[] };
      return result.hits.map((h) => h.id);
    };
    const sdk = client === 'grpc-sdk' ? grpc : http;
    return async (q) => (await sdk.search(collection, { vector: query(q), k })).hits.map((h) => h.id);
  }
  // One 784-d point per upsert; ids cycle through 100 per client so the tail stays small.
  const point = () => ({ id: `${client}-${upsertsDone++ % 100}`, vector: query(upsertsDone % data.testCount) });
  if (client === 'http-fetch') return async () => {
    const p = point();
    await fetchJson(`/v1/collections/${collection}/upsert`, { points: [{ id: p.id, vector: Array.from(p.vector) }] });
    return undefined;
  };
  const sdk = client === 'grpc-sdk' ? grpc : http;
  return async () => {
    await sdk.upsert(collection, [point()]);
    return undefined;
  };
}

async function run(command: Extract<Command, { type: 'run' }>): Promise<Reply> {
  const { client, operation, warmup } = command;
  const count = operation === 'upsert' ? settings.upsertCount : settings.queryCount;
  const f = call(client, operation);
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < warmup; i++) await f(i % count);
  const key = `${client} ${operation}`;
  const histogram = histograms.get(key) ?? new Latencies();
  histograms.set(key, histogram);
  const best = fastest.get(key) ?? new FastestPerRequest(count);
  fastest.set(key, best);
  const found: number[][] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    const ids = await f(i);
    best.record(i, histogram.recordSince(started));
    if (ids) found.push(ids.map(Number));
  }
  const cpu = process.cpuUsage(cpuBefore);
  const done: Reply = { type: 'done', cpuUs: cpu.user + cpu.system, requests: warmup + count };
  if (command.truthIds) done.recallAt10 = recallAt10(found, command.truthIds);
  return done;
}

process.on('message', (command: Command) => {
  const reply = (message: Reply) => process.send!(message);
  (async (): Promise<Reply> => {
    switch (command.type) {
      case 'init':
        settings = command;
        grpc = HyperspaceClient.grpc(command.grpcAddress, { retry: { attemptsMax: 1 } });
        http = HyperspaceClient.http(command.httpBaseUrl, { retry: { attemptsMax: 1 } });
        return { type: 'ready' };
      case 'run':
        return run(command);
      case 'report':
        await grpc.close();
        await http.close();
        return {
          type: 'report', latencies: Object.fromEntries([...histograms].map(([key, h]) => [key, h.summary()])),
          bestOfRounds: Object.fromEntries([...fastest].map(([key, f]) => [key, f.summary()])),
        };
    }
  })().then(reply, (error: Error) => reply({ type: 'error', message: error.stack ?? error.message }));
});
