// The AWS stores on real protocol peers (DynamoDB Local, s3rver), beyond the
// shared contracts: several writers on one table, spilling to S3, multipart
// uploads, and faults injected on top of the real clients — throttling, 503s,
// and conditional writes that applied but whose reply was lost
// (docs/format/dynamodb.md "Ambiguous outcomes").
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLogStore } from '../../../engine/stores/dynamo-log-store.ts';
import { S3ObjectStore } from '../../../engine/stores/s3-object-store.ts';
import { startEmulators, type Emulators } from '../../harness/emulators.ts';
import { bytesOf, textOf } from './temporary-directory.ts';

let emulators: Emulators;
beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(async () => {
  await emulators?.stop();
});

const opened: DynamoLogStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

type Send = (command: unknown) => Promise<unknown>;
/** Puts `intercept` between the store and the real client: it decides what
 * reaches DynamoDB Local / s3rver and what the store hears back. */
function intercept(client: DynamoDBClient | S3Client, handler: (name: string, send: Send, command: unknown) => Promise<unknown>): void {
  const original = client.send.bind(client) as Send;
  (client as { send: Send }).send = (command) => handler((command as object).constructor.name, original, command);
}

const timeout = () => Object.assign(new Error('socket timed out after the request was sent'), { name: 'TimeoutError' });
const serviceUnavailable = () => Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
const throttled = () =>
  Object.assign(new Error('Throughput exceeds the current capacity'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } });

async function stores(options: { table?: string; bucket?: string; dynamo?: DynamoDBClient; s3?: S3Client } = {}) {
  const table = options.table ?? (await emulators.newTable());
  const bucket = options.bucket ?? (await emulators.newBucket());
  const objects = new S3ObjectStore({ bucket, client: options.s3 ?? emulators.s3Client() });
  const log = new DynamoLogStore({ table, objects, client: options.dynamo ?? emulators.dynamoClient() });
  opened.push(log);
  return { table, bucket, objects, log };
}

async function readAll(log: DynamoLogStore, collection: string) {
  return log.read(collection, 1, { limit: 10_000 });
}

