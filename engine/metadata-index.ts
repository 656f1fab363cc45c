// The per-segment metadata index: inverted postings for strings and booleans,
// sorted numbers for ranges, and the records' canonical metadata by position,
// all in one versioned byte layout that opens lazily (no per-record parsing).
// Layout: docs/format/metadata-index.md (version 1). Filter semantics must match
// `matches` in filter.ts exactly; the tests check it on random data.
import { dataError, HyperspaceError } from '../native/errors.ts';
import { Bitset } from './bitset.ts';
import { canonicalJson, compareUtf8 } from './canonical-json.ts';
import type { FilterExpr, FilterScalar, RangeExpr } from './filter.ts';
import { limits } from './limits.ts';
import type { Metadata } from './validate.ts';

export const metadataIndexVersion = 1;
const magic = 0x584d_5348; // "HSMX" read as u32 LE
const headerBytes = 40;
const fieldEntryBytes = 32;
const termEntryBytes = 16;
const postingsHeaderBytes = 8;
const encodingPositions = 0;
const encodingBitset = 1;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------- building

interface FieldBuild {
  strings: Map<string, number[]>;
  falses: number[];
  trues: number[];
  numbers: Map<number, number[]>; // value → ascending positions
  numberCount: number;
}

/** Serializes the index of `metadata` (position = array index; undefined = {}). */
export function buildMetadataIndex(metadata: readonly (Readonly<Metadata> | undefined)[]): Uint8Array {
  const recordCount = metadata.length;
  if (recordCount > 0xffff_fffe) throw new HyperspaceError('too_large', `metadata index: ${recordCount} records > ${0xffff_fffe}`);
  const fields = new Map<string, FieldBuild>();
  const stored: string[] = [];
  for (let position = 0; position < recordCount; position++) {
    const record = metadata[position] ?? {};
    const json = canonicalJson(record);
    stored.push(json === '{}' ? '' : json); // {} is stored as nothing
    for (const key of Object.keys(record)) {
      let field = fields.get(key);
      if (field === undefined) {
        field = { strings: new Map(), falses: [], trues: [], numbers: new Map(), numberCount: 0 };
        fields.set(key, field);
      }
      addValue(field, record[key], position, key);
    }
  }

  const writer = new ByteWriter();
  writer.reserve(headerBytes);
  const names = [...fields.keys()].sort(compareUtf8);
  const directoryOffset = writer.reserve(names.length * fieldEntryBytes);
  names.forEach((name, fieldIndex) => {
    const field = fields.get(name)!;
    const nameBytes = writer.utf8(name);
    const terms = [...field.strings.keys()].sort(compareUtf8);
    const termsOffset = terms.length > 0 ? writer.reserve(terms.length * termEntryBytes) : 0;
    terms.forEach((term, termIndex) => {
      const positions = field.strings.get(term)!;
      const value = writer.utf8(term);
      const postings = writer.postings(positions, recordCount);
      writer.setU32s(termsOffset + termIndex * termEntryBytes, [value.offset, value.length, postings, positions.length]);
    });
    const falseOffset = field.falses.length > 0 ? writer.postings(field.falses, recordCount) : 0;
    const trueOffset = field.trues.length > 0 ? writer.postings(field.trues, recordCount) : 0;
    const numberCount = field.numberCount;
    const numbersOffset = numberCount > 0 ? writer.reserve(numberCount * 12) : 0;
    let next = 0;
    for (const value of Float64Array.from(field.numbers.keys()).sort()) {
      for (const position of field.numbers.get(value)!) {
        writer.setF64(numbersOffset + next * 8, value);
        writer.setU32(numbersOffset + numberCount * 8 + next * 4, position);
        next++;
      }
    }
    const entry = [nameBytes.offset, nameBytes.length, termsOffset, terms.length, falseOffset, trueOffset, numbersOffset, numberCount];
    writer.setU32s(directoryOffset + fieldIndex * fieldEntryBytes, entry);
  });

  const storeOffsetsOffset = writer.reserve((recordCount + 1) * 4);
  const storeBytesOffset = writer.align(8);
  stored.forEach((json, position) => {
    writer.utf8(json);
    writer.setU32(storeOffsetsOffset + (position + 1) * 4, writer.length - storeBytesOffset);
  });
  writer.align(8);
  writer.setU32s(0, [magic, metadataIndexVersion, recordCount, names.length, writer.length, directoryOffset, storeOffsetsOffset, storeBytesOffset]);
  return writer.finish();
}

