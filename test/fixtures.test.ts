import { describe, expect, it } from 'vitest';
import { exactTopK, loadGloveFixture, loadMnistFixture, recallAtK } from './fixtures/load.ts';

describe('MNIST fixture', () => {
  const mnist = loadMnistFixture();

  it('holds 5,000 train and 200 test images of 784 pixels', () => {
    expect(mnist.dimension).toBe(784);
    expect(mnist.train.length).toBe(5000 * 784);
    expect(mnist.test.length).toBe(200 * 784);
  });

  it('has whole pixel values spanning 0..255', () => {
    let min = Infinity;
    let max = -Infinity;
    let fractional = 0;
    for (const value of mnist.train) {
      min = Math.min(min, value);
      max = Math.max(max, value);
      if (!Number.isInteger(value)) fractional++;
    }
    expect([min, max, fractional]).toEqual([0, 255, 0]);
  });

  it('looks like handwriting: mostly background, some ink in every image', () => {
    const ink = (image: Float32Array) => image.filter((value) => value > 0).length;
    for (let i = 0; i < 200; i++) {
      const pixels = ink(mnist.test.subarray(i * 784, (i + 1) * 784));
      expect(pixels).toBeGreaterThan(30);
      expect(pixels).toBeLessThan(784 / 2);
    }
  });
});

describe('GloVe fixture', () => {
  const glove = loadGloveFixture();

  it('holds 5,000 words with 100 finite values each', () => {
    expect(glove.dimension).toBe(100);
    expect(glove.words.length).toBe(5000);
    expect(new Set(glove.words).size).toBe(5000);
    expect(glove.vectors.length).toBe(5000 * 100);
    expect(glove.vectors.every(Number.isFinite)).toBe(true);
  });

  it('starts with the most frequent words, "the" first', () => {
    expect(glove.words.slice(0, 5)).toEqual(['the', ',', '.', 'of', 'to']);
    // GloVe 6B 100-d's published vector for "the" starts -0.038194 -0.24487 0.72812.
    expect(Array.from(glove.vectors.subarray(0, 3))).toEqual([-0.038194, -0.24487, 0.72812].map(Math.fround));
  });

  it('puts related words near each other under cosine', () => {
    const position = (word: string) => glove.words.indexOf(word);
    const query = glove.vectors.slice(position('monday') * 100, (position('monday') + 1) * 100);
    const { ids } = exactTopK(glove.vectors, query, 100, 'cosine', 5);
    const neighbours = Array.from(ids[0], (id) => glove.words[id]);
    expect(neighbours[0]).toBe('monday');
    const weekdays = ['tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
    expect(neighbours.filter((word) => weekdays.includes(word)).length).toBeGreaterThanOrEqual(3);
  });
});

describe('exactTopK', () => {
  const mnist = loadMnistFixture();
  const base = mnist.train.subarray(0, 1000 * 784);

  it('finds a base vector itself first, at distance 0', () => {
    const picks = [0, 17, 999];
    const queries = new Float32Array(picks.length * 784);
    picks.forEach((pick, row) => queries.set(base.subarray(pick * 784, (pick + 1) * 784), row * 784));
    for (const metric of ['l2', 'cosine'] as const) {
      const truth = exactTopK(base, queries, 784, metric, 10);
      expect(truth.ids.map((row) => row[0])).toEqual(picks);
      for (const row of truth.distances) {
        expect(row[0]).toBeCloseTo(0, 5);
        for (let j = 1; j < row.length; j++) expect(row[j]).toBeGreaterThanOrEqual(row[j - 1]);
      }
    }
  });

  it('returns squared l2 distances, ascending, ties to the lower position', () => {
    const points = new Float32Array([0, 0, 3, 4, 1, 0, 0, 1, 3, 4]);
    const truth = exactTopK(points, new Float32Array([0, 0]), 2, 'l2', 5);
    expect(Array.from(truth.ids[0])).toEqual([0, 2, 3, 1, 4]);
    expect(Array.from(truth.distances[0])).toEqual([0, 1, 1, 25, 25]);
  });

  it('gives the dot and poincare distances DESIGN §6 names', () => {
    const points = new Float32Array([0.5, 0, -0.5, 0, 0, 0.25]);
    const dot = exactTopK(points, new Float32Array([1, 0]), 2, 'dot', 3);
    expect(Array.from(dot.ids[0])).toEqual([0, 2, 1]);
    expect(Array.from(dot.distances[0])).toEqual([-0.5, -0, 0.5]);
    const poincare = exactTopK(points, new Float32Array([0, 0]), 2, 'poincare', 1);
    // From the origin: d = arcosh(1 + 2‖v‖² / (1 − ‖v‖²)) = 2·artanh(‖v‖).
    expect(poincare.ids[0][0]).toBe(2);
    expect(poincare.distances[0][0]).toBeCloseTo(2 * Math.atanh(0.25), 6);
  });

  it('returns fewer than k when the base is smaller', () => {
    const truth = exactTopK(new Float32Array([1, 2]), new Float32Array([1, 2]), 2, 'l2', 10);
    expect(truth.k).toBe(1);
    expect(Array.from(truth.ids[0])).toEqual([0]);
  });

  it('rejects input it cannot rank', () => {
    expect(() => exactTopK(new Float32Array(3), new Float32Array(2), 2, 'l2', 1)).toThrow('base length 3 is not a multiple of dimension 2');
    expect(() => exactTopK(new Float32Array([0, 0]), new Float32Array([1, 0]), 2, 'cosine', 1)).toThrow('cosine needs non-zero vectors: base 0 is all zero');
    expect(() => exactTopK(new Float32Array([1, 0]), new Float32Array([0, 0]), 2, 'poincare', 1)).toThrow('poincare needs vectors inside the unit ball: base 0 has squared norm 1');
  });
});

describe('recallAtK', () => {
  it('counts the share of true neighbours found, ignoring order and duplicates', () => {
    expect(recallAtK([[1, 2, 3], [9, 9, 9]], [[3, 2, 1], [9, 8, 7]], 3)).toBeCloseTo(4 / 6);
    expect(recallAtK([new Uint32Array([5, 4])], [new Uint32Array([4, 5, 6])], 2)).toBe(1);
  });
});
