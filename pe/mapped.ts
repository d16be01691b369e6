/**
 * Images as the loader maps them (a module in a process's memory): bytes
 * addressed by RVA rather than by file offset. {@linkcode readMappedHeaders}
 * gives headers whose sections map each RVA to itself, so the file readers
 * ({@linkcode readExports}, …) read a loaded image unchanged.
 *
 * @module
 */

import { readHeaders } from "./headers.ts";
import type { PeHeaders, Section } from "./headers.ts";
import { sectionEnd } from "./_rva.ts";
import type { ByteSource } from "./source.ts";

/**
 * Size of a mapped source: RVAs are 32-bit, so a loaded image is addressed
 * within 4 GiB. The file-size checks of the header reader (raw data past
 * the image) do not apply to an image in memory.
 */
export const MAPPED_SPAN = 0xffff_ffff;

/** Options for {@linkcode mappedSource}. */
export interface MappedSourceOptions {
  /** Bytes per read (default 4096, the page size memory is mapped in). */
  page?: number;
}

/**
 * A source over a loaded image: `read(rva, length)` returns the image's
 * bytes at that RVA (e.g. read from a process's memory). It is asked for
 * whole pages only, each once (the readers make many small reads, and a
 * page of an image is readable whole or not at all). Reads outside the
 * mapped image fail in `read`.
 */
export function mappedSource(
  read: (rva: number, length: number) => Uint8Array,
  options: MappedSourceOptions = {},
): ByteSource {
  const page = options.page ?? 0x1000;
  const pages = new Map<number, Uint8Array>();
  const get = (i: number): Uint8Array => {
    let p = pages.get(i);
    if (!p) pages.set(i, p = read(i * page, page));
    return p;
  };
  return {
    size: MAPPED_SPAN,
    read(offset: number, length: number): Uint8Array {
      const first = Math.floor(offset / page);
      const start = offset - first * page;
      if (start + length <= page) {
        return get(first).subarray(start, start + length);
      }
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const at = offset + done;
        const i = Math.floor(at / page);
        const chunk = get(i).subarray(
          at - i * page,
          at - i * page + length - done,
        );
        out.set(chunk, done);
        done += chunk.length;
      }
      return out;
    },
  };
}

/**
 * The headers of a loaded image read from a {@linkcode mappedSource}:
 * what {@linkcode readHeaders} gives for its file, except that every
 * section's raw data is its mapped extent at its own RVA.
 */
export function readMappedHeaders(src: ByteSource): PeHeaders {
  const h = readHeaders(src);
  return { ...h, sections: h.sections.map((s) => mappedSection(h, s)) };
}

function mappedSection(h: PeHeaders, s: Section): Section {
  const extent = sectionEnd(h, s) - s.virtualAddress;
  return {
    ...s,
    virtualSize: extent,
    pointerToRawData: s.virtualAddress,
    sizeOfRawData: extent,
  };
}
