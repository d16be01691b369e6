/**
 * Pure byte-level removal of a DLL from the import table: the undo of
 * `patchImportsBytes`.
 *
 * @module
 */

import { PePatchError } from "./errors.ts";
import {
  DIR,
  directory,
  endOfSectionData,
  OPT,
  type Section,
} from "./headers.ts";
import { type DllOptions, type PatchResult, resolveDllName } from "./patch.ts";
import { type PeInfo, readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import {
  certificatePlan,
  editableCopy,
  finish,
  moveFileOffsets,
  rvaIn,
  sameDll,
  setDir,
} from "./_edit.ts";
import { hasMarker, MARKER_SIZE, readMarker } from "./_marker.ts";
import { put16, put32, u32 } from "./_read.ts";

/** Options for {@linkcode removeImportBytes}. */
export interface RemoveBytesOptions extends DllOptions {
  /**
   * Remove the DLL even if heapshift did not add it (the program may then
   * fail to load if it calls into that DLL).
   */
  allowForeign?: boolean;
}

/**
 * Removes a DLL from the import table. When heapshift added it in the last
 * section, that section is dropped and everything the patch changed is
 * restored, which gives back the original bytes (less a signature);
 * otherwise its descriptor is taken out of the table in place. Removing a
 * DLL that heapshift did not add needs `allowForeign`. A file that does
 * not import the DLL is returned unchanged.
 */
export function removeImportBytes(
  input: Uint8Array,
  options: RemoveBytesOptions = {},
): PatchResult {
  const dll = resolveDllName(options);
  const info = readPe(bytesSource(input));
  const h = info.headers;
  const warnings: string[] = [];
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx < 0) {
    return { bytes: input, changed: false, action: "unchanged", dll, warnings };
  }
  const d = info.imports[idx];
  const ours = h.sections.find((s) =>
    hasMarker(input, s) && rvaIn(s, d.nameRva)
  );
  if (!ours && !options.allowForeign) {
    throw new PePatchError(
      `${dll} was not added by heapshift; removing it may break the program (pass allowForeign, or --force on the command line, to remove it anyway)`,
    );
  }
  const imp = directory(h, DIR.IMPORT);
  if (
    ours && ours === h.sections[h.sections.length - 1] && idx === 0 &&
    imp.rva === ours.virtualAddress + MARKER_SIZE &&
    ours.pointerToRawData + ours.sizeOfRawData === endOfSectionData(h)
  ) {
    const bytes = dropSection(input, info, { section: ours, warnings });
    return { bytes, changed: true, action: "removed", dll, warnings };
  }
  const out = editableCopy(input, { info, warnings });
  const base = info.imports[0].descriptorOffset;
  const n = info.imports.length;
  out.copyWithin(base + idx * 20, base + (idx + 1) * 20, base + n * 20);
  out.fill(0, base + (n - 1) * 20, base + n * 20);
  if (imp.size >= 40) {
    setDir(out, h, { index: DIR.IMPORT, rva: imp.rva, size: imp.size - 20 });
  }
  if (!ours) warnings.push(`${d.dll} was not added by heapshift`);
  const bytes = finish(out, h);
  return { bytes, changed: true, action: "removed", dll, warnings };
}

// Drops our (last) section and undoes the header shift, from the marker.
function dropSection(
  input: Uint8Array,
  info: PeInfo,
  drop: { section: Section; warnings: string[] },
): Uint8Array {
  const h = info.headers;
  const s = drop.section;
  const m = readMarker(input.subarray(s.pointerToRawData));
  const { insertedAt, headerShift: shift, firstRaw } = m;
  const cutEnd = s.pointerToRawData + s.sizeOfRawData;
  const tableEnd = h.sectionTableOffset + (h.sections.length - 1) * 40;
  if (
    insertedAt > s.pointerToRawData || insertedAt < h.sizeOfHeaders ||
    firstRaw + shift > insertedAt || (shift && firstRaw < tableEnd)
  ) {
    throw new PePatchError("the heapshift section marker is inconsistent");
  }
  const keepEnd = certificatePlan(info, drop.warnings);
  const cut = cutEnd - insertedAt;
  const out = new Uint8Array(keepEnd - cut - shift);
  out.set(input.subarray(0, firstRaw), 0);
  out.set(input.subarray(firstRaw + shift, insertedAt), firstRaw);
  out.set(input.subarray(cutEnd, keepEnd), insertedAt - shift);
  moveFileOffsets(out, info, {
    at: (o) =>
      o >= cutEnd ? o - cut - shift : o >= firstRaw + shift ? o - shift : o,
    skip: s,
  });
  // Only the part of the slot that stays header (section data may follow).
  out.fill(0, s.headerOffset, Math.min(s.headerOffset + 40, firstRaw));
  put16(out, h.peOffset + 6, h.sections.length - 1);
  const opt = h.optionalHeaderOffset;
  put32(out, opt + OPT.SIZE_OF_IMAGE, m.sizeOfImage);
  put32(out, opt + OPT.SIZE_OF_HEADERS, m.sizeOfHeaders);
  put32(
    out,
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (u32(out, opt + OPT.SIZE_OF_INITIALIZED_DATA) - s.sizeOfRawData) >>> 0,
  );
  setDir(out, h, { index: DIR.IMPORT, rva: m.importRva, size: m.importSize });
  setDir(out, h, {
    index: DIR.BOUND_IMPORT,
    rva: m.boundRva,
    size: m.boundSize,
  });
  setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
  finish(out, h);
  // The restored file must parse, or the marker lied.
  readPe(bytesSource(out));
  return out;
}
