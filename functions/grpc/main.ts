// The gRPC server as a container entry (Dockerfile; the optional Fargate
// service of infra/grpc.ts): the deployment's S3 + DynamoDB stores from the
// environment (functions/lambda/environment.ts), API keys from auth/keys.json
// in the bucket, the database opened without the indexer and its lease (the
// stream indexer Lambda builds segments), listening on 0.0.0.0 behind a load
// balancer that terminates TLS.
//
// The container shares the stores with the Lambda workers and the indexer:
// every `HYPERSPACE_REFRESH_MS` (default 500) it refreshes each collection to
// the current manifest and WAL, and the list of collections every 10 s, so its
// reads lag other writers by at most about that (its own writes are visible at
// once). SIGTERM (Fargate's stop) drains calls in flight, then closes.
import { HyperspaceDB } from '../../engine/index.ts';
import { environmentStores } from '../lambda/environment.ts';
import { KeysObject } from '../lambda/keys-object.ts';
import { errorFields, jsonLogger } from '../lambda/log.ts';
import { startGrpcServer } from './server.ts';

const log = jsonLogger;
const port = Number(process.env.HYPERSPACE_GRPC_PORT ?? 50051);
const refreshMs = Number(process.env.HYPERSPACE_REFRESH_MS ?? 500);
const catalogRefreshMs = 10_000;

const stores = await environmentStores()();
const db = await HyperspaceDB.open(stores, { indexer: false, leases: false });
const keys = new KeysObject(stores, { log });
await keys.authenticator(); // fail at start, not on the first call, when the bucket cannot be read
const server = await startGrpcServer({
  db, host: '0.0.0.0', port,
  authenticate: async (headers) => (await keys.authenticator()).authenticate({ authorization: headers.authorization, apiKey: headers['x-api-key'] }),
  logError: (error, rpc) => log('error', 'unexpected error in an RPC', { rpc, ...errorFields(error) }),
});
log('info', 'grpc: listening', { port: server.port, collections: db.listCollections().length });

let stopping = false;
let lastCatalogMs = Date.now();
const refresh = async (): Promise<void> => {
  while (!stopping) {
    try {
      if (Date.now() - lastCatalogMs >= catalogRefreshMs) {
        lastCatalogMs = Date.now();
        await db.refresh();
      }
      for (const { name } of db.listCollections()) await db.refresh(name).catch((e) => log('warn', 'refresh failed', { collection: name, ...errorFields(e) }));
    } catch (error) {
      log('warn', 'refresh failed', errorFields(error));
    }
    await new Promise((resolve) => setTimeout(resolve, refreshMs));
  }
};
const refreshing = refresh();

const stop = async (signal: string) => {
  if (stopping) process.exit(1);
  stopping = true;
  log('info', `${signal}: draining calls in flight, then closing`);
  await server.close();
  await refreshing;
  await db.close();
  await stores.log.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM')).on('SIGINT', () => void stop('SIGINT'));
