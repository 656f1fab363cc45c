// The body of one WAL group item of the DynamoDB log store
// (docs/format/dynamodb.md "Group body"): the records of one group commit.
import { HyperspaceError } from '../../native/errors.ts';
import { crc32c } from '../../native/index.ts';

const MAGIC = new TextEncoder().encode('HSDBWALG');
const VERSION = 1;
export const GROUP_HEADER_BYTES = 32;
const RECORD_HEAD_BYTES = 10;

export interface GroupRecordInput {
  payload: Uint8Array;
  payloadCrc: number;
  /** The idempotency key's UTF-8 bytes, or null. */
  key: Uint8Array | null;
}

export interface GroupRecord {
  payload: Uint8Array;
  key: string | null;
}

export function encodeGroupBody(groupId: Uint8Array, records: GroupRecordInput[]): Uint8Array {
  let size = GROUP_HEADER_BYTES;
  for (const record of records) size += RECORD_HEAD_BYTES + (record.key?.length ?? 0) + record.payload.length;
  const body = new Uint8Array(size);
  const view = new DataView(body.buffer);
  body.set(MAGIC, 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, records.length, true);
  body.set(groupId, 16);
  let offset = GROUP_HEADER_BYTES;
  for (const record of records) {
    const keyLength = record.key?.length ?? 0;
    view.setUint32(offset, record.payload.length, true);
    view.setUint32(offset + 4, record.payloadCrc >>> 0, true);
    view.setUint16(offset + 8, keyLength, true);
    offset += RECORD_HEAD_BYTES;
    if (record.key) body.set(record.key, offset);
    offset += keyLength;
    body.set(record.payload, offset);
    offset += record.payload.length;
  }
  return body;
}

/** Verifies and splits a body; `where` names the group in error messages. */
export function decodeGroupBody(
  body: Uint8Array,
  expected: { count: number; groupId: Uint8Array; bodyBytes: number; bodyCrc: number },
  where: string,
): GroupRecord[] {
  const corrupt = (why: string): never => {
    throw new HyperspaceError('data', `wal group ${why}: ${where}`);
  };
  if (body.length !== expected.bodyBytes) corrupt(`length mismatch (expected=${expected.bodyBytes} got=${body.length})`);
  if (crc32c(body) >>> 0 !== expected.bodyCrc >>> 0) corrupt('checksum mismatch');
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  if (body.length < GROUP_HEADER_BYTES || MAGIC.some((byte, i) => body[i] !== byte)) corrupt('bad magic');
  if (view.getUint32(8, true) !== VERSION) corrupt(`unknown version ${view.getUint32(8, true)}`);
  if (view.getUint32(12, true) !== expected.count) corrupt('record count mismatch');
  if (expected.groupId.some((byte, i) => body[16 + i] !== byte)) corrupt('group id mismatch');
  const decoder = new TextDecoder();
  const records: GroupRecord[] = [];
  let offset = GROUP_HEADER_BYTES;
  for (let i = 0; i < expected.count; i++) {
    if (offset + RECORD_HEAD_BYTES > body.length) corrupt('truncated record');
    const payloadLength = view.getUint32(offset, true);
    const payloadCrc = view.getUint32(offset + 4, true);
    const keyLength = view.getUint16(offset + 8, true);
    offset += RECORD_HEAD_BYTES;
    if (offset + keyLength + payloadLength > body.length) corrupt('truncated record');
    const key = keyLength === 0 ? null : decoder.decode(body.subarray(offset, offset + keyLength));
    offset += keyLength;
    const payload = body.slice(offset, offset + payloadLength);
    offset += payloadLength;
    if (crc32c(payload) >>> 0 !== payloadCrc) corrupt(`payload checksum mismatch (record ${i})`);
    records.push({ payload, key });
  }
  if (offset !== body.length) corrupt('trailing bytes');
  return records;
}
