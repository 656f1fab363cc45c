// The shared ObjectStore and LogStore contracts against S3ObjectStore on s3rver
// and DynamoLogStore on DynamoDB Local, both started by the harness.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DynamoLogStore } from '../../../engine/stores/dynamo-log-store.ts';
import type { LogStore } from '../../../engine/stores/log-store.ts';
import { S3ObjectStore } from '../../../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../../harness/emulators.ts';
import { describeLogStoreContract } from './log-store-contract.ts';
import { describeObjectStoreContract } from './object-store-contract.ts';

let emulators: Emulators;
beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(async () => {
  await emulators?.stop();
});

const opened: LogStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

async function openLogStore(table: string, bucket: string): Promise<DynamoLogStore> {
  const objects = new S3ObjectStore({ bucket, client: emulators.s3Client() });
  const store = new DynamoLogStore({ table, objects, client: emulators.dynamoClient() });
  opened.push(store);
  return store;
}

describeObjectStoreContract('S3ObjectStore', async () => new S3ObjectStore({ bucket: await emulators.newBucket(), client: emulators.s3Client() }));

describeLogStoreContract('DynamoLogStore', {
  async open() {
    return openLogStore(await emulators.newTable(), await emulators.newBucket());
  },
  async reopen(store) {
    await store.close();
    const dynamo = store as DynamoLogStore;
    return openLogStore(dynamo.table, ((dynamo as unknown as { objects: S3ObjectStore }).objects).bucket);
  },
});
