import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../engine/canonical-json.ts';
import { bucketOf, Digest, leafHash, toHex } from '../../engine/merkle.ts';
import { rng } from '../helpers/random.ts';

// The test vectors of docs/format/merkle.md. "k103" is the first k<i> that
// shares a bucket with "a", so one bucket holds two leaves.
const vectors = [
  {
    id: 'a',
    seq: 1,
    vector: [1, 2, 3],
    metadata: undefined,
    bucket: 202,
    leaf: '482e605f4b9f98c9be0364c8bd77c1d723a743d9efad9620fb373e79988603c9',
  },
  {
    id: 'k103',
    seq: 2,
    vector: [0.5, -1, 1e-3],
    metadata: { n: 1 },
    bucket: 202,
    leaf: '45debb17a92912de926d1ef194e161dccc22cd2e0a644a1e95c7871cd953e6f1',
  },
  {
    id: 'doc-42',
    seq: 7,
    vector: [0.6, 0.8],
    metadata: { year: 2020, genre: 'drama', tags: ['x', 'y'], color: true, score: 0.1 },
    bucket: 103,
    leaf: 'a13b3105edc0bae7c094b566a502abdec786b75e109f21cf1e1477e62315fa1a',
  },
  {
    id: 'é😀',
    seq: 2 ** 40 + 5,
    vector: [-0.5, 0.25, 0],
    metadata: { b: 1, a: 'ü' },
    bucket: 17,
    leaf: 'ee7101484d67add9f87b5388a0f326a3565ed8c03a87df3b9b776c8691323fe7',
  },
];
const bucketHashes: Record<number, string> = {
  17: 'b1ed3290aa1b40c22e04183a877c915850a6c8f89fb9d7ea4a6b3e5c15647cd5',
  103: '535f47a885b8d19405351079ae19430bb6201b47dd3bafd9d0e2c8f972c50242',
  202: '7adaa220140e5f851f4f89312ff13e573ee163629df3cabaa568f79ca498bb48',
};
const emptyBucket = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const root = '4b1e33a463e768d242e69a56291fe9fa401829296e33023281ad94360c6308f4';
const emptyRoot = '0e89e7ed74c9a5944c886585d634e3c68f4dccd0a31968fe52d6df0873ccdec6';

function digestOf(records: typeof vectors): Digest {
  const digest = new Digest();
  for (const record of records) digest.set(record.id, leafHash(record.id, record.seq, new Float32Array(record.vector), record.metadata));
  return digest;
}

// An independent implementation with Python's hashlib, struct and json.
const pythonDigest = `
import hashlib, json, struct, sys
records = json.load(sys.stdin)
out = {"leaves": [], "buckets": {}}
buckets = [[] for _ in range(256)]
for r in records:
    idb = r["id"].encode("utf-8")
    meta = json.dumps(r.get("metadata") or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    pre = bytes([1]) + struct.pack("<I", len(idb)) + idb + struct.pack("<Q", r["seq"])
    pre += b"".join(struct.pack("<f", x) for x in r["vector"]) + meta
    leaf = hashlib.sha256(pre).digest()
    bucket = hashlib.sha256(idb).digest()[0]
    buckets[bucket].append((idb, leaf))
    out["leaves"].append([bucket, leaf.hex()])
hashes = []
for b, entries in enumerate(buckets):
    h = hashlib.sha256(b"".join(leaf for _, leaf in sorted(entries))).digest()
    hashes.append(h)
    if entries:
        out["buckets"][str(b)] = h.hex()
out["root"] = hashlib.sha256(b"".join(hashes)).hexdigest()
print(json.dumps(out))
`;

