// The gRPC container entry (functions/grpc/main.ts, the Dockerfile's command)
// as Fargate runs it: a child process configured only by the environment,
// over DynamoDB Local and s3rver, API keys from auth/keys.json in the bucket.
// It sees what a Lambda worker wrote through the same stores, and drains on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceClient } from '../../client/index.ts';
import { HyperspaceDB } from '../../engine/index.ts';
import { DynamoLogStore } from '../../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../../engine/stores/s3-object-store.ts';
import { hashKey } from '../../functions/auth/keys-file.ts';
import { keysObjectKey } from '../../functions/lambda/keys-object.ts';
import { emulatorCredentials, startEmulators, type Emulators } from '../harness/emulators.ts';

const secret = 'hs_g1_0123456789abcdef0123456789abcdef';
let emulators: Emulators;
let child: ChildProcess | undefined;

beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await emulators?.stop();
});

describe('gRPC container entry on the AWS stores', () => {
  it('serves with keys from the bucket, sees another worker\'s writes, and drains on SIGTERM', async () => {
    const table = await emulators.newTable();
    const bucket = await emulators.newBucket();
    const objects = new S3ObjectStore({ bucket, client: emulators.s3Client() });
    const key = { id: 'g1', name: 'g1', hash: hashKey(secret), collections: '*', access: 'read-write', rate: { perSecond: 0, burst: 0 }, createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null };
    await objects.put(keysObjectKey, new TextEncoder().encode(JSON.stringify({ version: 1, keys: [key] })));

    child = spawn(process.execPath, ['--import', 'tsx', 'functions/grpc/main.ts'], {
      env: {
        ...process.env, HYPERSPACE_BUCKET: bucket, HYPERSPACE_TABLE: table, HYPERSPACE_GRPC_PORT: '0', HYPERSPACE_REFRESH_MS: '100',
        AWS_ENDPOINT_URL_S3: emulators.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint, AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => { output += chunk; });
    child.stderr!.on('data', (chunk) => { output += chunk; });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 60_000);
      const check = () => {
        const line = output.split('\n').find((l) => l.includes('"grpc: listening"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line).port);
        }
      };
      child!.stdout!.on('data', check);
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });

    const client = HyperspaceClient.grpc(`127.0.0.1:${port}`, { apiKey: secret });
    const anonymous = HyperspaceClient.grpc(`127.0.0.1:${port}`, { retry: { attemptsMax: 1 } });
    try {
      await client.createCollection('docs', { dimension: 4, metric: 'l2' });
      await client.upsert('docs', [{ id: 'a', vector: [0, 0, 0, 1] }]);
      expect((await client.search('docs', { vector: [0, 0, 0, 1], k: 1 })).hits[0].id).toBe('a');
      await expect(anonymous.listCollections()).rejects.toMatchObject({ kind: 'unauthenticated' });

      // Another worker (a Lambda) writes through the stores; the container picks it up on its refresh.
      const other = await HyperspaceDB.open({ objects, log: new DynamoLogStore({ table, objects, client: emulators.dynamoClient() }) }, { indexer: false, leases: false });
      await other.refresh('docs');
      await other.collection('docs').upsert([{ id: 'b', vector: [1, 0, 0, 0] }]);
      await other.close();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await client.search('docs', { vector: [1, 0, 0, 0], k: 1 })).hits[0].id).toBe('b');
    } finally {
      await client.close();
      await anonymous.close();
    }
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('SIGTERM: draining calls in flight, then closing');
    child = undefined;
  }, 120_000);
});
