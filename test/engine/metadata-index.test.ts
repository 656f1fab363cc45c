import { describe, expect, it } from 'vitest';
import { Bitset } from '../../engine/bitset.ts';
import { type FilterExpr, matches, parseFilter } from '../../engine/filter.ts';
import { buildMetadataIndex, MetadataIndex } from '../../engine/metadata-index.ts';
import type { Metadata } from '../../engine/validate.ts';
import { HyperspaceError } from '../../native/errors.ts';
import { rng } from '../helpers/random.ts';

describe('Bitset', () => {
  it('stores bit i in byte i >> 3 under mask 1 << (i & 7)', () => {
    const bits = Bitset.fromPositions(20, [0, 3, 8, 19]);
    expect(Array.from(bits.bytes)).toEqual([0b0000_1001, 0b0000_0001, 0b0000_1000]);
    expect(new Bitset(20, Uint8Array.from([0b0000_1001, 0b0000_0001, 0b1111_1000])).toPositions()).toEqual(
      Uint32Array.from([0, 3, 8, 19]), // bits past the size are dropped
    );
  });

  it('and, or, not, popcount and iteration agree with sets', () => {
    const random = rng(7);
    for (const size of [0, 1, 7, 8, 31, 32, 33, 100, 1000]) {
      const a = Array.from({ length: size }, (_, i) => i).filter(() => random() < 0.3);
      const b = Array.from({ length: size }, (_, i) => i).filter(() => random() < 0.6);
      const setB = new Set(b);
      const setA = new Set(a);
      const left = Bitset.fromPositions(size, a);
      const right = Bitset.fromPositions(size, b);
      expect([...left.clone().and(right)]).toEqual(a.filter((i) => setB.has(i)));
      expect([...left.clone().or(right)]).toEqual([...new Set([...a, ...b])].sort((x, y) => x - y));
      expect([...left.clone().not()]).toEqual(Array.from({ length: size }, (_, i) => i).filter((i) => !setA.has(i)));
      expect(left.popcount()).toBe(a.length);
      expect(Bitset.full(size).popcount()).toBe(size);
      expect(left.has(size)).toBe(false);
    }
  });

  it('guards positions and sizes', () => {
    expect(() => new Bitset(8).set(8)).toThrow('bit position 8 outside [0, 8)');
    expect(() => new Bitset(8).and(new Bitset(9))).toThrow('bitset sizes differ: 8 vs 9');
    expect(() => new Bitset(9, new Uint8Array(1))).toThrow('bitset of 9 bits needs 2 bytes, got 1');
  });
});

const movies: Metadata[] = [
  { year: 1995, genre: 'crime', tags: ['heist', 'la'], rating: 8.3, color: true },
  { year: 1979, genre: 'horror', tags: ['space'], rating: 8.5, color: true },
  { year: 1942, genre: 'drama', tags: ['war', 'romance', 'war'], rating: 8.5, color: false },
  { year: 2019, genre: 'drama', tags: [], rating: 8.5, color: true },
  { genre: 'drama' },
  {},
  { year: '2019', genre: ['drama', 'comedy'], 'é😀': -0.5 },
];