function addValue(field: FieldBuild, value: unknown, position: number, key: string): void {
  switch (typeof value) {
    case 'string':
      addPosition(field.strings, value, position);
      return;
    case 'boolean':
      (value ? field.trues : field.falses).push(position);
      return;
    case 'number':
      if (Number.isFinite(value)) {
        addPosition(field.numbers, value === 0 ? 0 : value, position);
        field.numberCount++;
        return;
      }
      break;
    case 'object':
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
        for (const item of value) addPosition(field.strings, item as string, position);
        return;
      }
  }
  throw new HyperspaceError('invalid', `metadata index: unsupported value at key ${JSON.stringify(key)} (position ${position})`);
}

function addPosition<Value>(postings: Map<Value, number[]>, value: Value, position: number): void {
  const positions = postings.get(value);
  if (positions === undefined) postings.set(value, [position]);
  else if (positions[positions.length - 1] !== position) positions.push(position); // arrays may repeat an item
}

// A growable little-endian byte buffer; offsets are absolute within the blob.
// Writing in place (no chunk per term) keeps builds of large segments cheap.
class ByteWriter {
  private bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  align(alignment: number): number {
    const aligned = Math.ceil(this.length / alignment) * alignment;
    this.ensure(aligned - this.length);
    this.length = aligned; // the buffer is zero-filled, so padding is zero
    return aligned;
  }

  /** Zeroed space at an 8-aligned offset, to be filled with the set* methods. */
  reserve(size: number): number {
    const offset = this.align(8);
    this.ensure(size);
    this.length += size;
    return offset;
  }

  utf8(text: string): { offset: number; length: number } {
    const offset = this.length;
    this.ensure(text.length * 3);
    const { written } = textEncoder.encodeInto(text, this.bytes.subarray(offset));
    this.length += written;
    return { offset, length: written };
  }

  /** A postings block: u32 encoding, u32 count, then positions or a bitset, whichever is smaller. */
  postings(positions: readonly number[], recordCount: number): number {
    const bitsetBytes = Math.ceil(recordCount / 8);
    const asBitset = positions.length * 4 > bitsetBytes;
    const offset = this.reserve(postingsHeaderBytes + (asBitset ? bitsetBytes : positions.length * 4));
    this.setU32s(offset, [asBitset ? encodingBitset : encodingPositions, positions.length]);
    const start = offset + postingsHeaderBytes;
    for (let i = 0; i < positions.length; i++) {
      const position = positions[i]!;
      if (asBitset) this.bytes[start + (position >> 3)]! |= 1 << (position & 7);
      else this.setU32(start + i * 4, position);
    }
    return offset;
  }

  setU32(offset: number, value: number): void {
    this.view.setUint32(offset, value, true);
  }

  setU32s(offset: number, values: readonly number[]): void {
    for (let i = 0; i < values.length; i++) this.setU32(offset + i * 4, values[i]!);
  }

