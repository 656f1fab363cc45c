// The WAL-stream indexer (functions/lambda/indexer.ts): subscribed to the
// table's stream, filtered to inserted WAL group items only — the indexer's own
// writes (pointer, lease) must not wake it again. Bounded retries, bisection of
// a failing batch, partial-batch responses, and a queue for what still fails
// (a wake-up lost there loses no data: the WAL stays, the next wake-up or the
// compactor folds it).
import { dataPlanePermissions } from './permissions';
import { lambdaDefaults } from './native-addon';
import { settings } from './settings';
import { storeEnvironment, table } from './storage';

export const indexerFailures = new sst.aws.Queue('IndexerFailures', {
  transform: { queue: { messageRetentionSeconds: 14 * 24 * 3600 } },
});

export const indexer = table.subscribe('Indexer', {
  ...lambdaDefaults,
  handler: 'functions/lambda/indexer.handler',
  description: 'HyperspaceDB indexer: folds the WAL into segments on the table stream',
  memory: '3008 MB',
  timeout: '5 minutes',
  permissions: [
    ...dataPlanePermissions,
    { actions: ['sqs:SendMessage'], resources: [indexerFailures.arn] },
  ],
  environment: {
    ...storeEnvironment,
    HYPERSPACE_CACHE_BYTES: String(Math.floor(settings.cacheStorageMb * 1024 * 1024 * 0.8)),
  },
}, {
  filters: [{ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix: 'wal#' }] } } } }],
  transform: {
    eventSourceMapping: (args) => {
      args.startingPosition = 'TRIM_HORIZON';
      args.batchSize = 1000;
      // Gather wake-ups for a moment: fewer, larger segments.
      args.maximumBatchingWindowInSeconds = 2;
      args.bisectBatchOnFunctionError = true;
      args.maximumRetryAttempts = 10;
      args.maximumRecordAgeInSeconds = 6 * 3600;
      args.functionResponseTypes = ['ReportBatchItemFailures'];
      args.destinationConfig = { onFailure: { destinationArn: indexerFailures.arn } };
    },
  },
});
