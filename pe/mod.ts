/**
 * A pure-TypeScript reader and writer for Windows PE files (PE32 and
 * PE32+), built to put a DLL first in an executable's import table the way
 * mimalloc's `minject` does, on any OS.
 *
 * - {@linkcode imports} lists the DLLs an executable imports, reading only
 *   the headers and the import data of the file.
 * - {@linkcode patchImports} makes it load a DLL (default `heapshift.dll`)
 *   before all others; {@linkcode removeImport} undoes that.
 * - {@linkcode patchImportsBytes} and {@linkcode removeImportBytes} are the
 *   same as pure functions over bytes; {@linkcode readPe} and
 *   {@linkcode inspect} give every structure the reader knows.
 *
 * Malformed input throws {@linkcode PeFormatError} naming the field and the
 * file offset at fault.
 *
 * @example
 * ```ts ignore
 * import { imports, patchImports } from "./mod.ts";
 *
 * console.log((await imports("game.exe")).map((d) => d.dll));
 * const report = await patchImports("game.exe", { inPlace: true });
 * console.log(report.action, report.warnings);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./source.ts";
export * from "./headers.ts";
export * from "./budget.ts";
export * from "./imports.ts";
export * from "./exports.ts";
export * from "./layout.ts";
export * from "./reader.ts";
export * from "./checksum.ts";
// planPatch and planRemove are the writer's (write.ts), not public.
export {
  DEFAULT_DLL,
  DEFAULT_SYMBOL,
  type DllOptions,
  exportedNames,
  isHeapshiftDll,
  type PatchBytesOptions,
  patchImportsBytes,
  type PatchResult,
  resolveDllName,
  SECTION_NAME,
} from "./patch.ts";
export { type RemoveBytesOptions, removeImportBytes } from "./remove.ts";
export * from "./write.ts";
export * from "./written_name.ts";
export * from "./mapped.ts";
export * from "./loaded_imports.ts";
