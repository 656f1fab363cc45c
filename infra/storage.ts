// The two stores of a deployment (DESIGN §3): an S3 bucket for everything
// immutable (segments, manifests, spilled WAL groups) plus auth/keys.json, and
// one DynamoDB table for the WAL, manifest pointers, leases and the catalog,
// exactly as docs/format/dynamodb.md specifies it (pk/sk strings, a NEW_IMAGE
// stream that wakes the indexer, TTL on expiresAt). On-demand billing: at idle
// both cost only what they store.
export const bucket = new sst.aws.Bucket('Data', {
  // A bucket policy refusing every request not made over TLS (aws:SecureTransport).
  enforceHttps: true,
  transform: {
    // Data outlives a stage removal in production (app removal "retain").
    bucket: (args) => {
      args.forceDestroy = $app.stage !== 'production';
    },
  },
});

// Default encryption at rest with S3-managed keys, explicit rather than
// assumed; bucket keys cut the per-object KMS work if someone switches to KMS.
new aws.s3.BucketServerSideEncryptionConfigurationV2('DataEncryption', {
  bucket: bucket.name,
  rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
});

export const table = new sst.aws.Dynamo('Log', {
  fields: { pk: 'string', sk: 'string' },
  primaryIndex: { hashKey: 'pk', rangeKey: 'sk' },
  stream: 'new-image',
  ttl: 'expiresAt',
  deletionProtection: $app.stage === 'production',
});

/** The names every function and task gets in its environment (functions/lambda/environment.ts). */
export const storeEnvironment = {
  HYPERSPACE_BUCKET: bucket.name,
  HYPERSPACE_TABLE: table.name,
};
