// The LogStore contract: what every implementation (local files, memory,
// DynamoDB, and later IndexedDB) must do the same way. Each implementation's
// test file calls describeLogStoreContract with a harness.
import { describe, expect, it } from 'vitest';
import { limits } from '../../../engine/limits.ts';
import type { LogStore } from '../../../engine/stores/log-store.ts';
import { bytesOf, textOf } from './temporary-directory.ts';

export interface LogStoreHarness {
  open(): Promise<LogStore>;
  /** The same data after a restart (memory: the same instance). */
  reopen(store: LogStore): Promise<LogStore>;
}

export function describeLogStoreContract(name: string, harness: LogStoreHarness): void {
  describe(name, () => {
    const openStore = () => harness.open();
    const reopen = (store: LogStore) => harness.reopen(store);

    describe('WAL', () => {
      it('assigns dense sequence numbers to concurrent appends and reads them back in order', async () => {
        const store = await openStore();
        const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append('docs', bytesOf(`r${i}`))));
        expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        const records = await store.read('docs', 150, { limit: 10 });
        expect(records.map((r) => textOf(r.payload))).toEqual(Array.from({ length: 10 }, (_, i) => `r${149 + i}`));
        expect((await store.read('docs', 7, { bytesMax: 1 })).map((r) => r.seq)).toEqual([7]);
        expect(await store.read('docs', 201)).toEqual([]);
        expect(await store.lastSeq('docs')).toBe(200);
        expect(await store.lastSeq('other')).toBe(0);
        await store.truncateBefore('docs', 100);
        await expect(store.read('docs', 100)).rejects.toMatchObject({
          kind: 'not_found',
          message: 'wal records already truncated: collection=docs fromSeq=100 truncatedThroughSeq=100',
        });
        expect((await store.read('docs', 101, { limit: 1 }))[0].seq).toBe(101);
      });

      it('returns the original seq for a retried key, also after reopen, and refuses a changed payload', async () => {
        let store = await openStore();
        expect(await store.append('docs', bytesOf('one'), { idempotencyKey: 'batch-1' })).toEqual({ seq: 1 });
        expect(await store.append('docs', bytesOf('two'))).toEqual({ seq: 2 });
        expect(await store.append('docs', bytesOf('one'), { idempotencyKey: 'batch-1' })).toEqual({ seq: 1 });
        // Concurrent retries of a key still in flight share its seq.
        const racing = await Promise.all([
          store.append('docs', bytesOf('three'), { idempotencyKey: 'batch-3' }),
          store.append('docs', bytesOf('three'), { idempotencyKey: 'batch-3' }),
        ]);
        expect(racing).toEqual([{ seq: 3 }, { seq: 3 }]);

        store = await reopen(store);
        expect(await store.append('docs', bytesOf('one'), { idempotencyKey: 'batch-1' })).toEqual({ seq: 1 });
        expect(await store.append('docs', bytesOf('three'), { idempotencyKey: 'batch-3' })).toEqual({ seq: 3 });
        await expect(store.append('docs', bytesOf('ONE'), { idempotencyKey: 'batch-1' })).rejects.toMatchObject({
          kind: 'conflict',
          message: 'idempotency key reused with a different payload: collection=docs key=batch-1 seq=1',
        });
        expect(await store.lastSeq('docs')).toBe(3);
        expect(await store.append('docs', bytesOf('four'), { idempotencyKey: 'batch-4' })).toEqual({ seq: 4 });
      });
    });

    describe('manifest pointer and lease', () => {
      it('swaps the pointer only from the expected version, and only forward', async () => {
        const store = await openStore();
        expect(await store.getPointer('docs')).toBeNull();
        expect(await store.casPointer('docs', 1, { version: 2, key: 'm/2' })).toBe(false);
        expect(await store.casPointer('docs', null, { version: 1, key: 'm/1' })).toBe(true);
        expect(await store.casPointer('docs', null, { version: 1, key: 'm/1b' })).toBe(false);
        expect(await store.casPointer('docs', 1, { version: 2, key: 'm/2' })).toBe(true);
        await expect(store.casPointer('docs', 2, { version: 2, key: 'm/2b' })).rejects.toMatchObject({
          kind: 'invalid',
          message: 'manifest version must increase: collection=docs current=2 next=2',
        });
        const reopened = await reopen(store);
        expect(await reopened.getPointer('docs')).toEqual({ version: 2, key: 'm/2' });
      });

      it('fences a deposed indexer: its commit with a stale epoch is refused', async () => {
        const store = await openStore();
        const first = await store.acquireLease('docs', 'indexer-a', 1);
        expect(first).toEqual({ epoch: 1 });
        await new Promise((resolve) => setTimeout(resolve, 5)); // a's lease expires
        const second = await store.acquireLease('docs', 'indexer-b', 60_000);
        expect(second).toEqual({ epoch: 2 });
        await expect(
          store.casPointer('docs', null, { version: 1, key: 'm/a' }, { epoch: first.epoch }),
        ).rejects.toMatchObject({ kind: 'conflict', message: 'stale lease epoch: collection=docs epoch=1 current=2' });
        expect(await store.getPointer('docs')).toBeNull();
        expect(await store.casPointer('docs', null, { version: 1, key: 'm/b' }, { epoch: second.epoch })).toBe(true);
      });

      it('refuses a held lease, renews it for its holder, and hands it on after release', async () => {
        let store = await openStore();
        expect(await store.acquireLease('docs', 'a', 60_000)).toEqual({ epoch: 1 });
        expect(await store.acquireLease('docs', 'a', 60_000)).toEqual({ epoch: 1 });
        await expect(store.acquireLease('docs', 'b', 60_000)).rejects.toMatchObject({
          kind: 'conflict',
          message: expect.stringMatching(/^lease is held: collection=docs owner=a epoch=1 expiresInMs=\d+$/),
        });
        await store.releaseLease('docs', 'a', 1);
        store = await reopen(store);
        expect(await store.acquireLease('docs', 'b', 60_000)).toEqual({ epoch: 2 });
        await expect(store.acquireLease('docs', 'b', 0)).rejects.toMatchObject({
          kind: 'invalid',
          message: `invalid lease ttl: ttlMs=0 expected=1..${limits.leaseTtlMsMax}`,
        });
      });
    });

    describe('collection catalog', () => {
      it('creates, lists, refuses duplicates, and drops collections', async () => {
        const store = await openStore();
        await store.putCollectionConfig('docs', '{"dimension":3}', { ifAbsent: true });
        await store.putCollectionConfig('alpha', '{"dimension":8}', { ifAbsent: true });
        await expect(store.putCollectionConfig('docs', '{"dimension":4}', { ifAbsent: true })).rejects.toMatchObject({
          kind: 'conflict',
          message: 'collection already exists: name=docs',
        });
        await expect(store.putCollectionConfig('bad', '{nope', { ifAbsent: true })).rejects.toMatchObject({
          kind: 'invalid',
          message: 'collection config is not JSON: name=bad',
        });
        await store.append('scratch', bytesOf('wal only, no config'));
        expect(await store.listCollections()).toEqual(['alpha', 'docs']);
        expect(await store.getCollectionConfig('docs')).toBe('{"dimension":3}');
        expect(await store.getCollectionConfig('missing')).toBeNull();

        await store.append('docs', bytesOf('x'));
        await store.casPointer('docs', null, { version: 1, key: 'm/1' });
        const lease = await store.acquireLease('docs', 'indexer', 60_000);
        expect(await store.dropCollection('docs')).toBe(true);
        expect(await store.dropCollection('docs')).toBe(false);
        expect(await store.listCollections()).toEqual(['alpha']);

        // A new incarnation starts afresh, and the old indexer stays fenced.
        await store.putCollectionConfig('docs', '{"dimension":5}', { ifAbsent: true });
        expect(await store.getPointer('docs')).toBeNull();
        expect(await store.lastSeq('docs')).toBe(0);
        expect(await store.append('docs', bytesOf('y'))).toEqual({ seq: 1 });
        await expect(
          store.casPointer('docs', null, { version: 1, key: 'm/old' }, { epoch: lease.epoch }),
        ).rejects.toMatchObject({ kind: 'conflict', message: 'stale lease epoch: collection=docs epoch=1 current=2' });
        expect(await store.acquireLease('docs', 'indexer-2', 60_000)).toEqual({ epoch: 3 });
      });
    });
  });
}
