// `hyperspace serve`: the embedded database behind the HTTP API and (when
// functions/grpc/server.ts is present) gRPC, on one machine (DESIGN §8).
//
// Order of start: refuse an unsafe configuration, listen on HTTP at once (so
// health answers 503 "starting" while the data directory is recovered), open
// the database, then gRPC; only then is health 200. SIGINT/SIGTERM drain: stop
// accepting, finish requests in flight, close the database (flushing the WAL).
// A second signal exits at once.
import { existsSync, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HyperspaceDB, HyperspaceError } from '../engine/index.ts';
import { Authenticator } from './auth/authenticator.ts';
import { intOption, stringOption, UsageError, type CommandSpec, type ParsedArgs } from './cli/args.ts';
import type { Command, Io } from './cli/commands.ts';
import { Follower } from './follow.ts';
import { bodyBytesMaxDefault, Router } from './http/router.ts';
import { startHttpServer, type RunningHttpServer } from './http/server.ts';
import { Metrics } from './metrics.ts';

export interface ServeOptions {
  data: string;
  host: string;
  httpPort: number;
  /** null: no gRPC server. */
  grpcPort: number | null;
  insecure: boolean;
  corsOrigins: string[];
  bodyBytesMax: number;
  drainMs: number;
  /** Follow this leader (its HTTP API URL): a read replica of its collections (functions/follow.ts). */
  follow?: string;
  /** API key for the leader. */
  followKey?: string;
  /** Pause between follower passes. */
  followPollMs?: number;
}

export interface RunningServe {
  http: RunningHttpServer;
  grpc: { port: number; close(): Promise<void> } | undefined;
  db: HyperspaceDB;
  follower: Follower | undefined;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

const grpcModule = fileURLToPath(new URL('./grpc/server.ts', import.meta.url));

/** Starts both servers over `options.data`; resolves once health is 200. */
export async function startServe(options: ServeOptions, log: (line: string) => void = () => undefined): Promise<RunningServe> {
  await mkdir(options.data, { recursive: true });
  const loopback = isLoopback(options.host);
  const authenticator = await Authenticator.open({ dataDir: options.data, required: !loopback && !options.insecure });
  if (!loopback && authenticator.activeKeys === 0 && !options.insecure) {
    throw new UsageError(`refusing to serve on non-loopback address ${options.host} without API keys: ` +
      `create one with "hyperspace keys create --data ${options.data}", or pass --insecure to serve without authentication`);
  }
  let db: HyperspaceDB | undefined;
  const metrics = new Metrics();
  const router = new Router({
    db: () => db, authenticator,
    corsOrigins: options.corsOrigins, metrics, bodyBytesMax: options.bodyBytesMax,
  });
  const http = await startHttpServer(router, { host: options.host, port: options.httpPort });
  log(`http: listening on http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port} (recovering ${options.data})`);
  let opened: HyperspaceDB;
  try {
    opened = await HyperspaceDB.open(options.data);
  } catch (e) {
    await http.close({ drainMs: 0 });
    throw e;
  }
  let grpc: RunningServe['grpc'];
  if (options.grpcPort !== null) {
    try {
      grpc = await startGrpc(opened, options, authenticator, metrics, log);
    } catch (e) {
      await http.close({ drainMs: 0 });
      await opened.close();
      throw e;
    }
  }
  let follower: Follower | undefined;
  if (options.follow !== undefined) {
    follower = new Follower(opened, { leader: options.follow, apiKey: options.followKey, pollMs: options.followPollMs, log });
    follower.start();
    log(`follow: read replica of ${follower.client.url}; writes are answered 409 conflict naming it`);
  }
  db = opened;
  log(`ready: ${opened.listCollections().length} collection(s) recovered${authenticator.enforced ? ', API keys required' : ', no API keys (loopback development)'}`);
  let closing: Promise<void> | undefined;
  return {
    http, grpc, db: opened, follower,
    close() {
      closing ??= (async () => {
        await follower?.close();
        await Promise.all([http.close({ drainMs: options.drainMs }), grpc?.close()]);
        await opened.close();
      })();
      return closing;
    },
  };
}

async function startGrpc(db: HyperspaceDB, options: ServeOptions, authenticator: Authenticator, metrics: Metrics, log: (line: string) => void): Promise<RunningServe['grpc']> {
  if (!existsSync(grpcModule)) {
    log('grpc: not built into this version; serving HTTP only');
    return undefined;
  }
  let module: { startGrpcServer(options: Record<string, unknown>): Promise<{ port: number; close(): Promise<void> }> };
  try {
    module = await import(pathToFileURL(grpcModule).href);
  } catch (e) {
    throw new HyperspaceError('internal', `cannot load the gRPC server (${(e as Error).message}); pass --grpc-port off to serve HTTP only`);
  }
  const server = await module.startGrpcServer({
    db, host: options.host, port: options.grpcPort, metrics,
    authenticate: (headers: Readonly<Record<string, string>>) => authenticator.authenticate({ authorization: headers.authorization, apiKey: headers['x-api-key'] }),
  });
  log(`grpc: listening on ${options.host}:${server.port}`);
  return server;
}

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Serve the data directory over HTTP (JSON) and gRPC until SIGINT/SIGTERM, then drain and close.',
  positionals: [],
  options: {
    host: { type: 'string', value: 'ADDRESS', default: '127.0.0.1', description: 'address to listen on; a non-loopback one needs API keys or --insecure' },
    'http-port': { type: 'string', value: 'PORT', default: '8080', description: 'HTTP port (0 picks a free one)' },
    'grpc-port': { type: 'string', value: 'PORT|off', default: '50051', description: 'gRPC port (0 picks a free one, off disables gRPC)' },
    insecure: { type: 'boolean', description: 'allow serving a non-loopback address without API keys' },
    'cors-origin': { type: 'string', value: 'ORIGINS', description: 'comma-separated origins allowed by CORS, or * (default: none)' },
    'body-bytes-max': { type: 'string', value: 'BYTES', default: String(bodyBytesMaxDefault), description: 'largest HTTP request body' },
    'drain-ms': { type: 'string', value: 'MS', default: '10000', description: 'how long shutdown waits for requests in flight' },
    follow: { type: 'string', value: 'URL', description: 'be a read replica of this leader (its HTTP API): copy its collections, keep them converged, answer writes 409' },
    'follow-key': { type: 'string', value: 'KEY', description: 'API key for the leader (or HYPERSPACE_LEADER_KEY)' },
    'follow-poll-ms': { type: 'string', value: 'MS', default: '500', description: 'pause between follower passes (backs off on failure)' },
  },
  notes: [
    'GET /v1/health answers 200 once the data directory is recovered. API keys: "hyperspace keys --help".',
  ],
  examples: ['hyperspace serve --data ./data', 'hyperspace serve --host 0.0.0.0 --http-port 8080 --grpc-port off',
    'hyperspace serve --data ./replica --http-port 8081 --grpc-port off --follow http://127.0.0.1:8080'],
};

