// A read replica of the deployment in a second region (docs/aws.md "Region
// replicas"), deployed only when HYPERSPACE_REPLICA_REGION is set: its own
// bucket and table there, a read-only API function, and the scheduled
// replicator (functions/lambda/replicator.ts) that copies what the replica
// lacks from the home region. Everything here is created through a provider
// for the replica region; the home region's resources are only read.
import { keysReadPermission, readOnlyPermissions, readWritePermissions } from './permissions';
import { lambdaDefaults } from './native-addon';
import { settings } from './settings';
import { bucket as homeBucket, table as homeTable } from './storage';

function replicaStack(region: string) {
  const provider = new aws.Provider('ReplicaRegion', { region: region as aws.Region });
  const homeRegion = aws.getRegionOutput().name.apply((home) => {
    if (home === region) throw new Error(`HYPERSPACE_REPLICA_REGION=${region} is the home region: a replica needs a second region`);
    return home;
  });

  // The same settings as the home bucket (infra/storage.ts): TLS-only policy, SSE-S3 with bucket keys.
  const bucket = new sst.aws.Bucket('ReplicaData', {
    enforceHttps: true,
    transform: {
      bucket: (args) => {
        args.forceDestroy = $app.stage !== 'production';
      },
    },
  }, { provider });
  new aws.s3.BucketServerSideEncryptionConfigurationV2('ReplicaDataEncryption', {
    bucket: bucket.name,
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
  }, { provider });

  // docs/format/dynamodb.md, without the stream: nothing indexes in a replica region.
  const table = new sst.aws.Dynamo('ReplicaLog', {
    fields: { pk: 'string', sk: 'string' },
    primaryIndex: { hashKey: 'pk', rangeKey: 'sk' },
    ttl: 'expiresAt',
    deletionProtection: $app.stage === 'production',
  }, { provider });

  const environment = { HYPERSPACE_BUCKET: bucket.name, HYPERSPACE_TABLE: table.name, HYPERSPACE_HOME_REGION: homeRegion };
  const cacheBytes = String(Math.floor(settings.cacheStorageMb * 1024 * 1024 * 0.8));

  const api = new sst.aws.Function('ReplicaApi', {
    ...lambdaDefaults,
    handler: 'functions/lambda/replica-http.handler',
    description: 'HyperspaceDB read replica (function URL): reads only, writes go to the home region',
    memory: '2048 MB',
    timeout: '30 seconds',
    url: { authorization: settings.auth === 'iam' ? 'iam' : 'none', cors: false },
    // Reads only: a write that got past the handler is refused by IAM too.
    permissions: [...readOnlyPermissions(bucket.arn, table.arn), keysReadPermission(bucket.arn)],
    environment: { ...environment, HYPERSPACE_AUTH: settings.auth, HYPERSPACE_CORS_ORIGINS: settings.corsOrigins, HYPERSPACE_CACHE_BYTES: cacheBytes },
  }, { provider });

  const replicator = new sst.aws.Cron('Replicator', {
    schedule: 'rate(1 minute)',
    function: {
      ...lambdaDefaults,
      handler: 'functions/lambda/replicator.handler',
      description: 'HyperspaceDB region replicator: copies what the replica lacks from the home region',
      // Whole segments are held in memory while they are verified.
      memory: '3008 MB',
      timeout: '15 minutes',
      permissions: [...readOnlyPermissions(homeBucket.arn, homeTable.arn), ...readWritePermissions(bucket.arn, table.arn)],
      environment: { ...environment, HYPERSPACE_HOME_BUCKET: homeBucket.name, HYPERSPACE_HOME_TABLE: homeTable.name },
    },
  }, { provider });

  return { region, bucket, table, api, replicator };
}

export const replica = settings.replicaRegion ? replicaStack(settings.replicaRegion) : undefined;
