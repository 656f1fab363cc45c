// Immutable blobs (DESIGN §3). Implemented by a local directory (embedded
// default), S3, and later IndexedDB; so only Uint8Array and strings cross it.
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';

export interface ByteRange {
  offset: number;
  length: number;
}

export interface ObjectStore {
  /** Stores `bytes` under `key`. Objects are immutable: the same bytes again is
   * a no-op (a retry), other bytes are a `conflict`. Durable when resolved. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The object, or only `range` of it. Missing key → `not_found`; a range past
   * the end → `invalid`. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  head(key: string): Promise<{ size: number } | null>;
  /** Keys starting with `prefix` (plain string prefix, not only at `/`), sorted
   * by UTF-8 bytes. */
  list(prefix: string): Promise<string[]>;
  /** Removes the object; a missing key is a no-op. */
  delete(key: string): Promise<void>;
  /** A local file holding the object, so a reader can mmap it; only stores on
   * local disk implement it. */
  localPath?(key: string): string | undefined;
  /** Set by a remote store behind a local cache (functions/lambda/segment-cache.ts):
   * a segment of at least this many bytes that is not cached yet is opened
   * partially by ranged reads and downloaded whole in the background
   * (docs/format/segment.md §8). */
  readonly partialOpenBytesMin?: number;
}

const utf8 = new TextEncoder();

/** Keys are relative `/`-separated paths (docs/format/local-stores.md). */
export function assertObjectKey(key: string): void {
  const reject = (why: string): never => {
    throw new HyperspaceError('invalid', `invalid object key: ${why}: key=${JSON.stringify(key)}`);
  };
  if (typeof key !== 'string' || key.length === 0) reject('empty');
  if (utf8.encode(key).length > limits.objectKeyBytesMax) {
    reject(`longer than ${limits.objectKeyBytesMax} bytes`);
  }
  if (key.startsWith('/')) reject('absolute path');
  if (key.includes('\\')) reject('backslash');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) reject('control character');
  const segments = key.split('/');
  for (const segment of segments) {
    if (segment === '') reject('empty path segment');
    if (segment === '.' || segment === '..') reject('relative path segment');
  }
  if (segments[0] === '.tmp') reject('reserved prefix .tmp');
}

/** S3 lists keys in UTF-8 byte order; JS string order differs past the BMP. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function objectNotFound(key: string): HyperspaceError {
  return new HyperspaceError('not_found', `object not found: key=${key}`);
}
