// Hand-written codecs for the request messages that carry query and point
// vectors (SearchRequest, SearchBatchRequest, UpsertRequest): the hot path of
// the gRPC API. protobufjs's generic codec moves a packed `repeated float`
// one value at a time through JS arrays (tens of µs for 784 floats each way);
// here a vector crosses as one block of float32 bytes into a Float32Array.
// The bytes on the wire are exactly those the .proto describes, so any other
// protobuf peer reads and writes them (test/proto/vector-codec.test.ts checks
// both directions against the generic codec). Decoded objects have the shape
// @grpc/proto-loader gives (camelCase, enum names, unset fields absent).
import { endianness } from 'node:os';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { protoFiles, protoRoot } from './files.ts';

const { Reader, Writer } = protobuf;
type ProtoReader = protobuf.Reader;
type ProtoWriter = protobuf.Writer;

const toObjectOptions: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, oneofs: true };

let root: protobuf.Root | undefined;
function types(): { struct: protobuf.Type; consistency: protobuf.Enum } {
  if (!root) {
    const loading = new protobuf.Root();
    // Our imports are relative to proto/; google/protobuf/* come with protobufjs.
    loading.resolvePath = (_origin, target) =>
      (target.startsWith('google/protobuf/') || isAbsolute(target) ? target : join(protoRoot, target));
    root = loading.loadSync(protoFiles.map((f) => join(protoRoot, f)));
  }
  return { struct: root.lookupType('google.protobuf.Struct'), consistency: root.lookupEnum('hyperspace.v1.Consistency') };
}

const littleEndian = endianness() === 'LE';
const wireLengthDelimited = 2;
const wireFixed32 = 5;

// ------------------------------------------------------------------ decode

/** A packed float block, copied into its own (aligned) Float32Array. */
function readPackedFloats(reader: ProtoReader): Float32Array {
  const length = reader.uint32();
  const start = reader.pos;
  reader.skip(length);
  if (length % 4 !== 0) throw new Error(`packed float field of ${length} bytes is not a multiple of 4`);
  const bytes = reader.buf.subarray(start, start + length);
  if (littleEndian) {
    // Copied (not viewed): the input buffer is gRPC's, and a float32 view needs 4-byte alignment.
    const floats = new Float32Array(length / 4);
    new Uint8Array(floats.buffer).set(bytes);
    return floats;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/** A `repeated float` field: packed (the proto3 default) or one fixed32 per value, as the spec lets senders choose. */
function readFloats(reader: ProtoReader, wireType: number, into: Float32Array | number[] | undefined): Float32Array | number[] {
  if (wireType === wireLengthDelimited) {
    const block = readPackedFloats(reader);
    if (!into || into.length === 0) return block;
    return [...into, ...block];
  }
  if (wireType !== wireFixed32) throw new Error(`repeated float field with wire type ${wireType}`);
  const list = into ? Array.from(into) : [];
  list.push(reader.float());
  return list;
}

function readStruct(reader: ProtoReader): Record<string, unknown> {
  const { struct } = types();
  const length = reader.uint32();
  return struct.toObject(struct.decode(reader, length), toObjectOptions);
}

function readSearchQuery(reader: ProtoReader, end: number): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1: query.vector = readFloats(reader, tag & 7, query.vector as Float32Array | undefined); break;
      case 2: query.k = reader.uint32(); break;
      case 3: query.filter = readStruct(reader); break;
      case 4: query.ef = reader.uint32(); break;
      case 5: query.consistency = types().consistency.valuesById[reader.int32()] ?? 'CONSISTENCY_UNSPECIFIED'; break;
      case 6: query.includeMetadata = reader.bool(); break;
      case 7: query.includeVector = reader.bool(); break;
      default: reader.skipType(tag & 7);
    }
  }
  return query;
}

function readPoint(reader: ProtoReader, end: number): Record<string, unknown> {
  const point: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1: point.id = reader.string(); break;
      case 2: point.vector = readFloats(reader, tag & 7, point.vector as Float32Array | undefined); break;
      case 3: point.metadata = readStruct(reader); break;
      default: reader.skipType(tag & 7);
    }
  }
  return point;
}

/** Decodes a message whose fields 1 and 3 are strings and field 2 is a (repeated) sub-message. */
function decodeWith(bytes: Uint8Array, names: [string, string, string | undefined], repeated: boolean,
  readChild: (reader: ProtoReader, end: number) => Record<string, unknown>): Record<string, unknown> {
  const reader = Reader.create(bytes);
  const message: Record<string, unknown> = {};
  const children: Record<string, unknown>[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === wireLengthDelimited) message[names[0]] = reader.string();
    else if (field === 2 && (tag & 7) === wireLengthDelimited) {
      const length = reader.uint32();
      const child = readChild(reader, reader.pos + length);
      if (repeated) children.push(child);
      else message[names[1]] = { ...(message[names[1]] as object | undefined), ...child };
    } else if (field === 3 && names[2] !== undefined && (tag & 7) === wireLengthDelimited) message[names[2]] = reader.string();
    else reader.skipType(tag & 7);
  }
  if (repeated && children.length > 0) message[names[1]] = children;
  return message;
}

