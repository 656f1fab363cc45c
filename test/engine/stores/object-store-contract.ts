// The ObjectStore contract: what every implementation (local directory,
// memory, S3, and later IndexedDB) must do the same way. Each implementation's
// test file calls describeObjectStoreContract.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LocalObjectStore } from '../../../engine/stores/local-object-store.ts';
import type { ObjectStore } from '../../../engine/stores/object-store.ts';
import { bytesOf, textOf } from './temporary-directory.ts';

export function describeObjectStoreContract(name: string, openStore: () => Promise<ObjectStore>): void {
  describe(name, () => {
    const local = (store: ObjectStore) => (name === 'LocalObjectStore' ? (store as LocalObjectStore) : null);

    it('stores an object and reads it back whole, by range, and by head', async () => {
      const store = await openStore();
      const key = 'collections/docs/segments/chunk_1-01J.hyp';
      await store.put(key, bytesOf('hello, hyperspace'));
      expect(textOf(await store.get(key))).toBe('hello, hyperspace');
      expect(textOf(await store.get(key, { offset: 7, length: 10 }))).toBe('hyperspace');
      expect(textOf(await store.get(key, { offset: 17, length: 0 }))).toBe('');
      expect(await store.head(key)).toEqual({ size: 17 });
      expect(await store.head('collections/docs/segments/missing.hyp')).toBeNull();
      expect(await store.head('collections/docs')).toBeNull();
      const onDisk = local(store);
      if (onDisk) expect(onDisk.localPath(key)).toBe(join(onDisk.root, key));
    });

    it('refuses a range past the end and a missing key with exact messages', async () => {
      const store = await openStore();
      await store.put('a/b', bytesOf('12345'));
      await expect(store.get('a/b', { offset: 3, length: 3 })).rejects.toMatchObject({
        kind: 'invalid',
        message: 'range out of bounds: key=a/b offset=3 length=3 size=5',
      });
      await expect(store.get('a/missing')).rejects.toMatchObject({
        kind: 'not_found',
        message: 'object not found: key=a/missing',
      });
      await expect(store.get('a')).rejects.toMatchObject({ kind: 'not_found', message: 'object not found: key=a' });
      await expect(store.get('a/missing', { offset: 0, length: 1 })).rejects.toMatchObject({
        kind: 'not_found',
        message: 'object not found: key=a/missing',
      });
    });

    it('keeps objects immutable: the same bytes again is fine, other bytes conflict', async () => {
      const store = await openStore();
      await store.put('m/v1', bytesOf('first'));
      await store.put('m/v1', bytesOf('first'));
      await expect(store.put('m/v1', bytesOf('second'))).rejects.toMatchObject({
        kind: 'conflict',
        message: 'object already exists with different content: key=m/v1 size=5 newSize=6',
      });
      expect(textOf(await store.get('m/v1'))).toBe('first');
      // Racing puts of one key: exactly one content wins, the loser conflicts.
      const results = await Promise.allSettled([store.put('m/v2', bytesOf('a')), store.put('m/v2', bytesOf('b'))]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(['a', 'b']).toContain(textOf(await store.get('m/v2')));
      // No temporary files left behind.
      const onDisk = local(store);
      if (onDisk) expect(await readdir(join(onDisk.root, '.tmp'))).toEqual([]);
    });

    it.runIf(name === 'LocalObjectStore')('refuses keys that a directory tree cannot hold next to each other', async () => {
      const store = await openStore();
      await store.put('a/b', bytesOf('x'));
      await expect(store.put('a/b/c', bytesOf('y'))).rejects.toMatchObject({
        kind: 'conflict',
        message: 'object key nests under an existing object: key=a/b/c',
      });
      await expect(store.put('a', bytesOf('y'))).rejects.toMatchObject({
        kind: 'conflict',
        message: 'object key is a prefix of other objects: key=a',
      });
    });

    it('lists keys by string prefix, sorted by UTF-8 bytes, and deletes', async () => {
      const store = await openStore();
      const keys = ['c/docs/seg/b', 'c/docs/seg/a', 'c/docs/man/1', 'c/other/x', 'c/docs/seg/\u{1F600}', 'c/docs/seg/\uFFFD'];
      for (const key of keys) await store.put(key, bytesOf(key));
      expect(await store.list('c/docs/seg/')).toEqual(['c/docs/seg/a', 'c/docs/seg/b', 'c/docs/seg/\uFFFD', 'c/docs/seg/\u{1F600}']);
      expect(await store.list('c/docs/s')).toEqual(await store.list('c/docs/seg/'));
      expect(await store.list('c/d')).toEqual(['c/docs/man/1', ...(await store.list('c/docs/seg/'))]);
      expect(await store.list('')).toHaveLength(keys.length);
      expect(await store.list('nothing/here')).toEqual([]);
      await store.delete('c/docs/seg/a');
      await store.delete('c/docs/seg/a'); // missing: no-op
      expect(await store.list('c/docs/seg/a')).toEqual([]);
      await expect(store.get('c/docs/seg/a')).rejects.toMatchObject({ kind: 'not_found' });
    });

    it('refuses keys that are not plain relative paths', async () => {
      const store = await openStore();
      const cases: [string, string][] = [
        ['', 'invalid object key: empty: key=""'],
        ['/etc/passwd', 'invalid object key: absolute path: key="/etc/passwd"'],
        ['a/../../b', 'invalid object key: relative path segment: key="a/../../b"'],
        ['a/./b', 'invalid object key: relative path segment: key="a/./b"'],
        ['a//b', 'invalid object key: empty path segment: key="a//b"'],
        ['a/b/', 'invalid object key: empty path segment: key="a/b/"'],
        ['a\\b', 'invalid object key: backslash: key="a\\\\b"'],
        ['a\u0000b', 'invalid object key: control character: key="a\\u0000b"'],
        ['.tmp/x', 'invalid object key: reserved prefix .tmp: key=".tmp/x"'],
        ['k'.repeat(1025), `invalid object key: longer than 1024 bytes: key="${'k'.repeat(1025)}"`],
      ];
      for (const [key, message] of cases) {
        await expect(store.put(key, bytesOf('x')), key).rejects.toMatchObject({ kind: 'invalid', message });
        await expect(store.get(key), key).rejects.toMatchObject({ kind: 'invalid', message });
      }
    });
  });
}
