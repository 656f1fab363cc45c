// API keys on disk: `<data>/keys.json` holds only SHA-256 hashes of the
// secrets, never a secret. Written atomically (temporary file, fsync, rename,
// fsync of the directory) with mode 0600. Format: docs/api.md "API keys".
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HyperspaceError } from '../../engine/index.ts';
import type { Access } from '../handlers.ts';

export const keysFileName = 'keys.json';
export const keysFormatVersion = 1;
export const keyPrefix = 'hs_';

export interface RateLimit {
  /** Sustained requests per second; 0 means unlimited. */
  perSecond: number;
  /** Requests allowed at once after an idle period. */
  burst: number;
}

export const rateLimitDefault: RateLimit = { perSecond: 1000, burst: 2000 };

export interface KeyRecord {
  /** Public identifier, also the middle of the secret (`hs_<id>_<secret>`). */
  id: string;
  name: string;
  /** Hex SHA-256 of the whole secret key. */
  hash: string;
  collections: '*' | string[];
  access: Access;
  rate: RateLimit;
  createdAt: string;
  revokedAt: string | null;
}

interface KeysFile {
  version: number;
  keys: KeyRecord[];
}

export function keysPath(dataDir: string): string {
  return join(dataDir, keysFileName);
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** All keys in the file, revoked ones included; [] when there is no file. */
export async function readKeys(dataDir: string): Promise<KeyRecord[]> {
  let text: string;
  try {
    text = await readFile(keysPath(dataDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: KeysFile;
  try {
    parsed = JSON.parse(text) as KeysFile;
  } catch (e) {
    throw new HyperspaceError('data', `keys file is not valid JSON: path=${keysPath(dataDir)} (${(e as Error).message})`);
  }
  if (parsed?.version !== keysFormatVersion || !Array.isArray(parsed.keys)) {
    throw new HyperspaceError('data', `keys file has an unknown format: path=${keysPath(dataDir)} version=${String(parsed?.version)}`);
  }
  return parsed.keys;
}

/** The file's modification time, to reload only when it changed; 0 when absent. */
export async function keysVersion(dataDir: string): Promise<number> {
  try {
    const s = await stat(keysPath(dataDir));
    return s.mtimeMs * 1000 + s.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

async function writeKeys(dataDir: string, keys: KeyRecord[]): Promise<void> {
  const target = keysPath(dataDir);
  const temporary = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const body = JSON.stringify({ version: keysFormatVersion, keys } satisfies KeysFile, null, 2) + '\n';
  await mkdir(dataDir, { recursive: true });
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(body, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, target);
  } catch (e) {
    await unlink(temporary).catch(() => undefined);
    throw e;
  }
  const directory = await open(dataDir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

export interface CreateKeyOptions {
  name: string;
  collections: '*' | string[];
  access: Access;
  rate?: RateLimit;
}

/** Adds a key; returns the secret, which is shown once and never stored. */
export async function createKey(dataDir: string, options: CreateKeyOptions): Promise<{ secret: string; record: KeyRecord }> {
  const keys = await readKeys(dataDir);
  const id = randomBytes(6).toString('hex');
  const secret = `${keyPrefix}${id}_${randomBytes(32).toString('base64url')}`;
  const record: KeyRecord = {
    id, name: options.name, hash: hashKey(secret), collections: options.collections, access: options.access,
    rate: options.rate ?? rateLimitDefault, createdAt: new Date().toISOString(), revokedAt: null,
  };
  await writeKeys(dataDir, [...keys, record]);
  return { secret, record };
}

/** Marks a key revoked (kept for the audit trail); not_found for an unknown id. */
export async function revokeKey(dataDir: string, id: string): Promise<KeyRecord> {
  const keys = await readKeys(dataDir);
  const record = keys.find((k) => k.id === id);
  if (!record) throw new HyperspaceError('not_found', `API key not found: id=${id}`);
  if (record.revokedAt === null) {
    record.revokedAt = new Date().toISOString();
    await writeKeys(dataDir, keys);
  }
  return record;
}
