// Follower mode and one-shot sync (DESIGN §7): a replica database pulls from a
// leader's HTTP API — GET …/digest, POST …/sync/changes, POST …/sync/pull —
// with engine/sync.ts deciding what to ask for. The follower copies the
// leader's collections (names and configs), keeps them converged with a poll
// loop that backs off on failure, never moves to an older state, and reports
// its lag. Its writes are refused by the handler layer (functions/follow-state.ts).
import { HyperspaceError, type Collection, type HyperspaceDB } from '../engine/index.ts';
import { learnSourceSeqs, replicaCollection, syncReplica, type DigestAnswer, type PullRequest, type SyncReport, type SyncSource } from '../engine/sync.ts';
import { stringOption, UsageError, type CommandSpec } from './cli/args.ts';
import { withDatabase, type Command } from './cli/commands.ts';
import { setLeader } from './follow-state.ts';
import type { CollectionInfo } from './handlers.ts';

/** Bytes of request and response bodies moved, both ways. */
export interface ByteCounter {
  sent: number;
  received: number;
}

export interface LeaderOptions {
  /** Base URL of the leader's HTTP API, e.g. http://leader:8080. */
  leader: string;
  /** An API key of the leader (read access is enough). */
  apiKey?: string;
  /** Per request. Default 60 s. */
  timeoutMs?: number;
}

/** The leader's HTTP API, as much of it as a replica needs; counts the bytes it moves. */
export class LeaderClient {
  readonly url: string;
  readonly bytes: ByteCounter = { sent: 0, received: 0 };

