// Recall and bytes of the cold path (engine/cold-segment.ts) by probe share, in
// process: one segment written from a data set, opened partially over its
// bytes, 1,000 queries at each share. Picks coldLimits.probeShare.
//   bash bench/run.sh cold-sweep [--dataset mnist|glove] [--limit N]
import { parseArgs } from 'node:util';
import { Bitset } from '../engine/bitset.ts';
import { coldLimits } from '../engine/cold-segment.ts';
import { Segment, writeSegment } from '../engine/segment.ts';
import { glove, groundTruth, mnist, recallAt10 } from './datasets.ts';

const { values: flags } = parseArgs({ options: { dataset: { type: 'string', default: 'mnist' }, limit: { type: 'string' }, queries: { type: 'string', default: '1000' } } });
const data = flags.dataset === 'glove' ? glove() : mnist();
const n = flags.limit ? Math.min(Number(flags.limit), data.trainCount) : data.trainCount;
const dim = data.dimension;
const queries = Math.min(Number(flags.queries), data.testCount);
const train = data.train.subarray(0, n * dim);
const truth = await groundTruth(train, data.test.subarray(0, queries * dim), dim, data.metric, 10);
const unit = (v: Float32Array) => { let s = 0; for (const x of v) s += x * x; const r = 1 / Math.sqrt(s); return v.map((x) => x * r); };
const rows = Array.from({ length: n }, (_, i) => {
  const v = train.slice(i * dim, (i + 1) * dim);
  return { id: String(i), seq: 1, vector: data.metric === 'cosine' ? unit(v) : v, metadata: {} };
});
let t0 = performance.now();
const { bytes } = await writeSegment(rows, { dimension: dim, metric: data.metric, quantization: (process.env.SWEEP_QUANT ?? 'int8') as 'int8', hnsw: { M: 16, efConstruction: 200 } });
console.log(`${data.name}: ${n} records, segment ${(bytes.length / 1e6).toFixed(1)} MB written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
for (const share of [0.01, 0.02, 0.03, 0.05, 0.08]) {
  coldLimits.probeShare = share;
  const segment = (await Segment.openPartial(async (o, l) => bytes.slice(o, o + l), bytes.length, 'sweep'))!;
  const cold = segment.cold!;
  const dead = new Bitset(segment.count);
  const got: number[][] = [];
  let gets = 0, read = 0, ms = 0;
  for (let q = 0; q < queries; q++) {
    const query = data.metric === 'cosine' ? unit(data.test.slice(q * dim, (q + 1) * dim)) : data.test.subarray(q * dim, (q + 1) * dim);
    const before = { ...cold.stats };
    t0 = performance.now();
    const probes = cold.probes(query, 10, null);
    await cold.load(probes);
    const r = cold.search(query, 10, probes, null, dead);
    ms += performance.now() - t0;
    gets += cold.stats.gets - before.gets;
    read += cold.stats.bytes - before.bytes;
    got.push(Array.from(r.positions, (p) => Number(segment.id(p))));
    // Each query as if it were the first: forget what was loaded.
    (cold as unknown as { loaded: Map<number, unknown>; loadedBytes: number }).loaded.clear();
    (cold as unknown as { loadedBytes: number }).loadedBytes = 0;
  }
  console.log(`probe share ${share}: recall@10 ${recallAt10(got, truth.ids).toFixed(3)}, per query ${(gets / queries).toFixed(1)} GETs, ${(read / queries / 1e6).toFixed(2)} MB, ${(ms / queries).toFixed(2)} ms in process (clusters ${cold.clusterCount})`);
}
