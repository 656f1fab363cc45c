import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { limits } from '../../../engine/limits.ts';
import { crc32c } from '../../../engine/stores/crc32c.ts';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import { encodeRecordHead, recordHeaderBytes, segmentFileName, segmentHeaderBytes } from '../../../engine/stores/wal-format.ts';
import { bytesOf, temporaryDirectory, textOf } from './temporary-directory.ts';

const mutableLimits = limits as { -readonly [K in keyof typeof limits]: number };
const defaultSegmentBytes = limits.walSegmentBytesMax;
const open: LocalLogStore[] = [];

afterEach(async () => {
  mutableLimits.walSegmentBytesMax = defaultSegmentBytes;
  for (const store of open.splice(0)) await store.close();
});

async function openStore(directory?: string) {
  const store = await LocalLogStore.open(directory ?? (await temporaryDirectory()));
  open.push(store);
  return store;
}

async function reopen(store: LocalLogStore) {
  await store.close();
  return openStore(store.directory);
}

function walDirectory(store: LocalLogStore, collection: string) {
  return join(store.directory, 'collections', collection, 'wal');
}

describe('WAL append and read', () => {
  it('assigns dense sequence numbers to 200 concurrent appends with one group commit', async () => {
    const store = await openStore();
    const payloads = Array.from({ length: 200 }, (_, i) => bytesOf(`record ${i}`));
    const results = await Promise.all(payloads.map((payload) => store.append('docs', payload)));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(store.stats.appends).toBe(200);
    expect(store.stats.groupCommits).toBe(1);
    // One fdatasync for the group, plus creating the segment file and its
    // directories (file fsync, directory fsyncs): far fewer than 200.
    expect(store.stats.fsyncs).toBeLessThanOrEqual(8);
    expect(await store.lastSeq('docs')).toBe(200);

    const records = await store.read('docs', 1);
    expect(records.map((r) => textOf(r.payload))).toEqual(payloads.map(textOf));
    expect(records.every((r) => Math.abs(r.appendedAtMs - Date.now()) < 60_000)).toBe(true);

    // Appends during an in-flight group commit form the next group.
    const more = await Promise.all(Array.from({ length: 50 }, () => store.append('docs', bytesOf('m'))));
    expect(more.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 201 + i));
    expect(store.stats.groupCommits).toBeLessThanOrEqual(3);
  });

  it('writes a group of more records than one writev takes buffers (IOV_MAX 1024)', async () => {
    let store = await openStore();
    const results = await Promise.all(Array.from({ length: 3000 }, (_, i) => store.append('docs', bytesOf(`r${i}`))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    store = await reopen(store);
    const records = await store.read('docs', 2990);
    expect(records.map((r) => textOf(r.payload))).toEqual(Array.from({ length: 11 }, (_, i) => `r${2989 + i}`));
  });

  it('fails every append after a failed write until reopened, then recovers', async () => {
    let store = await openStore();
    await store.append('docs', bytesOf('before'));
    // Pull the file out from under the WAL: the next group write fails.
    const wal = await (store as unknown as { wal(c: string): Promise<{ active: { close(): Promise<void> } }> }).wal('docs');
    await wal.active.close();
    const failed = await Promise.allSettled([store.append('docs', bytesOf('a')), store.append('docs', bytesOf('b'))]);
    for (const result of failed) {
      expect(result).toMatchObject({
        status: 'rejected',
        reason: { kind: 'unavailable', message: expect.stringMatching(/^wal write failed, outcome unknown, reopen the store: collection=docs: /) },
      });
    }
    await expect(store.append('docs', bytesOf('c'))).rejects.toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(/^wal failed after an I\/O error, reopen the store: collection=docs: /),
    });
    store = await reopen(store);
    expect(await store.append('docs', bytesOf('after'))).toEqual({ seq: 2 });
  });

  it('keeps at most walOpenFilesMax segment files open across collections', async () => {
    const openFilesMax = limits.walOpenFilesMax;
    mutableLimits.walOpenFilesMax = 2;
    try {
      const store = await openStore();
      const names = ['c0', 'c1', 'c2', 'c3', 'c4'];
      for (const round of [1, 2, 3]) {
        for (const name of names) {
          expect(await store.append(name, bytesOf(`${name}-${round}`))).toEqual({ seq: round });
          expect(store.stats.openFiles).toBeLessThanOrEqual(2);
        }
      }
      // Concurrent appends to all of them: busy WALs keep their files until idle.
      await Promise.all(names.map((name) => store.append(name, bytesOf(`${name}-4`))));
      await store.append('c0', bytesOf('c0-5'));
      expect(store.stats.openFiles).toBeLessThanOrEqual(2);
      for (const name of names) {
        expect((await store.read(name, 1)).map((r) => textOf(r.payload))).toEqual(
          [1, 2, 3, 4].map((round) => `${name}-${round}`).concat(name === 'c0' ? ['c0-5'] : []),
        );
      }
    } finally {
      mutableLimits.walOpenFilesMax = openFilesMax;
    }
  });

  it('pushes back with overloaded when the append queue is full', async () => {
    const store = await openStore();
    const queueBytes = limits.walAppendQueueBytesMax;
    mutableLimits.walAppendQueueBytesMax = 1000;
    try {
      const first = store.append('docs', new Uint8Array(600));
      await expect(store.append('docs', new Uint8Array(600))).rejects.toMatchObject({
        kind: 'overloaded',
        message: 'wal append queue is full: collection=docs queuedBytes=600 max=1000',
      });
      expect(await first).toEqual({ seq: 1 });
      expect(await store.append('docs', new Uint8Array(600))).toEqual({ seq: 2 });
    } finally {
      mutableLimits.walAppendQueueBytesMax = queueBytes;
    }
  });

  it('reads ranges bounded by limit and bytes, and keeps collections apart', async () => {
    const store = await openStore();
    for (let i = 1; i <= 10; i++) await store.append('a', bytesOf(`a${i}`.padEnd(100, '.')));
    await store.append('b', bytesOf('b1'));
    expect((await store.read('a', 4, { limit: 3 })).map((r) => r.seq)).toEqual([4, 5, 6]);
    expect((await store.read('a', 9)).map((r) => r.seq)).toEqual([9, 10]);
    expect(await store.read('a', 11)).toEqual([]);
    // Each record is 136 bytes framed: 300 bytes hold two of them.
    expect((await store.read('a', 1, { bytesMax: 300 })).map((r) => r.seq)).toEqual([1, 2]);
    // At least one record, however small the byte budget.
    expect((await store.read('a', 5, { bytesMax: 1 })).map((r) => r.seq)).toEqual([5]);
    expect((await store.read('b', 1)).map((r) => textOf(r.payload))).toEqual(['b1']);
    expect(await store.lastSeq('never-written')).toBe(0);
    expect(await store.read('never-written', 1)).toEqual([]);
    await expect(store.read('a', 0)).rejects.toMatchObject({
      kind: 'invalid',
      message: 'invalid fromSeq: got=0 expected=integer>=1',
    });
    await expect(store.read('a', 1, { limit: 0 })).rejects.toMatchObject({
      kind: 'invalid',
      message: 'invalid read limit: got=0 expected=integer>=1',
    });
    await expect(store.append('../etc', bytesOf('x'))).rejects.toMatchObject({
      kind: 'invalid',
      message: 'invalid collection name: name="../etc" expected=[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}',
    });
  });

  it('rolls segment files at the size bound and reads across them after reopen', async () => {
    mutableLimits.walSegmentBytesMax = 1000;
    let store = await openStore();
    for (let i = 1; i <= 30; i++) await store.append('docs', bytesOf(`payload-${i}`.padEnd(200, '-')));
    const files = (await readdir(walDirectory(store, 'docs'))).filter((name) => name.endsWith('.log'));
    expect(files.length).toBeGreaterThan(5);
    expect(files[0]).toBe(segmentFileName(1));
    store = await reopen(store);
    const records = await store.read('docs', 3, { limit: 25 });
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 3));
    expect(textOf(records[0].payload)).toBe('payload-3'.padEnd(200, '-'));
    expect((await store.append('docs', bytesOf('next'))).seq).toBe(31);
  });

  it('refuses oversized payloads and bad idempotency keys', async () => {
    const store = await openStore();
    await expect(store.append('docs', new Uint8Array(limits.walRecordBytesMax + 1))).rejects.toMatchObject({
      kind: 'too_large',
      message: `wal record too large: collection=docs bytes=${limits.walRecordBytesMax + 1} max=${limits.walRecordBytesMax}`,
    });
    await expect(store.append('docs', bytesOf('x'), { idempotencyKey: 'k'.repeat(257) })).rejects.toMatchObject({
      kind: 'invalid',
      message: 'invalid idempotency key: collection=docs bytes=257 expected=1..256',
    });
  });
});