describe('DynamoLogStore', () => {
  it('gives two instances (two Lambdas) appending at once one dense sequence, each payload exactly once', async () => {
    const first = await stores();
    const second = await stores({ table: first.table, bucket: first.bucket });
    const acknowledged = new Map<string, number>();
    const writer = async (name: string, log: DynamoLogStore) => {
      for (let wave = 0; wave < 15; wave++) {
        const payloads = Array.from({ length: 4 }, (_, i) => `${name}-${wave}-${i}`);
        const seqs = await Promise.all(payloads.map((payload) => log.append('docs', bytesOf(payload))));
        payloads.forEach((payload, i) => acknowledged.set(payload, seqs[i].seq));
      }
    };
    await Promise.all([writer('a', first.log), writer('b', second.log)]);
    const seqs = [...acknowledged.values()].sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    const records = await readAll(first.log, 'docs');
    expect(records.map((r) => r.seq)).toEqual(seqs);
    for (const record of records) expect(acknowledged.get(textOf(record.payload))).toBe(record.seq);
    expect(await second.log.lastSeq('docs')).toBe(120);
  });

  it('spills a large batch to S3 under a content-addressed key and reads it back intact; truncation removes both', async () => {
    const { table, log, objects } = await stores();
    const small = bytesOf('a small upsert stays inline');
    const large = new Uint8Array(new Float32Array(1000 * 128).map((_, i) => Math.sin(i)).buffer); // 1,000 × 128-d
    expect((await log.append('docs', small)).seq).toBe(1);
    expect((await log.append('docs', large)).seq).toBe(2);
    const item = async (seq: number) =>
      (await emulators.dynamoClient().send(new GetItemCommand({
        TableName: table,
        Key: { pk: { S: 'wal#docs#0' }, sk: { S: String(seq).padStart(16, '0') } },
        ConsistentRead: true,
      }))).Item!;
    expect((await item(1)).body?.B).toBeDefined();
    const spilled = await item(2);
    expect(spilled.body).toBeUndefined();
    expect(spilled.spillKey.S).toMatch(/^collections\/docs\/wal\/[0-9a-f]{64}\.walg$/);
    expect(Number(spilled.bodyBytes.N)).toBeGreaterThan(large.length);
    expect(await objects.list('collections/docs/wal/')).toEqual([spilled.spillKey.S]);

    const [first, second] = await log.read('docs', 1);
    expect(textOf(first.payload)).toBe('a small upsert stays inline');
    expect(second.seq).toBe(2);
    expect(Buffer.compare(second.payload, large)).toBe(0);

    await log.truncateBefore('docs', 2);
    expect(await objects.list('collections/docs/wal/')).toEqual([]);
    await expect(log.read('docs', 2)).rejects.toMatchObject({ kind: 'not_found' });
    expect((await log.append('docs', small)).seq).toBe(3);
  });

  it('reads many spilled groups back in order, fetching bodies ahead, within the record and byte budgets', async () => {
    const { log } = await stores();
    const payloads = Array.from({ length: 9 }, (_, g) => new Uint8Array(40_000 + g).map((_, i) => (i * 31 + g) & 0xff));
    for (const payload of payloads) await log.append('docs', payload); // one group each, all spilled
    const all = await log.read('docs', 1);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    all.forEach((record, i) => expect(Buffer.compare(record.payload, payloads[i])).toBe(0));
    expect((await log.read('docs', 3, { limit: 2 })).map((r) => r.seq)).toEqual([3, 4]);
    expect((await log.read('docs', 5, { bytesMax: 80_100 })).map((r) => r.seq)).toEqual([5, 6]);
    expect(log.stats.spilledGroups).toBe(9);
  });

  it('refuses a spilled body that was altered in S3 with a data error', async () => {
    const { log, bucket } = await stores();
    await log.append('docs', new Uint8Array(100_000).fill(7));
    const [key] = await new S3ObjectStore({ bucket, client: emulators.s3Client() }).list('collections/docs/wal/');
    const tampered = await new S3ObjectStore({ bucket, client: emulators.s3Client() }).get(key);
    tampered[5000] ^= 1;
    // Behind the store's back, without its metadata, as another tool would.
    await emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: tampered }));
    await expect(log.read('docs', 1)).rejects.toMatchObject({ kind: 'data', message: 'wal group checksum mismatch: collection=docs firstSeq=1' });
  });

  it('returns the original seq to a retry arriving at another instance, and refuses the key with another payload', async () => {
    const first = await stores();
    const second = await stores({ table: first.table, bucket: first.bucket });
    expect(await first.log.append('docs', bytesOf('batch one'), { idempotencyKey: 'request-1' })).toEqual({ seq: 1 });
    await first.log.append('docs', bytesOf('unkeyed'));
    // The retry shares a group with a fresh append: the fresh one still commits.
    const [retry, fresh] = await Promise.all([
      second.log.append('docs', bytesOf('batch one'), { idempotencyKey: 'request-1' }),
      second.log.append('docs', bytesOf('batch three'), { idempotencyKey: 'request-3' }),
    ]);
    expect(retry).toEqual({ seq: 1 });
    expect(fresh).toEqual({ seq: 3 });
    await expect(second.log.append('docs', bytesOf('batch ONE'), { idempotencyKey: 'request-1' })).rejects.toMatchObject({
      kind: 'conflict',
      message: 'idempotency key reused with a different payload: collection=docs key=request-1 seq=1',
    });
    expect((await readAll(first.log, 'docs')).map((r) => textOf(r.payload))).toEqual(['batch one', 'unkeyed', 'batch three']);
  });

  it('reconciles group commits whose outcome was lost by reading back: no duplicate, no hole', async () => {
    const dynamo = emulators.dynamoClient();
    const { log } = await stores({ dynamo });
    // Transactions 1-2: applied, reply lost. 3: lost before it reached the table.
    // 4: applied, then "retried" by a proxy whose copy failed its condition.
    // 5: throttled. Later ones pass.
    let transactions = 0;
    intercept(dynamo, async (name, send, command) => {
      if (name !== 'TransactWriteItemsCommand') return send(command);
      transactions++;
      if (transactions <= 2) {
        await send(command);
        throw timeout();
      }
      if (transactions === 3) throw timeout();
      if (transactions === 4) {
        await send(command);
        return send(command);
      }
      if (transactions === 5) throw throttled();
      return send(command);
    });
    const acknowledged: number[] = [];
    for (let wave = 0; wave < 6; wave++) {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) => log.append('docs', bytesOf(`w${wave}-${i}`), { idempotencyKey: `k${wave}-${i}` })),
      );
      acknowledged.push(...results.map((r) => r.seq));
    }
    expect(transactions).toBeGreaterThanOrEqual(8);
    expect(log.stats.readBacks).toBe(3); // the two lost replies and the one lost request
    expect(acknowledged.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const records = await readAll(log, 'docs');
    expect(records.map((r) => r.seq)).toEqual(acknowledged);
    expect(new Set(records.map((r) => textOf(r.payload))).size).toBe(30);
    expect(await log.lastSeq('docs')).toBe(30);
  });

  it('reads a pointer swap whose reply was lost back, and refuses a deposed indexer across instances', async () => {
    const dynamo = emulators.dynamoClient();
    const deposed = await stores();
    const current = await stores({ table: deposed.table, bucket: deposed.bucket, dynamo });
    const old = await deposed.log.acquireLease('docs', 'indexer-a', 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const lease = await current.log.acquireLease('docs', 'indexer-b', 60_000);
    expect(lease).toEqual({ epoch: old.epoch + 1 });
    await expect(deposed.log.casPointer('docs', null, { version: 1, key: 'm/a' }, { epoch: old.epoch })).rejects.toMatchObject({
      kind: 'conflict',
      message: `stale lease epoch: collection=docs epoch=${old.epoch} current=${lease.epoch}`,
    });
    let updates = 0;
    intercept(dynamo, async (name, send, command) => {
      if (name === 'UpdateItemCommand' && ++updates === 1) {
        await send(command);
        throw timeout();
      }
      return send(command);
    });
    expect(await current.log.casPointer('docs', null, { version: 1, key: 'm/b' }, { epoch: lease.epoch })).toBe(true);
    expect(await deposed.log.getPointer('docs')).toEqual({ version: 1, key: 'm/b' });
    expect(await current.log.casPointer('docs', null, { version: 1, key: 'm/c' }, { epoch: lease.epoch })).toBe(false);
  });
});

