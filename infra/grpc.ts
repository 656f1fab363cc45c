// The optional gRPC service (DESIGN §8): the same operations over HTTP/2 from a
// long-running container (Dockerfile, functions/grpc/main.ts) on Fargate,
// behind an Application Load Balancer that terminates TLS and speaks gRPC to
// the task. Off by default: unlike the Lambda functions it costs money at idle
// (load balancer ≈ $16/month, one 1 vCPU / 2 GB task ≈ $36/month, a NAT
// instance ≈ $3/month; us-east-1). Turned on with HYPERSPACE_GRPC=on and a
// Route 53 name in HYPERSPACE_GRPC_DOMAIN (docs/aws.md).
import { dataPlanePermissions } from './permissions';
import { settings } from './settings';
import { storeEnvironment } from './storage';

function grpcService(domain: string) {
  // fck-nat on a small EC2 instance: the task pulls its image and reaches S3/DynamoDB from private subnets.
  const vpc = new sst.aws.Vpc('GrpcVpc', { nat: 'ec2' });
  const cluster = new sst.aws.Cluster('GrpcCluster', { vpc });
  return new sst.aws.Service('Grpc', {
    cluster,
    image: { context: '.', dockerfile: 'Dockerfile' },
    architecture: 'x86_64',
    cpu: '1 vCPU',
    memory: '2 GB',
    permissions: dataPlanePermissions,
    environment: {
      ...storeEnvironment,
      HYPERSPACE_AUTH: 'keys',
      HYPERSPACE_GRPC_PORT: '50051',
    },
    loadBalancer: {
      domain,
      rules: [{ listen: '443/https', forward: '50051/http' }],
      health: {
        // The Health RPC (proto/hyperspace/v1/admin.proto) answers OK once the stores are open.
        '50051/http': { path: '/hyperspace.v1.AdminService/Health', successCodes: '0' },
      },
    },
    scaling: { min: 1, max: 4, cpuUtilization: 60 },
    transform: {
      // HTTP/2 with gRPC semantics to the task (health checks read grpc-status).
      target: (args) => {
        args.protocolVersion = 'GRPC';
      },
    },
  });
}

export const grpc = settings.grpcDomain ? grpcService(settings.grpcDomain) : undefined;
