// The worker's segment cache (functions/lambda/segment-cache.ts): segments are
// downloaded once, kept under a byte bound (least recently used go first),
// handed to the engine as files it maps, and a half-written file from a killed
// container is never taken for a segment.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryObjectStore } from '../../../engine/stores/memory-stores.ts';
import { SegmentCache } from '../../../functions/lambda/segment-cache.ts';

const directories: string[] = [];
afterEach(async () => {
  for (const d of directories.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup(bytesMax: number) {
  const directory = await mkdtemp(join(tmpdir(), 'hyperspace-segment-cache-'));
  directories.push(directory);
  const inner = new MemoryObjectStore();
  let gets = 0;
  const counting = Object.assign(Object.create(inner), { get: (key: string, range?: never) => { gets++; return inner.get(key, range); } });
  return { inner, cache: new SegmentCache(counting, { directory, bytesMax }), directory, gets: () => gets };
}

const segment = (n: number) => `collections/docs/segments/chunk_00000001-0${n}.hyp`;
const bytes = (size: number, fill: number) => new Uint8Array(size).fill(fill);

describe('segment cache', () => {
  it('downloads a segment once and serves it from disk afterwards, mapped', async () => {
    const { inner, cache, gets } = await setup(1000);
    await inner.put(segment(1), bytes(300, 1));
    expect(cache.localPath(segment(1))).toBeUndefined();
    expect(Uint8Array.from(await cache.get(segment(1)))).toEqual(bytes(300, 1));
    expect(Uint8Array.from(await cache.get(segment(1), { offset: 10, length: 5 }))).toEqual(bytes(5, 1));
    expect(cache.localPath(segment(1))).toMatch(/\.hyp$/);
    expect(gets()).toBe(1);
    expect(cache.describe()).toMatchObject({ files: 1, bytes: 300, downloads: 1 });
  });

  it('reads a range of a segment it does not hold from the store, without downloading it (a cold reader does not wait)', async () => {
    const { inner, cache, gets } = await setup(1000);
    await inner.put(segment(1), bytes(300, 4));
    expect(Uint8Array.from(await cache.get(segment(1), { offset: 290, length: 10 }))).toEqual(bytes(10, 4));
    expect(cache.describe()).toMatchObject({ files: 0, downloads: 0, rangedReads: 1 });
    expect(cache.partialOpenBytesMin).toBe(16 * 1024 * 1024);
    await cache.get(segment(1));
    await cache.get(segment(1), { offset: 0, length: 10 });
    expect(cache.describe()).toMatchObject({ files: 1, downloads: 1, rangedReads: 1 });
    expect(gets()).toBe(2);
  });

  it('downloads a large segment in parallel ranged parts and keeps it whole', async () => {
    const { inner, cache, gets } = await setup(64 * 1024 * 1024);
    const big = new Uint8Array(40 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
    await inner.put(segment(5), big);
    const got = await cache.get(segment(5));
    expect(got.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(big))).toBe(0);
    expect(gets()).toBe(3); // 16 + 16 + 8 MiB
    expect(cache.describe()).toMatchObject({ files: 1, downloads: 1 });
  });

  it('keeps what it holds under the byte bound, evicting the least recently used', async () => {
    const { inner, cache, directory } = await setup(700);
    for (const n of [1, 2, 3]) await inner.put(segment(n), bytes(300, n));
    await cache.get(segment(1));
    await cache.get(segment(2));
    await cache.get(segment(1)); // 1 is now the most recent
    await cache.get(segment(3));
    expect(cache.describe()).toMatchObject({ files: 2, bytes: 600, evictions: 1 });
    expect(cache.localPath(segment(2))).toBeUndefined();
    expect(cache.localPath(segment(1))).toBeDefined();
    expect(readdirSync(directory)).toHaveLength(2);
  });

  it('passes manifests and everything else through, and refuses a segment larger than the whole cache', async () => {
    const { inner, cache } = await setup(100);
    await inner.put('collections/docs/manifests/v000000000001-e00000001.json', bytes(500, 7));
    expect(Uint8Array.from(await cache.get('collections/docs/manifests/v000000000001-e00000001.json'))).toEqual(bytes(500, 7));
    expect(cache.describe().files).toBe(0);
    await inner.put(segment(9), bytes(200, 9));
    await expect(cache.get(segment(9))).rejects.toMatchObject({ kind: 'too_large' });
  });

  it('keeps the segment the indexer writes, and drops leftovers of a killed download at start', async () => {
    const { cache, directory, gets } = await setup(1000);
    await cache.put(segment(4), bytes(100, 4));
    expect(Uint8Array.from(await cache.get(segment(4)))).toEqual(bytes(100, 4));
    expect(gets()).toBe(0);
    writeFileSync(join(directory, 'partial.hyp.123.tmp'), bytes(10, 0));
    const again = new SegmentCache(new MemoryObjectStore(), { directory, bytesMax: 1000 });
    expect(existsSync(join(directory, 'partial.hyp.123.tmp'))).toBe(false);
    expect(again.localPath(segment(4))).toBeDefined();
  });
});
