// The indexer (DESIGN §5): a background task folding the tail by size or age
// and merging segments, fenced by the lease epoch so that a deposed indexer
// can never commit a manifest.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HyperspaceDB, LocalLogStore, LocalObjectStore, type Collection } from '../../engine/index.ts';
import { FaultyLogStore } from '../../engine/stores/faulty.ts';
import { expectError, temporaryDirectory, vectorOf } from './engine-helpers.ts';

async function sharedStores() {
  const dir = await temporaryDirectory();
  const log = await LocalLogStore.open(join(dir, 'log'));
  const objects = await LocalObjectStore.open(join(dir, 'objects'));
  return { dir, log, objects };
}

const points = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vectorOf(`p${from + i}`, 8) }));

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('two indexers on one collection', () => {
  it('lets no stale epoch commit: neither a flush nor a compaction', async () => {
    const { log, objects } = await sharedStores();
    const first = await HyperspaceDB.open({ log, objects }, { indexer: false, owner: 'indexer-a' });
    const a = await first.createCollection('docs', { dimension: 8, metric: 'l2' });
    for (let s = 0; s < 2; s++) {
      await a.upsert(points(s * 50, 50));
      await a.flush();
    }
    await a.delete(['p1', 'p2']);
    const staleEpoch = a.epoch;
    const v2 = await log.getPointer('docs');
    expect(v2?.version).toBe(2);

    // While A holds the lease, B cannot take it.
    await expectError(() => HyperspaceDB.open({ log, objects }, { indexer: false, owner: 'indexer-b' }), 'conflict',
      new RegExp(`^lease is held: collection=docs owner=indexer-a epoch=${staleEpoch} expiresInMs=\\d+$`));
    // A's lease lapses (a paused process); B takes over with a newer epoch.
    await log.releaseLease('docs', 'indexer-a', staleEpoch);
    const second = await HyperspaceDB.open({ log, objects }, { indexer: false, owner: 'indexer-b' });
    const b = second.collection('docs');
    expect(b.epoch).toBeGreaterThan(staleEpoch);
    const stale = `stale lease epoch: collection=docs epoch=${staleEpoch} current=${b.epoch}`;

    // A's view is exactly at the pointer's version: only the epoch fence stops it.
    await a.upsert(points(100, 10));
    await expectError(() => a.flush(), 'conflict', stale);
    await expectError(() => a.compact(), 'conflict', stale);
    expect(await log.getPointer('docs')).toEqual(v2);
    expect(a.describe()).toMatchObject({ manifestVersion: 2, segments: 2 });

    // B commits; A stays fenced at any version.
    await b.flush();
    await b.compact();
    const v4 = await log.getPointer('docs');
    expect(v4?.version).toBe(4);
    expect(v4?.key).toContain(`-e${b.epoch.toString(16).padStart(8, '0')}.json`);
    await expectError(() => a.flush(), 'conflict', stale);
    expect(await log.getPointer('docs')).toEqual(v4);

    // A's writes were acknowledged into the WAL: nothing is lost, whoever indexes them.
    await first.close();
    await second.close();
    await log.releaseLease('docs', 'indexer-b', b.epoch);
    const third = await HyperspaceDB.open({ log, objects }, { indexer: false, owner: 'indexer-c' });
    const c = third.collection('docs');
    expect(await c.count()).toBe(108);
    expect(await c.get('p1')).toBeNull();
    expect(await c.get('p105')).not.toBeNull();
    await c.flush();
    expect(c.describe()).toMatchObject({ count: 108, tailLength: 0 });
    await third.close();
    await log.close();
  });
});

