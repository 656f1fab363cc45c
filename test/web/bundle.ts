// The browser bundle, built once per test process into a temporary directory
// and imported into Node: the exact code a browser runs (WASM core, pure-TS
// SHA-256, the engine), minus IndexedDB.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildWeb } from '../../web/build.ts';

type Core = typeof import('../../native/index.ts');
type Web = typeof import('../../web/index.ts');

let built: Promise<{ outdir: string; core: Core; web: Web }> | undefined;

export function browserBundle(): Promise<{ outdir: string; core: Core; web: Web }> {
  built ??= (async () => {
    const { outdir } = await buildWeb({ outdir: mkdtempSync(join(tmpdir(), 'hyperspace-web-')) });
    const core = (await import(/* @vite-ignore */ pathToFileURL(join(outdir, 'hyperspace-core.js')).href)) as Core;
    const web = (await import(/* @vite-ignore */ pathToFileURL(join(outdir, 'hyperspace-web.js')).href)) as Web;
    return { outdir, core, web };
  })();
  return built;
}
