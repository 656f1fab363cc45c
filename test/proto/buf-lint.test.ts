// The wire contract lints clean (buf STANDARD + COMMENTS: every message, field,
// enum value, service and RPC documented) and loads with the runtime loader
// the servers and the SDK use.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { enumFromWire, enumToWire, fromStruct, loadHyperspaceProto, protoRoot, serviceNames, toStruct } from '../../proto/index.ts';

const run = promisify(execFile);

describe('proto/hyperspace/v1', () => {
  it('passes buf lint', async () => {
    const { stdout, stderr } = await run('npx', ['--no-install', 'buf', 'lint'], { cwd: protoRoot });
    expect(stdout + stderr).toBe('');
  });

  it('loads every service with the runtime loader', () => {
    const definition = loadHyperspaceProto();
    for (const service of serviceNames) expect(definition[`hyperspace.v1.${service}`], service).toBeDefined();
    const points = definition['hyperspace.v1.PointsService'] as Record<string, { path: string }>;
    expect(Object.keys(points).sort()).toEqual(['Count', 'Delete', 'Get', 'Scroll', 'Search', 'SearchBatch', 'Upsert']);
    expect(points.Search!.path).toBe('/hyperspace.v1.PointsService/Search');
  });

  it('sends vectors packed: 4 bytes per float plus one tag and length', () => {
    const search = (loadHyperspaceProto()['hyperspace.v1.PointsService'] as any).Search;
    const vector = Array.from({ length: 100 }, (_, i) => i / 7);
    const bytes: Buffer = search.requestSerialize({ query: { vector } });
    // SearchRequest.query (tag + 2-byte length) ⊃ SearchQuery.vector (tag + 2-byte length + 400 bytes).
    expect(bytes.length).toBe(1 + 2 + 1 + 2 + 400);
    const back = search.requestDeserialize(bytes);
    expect(back.query.vector).toEqual(Array.from(Float32Array.from(vector)));
  });

  it('maps JSON values through google.protobuf.Struct and back', () => {
    const metadata = { title: 'x', n: 0, f: -1.5, ok: false, tags: ['a', 'b'], nested: { $in: [1, 'two', null] }, empty: [] };
    const point = (loadHyperspaceProto()['hyperspace.v1.PointsService'] as any).Get;
    const bytes = point.responseSerialize({ point: { id: 'p', vector: [1], metadata: toStruct(metadata) } });
    expect(fromStruct(point.responseDeserialize(bytes).point.metadata)).toEqual(metadata);
  });

  it('names enum values after the JSON values', () => {
    expect(enumToWire('METRIC', 'poincare')).toBe('METRIC_POINCARE');
    expect(enumFromWire('METRIC', 'METRIC_POINCARE')).toBe('poincare');
    expect(enumFromWire('CONSISTENCY', 'CONSISTENCY_UNSPECIFIED')).toBeUndefined();
    expect(enumFromWire('QUANTIZATION', undefined)).toBeUndefined();
  });
});
