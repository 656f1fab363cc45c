// Fault-injecting wrappers for tests (LevelDB's fault-injection Env): make the
// next call of an operation fail before it reaches the store, or let it apply
// and then lose the reply — the ambiguous outcome callers must reconcile by
// reading back (STYLE "Errors tell the caller what to do").
import { HyperspaceError } from '../../native/errors.ts';
import type { AppendOptions, CasOptions, LogStore, ManifestPointer, ReadOptions } from './log-store.ts';
import type { ByteRange, ObjectStore } from './object-store.ts';

type Fault = { kind: 'fail'; error: unknown } | { kind: 'apply-then-fail'; error: unknown };

/** Queued faults per operation name, consumed one per call in order. */
export class FaultPlan<Operation extends string> {
  private readonly faults = new Map<Operation, Fault[]>();
  /** Calls seen per operation, faulted or not. */
  readonly calls = new Map<Operation, number>();

  /** The next call of `operation` throws `error` without reaching the store. */
  failNext(operation: Operation, error: unknown = injected('unavailable', operation, 'before apply')): void {
    this.push(operation, { kind: 'fail', error });
  }

  /** The next call of `operation` reaches the store and applies, then throws. */
  applyThenFail(operation: Operation, error: unknown = injected('unavailable', operation, 'after apply')): void {
    this.push(operation, { kind: 'apply-then-fail', error });
  }

  clear(): void {
    this.faults.clear();
  }

  async run<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const fault = this.faults.get(operation)?.shift();
    if (fault?.kind === 'fail') throw fault.error;
    const result = await call();
    if (fault?.kind === 'apply-then-fail') throw fault.error;
    return result;
  }

  private push(operation: Operation, fault: Fault): void {
    const queue = this.faults.get(operation) ?? [];
    queue.push(fault);
    this.faults.set(operation, queue);
  }
}

function injected(kind: 'unavailable', operation: string, when: string): HyperspaceError {
  return new HyperspaceError(kind, `injected fault ${when}: operation=${operation}`);
}

export type ObjectStoreOperation = 'put' | 'get' | 'head' | 'list' | 'delete';

export class FaultyObjectStore extends FaultPlan<ObjectStoreOperation> implements ObjectStore {
  readonly inner: ObjectStore;

  constructor(inner: ObjectStore) {
    super();
    this.inner = inner;
    if (inner.localPath) this.localPath = (key: string) => inner.localPath!(key);
  }

  localPath?: (key: string) => string | undefined;

  put(key: string, bytes: Uint8Array) {
    return this.run('put', () => this.inner.put(key, bytes));
  }
  get(key: string, range?: ByteRange) {
    return this.run('get', () => this.inner.get(key, range));
  }
  head(key: string) {
    return this.run('head', () => this.inner.head(key));
  }
  list(prefix: string) {
    return this.run('list', () => this.inner.list(prefix));
  }
  delete(key: string) {
    return this.run('delete', () => this.inner.delete(key));
  }
}

export type LogStoreOperation = Exclude<keyof LogStore, 'close'>;

export class FaultyLogStore extends FaultPlan<LogStoreOperation> implements LogStore {
  readonly inner: LogStore;

  constructor(inner: LogStore) {
    super();
    this.inner = inner;
  }

  append(collection: string, payload: Uint8Array, options?: AppendOptions) {
    return this.run('append', () => this.inner.append(collection, payload, options));
  }
  read(collection: string, fromSeq: number, options?: ReadOptions) {
    return this.run('read', () => this.inner.read(collection, fromSeq, options));
  }
  lastSeq(collection: string) {
    return this.run('lastSeq', () => this.inner.lastSeq(collection));
  }
  truncateBefore(collection: string, seq: number) {
    return this.run('truncateBefore', () => this.inner.truncateBefore(collection, seq));
  }
  getPointer(collection: string) {
    return this.run('getPointer', () => this.inner.getPointer(collection));
  }
  casPointer(collection: string, expectedVersion: number | null, next: ManifestPointer, options?: CasOptions) {
    return this.run('casPointer', () => this.inner.casPointer(collection, expectedVersion, next, options));
  }
  acquireLease(collection: string, owner: string, ttlMs: number) {
    return this.run('acquireLease', () => this.inner.acquireLease(collection, owner, ttlMs));
  }
  releaseLease(collection: string, owner: string, epoch: number) {
    return this.run('releaseLease', () => this.inner.releaseLease(collection, owner, epoch));
  }
  putCollectionConfig(name: string, json: string, options?: { ifAbsent?: boolean }) {
    return this.run('putCollectionConfig', () => this.inner.putCollectionConfig(name, json, options));
  }
  getCollectionConfig(name: string) {
    return this.run('getCollectionConfig', () => this.inner.getCollectionConfig(name));
  }
  listCollections() {
    return this.run('listCollections', () => this.inner.listCollections());
  }
  dropCollection(name: string) {
    return this.run('dropCollection', () => this.inner.dropCollection(name));
  }
  close() {
    return this.inner.close();
  }
}
