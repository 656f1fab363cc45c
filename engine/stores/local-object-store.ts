// ObjectStore over a local directory, the embedded default
// (docs/format/local-stores.md "Object store").
import { randomBytes } from 'node:crypto';
import { link, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';
import { ensureDirectory, fsyncDirectory, isErrorCode, writeAndSync } from './local-files.ts';
import { assertObjectKey, compareKeys, objectNotFound, type ByteRange, type ObjectStore } from './object-store.ts';

const temporaryDirectoryName = '.tmp';
const staleTemporaryAgeMs = 60 * 60 * 1000;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  private readonly temporaryDirectory: string;

  private constructor(root: string) {
    this.root = root;
    this.temporaryDirectory = join(root, temporaryDirectoryName);
  }

  static async open(root: string): Promise<LocalObjectStore> {
    const store = new LocalObjectStore(resolve(root));
    await ensureDirectory(store.temporaryDirectory);
    await store.removeStaleTemporaries();
    return store;
  }

  localPath(key: string): string {
    assertObjectKey(key);
    return join(this.root, key);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.localPath(key);
    const temporary = join(this.temporaryDirectory, `${process.pid}-${randomBytes(8).toString('hex')}`);
    await writeAndSync(temporary, bytes, 'wx');
    try {
      try {
        await ensureDirectory(dirname(path));
      } catch (error) {
        if (!isErrorCode(error, 'ENOTDIR') && !isErrorCode(error, 'EEXIST')) throw error;
        // A directory tree cannot hold both `a` and `a/b` (S3 can).
        throw new HyperspaceError('conflict', `object key nests under an existing object: key=${key}`);
      }
      try {
        // link never replaces an existing name: the atomic create-if-absent.
        await link(temporary, path);
      } catch (error) {
        if (!isErrorCode(error, 'EEXIST')) throw error;
        if (!(await stat(path)).isFile()) {
          throw new HyperspaceError('conflict', `object key is a prefix of other objects: key=${key}`);
        }
        const existing = await readFile(path);
        if (!sameBytes(existing, bytes)) {
          throw new HyperspaceError(
            'conflict',
            `object already exists with different content: key=${key} size=${existing.length} newSize=${bytes.length}`,
          );
        }
        return;
      }
      await fsyncDirectory(dirname(path));
    } finally {
      await unlink(temporary).catch(() => {});
    }
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const path = this.localPath(key);
    if (range === undefined) {
      try {
        return await readFile(path);
      } catch (error) {
        throw isMissing(error) ? objectNotFound(key) : error;
      }
    }
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new HyperspaceError('invalid', `invalid range: key=${key} offset=${offset} length=${length}`);
    }
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw isMissing(error) ? objectNotFound(key) : error;
    }
    try {
      const { size } = await handle.stat();
      if (offset + length > size) {
        throw new HyperspaceError(
          'invalid',
          `range out of bounds: key=${key} offset=${offset} length=${length} size=${size}`,
        );
      }
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
        if (bytesRead === 0) throw new HyperspaceError('data', `object shrank while reading: key=${key}`);
        done += bytesRead;
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const info = await stat(this.localPath(key));
      return info.isFile() ? { size: info.size } : null;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'ENOTDIR')) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the deepest directory the prefix names in full.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    if (base !== '') assertObjectKey(base);
    const keys: string[] = [];
    const walk = async (directoryKey: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.root, directoryKey), { withFileTypes: true });
      } catch (error) {
        if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'ENOTDIR')) return;
        throw error;
      }
      for (const entry of entries) {
        const key = directoryKey === '' ? entry.name : `${directoryKey}/${entry.name}`;
        if (directoryKey === '' && entry.name === temporaryDirectoryName) continue;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          keys.push(key);
          if (keys.length > limits.objectListKeysMax) {
            throw new HyperspaceError(
              'too_large',
              `too many keys to list: prefix=${prefix} max=${limits.objectListKeysMax}`,
            );
          }
        }
      }
    };
    await walk(base);
    return keys.sort(compareKeys);
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.localPath(key));
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT')) throw error;
    }
  }

  private async removeStaleTemporaries(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.temporaryDirectory)) {
      const path = join(this.temporaryDirectory, name);
      const info = await stat(path).catch(() => null);
      if (info && now - info.mtimeMs > staleTemporaryAgeMs) await unlink(path).catch(() => {});
    }
  }
}

function isMissing(error: unknown): boolean {
  return isErrorCode(error, 'ENOENT') || isErrorCode(error, 'EISDIR') || isErrorCode(error, 'ENOTDIR');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
