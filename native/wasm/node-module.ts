// Stands in for `node:module` in the browser bundle (web/build.ts, docs/web.md).
// native/index.ts — the one typed facade over the core — loads its binding
// with createRequire(...)('../build/Release/hyperspace_native.node'); in the
// bundle that path resolves to the WASM build instead, instantiated here
// before any module that uses it runs (top-level await).
import { loadWasmBinding, type WasmSource } from './binding.ts';

async function coreSource(): Promise<WasmSource> {
  // The bundle ships hyperspace-wasm.wasm next to itself.
  const url = new URL('./hyperspace-wasm.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    // Node importing the bundle (the parity tests): fetch has no file: URLs there.
    const fs = 'node:fs/promises';
    return (await import(/* @vite-ignore */ fs)).readFile(url);
  }
  return fetch(url);
}

const binding = await loadWasmBinding(await coreSource());

export function createRequire(_from: string | URL) {
  return (path: string): unknown => {
    if (path.endsWith('/hyperspace_native.node')) return binding;
    throw new Error(`require is not available in the browser build: ${path}`);
  };
}