export function serveOptions(args: ParsedArgs): ServeOptions {
  const grpcText = stringOption(args, 'grpc-port');
  const cors = stringOption(args, 'cors-origin');
  return {
    data: stringOption(args, 'data') ?? './data',
    host: stringOption(args, 'host') ?? '127.0.0.1',
    httpPort: intOption(args, 'http-port', 0, 65535, 8080),
    grpcPort: grpcText === 'off' ? null : intOption(args, 'grpc-port', 0, 65535, 50051),
    insecure: args.options.insecure === true,
    corsOrigins: cors ? cors.split(',').map((o) => o.trim()).filter(Boolean) : [],
    bodyBytesMax: intOption(args, 'body-bytes-max', 1024, 2 ** 31 - 1, bodyBytesMaxDefault),
    drainMs: intOption(args, 'drain-ms', 0, 600_000, 10_000),
    ...(stringOption(args, 'follow') === undefined ? {} : {
      follow: stringOption(args, 'follow'), followKey: stringOption(args, 'follow-key') ?? process.env.HYPERSPACE_LEADER_KEY,
      followPollMs: intOption(args, 'follow-poll-ms', 10, 600_000, 500),
    }),
  };
}

/** Serves until SIGINT or SIGTERM; resolves after the drain. */
async function serveUntilSignal(options: ServeOptions, io: Io): Promise<void> {
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const running = await startServe(options, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      process.once('SIGINT', () => process.exit(130)).once('SIGTERM', () => process.exit(143));
      log(`${signal}: draining ${running.http.inFlight} request(s) in flight, then closing the database`);
      running.close().then(() => {
        log('closed');
        resolve();
      }, (e) => {
        log(`error while closing: ${(e as Error).message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}

/** For the CLI's command table (functions/cli.ts). */
export const serveCommand: Command = {
  spec: serveSpec,
  run: (args, io) => serveUntilSignal(serveOptions(args), io),
};

import { runCommand } from './cli/run.ts';

/** `hyperspace serve ...`: serves until SIGINT/SIGTERM, then returns the exit code. */
export function runServe(argv: readonly string[], io?: Io): Promise<number> {
  return runCommand(serveCommand, argv, io);
}

// `node --import tsx functions/serve.ts ...` (tests; the CLI wires serveCommand).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runServe(process.argv.slice(2));
}
