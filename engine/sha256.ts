// The one Node-only import of the engine's hashing: the browser build swaps this
// module for a pure-JS (synchronous) SHA-256 with the same two exports.
import * as crypto from 'node:crypto';

// One-shot hashing (Node ≥ 20.12) costs half of a Hash object per call, and the
// digest hashes millions of short inputs (ids, leaves).
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/** SHA-256 of the concatenation of `parts` (32 bytes). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (oneShot) {
    if (parts.length === 1) return new Uint8Array(oneShot('sha256', parts[0]!, 'buffer'));
    let length = 0;
    for (const part of parts) length += part.length;
    const joined = new Uint8Array(length);
    let at = 0;
    for (const part of parts) { joined.set(part, at); at += part.length; }
    return new Uint8Array(oneShot('sha256', joined, 'buffer'));
  }
  const hash = crypto.createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** An incremental SHA-256 for inputs built piece by piece (bucket hashes). */
export function sha256Hasher(): Sha256Hasher {
  const hash = crypto.createHash('sha256');
  return {
    update(bytes) {
      hash.update(bytes);
    },
    digest() {
      return new Uint8Array(hash.digest());
    },
  };
}
