// The payload of one WAL record: one batch of upserts or deletes, all
// committed under the record's sequence number. Layout (little-endian):
//   u8 version = 1, u8 kind (1 upsert, 2 delete), u16 zero, u32 count, u32 dimension,
//   upsert: count × dimension f32 vectors (4-aligned, viewed without copying),
//           then per record: u16 id bytes, id UTF-8, u32 metadata bytes, canonical JSON
//   delete: per id: u16 id bytes, id UTF-8
//   replicated (kind 3, written by a replica, docs/format/merkle.md "Applying on
//   the replica"): count = upserts, then u64 sourceSeq (the leader seq this
//   batch brings the replica to), u32 deletes; count × dimension f32 vectors;
//   per upsert: u64 leader seq, u16 id bytes, id, u32 metadata bytes, canonical JSON;
//   per delete: u16 id bytes, id
import { dataError } from '../native/errors.ts';
import { canonicalJsonBytes } from './canonical-json.ts';
import type { Metadata, ValidRecord } from './validate.ts';

export type WalOp =
  /** `sourceSeq`: the leader's seq of a replicated record (its Merkle leaf uses it). */
  | { kind: 'upsert'; id: string; vector: Float32Array; metadata: Metadata; sourceSeq?: number }
  | { kind: 'delete'; id: string };

const KIND_UPSERT = 1, KIND_DELETE = 2, KIND_REPLICATED = 3, HEADER = 12, REPLICATED_HEADER = 24;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeUpserts(records: readonly ValidRecord[], dimension: number): Uint8Array {
  const ids = records.map((r) => encoder.encode(r.id));
  const metas = records.map((r) => canonicalJsonBytes(r.metadata ?? {}));
  let bytes = HEADER + records.length * dimension * 4;
  for (let i = 0; i < records.length; i++) bytes += 2 + ids[i].length + 4 + metas[i].length;
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  writeHeader(view, KIND_UPSERT, records.length, dimension);
  const vectors = new Float32Array(out.buffer, HEADER, records.length * dimension);
  records.forEach((r, i) => vectors.set(r.vector, i * dimension));
  let at = HEADER + records.length * dimension * 4;
  for (let i = 0; i < records.length; i++) {
    view.setUint16(at, ids[i].length, true);
    out.set(ids[i], at + 2);
    at += 2 + ids[i].length;
    view.setUint32(at, metas[i].length, true);
    out.set(metas[i], at + 4);
    at += 4 + metas[i].length;
  }
  return out;
}

export function encodeDeletes(ids: readonly string[]): Uint8Array {
  const encoded = ids.map((id) => encoder.encode(id));
  const out = new Uint8Array(HEADER + encoded.reduce((s, b) => s + 2 + b.length, 0));
  const view = new DataView(out.buffer);
  writeHeader(view, KIND_DELETE, ids.length, 0);
  let at = HEADER;
  for (const b of encoded) {
    view.setUint16(at, b.length, true);
    out.set(b, at + 2);
    at += 2 + b.length;
  }
  return out;
}

/** A replica's batch: the leader's records (each id once) with the leader's seqs. */
export function encodeReplicated(upserts: readonly { id: string; sourceSeq: number; vector: Float32Array; metadata: Metadata }[],
  deletes: readonly string[], sourceSeq: number, dimension: number): Uint8Array {
  const ids = upserts.map((r) => encoder.encode(r.id));
  const metas = upserts.map((r) => canonicalJsonBytes(r.metadata ?? {}));
  const deleted = deletes.map((id) => encoder.encode(id));
  let bytes = REPLICATED_HEADER + upserts.length * dimension * 4;
  for (let i = 0; i < upserts.length; i++) bytes += 8 + 2 + ids[i].length + 4 + metas[i].length;
  for (const b of deleted) bytes += 2 + b.length;
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  writeHeader(view, KIND_REPLICATED, upserts.length, dimension);
  view.setBigUint64(12, BigInt(sourceSeq), true);
  view.setUint32(20, deletes.length, true);
  const vectors = new Float32Array(out.buffer, REPLICATED_HEADER, upserts.length * dimension);
  upserts.forEach((r, i) => vectors.set(r.vector, i * dimension));
  let at = REPLICATED_HEADER + upserts.length * dimension * 4;
  for (let i = 0; i < upserts.length; i++) {
    view.setBigUint64(at, BigInt(upserts[i].sourceSeq), true);
    view.setUint16(at + 8, ids[i].length, true);
    out.set(ids[i], at + 10);
    at += 10 + ids[i].length;
    view.setUint32(at, metas[i].length, true);
    out.set(metas[i], at + 4);
    at += 4 + metas[i].length;
  }
  for (const b of deleted) {
    view.setUint16(at, b.length, true);
    out.set(b, at + 2);
    at += 2 + b.length;
  }
  return out;
}

