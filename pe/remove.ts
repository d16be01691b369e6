/**
 * Pure byte-level removal of a DLL from the import table: the undo of
 * `patchImportsBytes`.
 *
 * @module
 */

import { PeFormatError, PePatchError } from "./errors.ts";
import {
  DIR,
  directory,
  endOfSectionData,
  OPT,
  type Section,
} from "./headers.ts";
import { type DllOptions, type PatchResult, resolveDllName } from "./patch.ts";
import { readImports } from "./imports.ts";
import { type PeInfo, readPe } from "./reader.ts";
import { type ByteSource, bytesSource } from "./source.ts";
import {
  certificatePlan,
  checkRawOutsideHeaders,
  editableCopy,
  finish,
  moveFileOffsets,
  sameDll,
  setDir,
} from "./_edit.ts";
import {
  addedBy,
  headerHash,
  type Marker,
  markerSize,
  markerVersion,
  readMarker,
} from "./_marker.ts";
import { Output } from "./_output.ts";
import { type EditPlan, renderPlan } from "./_plan.ts";
import { u32 } from "./_read.ts";

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
 * section and the headers were not edited since, that section is dropped
 * and the original headers it recorded are put back: the result is the
 * original file byte for byte (unless the patch removed a signature at the
 * end of the file, which cannot come back). Otherwise the patch is undone
 * field by field, or the DLL's descriptor is taken out of the table in
 * place. Removing a DLL that heapshift did not add needs `allowForeign`. A
 * file that does not import the DLL is returned unchanged. Without `dll`
 * or `postfix`, a file that does not import `heapshift.dll` but imports one
 * DLL that heapshift added (a patch with a postfix or a `dll`) has that one
 * removed; several such DLLs need `dll` to say which.
 */
export function removeImportBytes(
  input: Uint8Array,
  options: RemoveBytesOptions = {},
): PatchResult {
  return renderPlan(planRemove(bytesSource(input), options), input);
}

/**
 * Works out the removal from the file `src` without writing it (the heart
 * of {@linkcode removeImportBytes} and of the file-level removal).
 */
export function planRemove(
  src: ByteSource,
  options: RemoveBytesOptions = {},
): EditPlan {
  const info = readPe(src);
  const h = info.headers;
  const warnings: string[] = [];
  const names = info.imports.map((d) => d.dll);
  const dll = dllToRemove(src, { info, options });
  const base = { dll, machine: h.machine, warnings };
  const idx = info.imports.findIndex((d) => sameDll(d.dll, dll));
  if (idx < 0) {
    return { ...base, changed: false, action: "unchanged", imports: names };
  }
  const rest = names.filter((_, i) => i !== idx);
  const result: EditPlan = {
    ...base,
    changed: true,
    action: "removed",
    imports: rest,
  };
  const d = info.imports[idx];
  // A DLL we added has its import address table in one of our sections
  // (the names of the others may be there: the patch copies them).
  const ours = addedBy(src, h, d);
  if (!ours && !options.allowForeign) {
    throw new PePatchError(
      `${dll} was not added by heapshift: the program imports it itself (if \`patch --dll\` moved it first, the backup of that patch has the original order), and removing it may break the program (pass allowForeign, or --allow-foreign on the command line, to remove it anyway)`,
    );
  }
  const imp = directory(h, DIR.IMPORT);
  const version = ours ? markerVersion(src, ours) : 0;
  if (
    ours && ours === h.sections[h.sections.length - 1] && idx === 0 &&
    imp.rva === ours.virtualAddress + markerSize(version) &&
    ours.pointerToRawData + ours.sizeOfRawData === endOfSectionData(h)
  ) {
    const kept = rest.map((n) => n.toLowerCase()).join("\0");
    if (recordedImports(src, { info, section: ours }) === kept) {
      const output = dropSection(src, info, { section: ours, warnings });
      return { ...result, output };
    }
    warnings.push(
      `the imports changed since ${dll} was added (another DLL removed or moved first), so dropping heapshift's section would undo that too: only ${dll} was taken out of the table, and the section stays`,
    );
  }
  checkRawOutsideHeaders(h, {
    edit: "an edit",
    instead:
      "Take the DLL out with a tool that rebuilds the file (after unpacking it), or leave it in",
  });
  const out = editableCopy(src, { info, warnings });
  const first = info.imports[0].descriptorOffset;
  const n = info.imports.length;
  const table = src.read(first, n * 20).slice();
  table.copyWithin(idx * 20, (idx + 1) * 20);
  table.fill(0, (n - 1) * 20);
  out.set(table, first);
  if (imp.size >= 40) {
    setDir(out, h, { index: DIR.IMPORT, rva: imp.rva, size: imp.size - 20 });
  }
  if (!ours) warnings.push(`${d.dll} was not added by heapshift`);
  finish(out, h);
  return { ...result, output: out };
}

