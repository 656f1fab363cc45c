// Prometheus text exposition (format 0.0.4) of what the servers do: request
// counts and latency histograms per transport, operation and outcome (ok or an
// error kind), and per-collection gauges read from describe(). Label values
// come from fixed sets (operations, kinds, collection names), so the number of
// series is bounded by limits.collectionsMax.
import type { CollectionDescription, HyperspaceDB } from '../engine/index.ts';

export type Transport = 'http' | 'grpc';

/** Upper bounds in seconds: 50 µs … 10 s, dense where loopback requests land. */
export const latencyBucketsSeconds = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

interface Series {
  labels: string;
  count: number;
  sumSeconds: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  buckets: number[];
}

export class Metrics {
  private readonly series = new Map<string, Series>();
  private readonly startedAtMs = Date.now();

  /** Records one finished request. `outcome` is "ok" or the error kind. */
  observe(transport: Transport, operation: string, outcome: string, seconds: number): void {
    const labels = `transport="${transport}",operation="${escapeLabel(operation)}",outcome="${escapeLabel(outcome)}"`;
    let s = this.series.get(labels);
    if (!s) {
      s = { labels, count: 0, sumSeconds: 0, buckets: new Array(latencyBucketsSeconds.length + 1).fill(0) };
      this.series.set(labels, s);
    }
    s.count++;
    s.sumSeconds += seconds;
    let i = 0;
    while (i < latencyBucketsSeconds.length && seconds > latencyBucketsSeconds[i]) i++;
    s.buckets[i]++;
  }

  /** The exposition text; `db` adds the per-collection gauges. */
  render(db?: HyperspaceDB): string {
    const out: string[] = [];
    const series = [...this.series.values()].sort((a, b) => (a.labels < b.labels ? -1 : 1));
    out.push('# HELP hyperspace_requests_total Requests answered, by transport, operation and outcome (ok or error kind).');
    out.push('# TYPE hyperspace_requests_total counter');
    for (const s of series) out.push(`hyperspace_requests_total{${s.labels}} ${s.count}`);
    out.push('# HELP hyperspace_request_duration_seconds Time from request received to response sent.');
    out.push('# TYPE hyperspace_request_duration_seconds histogram');
    for (const s of series) {
      let cumulative = 0;
      latencyBucketsSeconds.forEach((le, i) => {
        cumulative += s.buckets[i];
        out.push(`hyperspace_request_duration_seconds_bucket{${s.labels},le="${le}"} ${cumulative}`);
      });
      out.push(`hyperspace_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      out.push(`hyperspace_request_duration_seconds_sum{${s.labels}} ${s.sumSeconds}`);
      out.push(`hyperspace_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    out.push('# HELP hyperspace_uptime_seconds Seconds since the server started.');
    out.push('# TYPE hyperspace_uptime_seconds gauge');
    out.push(`hyperspace_uptime_seconds ${(Date.now() - this.startedAtMs) / 1000}`);
    if (db) renderCollections(db, out);
    return out.join('\n') + '\n';
  }
}

const collectionGauges = [
  ['hyperspace_collection_points', 'Live records.', 'count'],
  ['hyperspace_collection_wal_tail_records', 'WAL entries not yet folded into a segment.', 'tailLength'],
  ['hyperspace_collection_segments', 'Live segments.', 'segments'],
  ['hyperspace_collection_cache_bytes', 'Bytes of segments held (memory-mapped) on this server.', 'segmentBytes'],
  ['hyperspace_collection_last_seq', 'Last WAL sequence number applied.', 'lastSeq'],
  ['hyperspace_collection_manifest_version', 'Current manifest version.', 'manifestVersion'],
] as const;

function renderCollections(db: HyperspaceDB, out: string[]): void {
  let described;
  try {
    described = db.listCollections();
  } catch {
    return; // closed while draining: requests and timings are still worth reporting
  }
  for (const [name, help, field] of collectionGauges) {
    out.push(`# HELP ${name} ${help}`);
    out.push(`# TYPE ${name} gauge`);
    for (const d of described) out.push(`${name}{collection="${escapeLabel(d.name)}"} ${d[field]}`);
  }
  const replicas = described.filter((d) => d.replica);
  if (replicas.length > 0) {
    type Replica = NonNullable<CollectionDescription['replica']>;
    const lag: [string, string, (r: Replica) => number][] = [
      ['hyperspace_replica_source_seq', 'Leader seq this replica reflects (its root equals the leader\'s there).', (r) => r.sourceSeq],
      ['hyperspace_replica_lag_seqs', 'Leader seqs not yet applied here, as last seen.', (r) => r.lagSeqs ?? 0],
      ['hyperspace_replica_lag_seconds', 'Seconds since this replica last matched the leader (-1: never).', (r) => r.lagSeconds ?? -1],
      ['hyperspace_replica_sync_bytes', 'Bytes moved by this replica\'s syncs (request and response bodies) since the server started.', (r) => r.bytesMoved ?? 0],
    ];
    for (const [name, help, value] of lag) {
      out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} gauge`);
      for (const d of replicas) out.push(`${name}{collection="${escapeLabel(d.name)}"} ${value(d.replica!)}`);
    }
  }
  out.push('# HELP hyperspace_indexer_failed 1 once a background indexing pass has failed (the message is in stats).');
  out.push('# TYPE hyperspace_indexer_failed gauge');
  out.push(`hyperspace_indexer_failed ${db.lastIndexerError ? 1 : 0}`);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
