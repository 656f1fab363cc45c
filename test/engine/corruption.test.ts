// Corruption at rest (DESIGN §5, docs/format/{segment,manifest,wal}.md): a
// flipped byte in a segment, a manifest or a WAL record is a `data` error
// naming the file — never a wrong answer. Restoring the byte restores the data.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HyperspaceDB, LocalLogStore } from '../../engine/index.ts';
import { expectError, temporaryDirectory, vectorOf } from './engine-helpers.ts';

const sectionNames = ['', 'index', 'ids', 'idOrder', 'seqs', 'metadata', 'leaves', 'buckets'];

async function populated(): Promise<{ dir: string; expected: unknown }> {
  const dir = await temporaryDirectory();
  const db = await HyperspaceDB.open(dir, { indexer: false });
  const c = await db.createCollection('docs', { dimension: 8, metric: 'l2' });
  await c.upsert(Array.from({ length: 200 }, (_, i) => ({ id: `p${i}`, vector: vectorOf(`p${i}`, 8), metadata: { i, tag: i % 2 ? 'odd' : 'even' } })));
  await c.flush();
  // Three WAL records after the manifest, each its own group commit.
  for (let i = 0; i < 3; i++) await c.upsert([{ id: `t${i}`, vector: vectorOf(`t${i}`, 8) }]);
  const expected = await answers(db);
  await db.close();
  return { dir, expected };
}

async function answers(db: HyperspaceDB): Promise<unknown> {
  const c = db.collection('docs');
  return {
    count: await c.count(),
    odd: await c.count({ filter: { tag: 'odd' } }),
    hits: (await c.search(vectorOf('p7', 8), { k: 5, include: ['metadata'] })).hits,
    t2: await c.get('t2'),
  };
}

async function flipped(path: string, offset: number, check: () => Promise<unknown>): Promise<void> {
  const bytes = await readFile(path);
  const original = bytes[offset];
  bytes[offset] ^= 0x5a;
  await writeFile(path, bytes);
  try {
    await check();
  } finally {
    bytes[offset] = original;
    await writeFile(path, bytes);
  }
}

async function expectIntact(dir: string, expected: unknown): Promise<void> {
  const db = await HyperspaceDB.open(dir, { indexer: false });
  expect(await answers(db)).toEqual(expected);
  await db.close();
}

describe('corruption', () => {
  it('a flipped byte in any section of a segment fails open with a data error naming the segment', async () => {
    const { dir, expected } = await populated();
    const segments = join(dir, 'objects/collections/docs/segments');
    const [name] = await readdir(segments);
    const key = `collections/docs/segments/${name}`;
    const path = join(segments, name);
    const view = new DataView((await readFile(path)).buffer);
    const sections = Array.from({ length: view.getUint16(18, true) }, (_, i) => ({
      name: sectionNames[view.getUint32(128 + 24 * i, true)],
      offset: Number(view.getBigUint64(128 + 24 * i + 8, true)),
      length: Number(view.getBigUint64(128 + 24 * i + 16, true)),
    }));
    // File order (docs/format/segment.md): what a partial open reads first; no clusters section under 4096 records.
    expect(sections.map((s) => s.name)).toEqual(['ids', 'idOrder', 'seqs', 'metadata', 'buckets', 'index', 'leaves']);

    await flipped(path, 12, () => expectError(() => HyperspaceDB.open(dir), 'data', `segment header checksum mismatch: file=${key}`));
    await flipped(path, 128 + 24 + 8, () => expectError(() => HyperspaceDB.open(dir), 'data', `segment header checksum mismatch: file=${key}`));
    await flipped(path, 0, () => expectError(() => HyperspaceDB.open(dir), 'data', `segment bad magic: file=${key}`));
    for (const s of sections) {
      for (const at of [s.offset, s.offset + (s.length >> 1), s.offset + s.length - 1]) {
        await flipped(path, at, () => expectError(() => HyperspaceDB.open(dir), 'data', `segment section ${s.name} checksum mismatch: file=${key}`));
      }
    }
    const whole = await readFile(path);
    await writeFile(path, whole.subarray(0, whole.length - 100));
    await expectError(() => HyperspaceDB.open(dir), 'data', `segment section leaves out of bounds: file=${key}`); // the last section
    await writeFile(path, whole);
    await expectIntact(dir, expected);
  });

  it('a flipped byte in the current manifest fails open with a data error naming the manifest', async () => {
    const { dir, expected } = await populated();
    const manifests = join(dir, 'objects/collections/docs/manifests');
    const [name] = await readdir(manifests);
    const key = `collections/docs/manifests/${name}`;
    const path = join(manifests, name);
    const text = await readFile(path, 'utf8');
    // In a value (still JSON: the checksum catches it) and in the syntax.
    const inValue = text.indexOf('"walSeq":') + '"walSeq":'.length;
    await flipped(path, inValue, () => expectError(() => HyperspaceDB.open(dir), 'data', `manifest is not valid JSON: file=${key}`));
    const inDigit = text.indexOf('"count":') + '"count":'.length;
    const file = await readFile(path);
    file[inDigit] = file[inDigit] === 0x31 ? 0x32 : 0x31; // another digit: valid JSON, wrong count
    await writeFile(path, file);
    await expectError(() => HyperspaceDB.open(dir), 'data', `manifest checksum mismatch: file=${key}`);
    await writeFile(path, text);
    const inChecksum = text.indexOf('"checksum":"') + '"checksum":"'.length;
    await flipped(path, inChecksum, () => expectError(() => HyperspaceDB.open(dir), 'data', `manifest checksum mismatch: file=${key}`));
    await flipped(path, 0, () => expectError(() => HyperspaceDB.open(dir), 'data', `manifest is not valid JSON: file=${key}`));
    await expectIntact(dir, expected);
  });

  it('a flipped byte in a WAL record followed by later records fails open with a data error naming the WAL file', async () => {
    const { dir, expected } = await populated();
    const wal = join(dir, 'log/collections/docs/wal');
    const names = (await readdir(wal)).filter((n) => n.endsWith('.log'));
    const path = join(wal, names[names.length - 1]);
    const bytes = await readFile(path);
    // Records after the 32-byte header: length u32 at +0 counts the bytes after +16... find the first record's payload.
    const first = 32, length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(first, true);
    expect(first + 16 + length).toBeLessThan(bytes.length); // more records follow: this is not a torn tail
    for (const at of [first + 4, first + 8, first + 40, first + 16 + length - 1]) {
      await flipped(path, at, () => expectError(() => HyperspaceDB.open(dir), 'data', new RegExp(`^wal record (checksum mismatch|truncated): file=${escape(path)} offset=${first}$`)));
    }
    await expectIntact(dir, expected);
  });

  it('a WAL record whose checksum holds but whose batch cannot be decoded is a data error naming the record', async () => {
    const { dir } = await populated();
    const log = await LocalLogStore.open(join(dir, 'log'));
    const { seq } = await log.append('docs', new Uint8Array([1, 1, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0]));
    await log.close();
    await expectError(() => HyperspaceDB.open(dir), 'data', `wal batch undecodable: collection=docs seq=${seq}: truncated vectors`);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
