// The one Node-only import of the engine's hashing: the browser build swaps this
// module for a pure-JS (synchronous) SHA-256 with the same two exports.
import { createHash } from 'node:crypto';

/** SHA-256 of the concatenation of `parts` (32 bytes). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** An incremental SHA-256 for inputs built piece by piece (bucket hashes). */
export function sha256Hasher(): Sha256Hasher {
  const hash = createHash('sha256');
  return {
    update(bytes) {
      hash.update(bytes);
    },
    digest() {
      return new Uint8Array(hash.digest());
    },
  };
}
