// The scheduled compactor (functions/lambda/compactor.ts): merges segment
// tiers, folds anything the stream indexer missed and deletes unreferenced
// objects past the grace period, every collection, every 15 minutes. Costs
// one short invocation per run when there is nothing to do.
import { dataPlanePermissions } from './permissions';
import { lambdaDefaults } from './native-addon';
import { settings } from './settings';
import { storeEnvironment } from './storage';

export const compactor = new sst.aws.Cron('Compactor', {
  schedule: 'rate(15 minutes)',
  function: {
    ...lambdaDefaults,
    handler: 'functions/lambda/compactor.handler',
    description: 'HyperspaceDB compactor and garbage collector',
    memory: '3008 MB',
    timeout: '15 minutes',
    permissions: dataPlanePermissions,
    environment: {
      ...storeEnvironment,
      HYPERSPACE_CACHE_BYTES: String(Math.floor(settings.cacheStorageMb * 1024 * 1024 * 0.8)),
    },
  },
});
