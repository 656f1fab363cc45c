#!/usr/bin/env node
// `npm run build:wasm`: compiles the C++ core (the same sources as the Node
// addon, with the SIMD128 kernels instead of AVX2/NEON) to WebAssembly with
// emscripten, into native/wasm/dist/ — committed, so users and CI need no
// emscripten. dist/sources.json records a SHA-256 of every input, which
// test/web/wasm-fresh.test.ts compares with the tree (docs/web.md).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasmInputs, hashInputs, repoRoot } from './inputs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
mkdirSync(dist, { recursive: true });

export const emccFlags = [
  '-std=c++17', '-O3', '-msimd128', '-fwasm-exceptions', '-DNDEBUG',
  '-sMODULARIZE=1', '-sEXPORT_ES6=1', '-sEXPORT_NAME=createHyperspaceWasm',
  // The loader (binding.ts) always instantiates the module itself (instantiateWasm),
  // so the glue needs no fetch and no fs; without a node environment it installs
  // no process handlers and the same file runs in Node tests.
  '-sENVIRONMENT=web,worker', '-sFILESYSTEM=0', '-sALLOW_MEMORY_GROWTH=1', '-sMAXIMUM_MEMORY=4GB',
  '-sINITIAL_MEMORY=16MB', '-sTOTAL_STACK=1MB', '-sEXPORTED_RUNTIME_METHODS=[]',
  `-sEXPORTED_FUNCTIONS=${['_hs_last_error', '_hs_last_error_kind', '_hs_kernel_name', '_hs_alloc', '_hs_free', '_hs_crc32c',
    '_hs_build', '_hs_flat_search', '_hs_index_open', '_hs_index_close', '_hs_index_info', '_hs_index_search', '_hs_kernel'].join(',')}`,
];

const sources = wasmInputs().filter((f) => f.endsWith('.cc'));
const env = { ...process.env, NODE_PATH: process.env.NODE_PATH ?? '/usr/share/nodejs' };
const out = join(dist, 'hyperspace-wasm.mjs');
console.log(`emcc ${sources.map((s) => relative(repoRoot, s)).join(' ')}`);
try {
  execFileSync('emcc', [...emccFlags, ...sources, '-o', out], { stdio: 'inherit', env, cwd: repoRoot });
} catch {
  console.error('build:wasm failed (emscripten: apt-get install -y emscripten; NODE_PATH=/usr/share/nodejs)');
  process.exit(1);
}

const version = execFileSync('emcc', ['--version'], { env }).toString().split('\n')[0];
const wasmBytes = readFileSync(join(dist, 'hyperspace-wasm.wasm'));
writeFileSync(join(dist, 'sources.json'), JSON.stringify({
  emcc: version,
  flags: emccFlags,
  sources: hashInputs(),
  wasmBytes: wasmBytes.length,
}, null, 2) + '\n');
console.log(`native/wasm/dist: hyperspace-wasm.wasm ${wasmBytes.length} bytes`);
