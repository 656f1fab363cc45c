// Least-privilege IAM for the data plane, written out rather than taken from
// SST's `link`: linking a Bucket grants `s3:*` and a Dynamo `dynamodb:*` on the
// resource, which would let any function rewrite the bucket policy, read and
// overwrite the API keys or delete the table. The stores use exactly these
// calls (engine/stores/s3-object-store.ts, dynamo-log-store.ts).
import { bucket, table } from './storage';

/** Objects of the engine live under collections/ (manifest.ts); auth/keys.json is read-only to every function. */
export const dataPlanePermissions = [
  {
    actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
    resources: [$interpolate`${bucket.arn}/collections/*`],
  },
  {
    actions: ['s3:GetObject'],
    resources: [$interpolate`${bucket.arn}/auth/keys.json`],
  },
  {
    actions: ['s3:ListBucket'],
    resources: [bucket.arn],
    conditions: [{ test: 'StringLike', variable: 's3:prefix', values: ['collections/*'] }],
  },
  {
    // Items only: no Scan, no table administration, no stream access (the indexer's subscription adds that).
    actions: [
      'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
      'dynamodb:Query', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem',
    ],
    resources: [table.arn],
  },
];
