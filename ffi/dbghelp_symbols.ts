/**
 * The raw dbghelp symbol table (image helpers only). Opened lazily by
 * {@linkcode ./library.ts}.
 *
 * @module
 */

/** dbghelp functions used by heapshift. */
export const DBGHELP_SYMBOLS = {
  // PIMAGE_NT_HEADERS ImageNtHeader(PVOID Base)
  ImageNtHeader: { parameters: ["buffer"], result: "pointer" },
  // PVOID ImageDirectoryEntryToData(PVOID Base, BOOLEAN MappedAsImage,
  //   USHORT DirectoryEntry, PULONG Size)
  ImageDirectoryEntryToData: {
    parameters: ["buffer", "u8", "u16", "buffer"],
    result: "pointer",
  },
  // PVOID ImageRvaToVa(PIMAGE_NT_HEADERS NtHeaders, PVOID Base, ULONG Rva,
  //   PIMAGE_SECTION_HEADER *LastRvaSection)
  ImageRvaToVa: {
    parameters: ["pointer", "buffer", "u32", "pointer"],
    result: "pointer",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Type of the opened dbghelp symbols. */
export type Dbghelp = Deno.DynamicLibrary<typeof DBGHELP_SYMBOLS>["symbols"];