/**
 * The DLL to remove: the one `options` names, or by default
 * `heapshift.dll`, else the one DLL heapshift added under another name.
 */
function dllToRemove(
  src: ByteSource,
  file: { info: PeInfo; options: RemoveBytesOptions },
): string {
  const { info, options } = file;
  const dll = resolveDllName(options, { loadable: false });
  if (
    options.dll !== undefined || options.postfix ||
    info.imports.some((d) => sameDll(d.dll, dll))
  ) return dll;
  const ours = info.imports.filter((d) => addedBy(src, info.headers, d))
    .map((d) => d.dll);
  if (ours.length > 1) {
    throw new PePatchError(
      `it does not import ${dll}, and heapshift added ${ours.length} other DLLs: ${
        ours.join(", ")
      }; name the one to remove (dll, or --dll <name> on the command line)`,
    );
  }
  return ours[0] ?? dll;
}

/**
 * The DLLs (lower case, NUL-separated, in load order) of the import
 * directory that the record of our section `file.section` puts back;
 * undefined when it does not read. Dropping the section gives that list,
 * which is the file's, less the DLL we added, unless the table was edited
 * since (a DLL removed or moved first), and then it would undo that.
 */
function recordedImports(
  src: ByteSource,
  file: { info: PeInfo; section: Section },
): string | undefined {
  const h = file.info.headers;
  const s = file.section;
  const m = readMarker(
    src.read(s.pointerToRawData, markerSize(markerVersion(src, s))),
  );
  const dirs = h.dataDirectories.slice();
  dirs[DIR.IMPORT] = { rva: m.importRva, size: m.importSize };
  try {
    return readImports(src, { ...h, dataDirectories: dirs }, { symbols: false })
      .map((d) => d.dll.toLowerCase()).join("\0");
  } catch (e) {
    if (e instanceof PeFormatError) return undefined;
    throw e;
  }
}

/** What dropping our section moves where (in patched-file offsets). */
interface Cut {
  marker: Marker;
  /** End of our section's raw data. */
  cutEnd: number;
  /** End of the input kept (a trailing signature is dropped). */
  keepEnd: number;
}

// Drops our (last) section and undoes the header shift, from the marker:
// with the original headers it recorded when they are intact, otherwise
// field by field.
function dropSection(
  src: ByteSource,
  info: PeInfo,
  drop: { section: Section; warnings: string[] },
): Output {
  const h = info.headers;
  const s = drop.section;
  const size = markerSize(markerVersion(src, s));
  const marker = readMarker(src.read(s.pointerToRawData, size));
  const { insertedAt, headerShift: shift, firstRaw } = marker;
  const cutEnd = s.pointerToRawData + s.sizeOfRawData;
  const tableEnd = h.sectionTableOffset + (h.sections.length - 1) * 40;
  // The original headers (up to firstRaw) held the section table, and no
  // debug entry lies in the bytes that go: our section, or the room the
  // move made after the original headers (an entry there, or across
  // firstRaw, has no place in the result).
  if (
    insertedAt > s.pointerToRawData || insertedAt < h.sizeOfHeaders ||
    firstRaw + shift > insertedAt || firstRaw < tableEnd ||
    info.debug.some((d) =>
      d.entryOffset + 28 > insertedAt && d.entryOffset < cutEnd ||
      d.entryOffset + 28 > firstRaw && d.entryOffset < firstRaw + shift
    )
  ) {
    throw new PePatchError(
      `heapshift's record in its section ${
        JSON.stringify(s.name)
      } does not fit the file (damaged, or the file was edited since the patch), so the patch cannot be undone safely; restore the original from the backup the patch kept (<exe>.bak with --inplace)`,
    );
  }
  const cut: Cut = {
    marker,
    cutEnd,
    keepEnd: certificatePlan(info, drop.warnings),
  };
  if (marker.version >= 2) {
    const exact = restoreHeaders(src, info, {
      cut,
      section: s,
      warnings: drop.warnings,
    });
    if (exact) return exact;
    drop.warnings.push(
      "the headers were changed after heapshift patched the file: the patch was undone field by field, so the file is not byte-identical to the original",
    );
  }
  const out = layout(cut, src.read(0, firstRaw).slice());
  moveFileOffsets(out, info, { at: (o) => unmove(cut, o), skip: s });
  // Only the part of the slot that stays header (section data may follow).
  out.fill(0, s.headerOffset, Math.min(s.headerOffset + 40, firstRaw));
  out.put16(h.peOffset + 6, h.sections.length - 1);
  const opt = h.optionalHeaderOffset;
  out.put32(opt + OPT.SIZE_OF_IMAGE, marker.sizeOfImage);
  out.put32(opt + OPT.SIZE_OF_HEADERS, marker.sizeOfHeaders);
  out.put32(
    opt + OPT.SIZE_OF_INITIALIZED_DATA,
    (out.u32(opt + OPT.SIZE_OF_INITIALIZED_DATA) - s.sizeOfRawData) >>> 0,
  );
  setDir(out, h, {
    index: DIR.IMPORT,
    rva: marker.importRva,
    size: marker.importSize,
  });
  setDir(out, h, {
    index: DIR.BOUND_IMPORT,
    rva: marker.boundRva,
    size: marker.boundSize,
  });
  setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
  if (marker.iatNamed) setDir(out, h, { index: DIR.IAT, rva: 0, size: 0 });
  finish(out, h);
  return out;
}

