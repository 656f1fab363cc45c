// WAL segment framing, version 1: docs/format/wal.md. Pure functions over
// bytes; local-wal.ts does the I/O.
import { HyperspaceError } from '../../native/errors.ts';
import { crc32c } from './crc32c.ts';

export const segmentHeaderBytes = 32;
export const recordHeaderBytes = 36;
/** Bytes of a record after the [length][crc][seq] prefix that `length` counts from. */
const recordPrefixBytes = 16;
const formatVersion = 1;
const segmentMagic = new TextEncoder().encode('HSDBWAL\0');
const twoTo32 = 2 ** 32;

/** CRC-32C with chaining; the Node stores pass the native hardware one. */
export type Checksum = (bytes: Uint8Array, crc?: number) => number;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.log`;
}

export function parseSegmentFileName(name: string): number | null {
  const match = /^(\d{20})\.log$/.exec(name);
  if (!match) return null;
  const firstSeq = Number(match[1]);
  return Number.isSafeInteger(firstSeq) && firstSeq >= 1 ? firstSeq : null;
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % twoTo32, true);
  view.setUint32(offset + 4, Math.floor(value / twoTo32), true);
}

/** A u64 as a number; values past 2^53 − 1 come back as NaN (never valid). */
function getU64(view: DataView, offset: number): number {
  const value = view.getUint32(offset + 4, true) * twoTo32 + view.getUint32(offset, true);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function segmentHeaderChecksum(header: Uint8Array): number {
  return crc32c(header.subarray(16, 32), crc32c(header.subarray(0, 12)));
}

export function encodeSegmentHeader(firstSeq: number): Uint8Array {
  const header = new Uint8Array(segmentHeaderBytes);
  const view = viewOf(header);
  header.set(segmentMagic, 0);
  view.setUint32(8, formatVersion, true);
  setU64(view, 16, firstSeq);
  view.setUint32(12, segmentHeaderChecksum(header), true);
  return header;
}

/** Checks a segment header against the first seq its file name promises. */
export function verifySegmentHeader(path: string, bytes: Uint8Array, firstSeq: number): void {
  const corrupt = (why: string) => new HyperspaceError('data', `wal segment header ${why}: file=${path}`);
  if (bytes.length < segmentHeaderBytes) throw corrupt('truncated');
  for (let i = 0; i < segmentMagic.length; i++) if (bytes[i] !== segmentMagic[i]) throw corrupt('bad magic');
  const view = viewOf(bytes);
  if (view.getUint32(12, true) !== segmentHeaderChecksum(bytes.subarray(0, segmentHeaderBytes))) {
    throw corrupt('checksum mismatch');
  }
  const version = view.getUint32(8, true);
  if (version !== formatVersion) throw corrupt(`version ${version} unsupported`);
  const headerFirstSeq = getU64(view, 16);
  if (headerFirstSeq !== firstSeq) throw corrupt(`first seq ${headerFirstSeq} differs from file name ${firstSeq}`);
}

export interface RecordFields {
  seq: number;
  appendedAtMs: number;
  groupOffset: number;
  key: Uint8Array | null;
  payload: Uint8Array;
  /** CRC-32C of the payload, computed when the append was queued so that it
   * overlaps the previous group's fsync. */
  payloadCrc: number;
}

/** Header and key of one record; the payload follows it unchanged (writev). */
export function encodeRecordHead(fields: RecordFields): Uint8Array {
  const keyLength = fields.key?.length ?? 0;
  const head = new Uint8Array(recordHeaderBytes + keyLength);
  const view = viewOf(head);
  view.setUint32(0, recordHeaderBytes - recordPrefixBytes + keyLength + fields.payload.length, true);
  setU64(view, 8, fields.seq);
  setU64(view, 16, fields.appendedAtMs);
  view.setUint32(24, fields.groupOffset, true);
  view.setUint16(28, keyLength, true);
  view.setUint16(30, 0, true);
  view.setUint32(32, fields.payloadCrc, true);
  if (fields.key) head.set(fields.key, recordHeaderBytes);
  view.setUint32(4, crc32c(head.subarray(8), crc32c(head.subarray(0, 4))), true);
  return head;
}

export interface DecodedRecord {
  seq: number;
  appendedAtMs: number;
  groupOffset: number;
  key: string | null;
  payload: Uint8Array;
  payloadCrc: number;
  /** Total bytes of the record, header included. */
  size: number;
}

export type RecordDamage = 'truncated' | 'checksum';

/**
 * Decodes the record at `offset`, or says why it is damaged. A record whose
 * checksum holds but whose contents are invalid was written that way:
 * corruption, thrown at once.
 */
export function decodeRecord(
  path: string,
  bytes: Uint8Array,
  offset: number,
  checksum: Checksum = crc32c,
): DecodedRecord | RecordDamage {
  const remaining = bytes.length - offset;
  if (remaining < recordHeaderBytes) return 'truncated';
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, remaining);
  const length = view.getUint32(0, true);
  if (length < recordHeaderBytes - recordPrefixBytes || recordPrefixBytes + length > remaining) return 'truncated';
  const size = recordPrefixBytes + length;
  const record = bytes.subarray(offset, offset + size);
  const keyLength = view.getUint16(28, true);
  if (recordHeaderBytes + keyLength > size) return 'checksum';
  const headerCrc = crc32c(record.subarray(8, recordHeaderBytes + keyLength), crc32c(record.subarray(0, 4)));
  if (headerCrc !== view.getUint32(4, true)) return 'checksum';
  const payload = record.subarray(recordHeaderBytes + keyLength);
  const payloadCrc = view.getUint32(32, true);
  if (checksum(payload) !== payloadCrc) return 'checksum';
  const corrupt = (why: string) => new HyperspaceError('data', `wal record ${why}: file=${path} offset=${offset}`);
  const seq = getU64(view, 8);
  const appendedAtMs = getU64(view, 16);
  if (Number.isNaN(seq) || seq < 1 || Number.isNaN(appendedAtMs)) throw corrupt('has an out-of-range field');
  const flags = view.getUint16(30, true);
  if (flags !== 0) throw corrupt(`has unknown flags ${flags}`);
  return {
    seq,
    appendedAtMs,
    groupOffset: view.getUint32(24, true),
    key: keyLength === 0 ? null : new TextDecoder().decode(record.subarray(recordHeaderBytes, recordHeaderBytes + keyLength)),
    payload,
    payloadCrc,
    size,
  };
}

export function damageError(path: string, offset: number, damage: RecordDamage): HyperspaceError {
  const what = damage === 'checksum' ? 'checksum mismatch' : 'truncated';
  return new HyperspaceError('data', `wal record ${what}: file=${path} offset=${offset}`);
}

export interface ScannedSegment {
  records: DecodedRecord[];
  /** Byte offset of each record in `records`. */
  offsets: number[];
  /** Where the valid records end: the file length, or the start of a torn tail. */
  validBytes: number;
}

/**
 * Verifies every record of a segment file (docs/format/wal.md "Recovery"). Only
 * in the last segment may a damaged tail be the unacknowledged last group, which
 * is cut off; any other damage throws a `data` error naming file and offset.
 */
export function scanSegment(
  path: string,
  bytes: Uint8Array,
  firstSeq: number,
  isLastSegment: boolean,
  checksum: Checksum = crc32c,
): ScannedSegment {
  verifySegmentHeader(path, bytes, firstSeq);
  const records: DecodedRecord[] = [];
  const offsets: number[] = [];
  let offset = segmentHeaderBytes;
  let expectedSeq = firstSeq;
  while (offset < bytes.length) {
    const decoded = decodeRecord(path, bytes, offset, checksum);
    if (typeof decoded === 'string') {
      if (!isLastSegment || laterGroupFollows(path, bytes, offset, expectedSeq, checksum)) {
        throw damageError(path, offset, decoded);
      }
      return { records, offsets, validBytes: offset };
    }
    if (decoded.seq !== expectedSeq) {
      throw new HyperspaceError(
        'data',
        `wal sequence gap: file=${path} offset=${offset} expected=${expectedSeq} got=${decoded.seq}`,
      );
    }
    records.push(decoded);
    offsets.push(offset);
    offset += decoded.size;
    expectedSeq++;
  }
  return { records, offsets, validBytes: offset };
}

/**
 * True if a valid record after the damage at `damageOffset` was written by a
 * later group than the one that should hold `expectedSeq`; that group was only
 * written after the damaged one had been synced and acknowledged.
 */
function laterGroupFollows(
  path: string,
  bytes: Uint8Array,
  damageOffset: number,
  expectedSeq: number,
  checksum: Checksum,
): boolean {
  const seqMax = expectedSeq + Math.floor((bytes.length - damageOffset) / recordHeaderBytes);
  const view = viewOf(bytes);
  for (let offset = damageOffset + 1; offset + recordHeaderBytes <= bytes.length; offset++) {
    const seq = getU64(view, offset + 8);
    if (!(seq > expectedSeq && seq <= seqMax)) continue;
    let decoded: DecodedRecord | RecordDamage;
    try {
      decoded = decodeRecord(path, bytes, offset, checksum);
    } catch {
      continue;
    }
    if (typeof decoded !== 'string' && decoded.seq - decoded.groupOffset > expectedSeq) return true;
  }
  return false;
}
