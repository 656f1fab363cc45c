// Data for the engine suites, free of vitest so child processes can use it:
// vectors derived from an id, so any process can recompute what was written.
import { gaussian, rng } from '../helpers/random.ts';

function hashOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A gaussian vector determined by `id` and `version`: the same in every process. */
export function vectorOf(id: string, dimension: number, version = 0): Float32Array {
  const next = rng(hashOf(`${id}#${version}`));
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = gaussian(next);
  return v;
}

/** The exact top-k ids of `query` among `records` by squared l2 (ties by id). */
export function exactL2(records: Iterable<{ id: string; vector: Float32Array }>, query: Float32Array, k: number): { id: string; distance: number }[] {
  const all: { id: string; distance: number }[] = [];
  for (const r of records) {
    let d = 0;
    for (let i = 0; i < query.length; i++) d += (r.vector[i] - query[i]) ** 2;
    all.push({ id: r.id, distance: d });
  }
  all.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1));
  return all.slice(0, k);
}
