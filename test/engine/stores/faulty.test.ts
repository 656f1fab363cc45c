import { describe, expect, it } from 'vitest';
import { FaultyLogStore, FaultyObjectStore } from '../../../engine/stores/faulty.ts';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import { LocalObjectStore } from '../../../engine/stores/local-object-store.ts';
import { HyperspaceError } from '../../../native/errors.ts';
import { bytesOf, temporaryDirectory, textOf } from './temporary-directory.ts';

describe('fault-injecting stores', () => {
  it('fails an object put before it applies, then lets the retry through', async () => {
    const store = new FaultyObjectStore(await LocalObjectStore.open(await temporaryDirectory()));
    store.failNext('put');
    await expect(store.put('a/b', bytesOf('x'))).rejects.toMatchObject({
      kind: 'unavailable',
      message: 'injected fault before apply: operation=put',
    });
    expect(await store.head('a/b')).toBeNull();
    await store.put('a/b', bytesOf('x'));
    expect(textOf(await store.get('a/b'))).toBe('x');
    expect(store.localPath?.('a/b')).toMatch(/a\/b$/);
    expect(store.calls.get('put')).toBe(2);
  });

  it('applies an object put and loses the reply; the retry of an immutable put is harmless', async () => {
    const store = new FaultyObjectStore(await LocalObjectStore.open(await temporaryDirectory()));
    store.applyThenFail('put');
    await expect(store.put('seg/1', bytesOf('segment'))).rejects.toMatchObject({ kind: 'unavailable' });
    expect(await store.head('seg/1')).toEqual({ size: 7 });
    await store.put('seg/1', bytesOf('segment'));
  });

  it('lets an ambiguous append be reconciled with its idempotency key', async () => {
    const inner = await LocalLogStore.open(await temporaryDirectory());
    const store = new FaultyLogStore(inner);
    try {
      store.applyThenFail('append', new HyperspaceError('deadline', 'reply lost'));
      const append = () => store.append('docs', bytesOf('batch'), { idempotencyKey: 'client-7' });
      await expect(append()).rejects.toMatchObject({ kind: 'deadline' });
      expect(await append()).toEqual({ seq: 1 });
      expect(await store.lastSeq('docs')).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('lets an ambiguous pointer CAS be reconciled by reading the pointer back', async () => {
    const store = new FaultyLogStore(await LocalLogStore.open(await temporaryDirectory()));
    try {
      store.applyThenFail('casPointer');
      const next = { version: 1, key: 'manifests/1' };
      await expect(store.casPointer('docs', null, next)).rejects.toMatchObject({ kind: 'unavailable' });
      // A blind retry would report failure although our write won: read back instead.
      expect(await store.casPointer('docs', null, next)).toBe(false);
      expect(await store.getPointer('docs')).toEqual(next);
      store.failNext('getPointer');
      await expect(store.getPointer('docs')).rejects.toMatchObject({
        message: 'injected fault before apply: operation=getPointer',
      });
    } finally {
      await store.close();
    }
  });
});