describe('MetadataIndex', () => {
  const index = MetadataIndex.build(movies);
  const positions = (filter: unknown) => Array.from(index.evaluate(parseFilter(filter)).toPositions());

  it('answers filters over positions', () => {
    expect(positions({ genre: 'drama' })).toEqual([2, 3, 4, 6]);
    expect(positions({ year: { $gte: 1979, $lt: 2000 } })).toEqual([0, 1]);
    expect(positions({ year: 2019 })).toEqual([3]);
    expect(positions({ year: '2019' })).toEqual([6]);
    expect(positions({ tags: 'war' })).toEqual([2]);
    expect(positions({ tags: { $nin: ['war', 'space'] } })).toEqual([0, 3, 4, 5, 6]);
    expect(positions({ color: false })).toEqual([2]);
    expect(positions({ rating: { $ne: 8.5 } })).toEqual([0, 4, 5, 6]);
    expect(positions({ 'é😀': { $lt: 0 } })).toEqual([6]);
    expect(positions({ $or: [{ genre: 'horror' }, { year: { $lt: 1950 } }] })).toEqual([1, 2]);
    expect(positions({ $not: { year: { $gte: 1990 } } })).toEqual([1, 2, 4, 5, 6]);
    expect(positions({ nothing: 'here' })).toEqual([]);
    expect(positions({})).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('estimates selectivity exactly for leaves', () => {
    expect(index.estimate(parseFilter({ genre: 'drama' }))).toBeCloseTo(4 / 7);
    expect(index.estimate(parseFilter({ rating: 8.5 }))).toBeCloseTo(3 / 7);
    expect(index.estimate(parseFilter({ year: { $lt: 2000 } }))).toBeCloseTo(3 / 7);
    expect(index.estimate(parseFilter({ color: true }))).toBeCloseTo(3 / 7);
    expect(index.estimate(parseFilter({ genre: 'drama', color: true }))).toBeCloseTo((4 / 7) * (3 / 7));
    expect(index.estimate(parseFilter({ missing: 1 }))).toBe(0);
    expect(index.estimate(parseFilter({}))).toBe(1);
  });

  it('returns each record’s metadata by position', () => {
    expect(index.recordCount).toBe(7);
    expect(index.fieldNames()).toEqual(['color', 'genre', 'rating', 'tags', 'year', 'é😀']);
    movies.forEach((metadata, position) => expect(index.metadataAt(position)).toEqual(metadata));
    expect(Object.is(index.metadataAt(6)['é😀'], -0.5)).toBe(true);
    expect(() => index.metadataAt(7)).toThrow('position 7 outside [0, 7)');
  });

  it('handles an empty segment and undefined metadata', () => {
    const empty = MetadataIndex.build([]);
    expect(empty.recordCount).toBe(0);
    expect(empty.evaluate(parseFilter({ a: { $ne: 1 } })).size).toBe(0);
    expect(empty.estimate(parseFilter({ a: 1 }))).toBe(0);
    const sparse = MetadataIndex.build([undefined, { a: 1 }]);
    expect(sparse.metadataAt(0)).toEqual({});
    expect(Array.from(sparse.evaluate(parseFilter({ a: { $ne: 1 } })).toPositions())).toEqual([0]);
  });

  it('opens from bytes at any offset and is deterministic', () => {
    const bytes = buildMetadataIndex(movies);
    expect(buildMetadataIndex(movies.map((m) => ({ ...m })))).toEqual(bytes);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const reopened = MetadataIndex.open(shifted.subarray(3));
    expect(Array.from(reopened.evaluate(parseFilter({ genre: 'drama' })).toPositions())).toEqual([2, 3, 4, 6]);
    expect(reopened.metadataAt(0)).toEqual(movies[0]);
    const pooled = Buffer.concat([Buffer.from([1]), bytes]).subarray(1); // a Node Buffer at an odd offset
    expect(MetadataIndex.open(pooled).estimate(parseFilter({ year: { $gt: 0 } }))).toBeCloseTo(4 / 7);
  });

  it('rejects corrupt bytes with data errors', () => {
    const bytes = buildMetadataIndex(movies);
    const corrupt = (mutate: (copy: Uint8Array, view: DataView) => void) => {
      const copy = bytes.slice();
      mutate(copy, new DataView(copy.buffer));
      try {
        const opened = MetadataIndex.open(copy);
        opened.evaluate(parseFilter({ $or: [{ genre: 'drama' }, { year: { $gt: 0 } }, { color: true }] }));
        opened.metadataAt(0);
      } catch (error) {
        expect(error).toBeInstanceOf(HyperspaceError);
        expect((error as HyperspaceError).kind).toBe('data');
        return (error as Error).message;
      }
      throw new Error('expected corruption to be detected');
    };
    expect(corrupt((copy) => (copy[0] = 0))).toBe('metadata index corrupt: bad magic');
    expect(corrupt((_, view) => view.setUint32(4, 2, true))).toBe('metadata index corrupt: unsupported version 2 (this build reads 1)');
    expect(corrupt((_, view) => view.setUint32(16, 1, true))).toBe(`metadata index corrupt: length ${bytes.length} but header says 1`);
    expect(corrupt((_, view) => view.setUint32(20, bytes.length, true))).toMatch(/^metadata index corrupt: field directory at/);
    // Point every field's postings and numbers somewhere absurd.
    expect(
      corrupt((_, view) => {
        const directory = view.getUint32(20, true);
        for (let field = 0; field < 6; field++) {
          for (const slot of [2, 4, 5, 6]) view.setUint32(directory + field * 32 + slot * 4, 0xffff_fff8, true);
        }
      }),
    ).toMatch(/^metadata index corrupt: .* outside the \d+-byte index or misaligned$/);
    expect(
      corrupt((copy, view) => {
        const storeOffsets = view.getUint32(24, true);
        view.setUint32(storeOffsets + 4, 3, true); // record 0's JSON cut short
        copy.fill(0x20, view.getUint32(28, true), view.getUint32(28, true) + 1);
      }),
    ).toBe('metadata index: unreadable metadata at position 0');
  });
});

// Format version 1, frozen: a reader must open these bytes forever, and the
// writer must keep producing them (docs/format/metadata-index.md).
const goldenRecords: Metadata[] = [
  { year: 1995, genre: 'crime', tags: ['heist', 'la'], color: true },
  {},
  { year: 2019, genre: 'drama', tags: ['la'], color: false },
];
const goldenV1 = [
  '48534d5801000000030000000400000008020000280000007801000088010000',
  '0000000000000000a8000000050000000000000000000000b0000000c0000000',
  '0000000000000000c900000005000000d0000000020000000000000000000000',
  '0000000000000000110100000400000018010000020000000000000000000000',
  '0000000000000000590100000400000000000000000000000000000000000000',
  '6001000002000000636f6c6f7200000001000000010000000400000000000000',
  '01000000010000000167656e72650000f000000005000000f800000001000000',
  '010100000500000008010000010000006372696d650000000100000001000000',
  '016472616d610000010000000100000004746167730000003801000005000000',
  '4001000001000000490100000200000050010000020000006865697374000000',
  '0100000001000000016c61000000000001000000020000000579656172000000',
  '00000000002c9f4000000000008c9f4000000000020000000000000040000000',
  '40000000790000007b22636f6c6f72223a747275652c2267656e7265223a2263',
  '72696d65222c2274616773223a5b226865697374222c226c61225d2c22796561',
  '72223a313939357d7b22636f6c6f72223a66616c73652c2267656e7265223a22',
  '6472616d61222c2274616773223a5b226c61225d2c2279656172223a32303139',
  '7d00000000000000',
].join('');

describe('MetadataIndex format version 1 golden bytes', () => {
  it('are what the writer produces', () => {
    expect(Buffer.from(buildMetadataIndex(goldenRecords)).toString('hex')).toBe(goldenV1);
  });

  it('open and answer queries', () => {
    const golden = MetadataIndex.open(Uint8Array.from(Buffer.from(goldenV1, 'hex')));
    expect(golden.fieldNames()).toEqual(['color', 'genre', 'tags', 'year']);
    expect(Array.from(golden.evaluate(parseFilter({ tags: 'la', year: { $gt: 2000 } })).toPositions())).toEqual([2]);
    expect(Array.from(golden.evaluate(parseFilter({ color: { $ne: false } })).toPositions())).toEqual([0, 1]);
    goldenRecords.forEach((metadata, position) => expect(golden.metadataAt(position)).toEqual(metadata));
  });
});

// ---------------------------------------------------------------- property test

const genres = ['drama', 'comedy', 'horror', 'crime', 'doc'];
const tagWords = ['a', 'b', 'c', 'war', 'space', 'é', '😀'];

function randomRecord(random: () => number): Metadata | undefined {
  if (random() < 0.05) return undefined;
  const metadata: Metadata = {};
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  if (random() < 0.8) metadata.year = random() < 0.9 ? 1990 + Math.floor(random() * 30) : String(1990 + Math.floor(random() * 30));
  if (random() < 0.8) metadata.genre = random() < 0.8 ? pick(genres) : [pick(genres), pick(genres)];
  if (random() < 0.7) metadata.tags = Array.from({ length: Math.floor(random() * 4) }, () => pick(tagWords));
  if (random() < 0.6) metadata.flag = random() < 0.5;
  if (random() < 0.6) metadata.score = Math.round((random() * 20 - 10) * 4) / 4 || 0; // validation stores -0 as 0
  if (random() < 0.1) metadata.flag = 'yes';
  return metadata;
}

function randomScalar(random: () => number): string | number | boolean {
  const roll = random();
  if (roll < 0.3) return 1990 + Math.floor(random() * 32);
  if (roll < 0.45) return Math.round((random() * 20 - 10) * 4) / 4;
  if (roll < 0.55) return random() < 0.5;
  if (roll < 0.65) return String(1990 + Math.floor(random() * 30));
  const words = [...genres, ...tagWords];
  return words[Math.floor(random() * words.length)]!;
}

function randomFilter(random: () => number, depth: number): Record<string, unknown> {
  const fields = ['year', 'genre', 'tags', 'flag', 'score', 'absent'];
  const field = fields[Math.floor(random() * fields.length)]!;
  const roll = random();
  if (depth < 3 && roll < 0.25) {
    const op = ['$and', '$or'][Math.floor(random() * 2)]!;
    return { [op]: Array.from({ length: 1 + Math.floor(random() * 3) }, () => randomFilter(random, depth + 1)) };
  }
  if (depth < 3 && roll < 0.32) return { $not: randomFilter(random, depth + 1) };
  const leafRoll = random();
  const list = () => Array.from({ length: Math.floor(random() * 4) }, () => randomScalar(random));
  const number = () => Math.round((random() * 40 - 10) * 4) / 4 + (random() < 0.5 ? 1995 : 0);
  if (leafRoll < 0.25) return { [field]: randomScalar(random) };
  if (leafRoll < 0.35) return { [field]: { $ne: randomScalar(random) } };
  if (leafRoll < 0.5) return { [field]: { $in: list() } };
  if (leafRoll < 0.6) return { [field]: { $nin: list() } };
  if (leafRoll < 0.9) {
    const range: Record<string, number> = {};
    if (random() < 0.7) range[random() < 0.5 ? '$gt' : '$gte'] = number();
    if (random() < 0.7 || Object.keys(range).length === 0) range[random() < 0.5 ? '$lt' : '$lte'] = number();
    return { [field]: range };
  }
  return { [field]: { $not: { $in: list() } } };
}

describe('MetadataIndex agrees with matches() on random data', () => {
  it('for a few hundred random segments and filters, before and after a byte round trip', () => {
    const random = rng(20_240_601);
    let nonTrivial = 0;
    for (let round = 0; round < 300; round++) {
      const recordCount = Math.floor(random() * (round % 10 === 0 ? 2000 : 120));
      const records = Array.from({ length: recordCount }, () => randomRecord(random));
      const built = MetadataIndex.build(records);
      const reopened = MetadataIndex.open(buildMetadataIndex(records).slice());
      for (let query = 0; query < 5; query++) {
        const filter = randomFilter(random, 0);
        const expr: FilterExpr = parseFilter(filter);
        const expected = records.flatMap((metadata, position) => (matches(expr, metadata) ? [position] : []));
        const context = JSON.stringify({ round, filter });
        expect(Array.from(built.evaluate(expr).toPositions()), context).toEqual(expected);
        expect(Array.from(reopened.evaluate(expr).toPositions()), context).toEqual(expected);
        const estimate = built.estimate(expr);
        expect(estimate >= 0 && estimate <= 1, context).toBe(true);
        if (['eq', 'ne', 'range'].includes(expr.kind) && recordCount > 0) {
          expect(estimate, context).toBeCloseTo(expected.length / recordCount, 9);
        }
        if (expected.length > 0 && expected.length < recordCount) nonTrivial++;
      }
      records.forEach((metadata, position) => expect(reopened.metadataAt(position)).toEqual(metadata ?? {}));
    }
    expect(nonTrivial).toBeGreaterThan(150); // the generator makes filters that actually discriminate
  });
});