describe('WAL idempotency', () => {
  it('remembers keys of truncated and deleted segments across reopen', async () => {
    mutableLimits.walSegmentBytesMax = 300;
    let store = await openStore();
    for (let i = 1; i <= 10; i++) {
      await store.append('docs', bytesOf(`p${i}`.padEnd(100)), { idempotencyKey: `key-${i}` });
    }
    await store.truncateBefore('docs', 9);
    expect(await readdir(walDirectory(store, 'docs'))).not.toContain(segmentFileName(1));
    store = await reopen(store);
    expect(await store.append('docs', bytesOf('p2'.padEnd(100)), { idempotencyKey: 'key-2' })).toEqual({ seq: 2 });
    expect(await store.append('docs', bytesOf('p10'.padEnd(100)), { idempotencyKey: 'key-10' })).toEqual({ seq: 10 });
    expect(await store.lastSeq('docs')).toBe(10);
  });
});

describe('WAL idempotency window', () => {
  it('forgets keys older than the window: a late retry is a new append', async () => {
    const windowMs = limits.walIdempotencyWindowMs;
    mutableLimits.walIdempotencyWindowMs = 20;
    try {
      const store = await openStore();
      expect(await store.append('docs', bytesOf('a'), { idempotencyKey: 'k' })).toEqual({ seq: 1 });
      expect(await store.append('docs', bytesOf('a'), { idempotencyKey: 'k' })).toEqual({ seq: 1 });
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(await store.append('docs', bytesOf('a'), { idempotencyKey: 'k' })).toEqual({ seq: 2 });
    } finally {
      mutableLimits.walIdempotencyWindowMs = windowMs;
    }
  });
});

