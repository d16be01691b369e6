// Lays a PE file out as the loader maps it, for the unit tests of the
// readers of loaded images (internal).

import { readHeaders } from "./headers.ts";
import { bytesSource } from "./source.ts";

/**
 * The image of `file` as mapped at its base: headers at RVA 0, each
 * section's raw data (from its sector) at its RVA, the rest zero; `extra` bytes of room after
 * SizeOfImage.
 */
export function mapImage(file: Uint8Array, extra = 0): Uint8Array {
  const h = readHeaders(bytesSource(file));
  const image = new Uint8Array(h.sizeOfImage + extra);
  image.set(file.subarray(0, h.sizeOfHeaders));
  for (const s of h.sections) {
    // From a page up, raw data is read from its 512-byte sector.
    const from = h.sectionAlignment >= 0x1000
      ? s.pointerToRawData - s.pointerToRawData % 0x200
      : s.pointerToRawData;
    const raw = s.pointerToRawData - from + s.sizeOfRawData;
    const n = Math.min(raw, s.virtualSize || s.sizeOfRawData);
    image.set(file.subarray(from, from + n), s.virtualAddress);
  }
  return image;
}

/** A mapped source over `image` that fails, as memory does, outside it. */
export function imageReader(
  image: Uint8Array,
): (rva: number, length: number) => Uint8Array {
  return (rva, length) => {
    if (rva < 0 || rva + length > image.length) {
      throw new RangeError(
        `read of ${length} bytes at RVA 0x${
          rva.toString(16)
        } outside the image`,
      );
    }
    return image.subarray(rva, rva + length);
  };
}
