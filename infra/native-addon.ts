// How every function gets the native addon: the prebuilt linux binary for the
// functions' architecture (settings.architecture, x86_64 by default) from
// `npm run build:lambda-addon -- --arch <architecture>` (static libstdc++,
// glibc ≤ 2.34 checked), copied where native/index.ts looks for it relative
// to the bundled handler (`../build/Release/` from functions/lambda/<handler>.mjs).
import { existsSync } from 'node:fs';
import { settings } from './settings';

export function addonFiles() {
  if (!existsSync(settings.addonPath) && !$dev) {
    throw new Error(`${settings.addonPath} is missing: run "npm run build:lambda-addon -- --arch ${settings.architecture}" before "sst deploy" (docs/aws.md)`);
  }
  return [{ from: settings.addonPath, to: 'functions/build/Release/hyperspace_native.node' }];
}

/** Settings shared by the Lambda functions. */
export const lambdaDefaults = {
  runtime: 'nodejs22.x',
  architecture: settings.architecture,
  copyFiles: addonFiles(),
  storage: `${settings.cacheStorageMb} MB`,
  // The AWS SDK's ES module builds tree-shake: a smaller bundle that loads ~35 ms sooner on a cold start
  // (bench/serverless.ts bundles its worker the same way; docs/benchmarks.md "Serverless path").
  nodejs: { esbuild: { mainFields: ['module', 'main'] as string[] } },
  // The handlers write one JSON object per line themselves (functions/lambda/log.ts).
  logging: { retention: '1 month' },
} as const;
