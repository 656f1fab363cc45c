// File-system helpers of the local stores (Node only): atomic replacement,
// directory fsync, checksummed record files (docs/format/local-stores.md).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HyperspaceError } from '../../native/errors.ts';
import { crc32c } from './crc32c.ts';

/** Counts fsync calls, so tests can see group commit at work. */
export interface SyncCounter {
  fsyncs: number;
}

export async function fsyncDirectory(path: string, counter?: SyncCounter): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
    if (counter) counter.fsyncs++;
  } finally {
    await handle.close();
  }
}

/** mkdir -p, then fsync each parent of a newly created directory so the new
 * entries survive a power loss. */
export async function ensureDirectory(path: string, counter?: SyncCounter): Promise<void> {
  const firstCreated = await mkdir(path, { recursive: true });
  if (firstCreated === undefined) return;
  let directory = path;
  while (true) {
    const parent = dirname(directory);
    await fsyncDirectory(parent, counter);
    if (directory === firstCreated || parent === directory) break;
    directory = parent;
  }
}

export function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

export async function writeAndSync(path: string, bytes: Uint8Array, flags: string, counter?: SyncCounter) {
  const handle = await open(path, flags);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
    if (counter) counter.fsyncs++;
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `bytes` atomically: temp file, fsync, rename, fsync dir. */
export async function writeFileAtomic(path: string, bytes: Uint8Array, counter?: SyncCounter): Promise<void> {
  const temporary = temporaryName(path);
  try {
    await writeAndSync(temporary, bytes, 'wx', counter);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await fsyncDirectory(dirname(path), counter);
}

export function isErrorCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

// Record files: magic, version, body length, CRC-32C of the body, JSON body.
const recordMagic = new TextEncoder().encode('HSDBREC\0');
const recordHeaderBytes = 20;
const recordFormatVersion = 1;

export function encodeRecordFile(body: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  const bytes = new Uint8Array(recordHeaderBytes + json.length);
  const view = new DataView(bytes.buffer);
  bytes.set(recordMagic, 0);
  view.setUint32(8, recordFormatVersion, true);
  view.setUint32(12, json.length, true);
  view.setUint32(16, crc32c(json), true);
  bytes.set(json, recordHeaderBytes);
  return bytes;
}

export function decodeRecordFile(path: string, bytes: Uint8Array): unknown {
  const corrupt = (why: string) => new HyperspaceError('data', `record file ${why}: file=${path}`);
  if (bytes.length < recordHeaderBytes) throw corrupt('too short');
  for (let i = 0; i < recordMagic.length; i++) if (bytes[i] !== recordMagic[i]) throw corrupt('bad magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== recordFormatVersion) throw corrupt(`version ${version} unsupported`);
  const length = view.getUint32(12, true);
  if (recordHeaderBytes + length !== bytes.length) throw corrupt('length mismatch');
  const body = bytes.subarray(recordHeaderBytes);
  if (crc32c(body) !== view.getUint32(16, true)) throw corrupt('checksum mismatch');
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (error) {
    throw new HyperspaceError('data', `record file body is not JSON: file=${path}`, { cause: error });
  }
}

/** The decoded body, or null if the file does not exist. */
export async function readRecordFile(path: string): Promise<unknown | null> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return null;
    throw error;
  }
  return decodeRecordFile(path, bytes);
}

export async function writeRecordFile(path: string, body: unknown, counter?: SyncCounter): Promise<void> {
  await writeFileAtomic(path, encodeRecordFile(body), counter);
}

/** Runs async sections one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section);
    this.tail = result.catch(() => {});
    return result;
  }
}