describe('WAL recovery', () => {
  async function storeWithRecords(count: number) {
    const store = await openStore();
    for (let i = 1; i <= count; i++) await store.append('docs', bytesOf(`record-${i}`));
    return store;
  }

  it('cuts off a torn record at the end of the last segment', async () => {
    let store = await storeWithRecords(5);
    const path = join(walDirectory(store, 'docs'), segmentFileName(1));
    const sizeBefore = (await stat(path)).size;
    await store.close();
    // A crash mid-write: only the first 20 bytes of record 6's frame hit the disk.
    const payload = bytesOf('record-6');
    const head = encodeRecordHead({ seq: 6, appendedAtMs: Date.now(), groupOffset: 0, key: null, payload, payloadCrc: crc32c(payload) });
    await appendFile(path, head.subarray(0, 20));
    store = await openStore(store.directory);
    expect(await store.lastSeq('docs')).toBe(5);
    expect(store.stats.tornTailBytesTruncated).toBe(20);
    expect((await stat(path)).size).toBe(sizeBefore);
    expect(await store.append('docs', bytesOf('record-6'))).toEqual({ seq: 6 });
    expect((await store.read('docs', 1)).map((r) => textOf(r.payload))).toEqual(
      Array.from({ length: 6 }, (_, i) => `record-${i + 1}`),
    );
  });

  it('cuts off a whole unfinished group whose records are garbled', async () => {
    let store = await storeWithRecords(3);
    const path = join(walDirectory(store, 'docs'), segmentFileName(1));
    await store.close();
    // Records 4 and 5 of one group, fully sized, but 4's bytes never landed.
    const frames: Uint8Array[] = [];
    for (const [seq, groupOffset] of [[4, 0], [5, 1]]) {
      const payload = bytesOf(`record-${seq}`);
      frames.push(encodeRecordHead({ seq, appendedAtMs: 1, groupOffset, key: null, payload, payloadCrc: crc32c(payload) }), payload);
    }
    frames[1] = new Uint8Array(frames[1].length); // zeros where record 4's payload should be
    await appendFile(path, Buffer.concat(frames));
    store = await openStore(store.directory);
    expect(await store.lastSeq('docs')).toBe(3);
  });

  it('reports a checksum mismatch before the tail as corruption, naming file and offset', async () => {
    let store = await storeWithRecords(5);
    const path = join(walDirectory(store, 'docs'), segmentFileName(1));
    await store.close();
    const bytes = await readFile(path);
    // Every record-N frame is a header and 8 bytes; flip a payload byte of record 2.
    const offset = segmentHeaderBytes + (recordHeaderBytes + 8);
    bytes[offset + recordHeaderBytes + 3] ^= 0xff;
    await writeFile(path, bytes);
    store = await openStore(store.directory);
    const message = `wal record checksum mismatch: file=${path} offset=${offset}`;
    await expect(store.read('docs', 1)).rejects.toMatchObject({ kind: 'data', message });
    await expect(store.append('docs', bytesOf('x'))).rejects.toMatchObject({ kind: 'data', message });
    // Other collections keep working.
    expect(await store.append('other', bytesOf('x'))).toEqual({ seq: 1 });
  });

  it('reports damage in a segment that is not the last as corruption', async () => {
    mutableLimits.walSegmentBytesMax = 100;
    let store = await storeWithRecords(6);
    const files = (await readdir(walDirectory(store, 'docs'))).filter((name) => name.endsWith('.log'));
    expect(files.length).toBeGreaterThan(1);
    const path = join(walDirectory(store, 'docs'), files[0]);
    await store.close();
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 3));
    store = await openStore(store.directory);
    await expect(store.lastSeq('docs')).rejects.toMatchObject({
      kind: 'data',
      message: `wal record truncated: file=${path} offset=${segmentHeaderBytes + recordHeaderBytes + 8}`,
    });
  });

  it('detects corruption when reading back a record damaged after recovery', async () => {
    const store = await storeWithRecords(3);
    const path = join(walDirectory(store, 'docs'), segmentFileName(1));
    const bytes = await readFile(path);
    const offset = segmentHeaderBytes + 2 * (recordHeaderBytes + 8);
    bytes[offset + recordHeaderBytes] ^= 1;
    await writeFile(path, bytes);
    await expect(store.read('docs', 2)).rejects.toMatchObject({
      kind: 'data',
      message: `wal record checksum mismatch: file=${path} offset=${offset}`,
    });
  });
});

