// Bitset.slice: a window of positions as its own bitset (the cold path slices
// allow-lists and deleted sets per cluster, engine/cold-segment.ts).
import { describe, expect, it } from 'vitest';
import { Bitset } from '../../engine/bitset.ts';

describe('bitset slice', () => {
  it('copies the bits of a window, unaligned, and reads past the end as clear', () => {
    const bits = Bitset.fromPositions(100, [3, 9, 10, 33, 64, 99]);
    const window = bits.slice(9, 30);
    expect(window.size).toBe(30);
    expect(Array.from(window.toPositions())).toEqual([0, 1, 24]);
    expect(window.bytes).toEqual(new Uint8Array([0b11, 0, 0, 1]));
    expect(Array.from(bits.slice(90, 20).toPositions())).toEqual([9]);
    expect(bits.slice(0, 0).popcount()).toBe(0);
  });
});