/** Maps a patched-file offset back to where it was before the patch. */
function unmove(cut: Cut, o: number): number {
  const { insertedAt, headerShift: shift, firstRaw } = cut.marker;
  const removed = cut.cutEnd - insertedAt;
  return o >= cut.cutEnd
    ? o - removed - shift
    : o >= firstRaw + shift
    ? o - shift
    : o;
}

/** The file without our section: `head`, the section data, the rest. */
function layout(cut: Cut, head: Uint8Array): Output {
  const { insertedAt, headerShift: shift, firstRaw } = cut.marker;
  const out = new Output();
  out.literal(head);
  out.copy(firstRaw + shift, insertedAt - firstRaw - shift);
  out.copy(cut.cutEnd, cut.keepEnd - cut.cutEnd);
  return out;
}

// The exact undo (marker version 2): the headers recorded at patch time
// and the debug entries' offsets, provided the patched headers are still
// the ones the patch wrote. Undefined when they are not.
function restoreHeaders(
  src: ByteSource,
  info: PeInfo,
  at: { cut: Cut; section: Section; warnings: string[] },
): Output | undefined {
  const h = info.headers;
  const { marker } = at.cut;
  const { firstRaw, headerShift: shift } = marker;
  const s = at.section;
  const checksumAt = h.optionalHeaderOffset + OPT.CHECKSUM;
  const copyEnd = marker.copyOffset + firstRaw;
  if (
    headerHash(src.read(0, firstRaw + shift), checksumAt) !==
      marker.headerHash ||
    marker.debugCount !== info.debug.length ||
    marker.debugOffset !== copyEnd ||
    copyEnd + marker.debugCount * 4 > s.sizeOfRawData
  ) return undefined;
  const sec = src.read(
    s.pointerToRawData + marker.copyOffset,
    firstRaw + marker.debugCount * 4,
  ).slice();
  const head = sec.slice(0, firstRaw);
  const out = layout(at.cut, head);
  info.debug.forEach((d, i) => {
    out.put32(unmove(at.cut, d.entryOffset) + 24, u32(sec, firstRaw + i * 4));
  });
  // A signature at the end of the file went with the patch: its directory
  // goes too, and the checksum is made again.
  if (h.dataDirectories.length > DIR.SECURITY) {
    const dirAt = h.dataDirectoryOffset + DIR.SECURITY * 8;
    const end = u32(head, dirAt) + u32(head, dirAt + 4);
    if (end > out.size) {
      setDir(out, h, { index: DIR.SECURITY, rva: 0, size: 0 });
      finish(out, h);
      at.warnings.push(
        "the signature that the patch removed cannot come back: re-sign the file if needed",
      );
    }
  }
  return out;
}
