// Manifest files (docs/format/manifest.md): immutable JSON snapshots of a
// collection, keyed by version and writer epoch, made current by pointer CAS.
import { crc32c, dataError } from '../native/index.ts';
import type { CollectionConfig } from './validate.ts';

export interface SegmentEntry {
  key: string;
  bytes: number;
  count: number;
  minSeq: number;
  maxSeq: number;
  root: string;
  /** Bytes from the file's start a cold reader fetches in one GET (docs/format/segment.md §8); absent on files without clusters. */
  headBytes?: number;
}

export interface Manifest {
  format: 1;
  collection: string;
  version: number;
  parentVersion: number | null;
  epoch: number;
  walSeq: number;
  config: CollectionConfig;
  segments: SegmentEntry[];
  /** [id, seq]: segment records of this id with a lower seq are dead. */
  deletions: [string, number][];
  createdAtMs: number;
  /** Every delete with a higher seq is in `deletions` or the WAL tail; absent = walSeq
   * (docs/format/merkle.md "Tombstones"). */
  tombstoneHorizon?: number;
  /** On a replica: the leader seq this state reflects; absent on a leader. */
  sourceSeq?: number;
  /** On a region replica: the home manifest version it mirrors (docs/aws.md "Region replicas"). */
  sourceVersion?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function collectionPrefix(collection: string): string {
  return `collections/${collection}/`;
}

export function manifestKey(collection: string, version: number, epoch: number): string {
  return `${collectionPrefix(collection)}manifests/v${String(version).padStart(12, '0')}-e${hex8(epoch)}.json`;
}

export function segmentKey(collection: string, epoch: number, ulid: string): string {
  return `${collectionPrefix(collection)}segments/chunk_${hex8(epoch)}-${ulid}.hyp`;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function emptyManifest(collection: string, config: CollectionConfig): Manifest {
  return { format: 1, collection, version: 0, parentVersion: null, epoch: 0, walSeq: 0, config, segments: [], deletions: [], createdAtMs: Date.now() };
}

export function encodeManifest(m: Manifest): Uint8Array {
  const body = JSON.stringify(m);
  const checksum = crc32c(encoder.encode(body)).toString(16).padStart(8, '0');
  return encoder.encode(`${body.slice(0, -1)},"checksum":"${checksum}"}`);
}

export function decodeManifest(bytes: Uint8Array, key: string): Manifest {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw dataError(`manifest is not valid JSON: file=${key}`, e);
  }
  const { checksum, ...body } = parsed;
  const expected = crc32c(encoder.encode(JSON.stringify(body))).toString(16).padStart(8, '0');
  if (checksum !== expected) throw dataError(`manifest checksum mismatch: file=${key}`);
  if (body.format !== 1) throw dataError(`manifest unsupported format ${String(body.format)}: file=${key}`);
  return body as unknown as Manifest;
}

/** Crockford base32, the ULID alphabet. */
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID (time-ordered, 26 Crockford base32 chars) for segment keys. */
export function ulid(now = Date.now()): string {
  let time = '';
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = alphabet[t % 32] + time;
  const random = crypto.getRandomValues(new Uint8Array(16));
  let rest = '';
  for (let i = 0; i < 16; i++) rest += alphabet[random[i] % 32];
  return time + rest;
}

/** The ms timestamp inside a ULID. */
export function ulidTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + alphabet.indexOf(id[i]);
  return t;
}
