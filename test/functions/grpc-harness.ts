// A real database in a temporary directory behind a real gRPC server on
// 127.0.0.1, for the gRPC, SDK and LangChain suites.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HyperspaceClient, HyperspaceClientError, type ErrorKind, type GrpcClientOptions } from '../../client/index.ts';
import { HyperspaceDB, type OpenOptions } from '../../engine/index.ts';
import { startGrpcServer, type GrpcServer, type GrpcServerOptions } from '../../functions/grpc/server.ts';
import { expectKindError } from '../helpers/expect-kind.ts';

export interface GrpcHarness {
  db: HyperspaceDB;
  server: GrpcServer;
  address: string;
  client(options?: GrpcClientOptions): HyperspaceClient;
  close(): Promise<void>;
}

/** The indexer is off by default so that search results do not depend on background timing; tests flush explicitly. */
export async function startGrpcHarness(
  server: Omit<GrpcServerOptions, 'db'> = {}, open: OpenOptions = { indexer: false },
): Promise<GrpcHarness> {
  const directory = await mkdtemp(join(tmpdir(), 'hyperspace-grpc-'));
  const db = await HyperspaceDB.open(directory, open);
  const running = await startGrpcServer({ db, host: '127.0.0.1', port: 0, ...server });
  const address = `127.0.0.1:${running.port}`;
  const clients: HyperspaceClient[] = [];
  return {
    db, server: running, address,
    client(options = {}) {
      const client = HyperspaceClient.grpc(address, options);
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) await client.close();
      await running.close();
      await db.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Runs `action` and checks it fails with a HyperspaceClientError of exactly this kind and message. */
export function expectClientError(action: () => unknown, kind: ErrorKind, message: string | RegExp): Promise<HyperspaceClientError> {
  return expectKindError(HyperspaceClientError, action, kind, message);
}
