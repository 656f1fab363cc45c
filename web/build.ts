// Bundles the browser build with esbuild (docs/web.md): the engine, the
// IndexedDB stores and the WASM core as ES modules, next to the .wasm (served
// as its own response) and the demo page. `hyperspace serve` bundles in
// memory at its first /demo request; `npm run build:web` writes web/dist/.
// The same engine sources as Node; only a few Node-only modules are replaced:
//   node:module                        → native/wasm/node-module.ts (the addon is the WASM build)
//   engine/sha256.ts (node:crypto)     → web/sha256.ts
//   engine/stores/local-*-store.ts     → web/shims/local-stores.ts (no file system)
//   node:path                          → web/shims/path.ts
//   Buffer, setInterval/clearInterval  → web/shims/node-globals.ts (injected)
import { build, type Plugin } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const root = resolve(web, '..');

const replaced: Record<string, string> = {
  [join(root, 'engine', 'sha256.ts')]: join(web, 'sha256.ts'),
  [join(root, 'engine', 'stores', 'local-log-store.ts')]: join(web, 'shims', 'local-stores.ts'),
  [join(root, 'engine', 'stores', 'local-object-store.ts')]: join(web, 'shims', 'local-stores.ts'),
};
const nodeModules: Record<string, string> = {
  'node:module': join(root, 'native', 'wasm', 'node-module.ts'),
  'node:path': join(web, 'shims', 'path.ts'),
};

const browserModules: Plugin = {
  name: 'hyperspace-browser-modules',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (nodeModules[args.path]) return { path: nodeModules[args.path] };
      // A dynamic import that only Node executes (node-module.ts reading the .wasm from a file: URL).
      if (args.kind === 'dynamic-import') return { path: args.path, external: true };
      return { errors: [{ text: `${args.path} is not available in the browser build (imported by ${args.importer})` }] };
    });
    b.onResolve({ filter: /\.ts$/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const target = resolve(args.resolveDir, args.path);
      return replaced[target] ? { path: replaced[target] } : undefined;
    });
  },
};

export interface WebBuildOptions {
  minify?: boolean;
}

/** The files of the browser build, by name: the bundles (engine, its worker, core), the .wasm and the demo page. */
export async function bundleWeb(options: WebBuildOptions = {}): Promise<Map<string, Uint8Array>> {
  const result = await build({
    entryPoints: {
      'hyperspace-web': join(web, 'index.ts'),
      'hyperspace-worker': join(web, 'worker.ts'),
      'hyperspace-core': join(root, 'native', 'wasm', 'index.ts'),
    },
    outdir: join(web, 'dist'),
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? false,
    legalComments: 'none',
    inject: [join(web, 'shims', 'node-globals.ts')],
    plugins: [browserModules],
    logLevel: 'warning',
  });
  const files = new Map<string, Uint8Array>();
  for (const file of result.outputFiles) files.set(basename(file.path), file.contents);
  files.set('hyperspace-wasm.wasm', readFileSync(join(root, 'native', 'wasm', 'dist', 'hyperspace-wasm.wasm')));
  for (const name of readdirSync(join(web, 'demo'))) files.set(name, readFileSync(join(web, 'demo', name)));
  return files;
}

/** Writes the build into `outdir` (default web/dist/), for static hosting. */
export async function buildWeb(options: WebBuildOptions & { outdir?: string } = {}): Promise<{ outdir: string; files: string[] }> {
  const outdir = options.outdir ?? join(web, 'dist');
  mkdirSync(outdir, { recursive: true });
  const files = await bundleWeb(options);
  for (const [name, bytes] of files) writeFileSync(join(outdir, name), bytes);
  return { outdir, files: [...files.keys()].sort() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir, files } = await buildWeb({ minify: process.argv.includes('--minify') });
  console.log(`${outdir}: ${files.join(' ')}`);
}