  setF64(offset: number, value: number): void {
    this.view.setFloat64(offset, value, true);
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    if (needed > limits.metadataIndexBytesMax) tooLarge(needed);
    const grown = new Uint8Array(Math.min(Math.max(needed, this.bytes.length * 2), limits.metadataIndexBytesMax));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

const hostIsLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function tooLarge(bytes: number): never {
  throw new HyperspaceError('too_large', `metadata index too large: more than ${limits.metadataIndexBytesMax} bytes (${bytes} so far); build smaller segments`);
}

// ---------------------------------------------------------------- reading

interface FieldView {
  termsOffset: number;
  termCount: number;
  falseOffset: number;
  trueOffset: number;
  numberValues: Float64Array;
  numberPositions: Uint32Array;
}

/**
 * An opened metadata index. Typed-array views over the bytes (which it keeps);
 * fields are found by binary search in the directory and checked on first use.
 */
export class MetadataIndex {
  readonly recordCount: number;
  readonly fieldCount: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly directoryOffset: number;
  private readonly storeOffsets: Uint32Array;
  private readonly storeBytesOffset: number;
  private readonly fieldCache = new Map<string, FieldView | null>();

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < headerBytes || this.u32(0) !== magic) throw corrupt('bad magic');
    if (this.u32(4) !== metadataIndexVersion) throw corrupt(`unsupported version ${this.u32(4)} (this build reads ${metadataIndexVersion})`);
    this.recordCount = this.u32(8);
    this.fieldCount = this.u32(12);
    if (this.u32(16) !== bytes.length) throw corrupt(`length ${bytes.length} but header says ${this.u32(16)}`);
    this.directoryOffset = this.u32(20);
    this.checkRange(this.directoryOffset, this.fieldCount * fieldEntryBytes, 4, 'field directory');
    const storeOffsetsOffset = this.u32(24);
    this.checkRange(storeOffsetsOffset, (this.recordCount + 1) * 4, 4, 'metadata offsets');
    this.storeOffsets = this.u32Array(storeOffsetsOffset, this.recordCount + 1);
    this.storeBytesOffset = this.u32(28);
    const storeLength = this.storeOffsets[this.recordCount]!;
    this.checkRange(this.storeBytesOffset, storeLength, 1, 'metadata store');
  }

