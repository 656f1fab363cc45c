// Writes made while offline to a synced collection (a read replica): kept in
// IndexedDB in order and pushed through the server's normal upsert/delete
// path when it can be reached — sync pushes them before it pulls, so they
// come back ordered by the server (docs/web.md). Checked against the
// collection's config when queued: bad input gets the same error as upsert.
import { HyperspaceError } from '../native/errors.ts';
import type { HyperspaceDB, PointInput } from '../engine/index.ts';
import { validateIds, validatePoints } from '../engine/validate.ts';
import type { HttpServer } from './http-server.ts';

type Op = { kind: 'upsert'; points: { id: string; vector: number[]; metadata?: unknown }[] } | { kind: 'delete'; ids: string[] };
interface Entry { collection: string; op: Op; queuedAtMs: number }

export interface PushReport {
  /** Queued writes the server acknowledged. */
  pushed: number;
  /** Writes the server refused for good (invalid, not_found, forbidden, too_large): dropped, with the reason. */
  rejected: { collection: string; kind: string; message: string }[];
  /** Still queued (the server could not be reached). */
  remaining: number;
}

/** Queued writes (batches) at most; past it a write is `overloaded` until a sync pushes the queue. */
export const OUTBOX_WRITES_MAX = 10_000;

const final = new Set(['invalid', 'not_found', 'forbidden', 'too_large', 'conflict']);

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

export class Outbox {
  constructor(private readonly idb: IDBDatabase, private readonly db: () => HyperspaceDB) {}

  private async add(collection: string, op: Op): Promise<void> {
    const queued = await request(this.idb.transaction('outbox').objectStore('outbox').count());
    if (queued >= OUTBOX_WRITES_MAX)
      throw new HyperspaceError('overloaded', `outbox holds ${queued} queued writes (max ${OUTBOX_WRITES_MAX}); sync with the server before writing more`);
    const tx = this.idb.transaction('outbox', 'readwrite', { durability: 'strict' });
    tx.objectStore('outbox').add({ collection, op, queuedAtMs: Date.now() } satisfies Entry);
    await new Promise<void>((resolve, reject) => { tx.oncomplete = () => resolve(); tx.onerror = () => reject(tx.error); });
  }

  /** Queue an upsert for the server's `collection` (validated like Collection.upsert). */
  async upsert(collection: string, points: readonly PointInput[]): Promise<void> {
    validatePoints(collection, this.db().collection(collection).config, points);
    await this.add(collection, { kind: 'upsert', points: points.map((p) => ({ id: p.id, vector: Array.from(p.vector), ...(p.metadata ? { metadata: p.metadata } : {}) })) });
  }

  async delete(collection: string, ids: readonly string[]): Promise<void> {
    this.db().collection(collection);
    await this.add(collection, { kind: 'delete', ids: validateIds(ids) });
  }

  /** Queued writes (of one collection, or all). */
  async pending(collection?: string): Promise<number> {
    const entries = (await request(this.idb.transaction('outbox').objectStore('outbox').getAll())) as Entry[];
    return entries.filter((e) => collection === undefined || e.collection === collection).length;
  }

  /**
   * Push queued writes, oldest first, each under an idempotency key made from
   * its queue position, so a push whose reply was lost is not applied twice.
   */
  async push(server: HttpServer, collection?: string): Promise<PushReport> {
    const report: PushReport = { pushed: 0, rejected: [], remaining: 0 };
    const store = () => this.idb.transaction('outbox').objectStore('outbox');
    const [keys, entries] = await Promise.all([request(store().getAllKeys()), request(store().getAll())]) as [number[], Entry[]];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (collection !== undefined && entry.collection !== collection) continue;
      const idempotencyKey = `outbox-${this.idb.name}-${keys[i]}-${entry.queuedAtMs}`;
      try {
        if (entry.op.kind === 'upsert') await server.upsert(entry.collection, entry.op.points as never, { idempotencyKey });
        else await server.delete(entry.collection, entry.op.ids, { idempotencyKey });
        report.pushed++;
      } catch (e) {
        if (!(e instanceof HyperspaceError) || !final.has(e.kind)) {
          report.remaining = entries.slice(i).filter((x) => collection === undefined || x.collection === collection).length;
          if (e instanceof HyperspaceError && e.kind === 'unavailable') return report;
          throw e;
        }
        report.rejected.push({ collection: entry.collection, kind: e.kind, message: e.message });
      }
      const tx = this.idb.transaction('outbox', 'readwrite', { durability: 'strict' });
      tx.objectStore('outbox').delete(keys[i]);
      await new Promise<void>((resolve, reject) => { tx.oncomplete = () => resolve(); tx.onerror = () => reject(tx.error); });
    }
    return report;
  }
}
