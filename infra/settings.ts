// What the person deploying chooses, read from the environment of `sst deploy`
// (docs/aws.md "Options"). Everything else is fixed by the stack.
export type AuthMode = 'keys' | 'iam';

function authMode(): AuthMode {
  const mode = process.env.HYPERSPACE_AUTH ?? 'keys';
  if (mode !== 'keys' && mode !== 'iam') throw new Error(`HYPERSPACE_AUTH must be "keys" or "iam", got ${JSON.stringify(mode)}`);
  return mode;
}

function grpcDomain(): string | undefined {
  if (process.env.HYPERSPACE_GRPC !== 'on') return undefined;
  const domain = process.env.HYPERSPACE_GRPC_DOMAIN;
  // gRPC needs HTTP/2 over TLS at the load balancer, and TLS needs a certificate for a name.
  if (!domain) throw new Error('HYPERSPACE_GRPC=on needs HYPERSPACE_GRPC_DOMAIN (a Route 53 hosted name for the load balancer\'s certificate)');
  return domain;
}

function replicaRegion(): string | undefined {
  const region = process.env.HYPERSPACE_REPLICA_REGION;
  if (!region) return undefined;
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new Error(`HYPERSPACE_REPLICA_REGION must be an AWS region such as "eu-west-1", got ${JSON.stringify(region)}`);
  return region;
}

export type LambdaArchitecture = 'x86_64' | 'arm64';

function lambdaArchitecture(): LambdaArchitecture {
  const architecture = process.env.HYPERSPACE_ARCHITECTURE ?? 'x86_64';
  if (architecture !== 'x86_64' && architecture !== 'arm64')
    throw new Error(`HYPERSPACE_ARCHITECTURE must be "x86_64" or "arm64", got ${JSON.stringify(architecture)}`);
  return architecture;
}

const architecture = lambdaArchitecture();

export const settings = {
  /** `keys`: API keys from auth/keys.json in the bucket (default); `iam`: the function URL takes SigV4 only. */
  auth: authMode(),
  /** Set: the optional Fargate gRPC service is deployed under this name (costs money at idle). */
  grpcDomain: grpcDomain(),
  corsOrigins: process.env.HYPERSPACE_CORS_ORIGINS ?? '',
  /** Set: a read replica stack in this second region, fed by the replicator (infra/replica.ts, docs/aws.md "Region replicas"). */
  replicaRegion: replicaRegion(),
  /** Bytes of /tmp each function gets (10 GB max); the segment cache takes 80 % of it. */
  cacheStorageMb: Number(process.env.HYPERSPACE_CACHE_MB ?? 2048),
  /** CPU of the Lambda functions: `x86_64` (default) or `arm64` (Graviton, about 20 % less per GB-second). */
  architecture,
  /** The addon built by `npm run build:lambda-addon -- --arch <architecture>`. */
  addonPath: `build/lambda-${architecture === 'arm64' ? 'arm64' : 'x64'}/hyperspace_native.node`,
};