  /** Opens serialized index bytes (copied once if not 8-byte aligned). Throws `data` on a malformed layout. */
  static open(bytes: Uint8Array): MetadataIndex {
    // new Uint8Array(view) copies into a fresh buffer (Buffer#slice would not).
    return new MetadataIndex(bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes));
  }

  static build(metadata: readonly (Readonly<Metadata> | undefined)[]): MetadataIndex {
    return MetadataIndex.open(buildMetadataIndex(metadata));
  }

  /** The metadata of the record at `position`, parsed from its canonical JSON. */
  metadataAt(position: number): Metadata {
    if (!Number.isInteger(position) || position < 0 || position >= this.recordCount) {
      throw new RangeError(`position ${position} outside [0, ${this.recordCount})`);
    }
    const start = this.storeOffsets[position]!;
    const end = this.storeOffsets[position + 1]!;
    if (end < start) throw corrupt(`metadata offsets decrease at position ${position}`);
    if (end === start) return {};
    const from = this.storeBytesOffset + start;
    try {
      return JSON.parse(textDecoder.decode(this.bytes.subarray(from, this.storeBytesOffset + end))) as Metadata;
    } catch (error) {
      throw dataError(`metadata index: unreadable metadata at position ${position}`, error);
    }
  }

  /** The indexed field names, in UTF-8 byte order. */
  fieldNames(): string[] {
    return Array.from({ length: this.fieldCount }, (_, index) => this.fieldName(index));
  }

  /** The positions of the records that match `expr`. */
  evaluate(expr: FilterExpr): Bitset {
    const n = this.recordCount;
    switch (expr.kind) {
      case 'all':
        return Bitset.full(n);
      case 'eq':
        return this.equal(expr.field, expr.value);
      case 'ne':
        return this.equal(expr.field, expr.value).not();
      case 'in':
        return this.anyEqual(expr.field, expr.values);
      case 'nin':
        return this.anyEqual(expr.field, expr.values).not();
      case 'range': {
        const result = new Bitset(n);
        const field = this.field(expr.field);
        if (field !== null) {
          const [from, to] = rangeBounds(field.numberValues, expr);
          for (let i = from; i < to; i++) result.set(this.position(field.numberPositions[i]!));
        }
        return result;
      }
      case 'and': {
        // Most selective first, and stop as soon as nothing is left.
        const children = [...expr.children].sort((a, b) => this.estimate(a) - this.estimate(b));
        const result = this.evaluate(children[0]!);
        for (let i = 1; i < children.length && result.popcount() > 0; i++) result.and(this.evaluate(children[i]!));
        return result;
      }
      case 'or': {
        const result = new Bitset(n);
        for (const child of expr.children) result.or(this.evaluate(child));
        return result;
      }
      case 'not':
        return this.evaluate(expr.child).not();
    }
  }

  /** The estimated fraction (0..1) of records matching `expr`; exact for leaves, independence for and/or. */
  estimate(expr: FilterExpr): number {
    const n = this.recordCount;
    if (n === 0) return 0;
    switch (expr.kind) {
      case 'all':
        return 1;
      case 'eq':
        return this.equalCount(expr.field, expr.value) / n;
      case 'ne':
        return 1 - this.equalCount(expr.field, expr.value) / n;
      case 'in':
        return Math.min(1, distinct(expr.values).reduce((sum: number, value) => sum + this.equalCount(expr.field, value), 0) / n);
      case 'nin':
        return 1 - this.estimate({ kind: 'in', field: expr.field, values: expr.values });
      case 'range': {
        const field = this.field(expr.field);
        if (field === null) return 0;
        const [from, to] = rangeBounds(field.numberValues, expr);
        return (to - from) / n;
      }
      case 'and':
        return expr.children.reduce((product, child) => product * this.estimate(child), 1);
      case 'or':
        return 1 - expr.children.reduce((product, child) => product * (1 - this.estimate(child)), 1);
      case 'not':
        return 1 - this.estimate(expr.child);
    }
  }

  private anyEqual(name: string, values: readonly FilterScalar[]): Bitset {
    const result = new Bitset(this.recordCount);
    for (const value of distinct(values)) result.or(this.equal(name, value));
    return result;
  }

  private equal(name: string, value: FilterScalar): Bitset {
    const result = new Bitset(this.recordCount);
    const field = this.field(name);
    if (field === null) return result;
    if (typeof value === 'number') {
      const [from, to] = equalBounds(field.numberValues, value);
      for (let i = from; i < to; i++) result.set(this.position(field.numberPositions[i]!));
    } else {
      const postings = typeof value === 'boolean' ? (value ? field.trueOffset : field.falseOffset) : this.termPostings(field, value);
      if (postings !== 0) this.addPostings(result, postings);
    }
    return result;
  }

  private equalCount(name: string, value: FilterScalar): number {
    const field = this.field(name);
    if (field === null) return 0;
    if (typeof value === 'number') {
      const [from, to] = equalBounds(field.numberValues, value);
      return to - from;
    }
    const postings = typeof value === 'boolean' ? (value ? field.trueOffset : field.falseOffset) : this.termPostings(field, value);
    return postings === 0 ? 0 : this.u32(postings + 4);
  }

  /** The postings offset of the string term `value`, 0 when absent. */
  private termPostings(field: FieldView, value: string): number {
    const entry = this.findEntry(field.termsOffset, termEntryBytes, field.termCount, value, 'term');
    return entry < 0 ? 0 : this.u32(entry + 8);
  }

  /**
   * Binary search of a table sorted by key bytes whose entries start with
   * `{ u32 key offset, u32 key length }` (the field directory, term tables).
   * Returns the entry's offset, or -1.
   */
  private findEntry(tableOffset: number, entryBytes: number, count: number, key: string, what: string): number {
    const wanted = textEncoder.encode(key);
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const entry = tableOffset + middle * entryBytes;
      const order = compareBytes(this.slice(this.u32(entry), this.u32(entry + 4), what), wanted);
      if (order === 0) return entry;
      if (order < 0) low = middle + 1;
      else high = middle;
    }
    return -1;
  }

  private addPostings(result: Bitset, offset: number): void {
    this.checkRange(offset, postingsHeaderBytes, 8, 'postings');
    const encoding = this.u32(offset);
    const count = this.u32(offset + 4);
    if (count > this.recordCount) throw corrupt(`postings at ${offset} count ${count} > ${this.recordCount} records`);
    if (encoding === encodingPositions) {
      const positions = this.u32Array(offset + postingsHeaderBytes, count);
      for (let i = 0; i < count; i++) result.set(this.position(positions[i]!));
    } else if (encoding === encodingBitset) {
      result.orBytes(this.slice(offset + postingsHeaderBytes, Math.ceil(this.recordCount / 8), 'postings bitset'));
    } else {
      throw corrupt(`postings at ${offset} have unknown encoding ${encoding}`);
    }
  }

  private field(name: string): FieldView | null {
    let field = this.fieldCache.get(name);
    if (field === undefined) {
      field = this.findField(name);
      if (this.fieldCache.size >= fieldCacheMax) this.fieldCache.clear();
      this.fieldCache.set(name, field);
    }
    return field;
  }

  private findField(name: string): FieldView | null {
    const entry = this.findEntry(this.directoryOffset, fieldEntryBytes, this.fieldCount, name, 'field name');
    return entry < 0 ? null : this.fieldView(entry);
  }

  private fieldView(entry: number): FieldView {
    const [, , termsOffset, termCount, falseOffset, trueOffset, numbersOffset, numberCount] = Array.from({ length: 8 }, (_, i) =>
      this.u32(entry + i * 4),
    ) as [number, number, number, number, number, number, number, number];
    if (termCount > 0) this.checkRange(termsOffset, termCount * termEntryBytes, 4, 'term table');
    if (numberCount > this.recordCount) throw corrupt(`field number count ${numberCount} > ${this.recordCount} records`);
    let numberValues: Float64Array = new Float64Array(0);
    let numberPositions: Uint32Array = new Uint32Array(0);
    if (numberCount > 0) {
      this.checkRange(numbersOffset, numberCount * 12, 8, 'numbers');
      numberValues = hostIsLittleEndian
        ? new Float64Array(this.bytes.buffer, this.bytes.byteOffset + numbersOffset, numberCount)
        : Float64Array.from({ length: numberCount }, (_, index) => this.view.getFloat64(numbersOffset + index * 8, true));
      numberPositions = this.u32Array(numbersOffset + numberCount * 8, numberCount);
    }
    return { termsOffset, termCount, falseOffset, trueOffset, numberValues, numberPositions };
  }

  private fieldName(index: number): string {
    const entry = this.directoryOffset + index * fieldEntryBytes;
    return textDecoder.decode(this.slice(this.u32(entry), this.u32(entry + 4), 'field name'));
  }

  private position(position: number): number {
    if (position >= this.recordCount) throw corrupt(`position ${position} >= ${this.recordCount} records`);
    return position;
  }

  private u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  private u32Array(offset: number, count: number): Uint32Array {
    this.checkRange(offset, count * 4, 4, 'u32 array');
    if (!hostIsLittleEndian) {
      return Uint32Array.from({ length: count }, (_, index) => this.u32(offset + index * 4));
    }
    return new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + offset, count);
  }

  private slice(offset: number, length: number, what: string): Uint8Array {
    this.checkRange(offset, length, 1, what);
    return this.bytes.subarray(offset, offset + length);
  }

  private checkRange(offset: number, length: number, alignment: number, what: string): void {
    if (offset % alignment !== 0 || offset < headerBytes || offset + length > this.bytes.length) {
      throw corrupt(`${what} at ${offset} (+${length} bytes) outside the ${this.bytes.length}-byte index or misaligned`);
    }
  }
}

// Distinct field names a query may name are bounded by the filter node limit;
// the cache is bounded too so a stream of new names cannot grow it without end.
const fieldCacheMax = 4096;

function corrupt(detail: string): HyperspaceError {
  return dataError(`metadata index corrupt: ${detail}`);
}

function distinct(values: readonly FilterScalar[]): FilterScalar[] {
  return [...new Set(values)];
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** First index whose value is >= bound (or > bound when `strict`). */
function lowerBound(values: Float64Array, bound: number, strict: boolean): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const value = values[middle]!;
    if (value < bound || (strict && value === bound)) low = middle + 1;
    else high = middle;
  }
  return low;
}

function equalBounds(values: Float64Array, value: number): [number, number] {
  return [lowerBound(values, value, false), lowerBound(values, value, true)];
}

function rangeBounds(values: Float64Array, range: RangeExpr): [number, number] {
  const from = range.min === undefined ? 0 : lowerBound(values, range.min, !range.minInclusive);
  const to = range.max === undefined ? values.length : lowerBound(values, range.max, range.maxInclusive);
  return [from, Math.max(from, to)];
}