export const decodeSearchRequest = (bytes: Uint8Array) => decodeWith(bytes, ['collection', 'query', undefined], false, readSearchQuery);
export const decodeSearchBatchRequest = (bytes: Uint8Array) => decodeWith(bytes, ['collection', 'searches', undefined], true, readSearchQuery);
export const decodeUpsertRequest = (bytes: Uint8Array) => decodeWith(bytes, ['collection', 'points', 'idempotencyKey'], true, readPoint);

// ------------------------------------------------------------------ encode

type VectorIn = Float32Array | readonly number[];

/** Field `field` as one packed block of float32 little-endian bytes. */
function writePackedFloats(writer: ProtoWriter, field: number, vector: VectorIn | undefined): void {
  if (!vector || vector.length === 0) return;
  const floats = vector instanceof Float32Array ? vector : Float32Array.from(vector);
  let bytes: Uint8Array;
  if (littleEndian) bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  else {
    bytes = new Uint8Array(floats.length * 4);
    const view = new DataView(bytes.buffer);
    floats.forEach((v, i) => view.setFloat32(i * 4, v, true));
  }
  writer.uint32((field << 3) | wireLengthDelimited).bytes(bytes);
}

function writeStruct(writer: ProtoWriter, field: number, value: unknown): void {
  if (value === undefined || value === null) return;
  const { struct } = types();
  struct.encode(struct.fromObject(value as Record<string, unknown>), writer.uint32((field << 3) | wireLengthDelimited).fork()).ldelim();
}

function writeString(writer: ProtoWriter, field: number, value: unknown): void {
  if (typeof value === 'string' && value !== '') writer.uint32((field << 3) | wireLengthDelimited).string(value);
}

function writeUint32(writer: ProtoWriter, field: number, value: unknown): void {
  if (typeof value === 'number' && value !== 0) writer.uint32(field << 3).uint32(value);
}

function writeBool(writer: ProtoWriter, field: number, value: unknown): void {
  if (value === true) writer.uint32(field << 3).bool(true);
}

function writeSearchQuery(writer: ProtoWriter, query: Record<string, any>): void {
  writePackedFloats(writer, 1, query.vector);
  writeUint32(writer, 2, query.k);
  writeStruct(writer, 3, query.filter);
  writeUint32(writer, 4, query.ef);
  if (query.consistency !== undefined) {
    const value = typeof query.consistency === 'number' ? query.consistency : types().consistency.values[query.consistency];
    if (value === undefined) throw new Error(`unknown Consistency ${String(query.consistency)}`);
    if (value !== 0) writer.uint32(5 << 3).int32(value);
  }
  writeBool(writer, 6, query.includeMetadata);
  writeBool(writer, 7, query.includeVector);
}

function writePoint(writer: ProtoWriter, point: Record<string, any>): void {
  writeString(writer, 1, point.id);
  writePackedFloats(writer, 2, point.vector);
  writeStruct(writer, 3, point.metadata);
}

function finish(writer: ProtoWriter): Buffer {
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function writeChild(writer: ProtoWriter, child: Record<string, any>, write: (w: ProtoWriter, m: Record<string, any>) => void): void {
  writer.uint32((2 << 3) | wireLengthDelimited).fork();
  write(writer, child);
  writer.ldelim();
}

export function encodeSearchRequest(message: Record<string, any>): Buffer {
  const writer = Writer.create();
  writeString(writer, 1, message.collection);
  if (message.query) writeChild(writer, message.query, writeSearchQuery);
  return finish(writer);
}

export function encodeSearchBatchRequest(message: Record<string, any>): Buffer {
  const writer = Writer.create();
  writeString(writer, 1, message.collection);
  for (const query of message.searches ?? []) writeChild(writer, query, writeSearchQuery);
  return finish(writer);
}

export function encodeUpsertRequest(message: Record<string, any>): Buffer {
  const writer = Writer.create();
  writeString(writer, 1, message.collection);
  for (const point of message.points ?? []) writeChild(writer, point, writePoint);
  writeString(writer, 3, message.idempotencyKey);
  return finish(writer);
}

/** PointsService methods whose requests use these codecs. */
export const vectorRequestCodecs: Record<string, { serialize: (m: Record<string, any>) => Buffer; deserialize: (b: Uint8Array) => Record<string, unknown> }> = {
  Search: { serialize: encodeSearchRequest, deserialize: decodeSearchRequest },
  SearchBatch: { serialize: encodeSearchBatchRequest, deserialize: decodeSearchBatchRequest },
  Upsert: { serialize: encodeUpsertRequest, deserialize: decodeUpsertRequest },
};
