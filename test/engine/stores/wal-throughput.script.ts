// WAL append throughput with fsync on (not a test; run by hand):
//   node --import tsx test/engine/stores/wal-throughput.script.ts [seconds] [writers] [dir]
// Each writer appends 1,000 × 128-d float32 vectors (512,000 bytes) per record.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';

const seconds = Number(process.argv[2] ?? 10);
const writers = Number(process.argv[3] ?? 4);
const directory = process.argv[4] ?? (await mkdtemp(join(tmpdir(), 'hyperspace-wal-throughput-')));

const vectors = new Float32Array(1000 * 128);
for (let i = 0; i < vectors.length; i++) vectors[i] = Math.sin(i);
const payload = new Uint8Array(vectors.buffer);

const store = await LocalLogStore.open(directory);
const latencies: number[] = [];
const deadline = performance.now() + seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: writers }, async () => {
    while (performance.now() < deadline) {
      const begin = performance.now();
      await store.append('bench', payload);
      latencies.push(performance.now() - begin);
    }
  }),
);
const elapsedSeconds = (performance.now() - started) / 1000;
const { appends, groupCommits, fsyncs, bytesWritten } = store.stats;
await store.close();
if (process.argv[4] === undefined) await rm(directory, { recursive: true, force: true });

latencies.sort((a, b) => a - b);
const percentile = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
console.log(
  JSON.stringify(
    {
      writers,
      payloadBytes: payload.length,
      seconds: Number(elapsedSeconds.toFixed(2)),
      appends,
      appendsPerSecond: Number((appends / elapsedSeconds).toFixed(1)),
      megabytesPerSecond: Number((bytesWritten / elapsedSeconds / 1e6).toFixed(1)),
      groupCommits,
      recordsPerGroup: Number((appends / groupCommits).toFixed(2)),
      fsyncs,
      latencyMs: { p50: percentile(0.5)?.toFixed(1), p99: percentile(0.99)?.toFixed(1) },
    },
    null,
    1,
  ),
);
