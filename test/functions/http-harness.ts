// A real HTTP server on 127.0.0.1 (ephemeral port) over a fresh data
// directory, and raw fetch helpers, for the HTTP suites. The directory lives
// as long as the harness (beforeAll to afterAll), not one test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HyperspaceDB, type OpenOptions } from '../../engine/index.ts';
import type { Authenticator } from '../../functions/auth/authenticator.ts';
import { Router, type RouterOptions } from '../../functions/http/router.ts';
import { startHttpServer, type RunningHttpServer } from '../../functions/http/server.ts';

export interface Harness {
  dir: string;
  db: HyperspaceDB;
  router: Router;
  server: RunningHttpServer;
  base: string;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<RouterOptions> & { open?: OpenOptions; authenticator?: Authenticator; dir?: string } = {}): Promise<Harness> {
  const owned = options.dir === undefined;
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'hyperspace-http-'));
  const db = await HyperspaceDB.open(dir, options.open ?? { indexer: false });
  const router = new Router({ ...options, db });
  const server = await startHttpServer(router, { host: '127.0.0.1', port: 0 });
  return {
    dir, db, router, server, base: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close({ drainMs: 5000 });
      await db.close();
      if (owned) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(base + path, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Checks an error reply: status, kind and exact message (or pattern). */
export function expectErrorReply(reply: Reply, status: number, kind: string, message: string | RegExp): void {
  if (reply.status !== status || reply.json?.error?.kind !== kind || !(typeof message === 'string' ? reply.json.error.message === message : message.test(reply.json.error.message))) {
    throw new Error(`expected ${status} ${kind} ${String(message)}, got ${reply.status} ${reply.text}`);
  }
}
