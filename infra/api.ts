// The HTTPS API: one Lambda behind a function URL (scale to zero), the same
// routes as `hyperspace serve` (functions/lambda/http.ts). Auth is either the
// application's API keys, checked before any work (the URL itself is open),
// or IAM/SigV4 on the URL (HYPERSPACE_AUTH=iam), never neither.
import { dataPlanePermissions } from './permissions';
import { lambdaDefaults } from './native-addon';
import { settings } from './settings';
import { storeEnvironment } from './storage';

export const api = new sst.aws.Function('Api', {
  ...lambdaDefaults,
  handler: 'functions/lambda/http.handler',
  description: 'HyperspaceDB HTTPS API (function URL)',
  memory: '2048 MB',
  timeout: '30 seconds',
  url: { authorization: settings.auth === 'iam' ? 'iam' : 'none', cors: false },
  permissions: dataPlanePermissions,
  environment: {
    ...storeEnvironment,
    HYPERSPACE_AUTH: settings.auth,
    HYPERSPACE_CORS_ORIGINS: settings.corsOrigins,
    HYPERSPACE_CACHE_BYTES: String(Math.floor(settings.cacheStorageMb * 1024 * 1024 * 0.8)),
  },
});
