import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../engine/stores/crc32c.ts';
import { crc32c as nativeCrc32c } from '../../../native/index.ts';

describe('CRC-32C', () => {
  it('matches the standard check value and chains', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32c(bytes)).toBe(0xe3069283);
    expect(crc32c(bytes.subarray(4), crc32c(bytes.subarray(0, 4)))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with the native core on every length and alignment (the WAL uses both)', () => {
    const bytes = new Uint8Array(70_001);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    for (const [start, end] of [[0, 0], [1, 1], [3, 17], [5, 70_001], [0, 70_000], [13, 4096]]) {
      const view = bytes.subarray(start, end);
      expect(crc32c(view), `${start}..${end}`).toBe(nativeCrc32c(view));
      expect(crc32c(view, 0x12345678)).toBe(nativeCrc32c(view, 0x12345678));
    }
  });
});
