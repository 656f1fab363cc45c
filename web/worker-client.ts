// The page's handle on a database running in a Web Worker (web/worker.ts):
// the collection API, asynchronous throughout, with the same errors
// (HyperspaceError, same kind and message). Vectors cross as Float32Array
// (structured clone), results come back the same way.
import { HyperspaceError, type ErrorKind } from '../native/errors.ts';
import type { HttpServerOptions } from './http-server.ts';

type Pending = { resolve: (v: any) => void; reject: (e: unknown) => void };

export class WorkerDatabase {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  loadMs = 0;
  kernelName = '';

  private readonly ready: Promise<void>;

  private constructor(private readonly worker: Worker) {
    let ready!: () => void, failed!: (e: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => { ready = resolve; failed = reject; });
    worker.onerror = (event) => {
      const error = new HyperspaceError('unavailable', `the database worker failed: ${event.message}`);
      failed(error);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    worker.onmessage = (event: MessageEvent<{ id: number; ready?: true; result?: unknown; error?: { kind: ErrorKind; message: string } }>) => {
      if (event.data.ready) return ready();
      const p = this.pending.get(event.data.id);
      if (!p) return;
      this.pending.delete(event.data.id);
      if (event.data.error) p.reject(new HyperspaceError(event.data.error.kind, event.data.error.message));
      else p.resolve(event.data.result);
    };
  }

  /** Starts the worker (hyperspace-worker.js next to this bundle by default) and opens IndexedDB database `name` in it. */
  static async open(name = 'hyperspace', options: { workerUrl?: string | URL } = {}): Promise<WorkerDatabase> {
    const worker = new Worker(options.workerUrl ?? new URL('./hyperspace-worker.js', import.meta.url), { type: 'module' });
    const db = new WorkerDatabase(worker);
    try {
      await db.ready;
      const opened = await db.call<{ loadMs: number; kernelName: string }>('open', 'open', [name]);
      db.loadMs = opened.loadMs;
      db.kernelName = opened.kernelName;
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return db;
  }

  private call<T>(target: string, method: string, args: unknown[]): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, target, method, args });
    });
  }

  createCollection(name: string, config: object) { return this.call<object>('db', 'createCollection', [name, config]); }
  listCollections() { return this.call<object[]>('db', 'listCollections', []); }
  dropCollection(name: string) { return this.call<void>('db', 'dropCollection', [name]); }

  /** The collection's operations (upsert, delete, search, get, count, scroll, describe, digest, flush), each a message to the worker. */
  collection(name: string) {
    const op = <T = any>(method: string) => (...args: unknown[]) => this.call<T>('collection', method, [name, ...args]);
    return {
      upsert: op<{ seq: number }>('upsert'), delete: op<{ seq: number }>('delete'), search: op('search'), get: op('get'),
      count: op<number>('count'), scroll: op('scroll'), describe: op('describe'), digest: op('digest'), flush: op<void>('flush'),
    };
  }

  readonly outbox = {
    upsert: (name: string, points: unknown[]) => this.call<void>('outbox', 'upsert', [name, points]),
    delete: (name: string, ids: string[]) => this.call<void>('outbox', 'delete', [name, ids]),
    pending: (name?: string) => this.call<number>('outbox', 'pending', name === undefined ? [] : [name]),
  };

  /** syncFromServer in the worker; `server` as for new HttpServer (url defaults to the page's origin). */
  sync(server: HttpServerOptions, name: string) {
    return this.call<any>('sync', 'sync', [{ url: globalThis.location?.origin, ...server }, name]);
  }

  async close(): Promise<void> {
    await this.call('close', 'close', []);
    this.worker.terminate();
  }
}