describe('S3ObjectStore', () => {
  it('retries 503s with backoff until the put and get go through', async () => {
    const s3 = emulators.s3Client();
    const store = new S3ObjectStore({ bucket: await emulators.newBucket(), client: s3 });
    const calls = new Map<string, number>();
    intercept(s3, async (name, send, command) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      if ((name === 'PutObjectCommand' || name === 'GetObjectCommand') && calls.get(name)! <= 2) throw serviceUnavailable();
      return send(command);
    });
    await store.put('segments/a.hyp', bytesOf('segment bytes'));
    expect(textOf(await store.get('segments/a.hyp'))).toBe('segment bytes');
    expect(calls.get('PutObjectCommand')).toBe(3);
    expect(calls.get('GetObjectCommand')).toBe(3);
  });

  it('gives up with unavailable when S3 keeps failing, and says so', async () => {
    const s3 = emulators.s3Client();
    const store = new S3ObjectStore({ bucket: await emulators.newBucket(), client: s3 });
    intercept(s3, async () => {
      throw Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    });
    await expect(store.head('x')).rejects.toMatchObject({
      kind: 'unavailable',
      message: 's3 head key=x failed after 8 attempts: InternalError (HTTP 500): We encountered an internal error.',
    });
  });

  it('uploads a large object in parts and reads it whole and by ranges across part boundaries', async () => {
    const mib = 1024 * 1024;
    const s3 = emulators.s3Client();
    const parts: number[] = [];
    intercept(s3, (name, send, command) => {
      if (name === 'UploadPartCommand') parts.push((command as { input: { PartNumber: number } }).input.PartNumber);
      return send(command);
    });
    const store = new S3ObjectStore({ bucket: await emulators.newBucket(), client: s3, partBytes: 5 * mib, multipartThresholdBytes: 5 * mib });
    const bytes = new Uint8Array(11 * mib + 123).map((_, i) => (i * 2654435761) >>> 24);
    await store.put('segments/big.hyp', bytes);
    expect(parts.sort()).toEqual([1, 2, 3]);
    expect(await store.head('segments/big.hyp')).toEqual({ size: bytes.length });
    expect(Buffer.compare(await store.get('segments/big.hyp'), bytes)).toBe(0);
    const across = await store.get('segments/big.hyp', { offset: 5 * mib - 10, length: 20 });
    expect(Buffer.compare(across, bytes.subarray(5 * mib - 10, 5 * mib + 10))).toBe(0);
    await store.put('segments/big.hyp', bytes); // a retry: same bytes
    const other = bytes.slice();
    other[7] ^= 1;
    await expect(store.put('segments/big.hyp', other)).rejects.toMatchObject({ kind: 'conflict' });
  });

  it('refuses an object whose bytes no longer match the checksum it was stored with', async () => {
    const bucket = await emulators.newBucket();
    const store = new S3ObjectStore({ bucket, client: emulators.s3Client() });
    await store.put('m/v1.json', bytesOf('{"version":1}'));
    const { crc32c } = await import('../../../native/index.ts');
    const stored = (crc32c(bytesOf('{"version":1}')) >>> 0).toString(16).padStart(8, '0');
    await emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: 'm/v1.json', Body: bytesOf('{"version":2}'), Metadata: { crc32c: stored } }));
    await expect(store.get('m/v1.json')).rejects.toMatchObject({ kind: 'data', message: expect.stringMatching(/^object checksum mismatch: key=m\/v1.json expected=[0-9a-f]{8} got=[0-9a-f]{8} size=13$/) });
  });
});
