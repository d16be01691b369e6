/**
 * The PE image checksum (as `CheckSumMappedFile` computes it).
 *
 * @module
 */

// Words summed at a time: each is below 2^32, so 2^20 of them stay exact
// in a double.
const BLOCK = 1 << 20;
const M = 0xffff;

/**
 * The sum behind a PE checksum, fed in pieces: the one's-complement sum of
 * the file's little-endian 16-bit words. Pieces may come in any order and
 * start at any offset; leave the CheckSum field out (or zero).
 *
 * @example Checksum a file written in pieces
 * ```ts ignore
 * const sum = new ChecksumSum();
 * sum.add(head, 0);
 * sum.add(body, head.length);
 * const checksum = sum.checksum(head.length + body.length);
 * ```
 */
export class ChecksumSum {
  // The sum modulo 0xffff (2^16 ≡ 1), and whether any byte was non-zero:
  // the end-around-carry fold gives 0 only for an all-zero sum.
  #mod = 0;
  #nonzero = false;

  /** Adds `bytes`, which sit at file offset `offset`. */
  add(bytes: Uint8Array, offset: number): void {
    const n = bytes.length;
    let lo = 0; // bytes at even file offsets
    let hi = 0; // bytes at odd file offsets (the high byte of a word)
    let i = 0;
    const lead = Math.min(n, (4 - (bytes.byteOffset & 3)) & 3);
    for (; i < lead; i++) {
      if ((offset + i) & 1) hi += bytes[i];
      else lo += bytes[i];
    }
    const words = (n - i) >>> 2;
    if (words > 0) {
      // A u32 at an even offset is two words (2^16 ≡ 1); at an odd one
      // every byte swaps places in its word, which multiplies by 2^8.
      const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
      let run = 0;
      for (let k = 0; k < words; k += BLOCK) {
        const end = Math.min(words, k + BLOCK);
        const end4 = k + ((end - k) & ~3);
        // Four independent sums run about twice as fast as one.
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let j = k;
        for (; j < end4; j += 4) {
          s0 += w[j];
          s1 += w[j + 1];
          s2 += w[j + 2];
          s3 += w[j + 3];
        }
        for (; j < end; j++) s0 += w[j];
        const s = s0 + s1 + s2 + s3;
        if (s > 0) this.#nonzero = true;
        run = (run + (s % M)) % M;
      }
      this.#mod = (this.#mod + ((offset + i) & 1 ? (run * 256) % M : run)) %
        M;
      i += words * 4;
    }
    for (; i < n; i++) {
      if ((offset + i) & 1) hi += bytes[i];
      else lo += bytes[i];
    }
    if (lo > 0 || hi > 0) this.#nonzero = true;
    this.#mod = (this.#mod + lo + ((hi * 256) % M)) % M;
  }

  /** The sum so far modulo 0xffff (what pieces add, to combine them). */
  get residue(): number {
    return this.#mod;
  }

  /** The checksum of a file of `length` bytes whose bytes were all added. */
  checksum(length: number): number {
    const folded = this.#mod === 0 ? (this.#nonzero ? M : 0) : this.#mod;
    return (folded + length) >>> 0;
  }
}

/**
 * Computes the checksum of a whole PE file: the 16-bit one's-complement
 * sum of the file with the CheckSum field taken as zero, plus the file
 * length. `checksumOffset` is the file offset of the CheckSum field.
 */
export function peChecksum(bytes: Uint8Array, checksumOffset: number): number {
  const sum = new ChecksumSum();
  const n = bytes.length;
  const cut = Math.max(0, Math.min(checksumOffset, n));
  sum.add(bytes.subarray(0, cut), 0);
  const resume = Math.max(0, Math.min(checksumOffset + 4, n));
  sum.add(bytes.subarray(resume), resume);
  return sum.checksum(n);
}
