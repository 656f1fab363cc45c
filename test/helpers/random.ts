// Seeded data for tests: the same numbers on every run and machine.
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

export function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12), v = next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = gaussian(next);
  return out;
}

/**
 * Points in the Poincaré ball shaped like a hierarchy: clusters of points
 * along random directions at radii tanh(t/2), t up to 12, so many sit within
 * 1e-4 of the boundary where float32 norms are delicate.
 */
export function poincarePoints(n: number, dim: number, seed: number): Float32Array {
  const next = rng(seed);
  const centres = 32;
  const dirs: Float32Array[] = [];
  for (let c = 0; c < centres; c++) {
    const d = new Float32Array(dim);
    for (let i = 0; i < dim; i++) d[i] = gaussian(next);
    dirs.push(d);
  }
  const out = new Float32Array(n * dim);
  for (let p = 0; p < n; p++) {
    const d = dirs[p % centres];
    const v = new Float64Array(dim);
    let norm = 0;
    for (let i = 0; i < dim; i++) { v[i] = d[i] + 0.35 * gaussian(next); norm += v[i] * v[i]; }
    norm = Math.sqrt(norm);
    const radius = Math.min(Math.tanh((next() * 12) / 2), 0.99999);
    for (let i = 0; i < dim; i++) out[p * dim + i] = (v[i] / norm) * radius;
  }
  return out;
}

/** Gaussian clusters around random centres: closer to real embeddings than pure noise. */
export function clusteredVectors(n: number, dim: number, seed: number, clusters = 40, spread = 0.5): Float32Array {
  const next = rng(seed);
  const centres = randomVectors(clusters, dim, seed + 1000);
  const out = new Float32Array(n * dim);
  for (let p = 0; p < n; p++) {
    const c = Math.floor(next() * clusters);
    for (let i = 0; i < dim; i++) out[p * dim + i] = centres[c * dim + i] + spread * gaussian(next);
  }
  return out;
}
