// The browser engine in a Web Worker (bundled as hyperspace-worker.js): index
// builds, checksums and searches run off the page's thread. The page talks
// to it through WorkerDatabase (web/worker-client.ts); every call is one
// message, answered with its result or the error's { kind, message }.
import { HttpServer, openBrowserDatabase, syncFromServer, kernelName, Collection, type BrowserDatabase } from './index.ts';

export interface WorkerCall {
  id: number;
  /** 'open' | 'db' | 'collection' | 'outbox' | 'sync' | 'close' */
  target: string;
  method: string;
  args: unknown[];
}

let db: BrowserDatabase | undefined;

function plain(value: unknown): unknown {
  return value instanceof Collection ? value.describe() : value;
}

async function run(call: WorkerCall): Promise<unknown> {
  const { target, method, args } = call;
  if (target === 'open') {
    db = await openBrowserDatabase(args[0] as string);
    return { loadMs: db.loadMs, kernelName };
  }
  if (!db) throw Object.assign(new Error('database is not open'), { kind: 'unavailable' });
  const open = db;
  const invoke = (object: object, name: string, rest: unknown[]) => {
    const f = (object as Record<string, unknown>)[name];
    if (typeof f !== 'function' || name.startsWith('_') || name === 'constructor')
      throw Object.assign(new Error(`no such method: ${target}.${name}`), { kind: 'invalid' });
    return (f as (...a: unknown[]) => unknown).apply(object, rest);
  };
  switch (target) {
    case 'db': return plain(await invoke(open, method, args));
    case 'collection': return plain(await invoke(open.collection(args[0] as string), method, args.slice(1)));
    case 'outbox': return invoke(open.outbox, method, args);
    case 'sync': return syncFromServer(open, new HttpServer(args[0] as object), args[1] as string);
    case 'close': await open.close(); db = undefined; return null;
  }
  throw Object.assign(new Error(`no such target: ${target}`), { kind: 'invalid' });
}

self.onmessage = async (event: MessageEvent<WorkerCall>) => {
  const { id } = event.data;
  try {
    self.postMessage({ id, result: await run(event.data) });
  } catch (e) {
    const error = e as Error & { kind?: string };
    self.postMessage({ id, error: { kind: error.kind ?? 'internal', message: error.message } });
  }
};
// Messages that arrive while the module is still evaluating (the WASM core
// loads with top-level await) can be dropped: the page waits for this.
self.postMessage({ ready: true });
