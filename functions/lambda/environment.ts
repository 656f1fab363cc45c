// The deployment's configuration, from the environment the stack sets
// (infra/api.ts, infra/indexer.ts, infra/compactor.ts, infra/grpc.ts):
//   HYPERSPACE_BUCKET       the S3 bucket (segments, manifests, spilled WAL groups, auth/keys.json)
//   HYPERSPACE_TABLE        the DynamoDB table (docs/format/dynamodb.md)
//   HYPERSPACE_PREFIX       optional key prefix in the bucket (ends with "/")
//   HYPERSPACE_AUTH         "keys" (default) or "iam"
//   HYPERSPACE_CACHE_DIR    segment cache directory (default /tmp/hyperspace-segments)
//   HYPERSPACE_CACHE_BYTES  segment cache bound (default 80% of the function's /tmp)
//   HYPERSPACE_CORS_ORIGINS comma-separated origins allowed by CORS (default none)
// In a replica region (infra/replica.ts, docs/aws.md "Region replicas") the two
// above name the replica's own stores, and:
//   HYPERSPACE_HOME_REGION  the home region (writes go there)
//   HYPERSPACE_HOME_BUCKET  the replicator: the home region's bucket (read only)
//   HYPERSPACE_HOME_TABLE   the replicator: the home region's table (read only)
// AWS_REGION comes from Lambda; AWS_ENDPOINT_URL(_S3|_DYNAMODB) points the
// stores at LocalStack or the emulators.
import { HyperspaceError } from '../../engine/index.ts';
import { DynamoLogStore } from '../../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../../engine/stores/s3-object-store.ts';
import type { AuthMode } from './http.ts';
import type { Stores } from './indexing.ts';
import { SegmentCache } from './segment-cache.ts';

/** Lambda's default ephemeral storage is 512 MB; the stack raises it (infra/api.ts) and sets HYPERSPACE_CACHE_BYTES. */
const cacheBytesDefault = 400 * 1024 * 1024;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new HyperspaceError('invalid', `environment variable ${name} is not set (the stack sets it: infra/)`);
  return value;
}

/** S3 + DynamoDB stores named by the environment, the object store behind a local segment cache. Made once per container. */
export function environmentStores(): () => Promise<Stores> {
  let made: Stores | undefined;
  return async () => {
    if (made) return made;
    const bucket = required('HYPERSPACE_BUCKET');
    const table = required('HYPERSPACE_TABLE');
    const prefix = process.env.HYPERSPACE_PREFIX || undefined;
    const s3 = new S3ObjectStore({ bucket, ...(prefix ? { prefix } : {}) });
    const cacheBytes = Number(process.env.HYPERSPACE_CACHE_BYTES ?? cacheBytesDefault);
    const objects = new SegmentCache(s3, { directory: process.env.HYPERSPACE_CACHE_DIR ?? '/tmp/hyperspace-segments', bytesMax: cacheBytes });
    made = { objects, log: new DynamoLogStore({ table, objects: s3 }) };
    return made;
  };
}

export function environmentAuth(): AuthMode {
  const mode = process.env.HYPERSPACE_AUTH ?? 'keys';
  if (mode !== 'keys' && mode !== 'iam') throw new HyperspaceError('invalid', `HYPERSPACE_AUTH must be "keys" or "iam", got ${JSON.stringify(mode)}`);
  return mode;
}

export function environmentCorsOrigins(): string[] {
  return (process.env.HYPERSPACE_CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
}

/** The home region of a replica stack's functions. */
export function environmentHomeRegion(): string {
  return required('HYPERSPACE_HOME_REGION');
}

/** The replicator's two store pairs: the home region's (read only) and this region's, without a segment cache (it never searches). */
export function environmentReplicatorStores(): { home: () => Promise<Stores>; replica: () => Promise<Stores> } {
  const pair = (bucket: string, table: string, region?: string): Stores => {
    const prefix = process.env.HYPERSPACE_PREFIX || undefined;
    const objects = new S3ObjectStore({ bucket, ...(prefix ? { prefix } : {}), ...(region ? { region } : {}) });
    return { objects, log: new DynamoLogStore({ table, objects, ...(region ? { region } : {}) }) };
  };
  let home: Stores | undefined, replica: Stores | undefined;
  return {
    home: async () => (home ??= pair(required('HYPERSPACE_HOME_BUCKET'), required('HYPERSPACE_HOME_TABLE'), environmentHomeRegion())),
    replica: async () => (replica ??= pair(required('HYPERSPACE_BUCKET'), required('HYPERSPACE_TABLE'))),
  };
}