describe('a failed manifest commit', () => {
  it('is retried by the same indexer, and a lost reply to a CAS that applied is reconciled by reading the pointer back', async () => {
    const { log, objects } = await sharedStores();
    const faultyLog = new FaultyLogStore(log);
    const db = await HyperspaceDB.open({ log: faultyLog, objects }, { indexer: false });
    const c = await db.createCollection('docs', { dimension: 8, metric: 'l2' });
    await c.upsert(points(0, 30));

    faultyLog.failNext('casPointer');
    await expectError(() => c.flush(), 'unavailable', 'injected fault before apply: operation=casPointer');
    expect(await log.getPointer('docs')).toBeNull();
    expect(c.describe()).toMatchObject({ manifestVersion: 0, tailLength: 30, count: 30 });
    await c.flush(); // the same version and epoch again: the failed attempt's manifest is gone
    expect(c.describe()).toMatchObject({ manifestVersion: 1, tailLength: 0, count: 30 });

    await c.upsert(points(30, 30));
    faultyLog.applyThenFail('casPointer');
    await c.flush(); // committed; the reply was lost, the pointer says so
    expect(c.describe()).toMatchObject({ manifestVersion: 2, tailLength: 0, count: 60 });
    expect((await log.getPointer('docs'))?.version).toBe(2);

    await c.upsert(points(60, 30));
    faultyLog.applyThenFail('casPointer');
    faultyLog.failNext('getPointer');
    await expectError(() => c.flush(), 'unavailable', 'injected fault after apply: operation=casPointer');
    await db.close();
    // Unknown outcome, so the manifest was left in place: the pointer names it and reopening finds it.
    const again = await HyperspaceDB.open({ log, objects }, { indexer: false });
    expect(again.collection('docs').describe()).toMatchObject({ manifestVersion: 3, count: 90, tailLength: 0 });
    await again.close();
    await log.close();
  });
});

describe('background indexer', () => {
  it('folds the tail once it passes the size threshold', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: { tailRecordsFlush: 100, tailAgeMsFlush: 3_600_000, segmentsMax: 4 } });
    const c = await db.createCollection('docs', { dimension: 8, metric: 'l2' });
    await c.upsert(points(0, 60));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(c.describe()).toMatchObject({ tailLength: 60, segments: 0 });
    await c.upsert(points(60, 60));
    await until(() => c.describe().tailLength === 0, 'the size-triggered flush');
    expect(c.describe()).toMatchObject({ segments: 1, count: 120, indexedSeq: 2 });
    expect(db.lastIndexerError).toBeUndefined();
    await db.close();
  });

  it('folds the tail once its oldest entry passes the age threshold', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: { tailRecordsFlush: 1_000_000, tailAgeMsFlush: 150, segmentsMax: 4 } });
    const c = await db.createCollection('docs', { dimension: 8, metric: 'l2' });
    const started = Date.now();
    await c.upsert(points(0, 5));
    await until(() => c.describe().tailLength === 0, 'the age-triggered flush');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(c.describe()).toMatchObject({ segments: 1, count: 5 });
    await db.close();
  });

  it('merges segments as they pile up, keeping every record and the digest', async () => {
    const db = await HyperspaceDB.open(await temporaryDirectory(), { indexer: { tailRecordsFlush: 20, tailAgeMsFlush: 5, segmentsMax: 2 } });
    const c: Collection = await db.createCollection('docs', { dimension: 8, metric: 'l2' });
    let most = 0;
    for (let i = 0; i < 12; i++) {
      await c.upsert(points(i * 20, 20));
      await until(() => c.describe().tailLength === 0, 'a flush');
      most = Math.max(most, c.describe().segments);
    }
    await c.delete(['p0', 'p21']);
    await until(async () => c.describe().segments <= 4 && c.describe().tailLength === 0, 'compaction');
    expect(most).toBeGreaterThan(2);
    expect(await c.count()).toBe(238);
    expect(await c.get('p21')).toBeNull();
    const root = (await c.digest()).root;
    await c.compact();
    expect(c.describe().segments).toBe(1);
    expect((await c.digest()).root).toBe(root);
    expect(db.lastIndexerError).toBeUndefined();
    await db.close();
  });
});
