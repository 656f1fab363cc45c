/// <reference path="./.sst/platform/config.d.ts" />
// HyperspaceDB on AWS (docs/aws.md): the stack only wires the components of
// infra/, one file per concern, and returns what a client needs.
export default $config({
  app(input) {
    return {
      name: 'hyperspacedb',
      // Production data outlives `sst remove`; other stages are scratch.
      removal: input?.stage === 'production' ? 'retain' : 'remove',
      protect: input?.stage === 'production',
      home: 'aws',
    };
  },
  async run() {
    const { bucket, table } = await import('./infra/storage');
    const { api } = await import('./infra/api');
    const { indexerFailures } = await import('./infra/indexer');
    await import('./infra/compactor');
    const { grpc } = await import('./infra/grpc');
    const { settings } = await import('./infra/settings');
    const { replica } = await import('./infra/replica');
    return {
      url: api.url,
      auth: settings.auth,
      bucket: bucket.name,
      table: table.name,
      indexerFailures: indexerFailures.url,
      ...(grpc ? { grpc: grpc.url } : {}),
      ...(replica ? { replicaRegion: replica.region, replicaUrl: replica.api.url, replicaBucket: replica.bucket.name, replicaTable: replica.table.name } : {}),
    };
  },
});
