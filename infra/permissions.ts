// Least-privilege IAM for the data plane, written out rather than taken from
// SST's `link`: linking a Bucket grants `s3:*` and a Dynamo `dynamodb:*` on the
// resource, which would let any function rewrite the bucket policy, read and
// overwrite the API keys or delete the table. The stores use exactly these
// calls (engine/stores/s3-object-store.ts, dynamo-log-store.ts).
import { bucket, table } from './storage';

type Arn = $util.Input<string>;

/** Objects of the engine live under collections/ (manifest.ts); auth/keys.json is read-only to every function. */
export function readWritePermissions(bucketArn: Arn, tableArn: Arn) {
  return [
    {
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resources: [$interpolate`${bucketArn}/collections/*`],
    },
    ...listCollections(bucketArn),
    {
      // Items only: no Scan, no table administration, no stream access (the indexer's subscription adds that).
      actions: [
        'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
        'dynamodb:Query', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem',
      ],
      resources: [tableArn],
    },
  ];
}

/** Reads of the engine's objects and items only (a replica's API, the replicator's view of the home region). */
export function readOnlyPermissions(bucketArn: Arn, tableArn: Arn) {
  return [
    { actions: ['s3:GetObject'], resources: [$interpolate`${bucketArn}/collections/*`] },
    // Without ListBucket, S3 answers a missing key with 403 rather than 404.
    ...listCollections(bucketArn),
    { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [tableArn] },
  ];
}

export function keysReadPermission(bucketArn: Arn) {
  return { actions: ['s3:GetObject'], resources: [$interpolate`${bucketArn}/auth/keys.json`] };
}

function listCollections(bucketArn: Arn) {
  return [{
    actions: ['s3:ListBucket'],
    resources: [bucketArn],
    conditions: [{ test: 'StringLike', variable: 's3:prefix', values: ['collections/*'] }],
  }];
}

export const dataPlanePermissions = [...readWritePermissions(bucket.arn, table.arn), keysReadPermission(bucket.arn)];
