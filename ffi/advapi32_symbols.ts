/**
 * The raw advapi32 symbol table (registry reads only). Opened lazily by
 * {@linkcode ./library.ts}.
 *
 * @module
 */

/** advapi32 functions used by heapshift. */
export const ADVAPI32_SYMBOLS = {
  // LSTATUS RegGetValueW(HKEY hkey, LPCWSTR lpSubKey, LPCWSTR lpValue,
  //   DWORD dwFlags, LPDWORD pdwType, PVOID pvData, LPDWORD pcbData)
  RegGetValueW: {
    parameters: [
      "pointer",
      "buffer",
      "buffer",
      "u32",
      "pointer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Type of the opened advapi32 symbols. */
export type Advapi32 = Deno.DynamicLibrary<typeof ADVAPI32_SYMBOLS>["symbols"];
