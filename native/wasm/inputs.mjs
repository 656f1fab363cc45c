// What goes into the WASM build, and a hash of each input: build.mjs records
// it in dist/sources.json, the freshness test compares it with the tree.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');

/** Absolute paths, sorted: every core source and header (the AVX2 and NEON files compile to their null stubs), the C API, and this build's scripts. */
export function wasmInputs() {
  const core = join(repoRoot, 'native', 'core');
  const files = readdirSync(core)
    .filter((f) => (f.endsWith('.cc') || f.endsWith('.h')))
    .map((f) => join(core, f));
  files.push(join(here, 'binding.cc'), join(here, 'build.mjs'), join(here, 'inputs.mjs'));
  return files.sort();
}

/** { "native/core/hnsw.cc": "<sha256 hex>", ... } with line endings normalized. */
export function hashInputs() {
  const out = {};
  for (const file of wasmInputs()) {
    const text = readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
    out[relative(repoRoot, file).split('\\').join('/')] = createHash('sha256').update(text).digest('hex');
  }
  return out;
}
