// The wire contract at run time: the .proto files beside this module loaded
// with @grpc/proto-loader (no codegen step), plus the conversions every peer
// needs between plain JSON values and protobuf's well-known types. Shared by
// the gRPC server (functions/grpc/) and the SDK (client/), which may not
// import each other (DESIGN §1). Spec of the messages: hyperspace/v1/*.proto.
import * as protoLoader from '@grpc/proto-loader';
import { protoFiles, protoRoot } from './files.ts';
import { vectorRequestCodecs } from './vector-codec.ts';

export { protoFiles, protoRoot };

export const serviceNames = ['CollectionsService', 'PointsService', 'AdminService', 'SyncService'] as const;
export type ServiceName = (typeof serviceNames)[number];

/** gRPC metadata key (trailer) that carries the error kind verbatim (docs/sdk.md#errors). */
export const errorKindTrailer = 'hs-error-kind';

// Field names in camelCase, 64-bit integers as JS numbers (sequence numbers and
// counts stay far below 2^53), enums by name, unset fields left out (proto3
// zero values mean "server default"), oneofs named in `kind`.
const loaderOptions: protoLoader.Options = {
  includeDirs: [protoRoot],
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition of every service, loaded once per process. */
export function loadHyperspaceProto(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([...protoFiles], loaderOptions);
  return cached;
}

let pointsService: protoLoader.ServiceDefinition | undefined;

/**
 * The method table of one service (`path`, serializers) for grpc-js
 * `Server.addService` and `makeClientConstructor`. The requests that carry
 * vectors use the block codecs of vector-codec.ts; everything else the
 * loader's generic codec.
 */
export function serviceDefinition(service: ServiceName): protoLoader.ServiceDefinition {
  const definition = loadHyperspaceProto()[`hyperspace.v1.${service}`] as protoLoader.ServiceDefinition;
  if (service !== 'PointsService') return definition;
  pointsService ??= Object.fromEntries(Object.entries(definition).map(([name, method]) => {
    const codec = vectorRequestCodecs[name];
    return [name, codec ? { ...method, requestSerialize: codec.serialize, requestDeserialize: codec.deserialize } : method];
  })) as protoLoader.ServiceDefinition;
  return pointsService;
}

// ------------------------------------------------------------------ enums

/** `l2` ↔ `METRIC_L2`: proto enum names are the JSON values, upper-cased and prefixed. */
export function enumToWire(prefix: 'METRIC' | 'QUANTIZATION' | 'CONSISTENCY', value: string | undefined): string | undefined {
  return value === undefined ? undefined : `${prefix}_${value.toUpperCase()}`;
}

/** `METRIC_L2` → `l2`; the `_UNSPECIFIED` zero value (or absence) → undefined. A name without the prefix is passed through for the handler to reject. */
export function enumFromWire(prefix: 'METRIC' | 'QUANTIZATION' | 'CONSISTENCY', value: unknown): string | undefined {
  if (value === undefined || value === null || value === `${prefix}_UNSPECIFIED`) return undefined;
  const name = String(value);
  return name.startsWith(`${prefix}_`) ? name.slice(prefix.length + 1).toLowerCase() : name;
}

// ------------------------------------------------------------------ Struct

/** google.protobuf.Value as proto-loader hands it over (oneof `kind`). */
export interface WireValue {
  kind?: string;
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: WireStruct;
  listValue?: { values?: WireValue[] };
}

/** google.protobuf.Struct as proto-loader hands it over. */
export interface WireStruct {
  fields?: Record<string, WireValue>;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object as a google.protobuf.Struct. Undefined members are left out, as JSON.stringify does. */
export function toStruct(object: Readonly<Record<string, unknown>>): WireStruct {
  const fields: Record<string, WireValue> = {};
  for (const [key, value] of Object.entries(object)) if (value !== undefined) fields[key] = toWireValue(value);
  return { fields };
}

function toWireValue(value: unknown): WireValue {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'number':
      return { numberValue: value };
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'object':
      if (Array.isArray(value)) return { listValue: { values: value.map((v) => toWireValue(v === undefined ? null : v)) } };
      return { structValue: toStruct(value as Record<string, unknown>) };
    default:
      throw new TypeError(`cannot encode a ${typeof value} as a protobuf Value`);
  }
}

/** A google.protobuf.Struct as a plain JSON object. */
export function fromStruct(struct: WireStruct): { [key: string]: JsonValue } {
  const object: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(struct.fields ?? {})) object[key] = fromWireValue(value);
  return object;
}

function fromWireValue(value: WireValue): JsonValue {
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue ?? false;
    case 'structValue':
      return fromStruct(value.structValue ?? {});
    case 'listValue':
      return (value.listValue?.values ?? []).map(fromWireValue);
    default:
      return null;
  }
}

// ------------------------------------------------------------------ bytes

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function hexToBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}
