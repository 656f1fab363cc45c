// A fixed-size bitset over record positions. Layout shared with the C++ core
// (docs/format/metadata-index.md): bit i lives in byte i >> 3 under mask
// 1 << (i & 7), LSB first. Bits at positions >= size are always zero.
//
// Storage is padded to whole 32-bit words so bulk operations run word-wise;
// word-wise and/or/not/popcount are independent of byte order, and single-bit
// access goes through the bytes, so the layout holds on any host.

export class Bitset {
  readonly size: number;
  private readonly words: Uint32Array;
  private readonly wordBytes: Uint8Array;

  /** An empty bitset of `size` bits; with `bytes`, a copy of that LSB-first layout. */
  constructor(size: number, bytes?: Uint8Array) {
    if (!Number.isInteger(size) || size < 0 || size > 0xffff_ffff) {
      throw new RangeError(`bitset size must be an integer in [0, 2^32-1], got ${size}`);
    }
    this.size = size;
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.wordBytes = new Uint8Array(this.words.buffer);
    if (bytes !== undefined) {
      const byteLength = Math.ceil(size / 8);
      if (bytes.length !== byteLength) {
        throw new RangeError(`bitset of ${size} bits needs ${byteLength} bytes, got ${bytes.length}`);
      }
      this.wordBytes.set(bytes);
      this.clearTail();
    }
  }

  static full(size: number): Bitset {
    const bitset = new Bitset(size);
    bitset.words.fill(0xffff_ffff);
    bitset.clearTail();
    return bitset;
  }

  /** Positions must be < size; duplicates and any order are fine. */
  static fromPositions(size: number, positions: ArrayLike<number>): Bitset {
    const bitset = new Bitset(size);
    for (let i = 0; i < positions.length; i++) bitset.set(positions[i]!);
    return bitset;
  }

  /** The LSB-first bytes (ceil(size / 8) of them), a view over this bitset. */
  get bytes(): Uint8Array {
    return this.wordBytes.subarray(0, Math.ceil(this.size / 8));
  }

  has(position: number): boolean {
    return position >= 0 && position < this.size && (this.wordBytes[position >> 3]! & (1 << (position & 7))) !== 0;
  }

  set(position: number): void {
    this.checkPosition(position);
    this.wordBytes[position >> 3]! |= 1 << (position & 7);
  }

  clear(position: number): void {
    this.checkPosition(position);
    this.wordBytes[position >> 3]! &= ~(1 << (position & 7));
  }

  /** OR the LSB-first `bytes` (ceil(size / 8) long) into this bitset, in place. */
  orBytes(bytes: Uint8Array): this {
    if (bytes.length !== Math.ceil(this.size / 8)) {
      throw new RangeError(`bitset of ${this.size} bits needs ${Math.ceil(this.size / 8)} bytes, got ${bytes.length}`);
    }
    const own = this.wordBytes;
    for (let i = 0; i < bytes.length; i++) own[i]! |= bytes[i]!;
    this.clearTail();
    return this;
  }

  /** In place: this = this AND other. */
  and(other: Bitset): this {
    this.checkSize(other);
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) a[i]! &= b[i]!;
    return this;
  }

  /** In place: this = this OR other. */
  or(other: Bitset): this {
    this.checkSize(other);
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) a[i]! |= b[i]!;
    return this;
  }

  /** In place: this = NOT this, within the first `size` bits. */
  not(): this {
    const a = this.words;
    for (let i = 0; i < a.length; i++) a[i] = ~a[i]!;
    this.clearTail();
    return this;
  }

  /** Bits start..start+size−1 as a bitset of `size` bits (positions past this one's end read as clear). */
  slice(start: number, size: number): Bitset {
    const out = new Bitset(size);
    for (let i = 0; i < size; i++) if (this.has(start + i)) out.wordBytes[i >> 3]! |= 1 << (i & 7);
    return out;
  }

  clone(): Bitset {
    const copy = new Bitset(this.size);
    copy.words.set(this.words);
    return copy;
  }

  popcount(): number {
    let count = 0;
    const a = this.words;
    for (let i = 0; i < a.length; i++) {
      let w = a[i]!;
      w = w - ((w >>> 1) & 0x5555_5555);
      w = (w & 0x3333_3333) + ((w >>> 2) & 0x3333_3333);
      count += (Math.imul((w + (w >>> 4)) & 0x0f0f_0f0f, 0x0101_0101) >>> 24);
    }
    return count;
  }

  /** Calls `visit` with every set position, ascending. */
  forEach(visit: (position: number) => void): void {
    const bytes = this.wordBytes;
    for (let byteIndex = 0; byteIndex < bytes.length; byteIndex++) {
      let byte = bytes[byteIndex]!;
      while (byte !== 0) {
        const low = byte & -byte;
        visit((byteIndex << 3) + (31 - Math.clz32(low)));
        byte ^= low;
      }
    }
  }

  /** The set positions, ascending. */
  toPositions(): Uint32Array {
    const positions = new Uint32Array(this.popcount());
    let next = 0;
    this.forEach((position) => {
      positions[next++] = position;
    });
    return positions;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    yield* this.toPositions();
  }

  private clearTail(): void {
    const tailBits = this.size & 31;
    if (tailBits !== 0) this.words[this.words.length - 1]! &= hostWordMask(tailBits);
  }

  private checkPosition(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= this.size) {
      throw new RangeError(`bit position ${position} outside [0, ${this.size})`);
    }
  }

  private checkSize(other: Bitset): void {
    if (other.size !== this.size) throw new RangeError(`bitset sizes differ: ${this.size} vs ${other.size}`);
  }
}

// The 32-bit word whose low `bits` positions (in the LSB-first byte layout) are
// set, read in host byte order: built through bytes so it is right on any host.
function hostWordMask(bits: number): number {
  const bytes = new Uint8Array(4);
  for (let i = 0; i < bits; i++) bytes[i >> 3]! |= 1 << (i & 7);
  return new Uint32Array(bytes.buffer)[0]!;
}
