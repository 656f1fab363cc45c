// CRC-32C (Castagnoli), slicing-by-8, pure TypeScript so the browser build can
// share it; the native core's hardware CRC32C will replace it with identical
// results (docs/format/wal.md "Checksum").

const POLYNOMIAL_REFLECTED = 0x82f63b78;

const tables: Int32Array[] = (() => {
  const result: Int32Array[] = [];
  for (let t = 0; t < 8; t++) result.push(new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    result[0][n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = result[0][n];
    for (let t = 1; t < 8; t++) {
      c = result[0][c & 0xff] ^ (c >>> 8);
      result[t][n] = c;
    }
  }
  return result;
})();

/**
 * CRC-32C of `bytes`. Pass the previous result as `crc` to continue a checksum
 * over several pieces: `crc32c(b, crc32c(a))` equals `crc32c(a ‖ b)`.
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables;
  let c = ~crc;
  let i = 0;
  const length = bytes.length;
  const end8 = length - (length % 8);
  while (i < end8) {
    const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
    i += 8;
  }
  while (i < length) c = t0[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