function hasPython(): boolean {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('Merkle test vectors (docs/format/merkle.md)', () => {
  it('computes the documented leaves, buckets and root', () => {
    for (const record of vectors) {
      expect(bucketOf(record.id), record.id).toBe(record.bucket);
      expect(toHex(leafHash(record.id, record.seq, new Float32Array(record.vector), record.metadata)), record.id).toBe(record.leaf);
    }
    const summary = digestOf(vectors).root();
    expect(summary.root).toBe(root);
    expect(summary.buckets).toHaveLength(256);
    summary.buckets.forEach((hash, bucket) => expect(hash).toBe(bucketHashes[bucket] ?? emptyBucket));
    expect(new Digest().root().root).toBe(emptyRoot);
  });

  it.skipIf(!hasPython())('agrees byte for byte with an independent Python implementation', () => {
    const input = JSON.stringify(vectors.map(({ id, seq, vector, metadata }) => ({ id, seq, vector: Array.from(new Float32Array(vector)), metadata })));
    const python = JSON.parse(execFileSync('python3', ['-c', pythonDigest], { input, encoding: 'utf8' }));
    expect(python.leaves).toEqual(vectors.map((record) => [record.bucket, record.leaf]));
    expect(python.buckets).toEqual(Object.fromEntries(Object.entries(bucketHashes)));
    expect(python.root).toBe(root);
  });

  it('are written in the format document', () => {
    const doc = readFileSync(new URL('../../docs/format/merkle.md', import.meta.url), 'utf8');
    for (const hex of [...vectors.map((record) => record.leaf), ...Object.values(bucketHashes), root, emptyRoot, emptyBucket]) {
      expect(doc).toContain(hex);
    }
  });
});

describe('leafHash', () => {
  it('hashes exactly the layout of DESIGN §7', () => {
    const vector = new Float32Array([1.5, -2]);
    const preimage = Buffer.concat([
      Buffer.from([1]),
      Buffer.from([2, 0, 0, 0]),
      Buffer.from('id'),
      Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from(vector.buffer),
      Buffer.from('{"a":1,"b":[]}'),
    ]);
    expect(toHex(leafHash('id', 9n, vector, { b: [], a: 1 }))).toBe(createHash('sha256').update(preimage).digest('hex'));
  });

  it('reads a Float32Array view, treats absent metadata as {} and bounds seq', () => {
    const backing = new Float32Array([7, 1, 2, 7]);
    const leaf = toHex(leafHash('x', 3, backing.subarray(1, 3), null));
    expect(leaf).toBe(toHex(leafHash('x', 3, new Float32Array([1, 2]), {})));
    expect(leaf).not.toBe(toHex(leafHash('x', 4, new Float32Array([1, 2]), {})));
    expect(toHex(leafHash('x', 2n ** 64n - 1n, new Float32Array(0)))).toHaveLength(64);
    expect(() => leafHash('x', -1, new Float32Array(0))).toThrow('seq must fit in a u64, got -1');
    expect(() => leafHash('x', 2n ** 64n, new Float32Array(0))).toThrow('seq must fit in a u64');
  });
});

describe('Digest', () => {
  // A from-scratch digest written as plainly as possible.
  function scratchRoot(live: Map<string, Uint8Array>): string {
    const byBucket = Array.from({ length: 256 }, () => [] as [Buffer, Uint8Array][]);
    for (const [id, leaf] of live) {
      const idBytes = Buffer.from(id, 'utf8');
      byBucket[createHash('sha256').update(idBytes).digest()[0]!]!.push([idBytes, leaf]);
    }
    const rootHash = createHash('sha256');
    for (const entries of byBucket) {
      entries.sort((x, y) => Buffer.compare(x[0], y[0]));
      const bucketHash = createHash('sha256');
      for (const [, leaf] of entries) bucketHash.update(leaf);
      rootHash.update(bucketHash.digest());
    }
    return rootHash.digest('hex');
  }

  it('gives the same root incrementally as from scratch under random sets and removes', () => {
    const random = rng(12_345);
    const ids = Array.from({ length: 600 }, (_, i) => (i % 7 === 0 ? `é-${i}` : i % 11 === 0 ? `😀${i}` : i % 13 === 0 ? `\uffff${i}` : `id-${i}`));
    const digest = new Digest();
    const live = new Map<string, Uint8Array>();
    for (let step = 0; step < 3000; step++) {
      const id = ids[Math.floor(random() * ids.length)]!;
      if (random() < 0.3) {
        digest.remove(id);
        live.delete(id);
      } else {
        const leaf = leafHash(id, step, new Float32Array([random(), random()]), { step });
        digest.set(id, leaf);
        live.set(id, leaf);
      }
      if (step % 250 === 0) expect(digest.root().root).toBe(scratchRoot(live));
    }
    const summary = digest.root();
    expect(summary.root).toBe(scratchRoot(live));
    expect(digest.size).toBe(live.size);
    const rebuilt = new Digest();
    for (const [id, leaf] of [...live].reverse()) rebuilt.set(id, leaf);
    expect(rebuilt.root()).toEqual(summary);
    for (const id of live.keys()) digest.remove(id);
    expect(digest.root().root).toBe(emptyRoot);
  });

  it('orders a bucket by id UTF-8 bytes, not UTF-16 code units', () => {
    // U+FFFF sorts before U+1F600 in UTF-8 but after it in UTF-16.
    let high = '';
    let astral = '';
    for (let i = 0; high === '' || astral === ''; i++) {
      if (bucketOf(`\uffff${i}`) === 0 && high === '') high = `\uffff${i}`;
      if (bucketOf(`😀${i}`) === 0 && astral === '') astral = `😀${i}`;
    }
    const digest = new Digest();
    digest.set(astral, new Uint8Array(32).fill(1));
    digest.set(high, new Uint8Array(32).fill(2));
    expect(digest.bucketEntries(0).map((entry) => entry.id)).toEqual([high, astral]);
    const expected = createHash('sha256').update(new Uint8Array(32).fill(2)).update(new Uint8Array(32).fill(1)).digest('hex');
    expect(toHex(digest.bucketHash(0))).toBe(expected);
  });

  it('removing a missing id changes nothing; leaves must be 32 bytes', () => {
    const digest = digestOf(vectors);
    digest.remove('not-there');
    expect(digest.root().root).toBe(root);
    expect(() => digest.set('x', new Uint8Array(31))).toThrow('leaf hash must be 32 bytes, got 31');
    expect(canonicalJson(vectors[2]!.metadata)).toBe('{"color":true,"genre":"drama","score":0.1,"tags":["x","y"],"year":2020}');
  });
});
