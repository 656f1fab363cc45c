// Where the .proto files are, for every loader (proto/index.ts, proto/vector-codec.ts).
import { fileURLToPath } from 'node:url';

export const protoRoot = fileURLToPath(new URL('.', import.meta.url));

export const protoFiles = [
  'hyperspace/v1/common.proto',
  'hyperspace/v1/collections.proto',
  'hyperspace/v1/points.proto',
  'hyperspace/v1/admin.proto',
  'hyperspace/v1/sync.proto',
] as const;
