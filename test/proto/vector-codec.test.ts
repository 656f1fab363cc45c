// The block codecs for vector-carrying requests write exactly the bytes any
// protobuf peer expects and read whatever a peer may send (packed or not,
// fields in any order, unknown fields), with the shapes proto-loader gives.
import { describe, expect, it } from 'vitest';
import { loadHyperspaceProto, toStruct } from '../../proto/index.ts';
import { vectorRequestCodecs } from '../../proto/vector-codec.ts';

const generic = loadHyperspaceProto()['hyperspace.v1.PointsService'] as Record<string, {
  requestSerialize: (m: object) => Buffer; requestDeserialize: (b: Buffer) => any;
}>;
const floats = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed) * 3);
/** JSON-comparable: vectors as arrays, without proto-loader's oneof `kind` markers. */
const plain = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (key, v) => (key === 'kind' ? undefined : v instanceof Float32Array ? Array.from(v) : v)));

const messages: Record<string, object> = {
  Search: {
    collection: 'docs',
    query: {
      vector: floats(784, 1), k: 10, ef: 128, consistency: 'CONSISTENCY_EVENTUAL', includeMetadata: true, includeVector: true,
      filter: toStruct({ colour: { $in: ['red', 'blue'] }, rank: { $gte: 3 }, $not: { flag: true } }),
    },
  },
  SearchBatch: { collection: 'docs', searches: [{ vector: floats(8, 2), k: 3 }, { vector: floats(8, 3) }, { vector: floats(8, 4), consistency: 'CONSISTENCY_STRONG' }] },
  Upsert: {
    collection: 'docs', idempotencyKey: 'key-1',
    points: [{ id: 'a', vector: floats(16, 5), metadata: toStruct({ t: 'x', n: 0, tags: ['p', 'q'], ok: false }) }, { id: 'ünï', vector: floats(16, 6) }],
  },
};

describe('vector request codecs', () => {
  for (const [method, message] of Object.entries(messages)) {
    it(`${method}: our bytes decode with the generic codec to the same message`, () => {
      const bytes = vectorRequestCodecs[method]!.serialize(message);
      expect(plain(generic[method]!.requestDeserialize(bytes))).toEqual(plain(message));
      const genericMessage = JSON.parse(JSON.stringify(plain(message)));
      expect(bytes.equals(generic[method]!.requestSerialize(genericMessage))).toBe(true);
    });

    it(`${method}: the generic codec's bytes decode with ours to the same message, vectors as Float32Array`, () => {
      const bytes = generic[method]!.requestSerialize(plain(message) as object);
      const decoded = vectorRequestCodecs[method]!.deserialize(bytes);
      expect(plain(decoded)).toEqual(plain(message));
      const firstVector = method === 'Search' ? (decoded as any).query.vector : method === 'SearchBatch' ? (decoded as any).searches[0].vector : (decoded as any).points[0].vector;
      expect(firstVector).toBeInstanceOf(Float32Array);
    });
  }

  it('reads unpacked floats, repeated packed blocks and skips unknown fields', () => {
    // SearchRequest { collection: "c" (1), query (2) { vector: 1.5 unpacked, vector: [2, 3] packed, field 99: varint 7, k: 4 } }
    const f32 = (v: number) => Buffer.from(new Float32Array([v]).buffer);
    const packed = Buffer.concat([f32(2), f32(3)]);
    const query = Buffer.concat([
      Buffer.from([(1 << 3) | 5]), f32(1.5),
      Buffer.from([(1 << 3) | 2, packed.length]), packed,
      Buffer.from([0x98, 0x06, 7]), // field 99, varint
      Buffer.from([(2 << 3) | 0, 4]),
    ]);
    const bytes = Buffer.concat([Buffer.from([(1 << 3) | 2, 1]), Buffer.from('c'), Buffer.from([(2 << 3) | 2, query.length]), query]);
    expect(plain(vectorRequestCodecs.Search!.deserialize(bytes))).toEqual({ collection: 'c', query: { vector: [1.5, 2, 3], k: 4 } });
    expect(plain(generic.Search!.requestDeserialize(bytes))).toEqual({ collection: 'c', query: { vector: [1.5, 2, 3], k: 4 } });
  });

  it('leaves out unset fields, as proto3 does', () => {
    const bytes = vectorRequestCodecs.Search!.serialize({ collection: 'c', query: { vector: new Float32Array(0), k: 0, includeVector: false, consistency: 'CONSISTENCY_UNSPECIFIED' } });
    expect(plain(vectorRequestCodecs.Search!.deserialize(bytes))).toEqual({ collection: 'c', query: {} });
  });
});
