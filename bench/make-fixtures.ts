// Writes the small real-data fixtures the unit tests use (test/fixtures/, see
// its README.md). Deterministic: rerunning it reproduces the committed bytes.
//
//   bash bench/run.sh make-fixtures

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gloveDimension, mnistDimension, readGloveAll, readMnistImages } from './datasets.ts';

const fixturesDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures');
const mnistTrainCount = 5000;
const mnistTestCount = 200;
const gloveWordCount = 5000;

mkdirSync(fixturesDirectory, { recursive: true });

function write(name: string, contents: Uint8Array | string): void {
  writeFileSync(join(fixturesDirectory, name), contents);
  const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
  const digest = createHash('sha256').update(bytes).digest('hex');
  console.log(`${name.padEnd(24)} ${String(bytes.length).padStart(9)} bytes  sha256 ${digest}`);
}

// MNIST: the first images of each split, raw uint8 pixels, 784 per image.
write('mnist-5k.u8', readMnistImages('train').pixels.slice(0, mnistTrainCount * mnistDimension));
write('mnist-test-200.u8', readMnistImages('test').pixels.slice(0, mnistTestCount * mnistDimension));

// GloVe: the file is in descending corpus frequency (GloVe writes its vocabulary
// sorted by count), so its first words are the most frequent ones.
const glove = readGloveAll();
const vectors = glove.vectors.slice(0, gloveWordCount * gloveDimension);
write('glove-5k.f32', new Uint8Array(vectors.buffer));
write('glove-5k.words.txt', glove.words.slice(0, gloveWordCount).join('\n') + '\n');
