// Bundles the browser build with esbuild (docs/web.md): the engine, the
// IndexedDB stores and the WASM core as ES modules in web/dist/, next to the
// .wasm (served as its own response) and the demo page.
//   npx tsx web/build.ts
// The same engine sources as Node; only a few Node-only modules are replaced:
//   node:module                        → native/wasm/node-module.ts (the addon is the WASM build)
//   engine/sha256.ts (node:crypto)     → web/sha256.ts
//   engine/stores/local-*-store.ts     → web/shims/local-stores.ts (no file system)
//   node:path                          → web/shims/path.ts
//   Buffer, setInterval/clearInterval  → web/shims/node-globals.ts (injected)
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
  outdir?: string;
  minify?: boolean;
}

/** Writes hyperspace-web.js (engine), hyperspace-core.js (core only), the .wasm and the demo page. */
export async function buildWeb(options: WebBuildOptions = {}): Promise<{ outdir: string; files: string[] }> {
  const outdir = options.outdir ?? join(web, 'dist');
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { 'hyperspace-web': join(web, 'index.ts'), 'hyperspace-core': join(root, 'native', 'wasm', 'index.ts') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: false,
    minify: options.minify ?? false,
    sourcemap: false,
    legalComments: 'none',
    inject: [join(web, 'shims', 'node-globals.ts')],
    plugins: [browserModules],
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'native', 'wasm', 'dist', 'hyperspace-wasm.wasm'), join(outdir, 'hyperspace-wasm.wasm'));
  for (const file of readdirSync(join(web, 'demo'))) copyFileSync(join(web, 'demo', file), join(outdir, file));
  return { outdir, files: readdirSync(outdir).sort() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir, files } = await buildWeb({ minify: process.argv.includes('--minify') });
  console.log(`${outdir}: ${files.join(' ')}`);
}