/** The leader seq a replicated batch brings its replica to; undefined for a local write. */
export function batchSourceSeq(payload: Uint8Array): number | undefined {
  if (payload.length < REPLICATED_HEADER || payload[1] !== KIND_REPLICATED) return undefined;
  return Number(new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(12, true));
}

function writeHeader(view: DataView, kind: number, count: number, dimension: number): void {
  view.setUint8(0, 1);
  view.setUint8(1, kind);
  view.setUint32(4, count, true);
  view.setUint32(8, dimension, true);
}

/** Decodes one payload; `where` names the record in a `data` error. */
export function decodeBatch(payload: Uint8Array, where: string): WalOp[] {
  try {
    return decode(payload);
  } catch (e) {
    throw dataError(`wal batch undecodable: ${where}: ${(e as Error).message}`, e);
  }
}

function decode(payload: Uint8Array): WalOp[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload.length < HEADER || view.getUint8(0) !== 1) throw new Error('bad version');
  const kind = view.getUint8(1), count = view.getUint32(4, true), dimension = view.getUint32(8, true);
  const ops: WalOp[] = [];
  if (kind === KIND_DELETE) {
    let at = HEADER;
    for (let i = 0; i < count; i++) {
      const n = view.getUint16(at, true);
      ops.push({ kind: 'delete', id: decoder.decode(payload.subarray(at + 2, at + 2 + n)) });
      at += 2 + n;
    }
    if (at !== payload.length) throw new Error('trailing bytes');
    return ops;
  }
  if (kind !== KIND_UPSERT && kind !== KIND_REPLICATED) throw new Error(`unknown kind ${kind}`);
  const replicated = kind === KIND_REPLICATED;
  const start = replicated ? REPLICATED_HEADER : HEADER;
  const vectorBytes = count * dimension * 4;
  if (start + vectorBytes > payload.length) throw new Error('truncated vectors');
  // A copy, 4-aligned, that the tail may keep without pinning the WAL buffer.
  const vectors = new Float32Array(payload.slice(start, start + vectorBytes).buffer);
  let at = start + vectorBytes;
  for (let i = 0; i < count; i++) {
    let sourceSeq: number | undefined;
    if (replicated) {
      sourceSeq = Number(view.getBigUint64(at, true));
      at += 8;
    }
    const n = view.getUint16(at, true);
    const id = decoder.decode(payload.subarray(at + 2, at + 2 + n));
    at += 2 + n;
    const m = view.getUint32(at, true);
    const metadata = JSON.parse(decoder.decode(payload.subarray(at + 4, at + 4 + m))) as Metadata;
    at += 4 + m;
    const op: WalOp = { kind: 'upsert', id, vector: vectors.subarray(i * dimension, (i + 1) * dimension), metadata };
    if (sourceSeq !== undefined) op.sourceSeq = sourceSeq;
    ops.push(op);
  }
  const deletes = replicated ? view.getUint32(20, true) : 0;
  for (let i = 0; i < deletes; i++) {
    const n = view.getUint16(at, true);
    ops.push({ kind: 'delete', id: decoder.decode(payload.subarray(at + 2, at + 2 + n)) });
    at += 2 + n;
  }
  if (at !== payload.length) throw new Error('trailing bytes');
  return ops;
}