  constructor(private readonly options: LeaderOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.leader);
    } catch {
      throw new HyperspaceError('invalid', `leader must be an http(s) URL, got ${JSON.stringify(options.leader)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HyperspaceError('invalid', `leader must be an http(s) URL, got ${JSON.stringify(options.leader)}`);
    this.url = parsed.origin;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Uint8Array> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let response: Response | undefined;
    // Every sync request only reads, so a failed one is sent again: a kept-alive
    // connection the leader closed while idle fails the next request (ECONNRESET).
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        response = await fetch(this.url + path, { method, headers, body: text, signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000) });
      } catch (e) {
        if (attempt < 3 && (e as Error).name !== 'TimeoutError') continue;
        const cause = (e as { cause?: Error }).cause;
        throw new HyperspaceError('unavailable', `leader ${this.url} unreachable: ${(e as Error).message}${cause ? ` (${cause.message})` : ''}`);
      }
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.bytes.sent += text === undefined ? 0 : Buffer.byteLength(text);
    this.bytes.received += bytes.length;
    if (!response.ok) {
      let kind = 'unavailable', message = `HTTP ${response.status}`;
      try {
        const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { error?: { kind?: string; message?: string } };
        kind = parsed.error?.kind ?? kind;
        message = parsed.error?.message ?? message;
      } catch { /* not an error body */ }
      throw new HyperspaceError(kind as HyperspaceError['kind'], `leader ${this.url}: ${message}`);
    }
    return bytes;
  }

  private async json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.request(method, path, body))) as T;
  }

  collections(): Promise<CollectionInfo[]> {
    return this.json<{ collections: CollectionInfo[] }>('GET', '/v1/collections').then((r) => r.collections);
  }

  /** A SyncSource over this leader for one collection. */
  source(collection: string): SyncSource {
    const base = `/v1/collections/${encodeURIComponent(collection)}`;
    return {
      digest: () => this.json<DigestAnswer>('GET', `${base}/digest`),
      changes: (afterSeq: number, limit?: number) => this.request('POST', `${base}/sync/changes`, limit === undefined ? { afterSeq } : { afterSeq, limit }),
      pull: (request: PullRequest) => this.request('POST', `${base}/sync/pull`, request),
    };
  }
}

/** One-shot pull of one collection; the report says how it converged. */
export async function syncFrom(db: HyperspaceDB, client: LeaderClient, name: string): Promise<SyncReport> {
  const info = (await client.collections()).find((c) => c.name === name);
  if (!info) throw new HyperspaceError('not_found', `collection not found on the leader ${client.url}: name=${name}`);
  return syncReplica(await replicaCollection(db, info), client.source(name));
}

export interface FollowerOptions extends LeaderOptions {
  /** Pause between passes when converged. Default 500 ms. */
  pollMs?: number;
  /** Longest pause after failures (doubling from pollMs). Default 30 s. */
  backoffMsMax?: number;
  log?: (line: string) => void;
}

interface CollectionLag {
  leaderSeq: number;
  convergedAtMs: number;
  lastError: string | null;
  bytesMoved: number;
}

/** Keeps every collection of `db` a converged replica of the leader's. */
export class Follower {
  readonly client: LeaderClient;
  private readonly lag = new Map<string, CollectionLag>();
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Completed passes, for tests and logs. */
  passes = 0;

  constructor(private readonly db: HyperspaceDB, private readonly options: FollowerOptions) {
    this.client = new LeaderClient(options);
  }

  start(): void {
    setLeader(this.db, this.client.url);
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 500;
    let delayMs = pollMs;
    while (!this.stopped) {
      let failed = false;
      try {
        failed = !(await this.pass());
      } catch (e) {
        failed = true;
        this.options.log?.(`follow: ${(e as Error).message}`);
      }
      this.passes++;
      delayMs = failed ? Math.min(this.options.backoffMsMax ?? 30_000, delayMs * 2) : pollMs;
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  /** Mirror the leader's collection list, then sync each; false if any failed. */
  async pass(): Promise<boolean> {
    let leaderCollections: CollectionInfo[];
    try {
      leaderCollections = await this.client.collections();
    } catch (e) {
      for (const lag of this.lag.values()) lag.lastError = (e as Error).message;
      throw e;
    }
    const names = new Set(leaderCollections.map((c) => c.name));
    for (const d of this.db.listCollections()) {
      // The leader is the authority: a replica of a collection it dropped goes too.
      if (!names.has(d.name) && d.replica) await this.db.dropCollection(d.name);
    }
    let ok = true;
    for (const info of leaderCollections) {
      if (this.stopped) break;
      // An upstream that is itself a follower (a chain) reports the leader's seqs: what it reflects and what it last saw.
      const upstreamSeq = info.replica ? Math.max(info.replica.sourceSeq, info.replica.leaderSeq ?? 0) : info.lastSeq;
      const lag = this.lag.get(info.name) ?? { leaderSeq: upstreamSeq, convergedAtMs: 0, lastError: null, bytesMoved: 0 };
      this.lag.set(info.name, lag);
      try {
        const replica = await replicaCollection(this.db, info);
        replica.replicaLag ??= () => ({
          leader: this.client.url, leaderSeq: lag.leaderSeq, lastError: lag.lastError, bytesMoved: lag.bytesMoved,
          lagSeconds: lag.convergedAtMs === 0 ? -1 : Math.max(0, (Date.now() - lag.convergedAtMs) / 1000),
        });
        lag.leaderSeq = Math.max(lag.leaderSeq, upstreamSeq);
        const bytesBefore = this.client.bytes.sent + this.client.bytes.received;
        const source = this.client.source(info.name);
        const report = await syncReplica(replica, source).then(async (r) => {
          // A follower serves sync in turn (a chain): after a restart it learns the leader seqs of what it had folded.
          const unknown = await learnSourceSeqs(replica, source);
          if (unknown > 0) this.options.log?.(`follow: collection=${info.name}: the leader seqs of ${unknown} records are still unknown; it cannot serve them to other followers yet`);
          return r;
        }).finally(() => {
          lag.bytesMoved += this.client.bytes.sent + this.client.bytes.received - bytesBefore;
        });
        lag.leaderSeq = Math.max(lag.leaderSeq, report.sourceSeq);
        lag.convergedAtMs = Date.now();
        lag.lastError = null;
        if (report.mode === 'repair') this.options.log?.(`follow: repaired collection=${info.name} to leader seq ${report.sourceSeq}: ${JSON.stringify(report.repair)}`);
      } catch (e) {
        ok = false;
        lag.lastError = (e as Error).message;
        this.options.log?.(`follow: collection=${info.name}: ${lag.lastError}`);
      }
    }
    return ok;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }
}

export const syncSpec: CommandSpec = {
  name: 'sync',
  summary: 'Pull one collection from a leader into the data directory (catch-up by sequence, repair if needed) and print the bytes moved.',
  positionals: [],
  options: {
    from: { type: 'string', value: 'URL', description: 'the leader\'s HTTP API, e.g. http://leader:8080' },
    collection: { type: 'string', value: 'NAME', description: 'the collection to pull' },
    'api-key': { type: 'string', value: 'KEY', description: 'an API key of the leader (or HYPERSPACE_LEADER_KEY)' },
  },
  notes: ['The local collection becomes a read replica: it refuses local writes and only moves forward.'],
  examples: ['hyperspace sync --from http://127.0.0.1:8080 --collection docs --data ./replica'],
};

export const syncCommand: Command = {
  spec: syncSpec,
  run: async (args, io) => {
    const from = stringOption(args, 'from');
    const name = stringOption(args, 'collection');
    if (!from) throw new UsageError('--from URL is required');
    if (!name) throw new UsageError('--collection NAME is required');
    const client = new LeaderClient({ leader: from, apiKey: stringOption(args, 'api-key') ?? process.env.HYPERSPACE_LEADER_KEY });
    const startedAt = performance.now();
    const report = await withDatabase(args, (db) => syncFrom(db, client, name), { create: true });
    const seconds = (performance.now() - startedAt) / 1000;
    const moved = client.bytes.sent + client.bytes.received;
    io.stdout.write(`synced collection=${name} from ${client.url} by ${report.mode}: ${report.upserts} upserted, ${report.deletes} deleted` +
      (report.repair ? `, repair pulled ${report.repair.recordsPulled} and deleted ${report.repair.recordsDeleted} in ${report.repair.bucketsDiffering} differing buckets` : '') +
      `; leader seq ${report.sourceSeq}, root ${report.root}\n`);
    io.stdout.write(`bytes moved: ${moved} (sent ${client.bytes.sent}, received ${client.bytes.received}) in ${seconds.toFixed(2)} s\n`);
  },
};