describe('WAL truncation', () => {
  it('drops records up to a seq, deletes whole segments, and keeps the sequence going', async () => {
    mutableLimits.walSegmentBytesMax = 200;
    let store = await openStore();
    for (let i = 1; i <= 20; i++) await store.append('docs', bytesOf(`r${i}`.padEnd(60)));
    const before = (await readdir(walDirectory(store, 'docs'))).filter((n) => n.endsWith('.log'));
    await store.truncateBefore('docs', 12);
    const after = (await readdir(walDirectory(store, 'docs'))).filter((n) => n.endsWith('.log'));
    expect(after.length).toBeLessThan(before.length);
    await expect(store.read('docs', 12)).rejects.toMatchObject({
      kind: 'not_found',
      message: 'wal records already truncated: collection=docs fromSeq=12 truncatedThroughSeq=12',
    });
    expect((await store.read('docs', 13)).map((r) => r.seq)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
    await store.truncateBefore('docs', 5); // lower than the watermark: no-op
    await expect(store.truncateBefore('docs', 21)).rejects.toMatchObject({
      kind: 'invalid',
      message: 'cannot truncate past the last sequence: collection=docs seq=21 lastSeq=20',
    });
    // Everything truncated: the last seq still survives a reopen.
    await store.truncateBefore('docs', 20);
    store = await reopen(store);
    expect(await store.lastSeq('docs')).toBe(20);
    expect(await store.read('docs', 21)).toEqual([]);
    await expect(store.read('docs', 20)).rejects.toMatchObject({ kind: 'not_found' });
    expect(await store.append('docs', bytesOf('r21'))).toEqual({ seq: 21 });
    expect((await store.read('docs', 21)).map((r) => textOf(r.payload))).toEqual(['r21']);
  });

  it('finishes a truncation that crashed before deleting its segments', async () => {
    mutableLimits.walSegmentBytesMax = 200;
    let store = await openStore();
    for (let i = 1; i <= 10; i++) await store.append('docs', bytesOf(`r${i}`.padEnd(60)));
    const first = join(walDirectory(store, 'docs'), segmentFileName(1));
    const firstBytes = await readFile(first);
    await store.truncateBefore('docs', 8);
    await store.close();
    await writeFile(first, firstBytes); // as if the crash came before the unlink
    store = await openStore(store.directory);
    expect((await store.read('docs', 9)).map((r) => r.seq)).toEqual([9, 10]);
    await expect(stat(first)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('local record files', () => {
  it('drops a collection by moving its directory to trash and deleting it', async () => {
    let store = await openStore();
    await store.putCollectionConfig('docs', '{}', { ifAbsent: true });
    await store.append('docs', bytesOf('x'));
    await store.acquireLease('docs', 'indexer', 60_000);
    expect(await store.dropCollection('docs')).toBe(true);
    expect(await readdir(join(store.directory, 'collections'))).toEqual([]);
    expect(await readdir(join(store.directory, 'trash'))).toEqual([]);
    expect(await readdir(join(store.directory, 'leases'))).toEqual(['docs']);
    store = await reopen(store);
    expect(await store.lastSeq('docs')).toBe(0);
  });

  it('detects a damaged record file', async () => {
    const store = await openStore();
    await store.casPointer('docs', null, { version: 1, key: 'm/1' });
    const path = join(store.directory, 'collections', 'docs', 'pointer');
    const bytes = await readFile(path);
    bytes[bytes.length - 2] ^= 0x20;
    await writeFile(path, bytes);
    await expect(store.getPointer('docs')).rejects.toMatchObject({
      kind: 'data',
      message: `record file checksum mismatch: file=${path}`,
    });
  });
});
