import { describe, expect, it } from 'vitest';
import { type FilterExpr, matches, parseFilter } from '../../engine/filter.ts';
import { HyperspaceError } from '../../native/errors.ts';

function expectInvalid(filter: unknown, message: string): void {
  try {
    parseFilter(filter);
  } catch (error) {
    expect(error).toBeInstanceOf(HyperspaceError);
    expect((error as HyperspaceError).kind).toBe('invalid');
    expect((error as HyperspaceError).message).toBe(message);
    return;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

const movies = [
  { id: 'heat', metadata: { year: 1995, genre: 'crime', tags: ['heist', 'la'], rating: 8.3, color: true } },
  { id: 'alien', metadata: { year: 1979, genre: 'horror', tags: ['space'], rating: 8.5, color: true } },
  { id: 'casablanca', metadata: { year: 1942, genre: 'drama', tags: ['war', 'romance'], rating: 8.5, color: false } },
  { id: 'parasite', metadata: { year: 2019, genre: 'drama', tags: [], rating: 8.5, color: true } },
  { id: 'untitled', metadata: { genre: 'drama' } },
  { id: 'bare', metadata: {} },
  { id: 'stringly', metadata: { year: '2019', genre: ['drama', 'comedy'] } },
];

function select(filter: unknown): string[] {
  const expr = parseFilter(filter);
  return movies.filter((movie) => matches(expr, movie.metadata)).map((movie) => movie.id);
}

describe('parsing', () => {
  it('builds a typed tree, merging range operators of one field', () => {
    expect(parseFilter({ year: { $gte: 2000, $lt: 2010 } })).toEqual({
      kind: 'range',
      field: 'year',
      min: 2000,
      minInclusive: true,
      max: 2010,
      maxInclusive: false,
    });
    expect(parseFilter({ genre: 'drama', $or: [{ year: { $gt: 2000 } }, { tags: { $in: ['war'] } }] })).toEqual({
      kind: 'and',
      children: [
        { kind: 'eq', field: 'genre', value: 'drama' },
        {
          kind: 'or',
          children: [
            { kind: 'range', field: 'year', min: 2000, minInclusive: false, maxInclusive: false },
            { kind: 'in', field: 'tags', values: ['war'] },
          ],
        },
      ],
    } satisfies FilterExpr);
    expect(parseFilter({ year: { $gt: 1, $gte: 1 } })).toMatchObject({ min: 1, minInclusive: false });
    expect(parseFilter({ year: { $lte: 5, $lt: 7 } })).toMatchObject({ max: 5, maxInclusive: true });
  });

  it('matches everything for an absent or empty filter', () => {
    expect(parseFilter(undefined)).toEqual({ kind: 'all' });
    expect(parseFilter(null)).toEqual({ kind: 'all' });
    expect(parseFilter({})).toEqual({ kind: 'all' });
  });

  it('rejects malformed filters with the operator and path', () => {
    expectInvalid('year', 'filter must be a JSON object');
    expectInvalid([], 'filter must be a JSON object');
    expectInvalid({ year: { $foo: 1 } }, 'filter: unknown operator $foo at path year');
    expectInvalid({ $foo: 1 }, 'filter: unknown operator $foo at path (root); field names cannot start with $');
    expectInvalid({ $and: [{ a: 1 }, { $where: 'x' }] }, 'filter: unknown operator $where at path $and[1]; field names cannot start with $');
    expectInvalid({ year: { $and: [] } }, 'filter: unknown operator $and at path year');
    expectInvalid({ year: { $gt: '2020' } }, 'filter: $gt at path year takes a finite number, got "2020"');
    expectInvalid({ year: { $lte: true } }, 'filter: $lte at path year takes a finite number, got true');
    expectInvalid({ year: { $gte: null } }, 'filter: $gte at path year takes a finite number, got null');
    expectInvalid({ genre: { $eq: null } }, 'filter: $eq at path genre takes a string, finite number or boolean, got null');
    expectInvalid({ genre: { $ne: ['a'] } }, 'filter: $ne at path genre takes a string, finite number or boolean, got an array');
    expectInvalid({ genre: { $in: 'drama' } }, 'filter: $in at path genre takes an array of strings, finite numbers or booleans, got "drama"');
    expectInvalid(
      { genre: { $nin: ['a', { b: 1 }] } },
      'filter: $nin at path genre takes an array of strings, finite numbers or booleans, got an object at index 1',
    );
    expectInvalid({ genre: null }, 'filter: value at path genre must be a string, finite number, boolean or an operator object, got null');
    expectInvalid(
      { tags: ['a', 'b'] },
      'filter: value at path tags must be a string, finite number, boolean or an operator object, got an array (use $in)',
    );
    expectInvalid({ year: Number.NaN }, 'filter: value at path year must be a string, finite number, boolean or an operator object, got NaN');
    expectInvalid({ year: {} }, 'filter: empty operator object at path year');
    expectInvalid({ a: { b: 1 } }, 'filter: expected $-operators at path a, got key "b" (nested fields are not supported)');
    expectInvalid({ $and: [] }, 'filter: $and at path (root) takes a non-empty array of filters');
    expectInvalid({ $or: {} }, 'filter: $or at path (root) takes a non-empty array of filters');
    expectInvalid({ $or: [{ a: 1 }, 2] }, 'filter: $or at path (root) takes a non-empty array of filters');
    expectInvalid({ $and: [{ $or: [] }] }, 'filter: $or at path $and[0] takes a non-empty array of filters');
    expectInvalid({ $not: [] }, 'filter: $not at path (root) takes a filter object');
    expectInvalid({ year: { $not: 5 } }, 'filter: $not at path year takes a non-empty object of $-operators');
    expectInvalid({ year: { $not: { a: 1 } } }, 'filter: $not at path year takes a non-empty object of $-operators');
    expectInvalid({ year: { $not: { $gt: 'x' } } }, 'filter: $gt at path year.$not takes a finite number, got "x"');
  });

  it('bounds depth, node count and $in lists', () => {
    let deep: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < 15; i++) deep = { $not: deep };
    expect(() => parseFilter(deep)).not.toThrow();
    expectInvalid({ $not: deep }, `filter: nested deeper than 16 levels at path ${'$not.'.repeat(15)}$not`);
    expectInvalid({ $or: Array.from({ length: 1024 }, (_, i) => ({ a: i })) }, 'filter: more than 1024 nodes');
    expect(() => parseFilter({ $or: Array.from({ length: 1023 }, (_, i) => ({ a: i })) })).not.toThrow();
    expect(() => parseFilter({ a: { $in: Array(1024).fill('x') } })).not.toThrow();
    expectInvalid({ a: { $in: Array(1025).fill('x') } }, 'filter: $in at path a has 1025 values > 1024');
  });
});

describe('semantics', () => {
  it('implicit $eq and typed ranges', () => {
    expect(select({ genre: 'drama' })).toEqual(['casablanca', 'parasite', 'untitled', 'stringly']);
    expect(select({ year: { $gte: 1979, $lt: 2000 } })).toEqual(['heat', 'alien']);
    expect(select({ year: 2019 })).toEqual(['parasite']); // "2019" is a string: no coercion
    expect(select({ year: '2019' })).toEqual(['stringly']);
    expect(select({ year: { $gt: 0 } })).toEqual(['heat', 'alien', 'casablanca', 'parasite']);
    expect(select({ color: false })).toEqual(['casablanca']);
    expect(select({ color: 0 })).toEqual([]);
  });

  it('string[] fields match when they contain the value', () => {
    expect(select({ tags: 'war' })).toEqual(['casablanca']);
    expect(select({ tags: { $in: ['space', 'heist'] } })).toEqual(['heat', 'alien']);
    expect(select({ tags: { $ne: 'war' } })).toEqual(['heat', 'alien', 'parasite', 'untitled', 'bare', 'stringly']);
    expect(select({ tags: { $nin: ['war', 'space'] } })).toEqual(['heat', 'parasite', 'untitled', 'bare', 'stringly']);
    expect(select({ genre: 'comedy' })).toEqual(['stringly']);
  });

  it('a missing field never matches $eq, $in or a range, and always matches $ne and $nin', () => {
    expect(select({ rating: 8.5 })).toEqual(['alien', 'casablanca', 'parasite']);
    expect(select({ rating: { $ne: 8.5 } })).toEqual(['heat', 'untitled', 'bare', 'stringly']);
    expect(select({ rating: { $nin: [8.3, 8.5] } })).toEqual(['untitled', 'bare', 'stringly']);
    expect(select({ rating: { $lt: 100 } })).toEqual(['heat', 'alien', 'casablanca', 'parasite']);
    expect(select({ missing: { $in: [] } })).toEqual([]);
    expect(select({ missing: { $nin: [] } })).toHaveLength(movies.length);
  });

  it('$and, $or and $not compose; $not complements over all records', () => {
    expect(select({ $or: [{ genre: 'horror' }, { year: { $lt: 1950 } }] })).toEqual(['alien', 'casablanca']);
    expect(select({ $and: [{ genre: 'drama' }, { color: true }] })).toEqual(['parasite']);
    expect(select({ $not: { year: { $gte: 1990 } } })).toEqual(['alien', 'casablanca', 'untitled', 'bare', 'stringly']);
    expect(select({ year: { $not: { $gte: 1990 } } })).toEqual(select({ $not: { year: { $gte: 1990 } } }));
    expect(select({ genre: 'drama', $not: { tags: 'war' }, year: { $gt: 1900 } })).toEqual(['parasite']);
  });

  it('treats absent metadata as {} and ignores inherited properties', () => {
    expect(matches(parseFilter({ a: { $ne: 1 } }), undefined)).toBe(true);
    expect(matches(parseFilter({ toString: { $ne: 'x' } }), {})).toBe(true);
    expect(matches(parseFilter({ constructor: { $in: ['x'] } }), {})).toBe(false);
  });
});
