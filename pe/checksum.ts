/**
 * The PE image checksum (as `CheckSumMappedFile` computes it).
 *
 * @module
 */

/**
 * Computes the checksum of a whole PE file: the 16-bit one's-complement
 * sum of the file with the CheckSum field taken as zero, plus the file
 * length. `checksumOffset` is the file offset of the CheckSum field.
 */
export function peChecksum(bytes: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  const n = bytes.length;
  const even = n & ~1;
  // Summing into a double stays exact for files far beyond 4 GiB, so the
  // end-around carries can be folded once at the end.
  if (bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >>> 2);
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      sum += (w & 0xffff) + (w >>> 16);
    }
    for (let i = words.length * 4; i < even; i += 2) {
      sum += bytes[i] | (bytes[i + 1] << 8);
    }
  } else {
    for (let i = 0; i < even; i += 2) sum += bytes[i] | (bytes[i + 1] << 8);
  }
  if (n & 1) sum += bytes[n - 1];
  if (checksumOffset + 4 <= n) {
    sum -= bytes[checksumOffset] | (bytes[checksumOffset + 1] << 8);
    sum -= bytes[checksumOffset + 2] | (bytes[checksumOffset + 3] << 8);
  }
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return (sum + n) >>> 0;
}
